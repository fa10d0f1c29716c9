/* Label selectors: parse, evaluate, and refuse malformed text with a message that points. */
#include <stdbool.h>
#include <string.h>

#include "blockipam/err.h"
#include "blockipam/selector.h"
#include "t.h"

struct labelset {
	const struct bip_label *labels;
	size_t n;
};

#define LABELSET(a)                                                                                \
	{                                                                                          \
		a, sizeof(a) / sizeof(a[0])                                                        \
	}

static const struct bip_label node_labels[] = {
    {"kubernetes.io/os", "linux"},
    {"topology.kubernetes.io/zone", "us-east-1a"},
    {"role", "worker"},
    {"gpu", ""},
    {"app-name.v2", "web_front"},
    {"1st", "yes"},
};
static const struct bip_label only_a[] = {{"a", "x"}};
static const struct bip_label only_b[] = {{"b", "y"}};
static const struct bip_label b_and_c[] = {{"b", "y"}, {"c", "z"}};
static const struct bip_label a_and_b[] = {{"a", "x"}, {"b", "y"}};
static const struct bip_label keywords[] = {
    {"in", "x"}, {"has", "h"}, {"all", "y"}, {"not", "q"}, {"contains", "abc"},
};
static const struct bip_label quoted[] = {{"q", "it's"}, {"d", "say \"hi\""}};

static const struct labelset NODE = LABELSET(node_labels);
static const struct labelset NONE = {NULL, 0};
static const struct labelset A = LABELSET(only_a);
static const struct labelset B = LABELSET(only_b);
static const struct labelset BC = LABELSET(b_and_c);
static const struct labelset AB = LABELSET(a_and_b);
static const struct labelset KW = LABELSET(keywords);
static const struct labelset Q = LABELSET(quoted);

static void check_match(const char *text, const struct labelset *ls, bool want, int line)
{
	struct bip_selector *sel = NULL;
	char err[256];
	int ret;

	ret = bip_selector_parse(text, &sel, err, sizeof(err));
	T_CHECK(ret == BIP_OK, "line %d: parse \"%s\": %s: %s", line, text, bip_errname(ret), err);
	if (ret != BIP_OK)
		return;
	T_CHECK(bip_selector_match(sel, ls->labels, ls->n) == want, "line %d: \"%s\" should %s",
		line, text, want ? "match" : "not match");
	T_CHECK_STR(bip_selector_text(sel), text);
	bip_selector_free(sel);
}

static void test_operators(void)
{
	static const struct {
		const char *text;
		const struct labelset *ls;
		bool want;
		int line;
	} rows[] = {
	    {"all()", &NODE, true, __LINE__},
	    {"all()", &NONE, true, __LINE__},
	    {"", &NONE, true, __LINE__},
	    {"", &NODE, true, __LINE__},
	    {" \t\r\n ", &NONE, true, __LINE__},
	    {"has(role)", &NODE, true, __LINE__},
	    {"has(role)", &NONE, false, __LINE__},
	    {"has(gpu)", &NODE, true, __LINE__}, /* present with an empty value */
	    {"has(rol)", &NODE, false, __LINE__},
	    {"!has(role)", &NODE, false, __LINE__},
	    {"!has(role)", &NONE, true, __LINE__},
	    {"role == 'worker'", &NODE, true, __LINE__},
	    {"role == \"worker\"", &NODE, true, __LINE__},
	    {"role == 'work'", &NODE, false, __LINE__},
	    {"role == 'workers'", &NODE, false, __LINE__},
	    {"role == ''", &NODE, false, __LINE__},
	    {"gpu == ''", &NODE, true, __LINE__},
	    {"role == 'worker'", &NONE, false, __LINE__},
	    {"role != 'master'", &NODE, true, __LINE__},
	    {"role != 'worker'", &NODE, false, __LINE__},
	    {"role != 'worker'", &NONE, true, __LINE__}, /* absent: != is true */
	    {"gpu != ''", &NODE, false, __LINE__},
	    {"role in {'master', 'worker'}", &NODE, true, __LINE__},
	    {"role in {'master'}", &NODE, false, __LINE__},
	    {"role in {\"worker\"}", &NODE, true, __LINE__},
	    {"role in {'worker',}", &NODE, true, __LINE__},
	    {"role in {}", &NODE, false, __LINE__},
	    {"role in{'worker'}", &NODE, true, __LINE__},
	    {"role in {'worker'}", &NONE, false, __LINE__},
	    {"role not in {'master', 'worker'}", &NODE, false, __LINE__},
	    {"role not in {'master'}", &NODE, true, __LINE__},
	    {"role not in {}", &NODE, true, __LINE__},
	    {"role not in {'worker'}", &NONE, true, __LINE__}, /* absent: not in is true */
	    {"role contains 'ork'", &NODE, true, __LINE__},
	    {"role contains 'worker'", &NODE, true, __LINE__},
	    {"role contains ''", &NODE, true, __LINE__},
	    {"role contains 'x'", &NODE, false, __LINE__},
	    {"role contains ''", &NONE, false, __LINE__},
	    {"role starts with 'wor'", &NODE, true, __LINE__},
	    {"role starts with 'worker'", &NODE, true, __LINE__},
	    {"role starts with 'workers'", &NODE, false, __LINE__},
	    {"role starts with 'ker'", &NODE, false, __LINE__},
	    {"role starts with ''", &NONE, false, __LINE__},
	    {"role ends with 'ker'", &NODE, true, __LINE__},
	    {"role ends with 'worker'", &NODE, true, __LINE__},
	    {"role ends with 'a worker'", &NODE, false, __LINE__},
	    {"role ends with 'wor'", &NODE, false, __LINE__},
	    {"role ends with ''", &NONE, false, __LINE__},
	    {"role   starts \t with 'w'", &NODE, true, __LINE__},
	    {"role not\nin {'x'}", &NODE, true, __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_match(rows[i].text, rows[i].ls, rows[i].want, rows[i].line);
}

static void test_keys_and_quotes(void)
{
	static const struct {
		const char *text;
		const struct labelset *ls;
		bool want;
		int line;
	} rows[] = {
	    {"kubernetes.io/os == 'linux'", &NODE, true, __LINE__},
	    {"kubernetes.io/os == 'windows'", &NODE, false, __LINE__},
	    {"topology.kubernetes.io/zone starts with 'us-east'", &NODE, true, __LINE__},
	    {"has(topology.kubernetes.io/zone)", &NODE, true, __LINE__},
	    {"has(kubernetes.io)", &NODE, false, __LINE__},
	    {"app-name.v2 ends with '_front'", &NODE, true, __LINE__},
	    {"1st == 'yes'", &NODE, true, __LINE__},
	    /* Words that are operators or functions elsewhere are keys where a key goes. */
	    {"in in {'x'}", &KW, true, __LINE__},
	    {"has == 'h'", &KW, true, __LINE__},
	    {"all == 'y'", &KW, true, __LINE__},
	    {"not not in {'z'}", &KW, true, __LINE__},
	    {"contains contains 'b'", &KW, true, __LINE__},
	    {"has(has) && has(all) && has(in)", &KW, true, __LINE__},
	    /* Either quote; the other kind is an ordinary character inside. */
	    {"q == \"it's\"", &Q, true, __LINE__},
	    {"d == 'say \"hi\"'", &Q, true, __LINE__},
	    {"d contains '\"'", &Q, true, __LINE__},
	    {"q in {\"it's\", 'x'}", &Q, true, __LINE__},
	    {"q == 'a && b || (c)'", &Q, false, __LINE__},
	    /* No spaces needed around operators, and any are allowed inside calls. */
	    {"role=='worker'&&has(gpu)", &NODE, true, __LINE__},
	    {"role!='worker'||!has(gpu)", &NODE, false, __LINE__},
	    {"has( role )", &NODE, true, __LINE__},
	    {"has\t(role)", &NODE, true, __LINE__},
	    {"all( )", &NONE, true, __LINE__},
	    {"(role=='worker')", &NODE, true, __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_match(rows[i].text, rows[i].ls, rows[i].want, rows[i].line);
}

static void test_precedence(void)
{
	static const struct {
		const char *text;
		const struct labelset *ls;
		bool want;
		int line;
	} rows[] = {
	    /* && binds tighter than ||: a || (b && c), not (a || b) && c. */
	    {"a == 'x' || b == 'y' && c == 'z'", &A, true, __LINE__},
	    {"a == 'x' || b == 'y' && c == 'z'", &B, false, __LINE__},
	    {"a == 'x' || b == 'y' && c == 'z'", &BC, true, __LINE__},
	    {"b == 'y' && c == 'z' || a == 'x'", &A, true, __LINE__},
	    {"(a == 'x' || b == 'y') && c == 'z'", &A, false, __LINE__},
	    {"(a == 'x' || b == 'y') && c == 'z'", &BC, true, __LINE__},
	    {"a == 'x' && (b == 'y' || c == 'z')", &AB, true, __LINE__},
	    {"a == 'x' && (b == 'n' || c == 'z')", &AB, false, __LINE__},
	    /* ! binds tighter than == chains: it applies to one comparison. */
	    {"!a == 'x'", &A, false, __LINE__},
	    {"!a == 'x'", &B, true, __LINE__},
	    {"!has(a) || has(b)", &A, false, __LINE__},
	    {"!has(a) || has(b)", &AB, true, __LINE__},
	    {"!has(a) && has(b)", &B, true, __LINE__},
	    {"!(has(a) && has(b))", &AB, false, __LINE__},
	    {"!(has(a) && has(b))", &A, true, __LINE__},
	    {"!!has(a)", &A, true, __LINE__},
	    {"!!!has(a)", &A, false, __LINE__},
	    {"! ! has(a)", &A, true, __LINE__},
	    {"!all()", &NONE, false, __LINE__},
	    {"!(!(has(a)))", &A, true, __LINE__},
	    {"((((has(a)))))", &A, true, __LINE__},
	    {"has(a) && has(b) && has(c)", &AB, false, __LINE__},
	    {"has(a) && has(b) && !has(c)", &AB, true, __LINE__},
	    {"has(c) || has(d) || has(b)", &AB, true, __LINE__},
	    {"has(c) || has(d) || has(e)", &AB, false, __LINE__},
	    {"has(c) || has(a) && has(b) || has(d)", &AB, true, __LINE__},
	    {"(has(c) || has(a)) && (has(b) || has(d))", &AB, true, __LINE__},
	    {"(has(c) || has(a)) && (has(e) || has(d))", &AB, false, __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_match(rows[i].text, rows[i].ls, rows[i].want, rows[i].line);
}

/* Parse must fail with BIP_EINVAL, leave *out alone, and say where and what. */
static void check_bad(const char *text, const char *want1, const char *want2, int line)
{
	struct bip_selector *sel = (struct bip_selector *)&sel;
	char err[512];
	int ret;

	memset(err, 'Z', sizeof(err));
	ret = bip_selector_parse(text, &sel, err, sizeof(err));
	T_CHECK(ret == BIP_EINVAL, "line %d: \"%s\": got %s", line, text, bip_errname(ret));
	T_CHECK(sel == (struct bip_selector *)&sel, "line %d: *out written on failure", line);
	T_CHECK(memchr(err, '\0', sizeof(err)) != NULL, "line %d: message not terminated", line);
	if (memchr(err, '\0', sizeof(err)) == NULL)
		return;
	T_CHECK(strstr(err, want1) != NULL, "line %d: message \"%s\" lacks \"%s\"", line, err,
		want1);
	T_CHECK(!want2 || strstr(err, want2) != NULL, "line %d: message \"%s\" lacks \"%s\"", line,
		err, want2);
}

static void test_malformed(void)
{
	static const struct {
		const char *text;
		const char *want1, *want2; /* substrings of the message */
		int line;
	} rows[] = {
	    {"a == 'b' x", "unexpected 'x' at position 9", "in selector \"a == 'b' x\"", __LINE__},
	    {"a == 'b", "unterminated string at position 5", NULL, __LINE__},
	    {"a == \"b", "unterminated string at position 5", "in selector \"a == \\\"b\"",
	     __LINE__},
	    {"a == \"b'", "unterminated string at position 5", NULL, __LINE__},
	    {"a == 'b' && c == 'd", "unterminated string at position 17", NULL, __LINE__},
	    {"foo()", "unknown function 'foo'", "at position 0", __LINE__},
	    {"has(a) || global()", "unknown function 'global'", "at position 10", __LINE__},
	    {"(a == 'b'", "expected ')' to close the '(' at position 0",
	     "found end of selector at position 9", __LINE__},
	    {"((has(a))", "expected ')' to close the '(' at position 0",
	     "found end of selector at position 9", __LINE__},
	    {"(has(a) has(b))", "expected ')'", "found 'has' at position 8", __LINE__},
	    {"has(a))", "unexpected ')' at position 6", NULL, __LINE__},
	    {")", "found ')' at position 0", NULL, __LINE__},
	    {"()", "found ')' at position 1", NULL, __LINE__},
	    {"a == b", "expected a quoted value after '=='", "found 'b' at position 5", __LINE__},
	    {"a != (", "expected a quoted value after '!='", "found '(' at position 5", __LINE__},
	    {"a contains", "after 'contains'", "found end of selector at position 10", __LINE__},
	    {"a = 'b'", "unexpected '=' (did you mean '=='?) at position 2", NULL, __LINE__},
	    {"has(a) & has(b)", "unexpected '&' (did you mean '&&'?) at position 7", NULL,
	     __LINE__},
	    {"has(a) | has(b)", "unexpected '|' (did you mean '||'?) at position 7", NULL,
	     __LINE__},
	    {"a", "expected an operator", "found end of selector at position 1", __LINE__},
	    {"a b", "expected an operator", "found 'b' at position 2", __LINE__},
	    {"a startswith 'x'", "expected an operator", "found 'startswith' at position 2",
	     __LINE__},
	    {"a === 'b'", "unexpected '=' (did you mean '=='?) at position 4", NULL, __LINE__},
	    {"a == 'b' == 'c'", "unexpected '==' at position 9", NULL, __LINE__},
	    {"a in 'x'", "expected '{' after 'in'", "found string 'x' at position 5", __LINE__},
	    {"a not in ('x')", "expected '{' after 'not in'", "found '(' at position 9", __LINE__},
	    {"a in {'x' 'y'}", "expected ',' or '}' in set", "found string 'y' at position 10",
	     __LINE__},
	    {"a in {'x',,}", "expected a quoted value or '}' in set", "found ',' at position 10",
	     __LINE__},
	    {"a in {,}", "expected a quoted value or '}' in set", "found ',' at position 6",
	     __LINE__},
	    {"a in {x}", "expected a quoted value or '}' in set", "found 'x' at position 6",
	     __LINE__},
	    {"a in {'x'", "expected ',' or '}' in set", "found end of selector at position 9",
	     __LINE__},
	    {"a not 'x'", "expected 'in' after 'not'", "found string 'x' at position 6", __LINE__},
	    {"a starts 'x'", "expected 'with' after 'starts'", "at position 9", __LINE__},
	    {"a ends", "expected 'with' after 'ends'", "found end of selector at position 6",
	     __LINE__},
	    {"has()", "expected a label key after 'has('", "found ')' at position 4", __LINE__},
	    {"has('a')", "expected a label key after 'has('", "found string 'a' at position 4",
	     __LINE__},
	    {"has(a", "expected ')' after the key in has()", "end of selector at position 5",
	     __LINE__},
	    {"has(a b)", "expected ')' after the key in has()", "found 'b' at position 6",
	     __LINE__},
	    {"all(x)", "expected ')' after 'all('", "found 'x' at position 4", __LINE__},
	    {"all", "expected an operator", "end of selector at position 3", __LINE__},
	    {"&& has(a)", "expected a label key, has(), all(), '!' or '('",
	     "found '&&' at position 0", __LINE__},
	    {"has(a) &&", "found end of selector at position 9", NULL, __LINE__},
	    {"has(a) ||", "found end of selector at position 9", NULL, __LINE__},
	    {"has(a) && || has(b)", "found '||' at position 10", NULL, __LINE__},
	    {"!", "found end of selector at position 1", NULL, __LINE__},
	    {"'a' == 'b'", "found string 'a' at position 0", NULL, __LINE__},
	    {"a == 'b' $", "unexpected character '$' at position 9", NULL, __LINE__},
	    {"a@b == 'c'", "unexpected character '@' at position 1", NULL, __LINE__},
	    {"a == 'b'\x01", "unexpected character '\\x01' at position 8",
	     "in selector \"a == 'b'\\x01\"", __LINE__},
	    {"a == 'b' \xc3\xa9", "unexpected character '\\xc3' at position 9", NULL, __LINE__},
	    {"a\\b == 'c'", "unexpected character '\\\\' at position 1", NULL, __LINE__},
	    /* Long offending text is cut short in the message (32 bytes, then "..."). */
	    {"a == 'b' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	     "unexpected 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' at position 9", NULL, __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_bad(rows[i].text, rows[i].want1, rows[i].want2, rows[i].line);
}

static char *repeat(char *buf, const char *unit, size_t times)
{
	size_t n = strlen(unit);

	for (size_t i = 0; i < times; i++)
		memcpy(buf + i * n, unit, n);
	buf[times * n] = '\0';
	return buf;
}

static void test_limits(void)
{
	static char text[16384];
	struct bip_selector *sel = NULL;
	char err[256];
	size_t n;
	int ret;

	/* Exactly BIP_SELECTOR_MAX bytes is fine; one more is refused, saying both numbers. */
	memset(text, 'v', BIP_SELECTOR_MAX);
	memcpy(text, "a == '", 6);
	text[BIP_SELECTOR_MAX - 1] = '\'';
	text[BIP_SELECTOR_MAX] = '\0';
	ret = bip_selector_parse(text, &sel, err, sizeof(err));
	T_CHECK_INT(ret, BIP_OK);
	bip_selector_free(sel);
	sel = NULL;
	text[BIP_SELECTOR_MAX - 1] = 'v';
	text[BIP_SELECTOR_MAX] = '\'';
	text[BIP_SELECTOR_MAX + 1] = '\0';
	check_bad(text, "1025 bytes", "limit of 1024", __LINE__);

	/* Deep nesting is an error, never a crash: 10,000 is over the length limit... */
	check_bad(repeat(text, "(", 10000), "10000 bytes", NULL, __LINE__);
	/* ...and 1,000 is within it but over the nesting limit of 100. */
	check_bad(repeat(text, "(", 1000), "nested deeper than 100 levels at position 100", NULL,
		  __LINE__);
	check_bad(repeat(text, "(", BIP_SELECTOR_MAX), "nested deeper than 100", NULL, __LINE__);
	check_bad(repeat(text, "!(", 500), "nested deeper than 100 levels at position 201", NULL,
		  __LINE__);

	/* 100 levels parse and evaluate; 101 do not. */
	repeat(text, "(", 100);
	strcat(text, "has(a)");
	n = strlen(text);
	repeat(text + n, ")", 100);
	check_match(text, &A, true, __LINE__);
	check_match(text, &B, false, __LINE__);
	repeat(text, "(", 101);
	strcat(text, "has(a)");
	n = strlen(text);
	repeat(text + n, ")", 101);
	check_bad(text, "nested deeper than 100 levels at position 100", NULL, __LINE__);

	/* Many '!' cancel pairwise; long chains are not nesting. */
	repeat(text, "!", 1000);
	strcat(text, "has(a)");
	check_match(text, &A, true, __LINE__);
	repeat(text, "!", 1001);
	strcat(text, "has(a)");
	check_match(text, &A, false, __LINE__);
	repeat(text, "has(a)&&", 127);
	strcat(text, "has(b)");
	check_match(text, &AB, true, __LINE__);
	check_match(text, &A, false, __LINE__);
	repeat(text, "has(c)||", 127);
	strcat(text, "has(b)");
	check_match(text, &AB, true, __LINE__);
	check_match(text, &A, false, __LINE__);
	repeat(text, "a in {'x',", 1);
	repeat(text + strlen(text), "'',", 336);
	strcat(text, "'y'  }");
	T_CHECK_INT(strlen(text), BIP_SELECTOR_MAX);
	check_match(text, &A, true, __LINE__);
	check_match(text, &B, false, __LINE__);
}

static void test_api_edges(void)
{
	static const struct bip_label odd[] = {{NULL, "x"}, {"a", NULL}};
	struct bip_selector *sel = NULL;
	char err[64], tiny[8];
	int ret;

	bip_selector_free(NULL);
	T_CHECK(bip_selector_match(NULL, NULL, 0), "a NULL selector matches everything");
	T_CHECK_STR(bip_selector_text(NULL), "");

	T_CHECK_INT(bip_selector_parse(NULL, &sel, err, sizeof(err)), BIP_EINVAL);
	T_CHECK(sel == NULL, "out untouched");
	T_CHECK_INT(bip_selector_parse("all()", NULL, err, sizeof(err)), BIP_EINVAL);

	/* No error buffer, or a tiny one: still refused, never overrun. */
	T_CHECK_INT(bip_selector_parse("a ==", &sel, NULL, 0), BIP_EINVAL);
	T_CHECK_INT(bip_selector_parse("a ==", &sel, err, 0), BIP_EINVAL);
	memset(tiny, 'Z', sizeof(tiny));
	T_CHECK_INT(bip_selector_parse("a == 'b' x", &sel, tiny, sizeof(tiny)), BIP_EINVAL);
	T_CHECK_STR(tiny, "unexpec");
	T_CHECK(sel == NULL, "out untouched");

	/* A success clears a stale message. */
	strcpy(err, "stale");
	ret = bip_selector_parse("has(a) && a == ''", &sel, err, sizeof(err));
	T_REQUIRE(ret == BIP_OK, "%s", err);
	T_CHECK_STR(err, "");
	/* A NULL key is no label; a NULL value is the empty value. */
	T_CHECK(bip_selector_match(sel, odd, 2), "NULL value counts as \"\"");
	T_CHECK(!bip_selector_match(sel, odd, 1), "NULL key is skipped");
	T_CHECK(!bip_selector_match(sel, NULL, 5), "NULL labels are no labels");
	T_CHECK_STR(bip_selector_text(sel), "has(a) && a == ''");
	bip_selector_free(sel);
}

/* The label keys a selector compares, for the CLI's "names a label no node has" warning. */
static void test_keys(void)
{
	static const struct {
		const char *text;
		const char *keys[4];
	} rows[] = {
	    {"all()", {NULL}},
	    {"", {NULL}},
	    {"rol == 'gpu'", {"rol", NULL}},
	    {"!has(gpu) && (zone in {'a'} || kubernetes.io/hostname != 'n1')",
	     {"gpu", "zone", "kubernetes.io/hostname", NULL}},
	    {"a starts with 'x' || !(b ends with 'y')", {"a", "b", NULL}},
	};
	char buf[64];

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct bip_selector *sel = NULL;
		size_t i = 0, want = 0;

		T_REQUIRE(bip_selector_parse(rows[r].text, &sel, NULL, 0) == BIP_OK, "%s",
			  rows[r].text);
		for (; bip_selector_key(sel, i, buf, sizeof(buf)); i++) {
			bool found = false;

			for (size_t k = 0; rows[r].keys[k]; k++)
				found |= strcmp(rows[r].keys[k], buf) == 0;
			T_CHECK(found, "%s: unexpected key '%s'", rows[r].text, buf);
		}
		while (rows[r].keys[want])
			want++;
		T_CHECK(i == want, "%s: %zu keys, want %zu (one per comparison)", rows[r].text, i,
			want);
		T_CHECK_STR(buf, "");
		bip_selector_free(sel);
	}
	T_CHECK(bip_selector_key(NULL, 0, buf, sizeof(buf)) == 0, "NULL has no keys");
}

T_MAIN(T(test_operators), T(test_keys_and_quotes), T(test_precedence), T(test_malformed),
       T(test_limits), T(test_api_edges), T(test_keys))
