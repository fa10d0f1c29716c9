/*
 * Label selectors (Calico's language), parsed once into a tree and evaluated many times.
 *
 * The text is lexed once to count its tokens; every node consumes at least one token and every
 * set value is one token, so that count bounds both arrays and the parser never allocates.
 * Nodes live in one array and point at each other by index: AND and OR hold a chain of
 * children (first child, next sibling), so evaluation loops along a chain and recurses only
 * into parentheses, whose depth is capped. Keys and values are slices of the selector's own
 * copy of the text, which is at most BIP_SELECTOR_MAX bytes, so 16-bit offsets suffice.
 *
 * A selector that fails to parse is freed before return; *out is written only on success.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/err.h"
#include "blockipam/selector.h"

/* Parentheses nested deeper than this are refused: the parser recurses once per level. */
#define SEL_DEPTH_MAX 100
/* No node: the end of a chain, or a node without children. */
#define SEL_NONE UINT16_MAX
/* Offending text longer than this is cut short in messages. */
#define SEL_QUOTE_MAX 32

enum sel_kind {
	SEL_ALL,
	SEL_HAS,
	SEL_EQ,
	SEL_NE,
	SEL_IN,
	SEL_NOTIN,
	SEL_CONTAINS,
	SEL_STARTS,
	SEL_ENDS,
	SEL_NOT,
	SEL_AND,
	SEL_OR,
};

struct sel_node {
	uint8_t kind;
	uint16_t key, keylen; /* the label key, in text */
	uint16_t val, vallen; /* the value in text; for IN/NOTIN the range in vals[] */
	uint16_t child;	      /* first operand of NOT, AND, OR */
	uint16_t next;	      /* next operand of the enclosing AND or OR */
};

struct sel_str {
	uint16_t off, len;
};

struct bip_selector {
	char *text;
	struct sel_node *nodes;
	size_t nnodes;
	struct sel_str *vals;
	size_t nvals;
	uint16_t root;
};

enum tok_kind {
	TOK_END,
	TOK_WORD, /* a label key, a function name or an operator word */
	TOK_STRING,
	TOK_LPAREN,
	TOK_RPAREN,
	TOK_LBRACE,
	TOK_RBRACE,
	TOK_COMMA,
	TOK_EQ,
	TOK_NE,
	TOK_NOT,
	TOK_AND,
	TOK_OR,
};

struct tok {
	enum tok_kind kind;
	size_t pos, len; /* in the text; a string's quotes included */
};

struct parser {
	const char *s;
	size_t len;
	size_t pos; /* where the lexer goes on */
	struct tok tok;
	struct bip_selector *sel;
	char *err;
	size_t errlen;
};

/* Bounded message building: appends what fits and keeps the buffer terminated. */
struct msg {
	char *buf;
	size_t cap, len;
};

__attribute__((format(printf, 2, 0))) static void msg_vadd(struct msg *m, const char *fmt,
							   va_list ap)
{
	int n;

	if (m->cap == 0 || m->len >= m->cap - 1)
		return;
	n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
	if (n < 0)
		m->buf[m->len] = '\0';
	else
		m->len = (size_t)n < m->cap - m->len ? m->len + (size_t)n : m->cap - 1;
}

__attribute__((format(printf, 2, 3))) static void msg_add(struct msg *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vadd(m, fmt, ap);
	va_end(ap);
}

/* Text from the input, printable and unambiguous inside quotes, cut after max bytes. */
static void msg_quote(struct msg *m, const char *s, size_t n, size_t max)
{
	for (size_t i = 0; i < n && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			msg_add(m, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			msg_add(m, "\\x%02x", c);
		else
			msg_add(m, "%c", c);
	}
	if (n > max)
		msg_add(m, "...");
}

/* The current token as a message shows it: 'x', '&&', string 'v', end of selector. */
static void msg_tok(struct msg *m, const struct parser *p)
{
	if (p->tok.kind == TOK_END) {
		msg_add(m, "end of selector");
		return;
	}
	/* A string shows its own quotes; anything else is put in single quotes. */
	msg_add(m, p->tok.kind == TOK_STRING ? "string " : "'");
	msg_quote(m, p->s + p->tok.pos, p->tok.len, SEL_QUOTE_MAX);
	if (p->tok.kind != TOK_STRING)
		msg_add(m, "'");
}

static void msg_where(struct msg *m, const struct parser *p, size_t pos)
{
	msg_add(m, " at position %zu in selector \"", pos);
	msg_quote(m, p->s, p->len, p->len);
	msg_add(m, "\"");
}

/* Write "<what> at position <pos> in selector "<text>"" into the caller's buffer. */
__attribute__((format(printf, 3, 4))) static int parse_error(struct parser *p, size_t pos,
							     const char *fmt, ...)
{
	struct msg m = {.buf = p->err, .cap = p->err ? p->errlen : 0};
	va_list ap;

	if (m.cap)
		m.buf[0] = '\0';
	va_start(ap, fmt);
	msg_vadd(&m, fmt, ap);
	va_end(ap);
	msg_where(&m, p, pos);
	return BIP_EINVAL;
}

/* Like parse_error, about the current token: "<what><token><after> at position ...". */
__attribute__((format(printf, 3, 4))) static int tok_error(struct parser *p, const char *after,
							   const char *fmt, ...)
{
	struct msg m = {.buf = p->err, .cap = p->err ? p->errlen : 0};
	va_list ap;

	if (m.cap)
		m.buf[0] = '\0';
	va_start(ap, fmt);
	msg_vadd(&m, fmt, ap);
	va_end(ap);
	msg_tok(&m, p);
	msg_add(&m, "%s", after);
	msg_where(&m, p, p->tok.pos);
	return BIP_EINVAL;
}

static bool is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '/' || c == '-';
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Read the next token into p->tok. */
static int lex(struct parser *p)
{
	const char *s = p->s;
	size_t i = p->pos;
	struct tok t = {.kind = TOK_END};
	char bad[8];

	while (i < p->len && is_space(s[i]))
		i++;
	t.pos = i;
	t.len = 1;
	if (i == p->len) {
		t.len = 0;
		goto done;
	}
	switch (s[i]) {
	case '(':
		t.kind = TOK_LPAREN;
		break;
	case ')':
		t.kind = TOK_RPAREN;
		break;
	case '{':
		t.kind = TOK_LBRACE;
		break;
	case '}':
		t.kind = TOK_RBRACE;
		break;
	case ',':
		t.kind = TOK_COMMA;
		break;
	case '!':
		t.kind = TOK_NOT;
		if (i + 1 < p->len && s[i + 1] == '=') {
			t.kind = TOK_NE;
			t.len = 2;
		}
		break;
	case '=':
	case '&':
	case '|':
		if (i + 1 >= p->len || s[i + 1] != s[i])
			return parse_error(p, i, "unexpected '%c' (did you mean '%c%c'?)", s[i],
					   s[i], s[i]);
		t.kind = s[i] == '=' ? TOK_EQ : s[i] == '&' ? TOK_AND : TOK_OR;
		t.len = 2;
		break;
	case '\'':
	case '"': {
		const char *end = memchr(s + i + 1, s[i], p->len - i - 1);

		if (!end)
			return parse_error(p, i, "unterminated string");
		t.kind = TOK_STRING;
		t.len = (size_t)(end - (s + i)) + 1;
		break;
	}
	default:
		if (!is_key_char(s[i])) {
			struct msg m = {.buf = bad, .cap = sizeof(bad)};

			msg_quote(&m, s + i, 1, 1);
			return parse_error(p, i, "unexpected character '%s'", bad);
		}
		t.kind = TOK_WORD;
		while (i + t.len < p->len && is_key_char(s[i + t.len]))
			t.len++;
		break;
	}
done:
	p->tok = t;
	p->pos = t.pos + t.len;
	return BIP_OK;
}

static bool tok_is(const struct parser *p, const char *word)
{
	size_t n = strlen(word);

	return p->tok.kind == TOK_WORD && p->tok.len == n &&
	       memcmp(p->s + p->tok.pos, word, n) == 0;
}

/* A fresh node; never fails, because the arrays were sized from the token count. */
static uint16_t node_new(struct parser *p, enum sel_kind kind)
{
	struct bip_selector *sel = p->sel;
	struct sel_node *n = &sel->nodes[sel->nnodes];

	*n = (struct sel_node){.kind = (uint8_t)kind, .child = SEL_NONE, .next = SEL_NONE};
	return (uint16_t)sel->nnodes++;
}

static void node_key(struct parser *p, uint16_t i, const struct tok *t)
{
	p->sel->nodes[i].key = (uint16_t)t->pos;
	p->sel->nodes[i].keylen = (uint16_t)t->len;
}

/* The current token is a string: make it the node's value, without its quotes. */
static void node_val(struct parser *p, uint16_t i)
{
	p->sel->nodes[i].val = (uint16_t)(p->tok.pos + 1);
	p->sel->nodes[i].vallen = (uint16_t)(p->tok.len - 2);
}

static int parse_or(struct parser *p, unsigned depth, uint16_t *out);

/* "in {'a', 'b'}" after the key; the current token is the word "in". */
static int parse_set(struct parser *p, uint16_t node, const char *opname)
{
	struct bip_selector *sel = p->sel;
	int ret;

	if ((ret = lex(p)))
		return ret;
	if (p->tok.kind != TOK_LBRACE)
		return tok_error(p, "", "expected '{' after '%s' but found ", opname);
	sel->nodes[node].val = (uint16_t)sel->nvals;
	if ((ret = lex(p)))
		return ret;
	/* Like Calico, a set may be empty and may end with a comma. */
	while (p->tok.kind != TOK_RBRACE) {
		if (p->tok.kind != TOK_STRING)
			return tok_error(p, "", "expected a quoted value or '}' in set but found ");
		sel->vals[sel->nvals].off = (uint16_t)(p->tok.pos + 1);
		sel->vals[sel->nvals].len = (uint16_t)(p->tok.len - 2);
		sel->nvals++;
		if ((ret = lex(p)))
			return ret;
		if (p->tok.kind == TOK_COMMA) {
			if ((ret = lex(p)))
				return ret;
		} else if (p->tok.kind != TOK_RBRACE) {
			return tok_error(p, "", "expected ',' or '}' in set but found ");
		}
	}
	sel->nodes[node].vallen = (uint16_t)(sel->nvals - sel->nodes[node].val);
	return lex(p);
}

/* key <op> value, with the key already read; the current token should be the operator. */
static int parse_comparison(struct parser *p, const struct tok *key, uint16_t *out)
{
	static const struct {
		const char *word, *word2, *name;
		enum sel_kind kind;
	} words[] = {
	    {"in", NULL, "in", SEL_IN},
	    {"not", "in", "not in", SEL_NOTIN},
	    {"contains", NULL, "contains", SEL_CONTAINS},
	    {"starts", "with", "starts with", SEL_STARTS},
	    {"ends", "with", "ends with", SEL_ENDS},
	};
	const char *opname = NULL;
	enum sel_kind kind = SEL_EQ;
	uint16_t node;
	int ret;

	if (p->tok.kind == TOK_EQ || p->tok.kind == TOK_NE) {
		kind = p->tok.kind == TOK_EQ ? SEL_EQ : SEL_NE;
		opname = kind == SEL_EQ ? "==" : "!=";
	} else {
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]) && !opname; i++) {
			if (!tok_is(p, words[i].word))
				continue;
			kind = words[i].kind;
			opname = words[i].name;
			if (!words[i].word2)
				break;
			if ((ret = lex(p)))
				return ret;
			if (!tok_is(p, words[i].word2))
				return tok_error(p, "", "expected '%s' after '%s' but found ",
						 words[i].word2, words[i].word);
		}
		if (!opname)
			return tok_error(p, "",
					 "expected an operator (==, !=, in, not in, contains, "
					 "starts with, ends with) after a label key but found ");
	}
	node = node_new(p, kind);
	node_key(p, node, key);
	if (kind == SEL_IN || kind == SEL_NOTIN) {
		if ((ret = parse_set(p, node, opname)))
			return ret;
	} else {
		if ((ret = lex(p)))
			return ret;
		if (p->tok.kind != TOK_STRING)
			return tok_error(p, "", "expected a quoted value after '%s' but found ",
					 opname);
		node_val(p, node);
		if ((ret = lex(p)))
			return ret;
	}
	*out = node;
	return BIP_OK;
}

/* all(), has(key), key <op> value, or a parenthesised expression. */
static int parse_primary(struct parser *p, unsigned depth, uint16_t *out)
{
	struct tok word = p->tok;
	int ret;

	if (p->tok.kind == TOK_LPAREN) {
		size_t open = p->tok.pos;

		if (depth >= SEL_DEPTH_MAX)
			return parse_error(p, open, "parentheses nested deeper than %d levels",
					   SEL_DEPTH_MAX);
		if ((ret = lex(p)) || (ret = parse_or(p, depth + 1, out)))
			return ret;
		if (p->tok.kind != TOK_RPAREN)
			return tok_error(p, "",
					 "expected ')' to close the '(' at position %zu but found ",
					 open);
		return lex(p);
	}
	if (p->tok.kind != TOK_WORD)
		return tok_error(p, "",
				 "expected a label key, has(), all(), '!' or '(' but found ");
	if ((ret = lex(p)))
		return ret;
	if (p->tok.kind != TOK_LPAREN)
		return parse_comparison(p, &word, out);

	if (word.len == 3 && memcmp(p->s + word.pos, "all", 3) == 0) {
		if ((ret = lex(p)))
			return ret;
		if (p->tok.kind != TOK_RPAREN)
			return tok_error(p, "", "expected ')' after 'all(' but found ");
		*out = node_new(p, SEL_ALL);
		return lex(p);
	}
	if (word.len == 3 && memcmp(p->s + word.pos, "has", 3) == 0) {
		struct tok key;

		if ((ret = lex(p)))
			return ret;
		if (p->tok.kind != TOK_WORD)
			return tok_error(p, "", "expected a label key after 'has(' but found ");
		key = p->tok;
		if ((ret = lex(p)))
			return ret;
		if (p->tok.kind != TOK_RPAREN)
			return tok_error(p, "", "expected ')' after the key in has() but found ");
		*out = node_new(p, SEL_HAS);
		node_key(p, *out, &key);
		return lex(p);
	}
	p->tok = word;
	return tok_error(p, " (there are only all() and has())", "unknown function ");
}

/* Any number of '!' before a primary; like Calico, an even number cancels out. */
static int parse_not(struct parser *p, unsigned depth, uint16_t *out)
{
	bool neg = false;
	uint16_t operand;
	int ret;

	while (p->tok.kind == TOK_NOT) {
		neg = !neg;
		if ((ret = lex(p)))
			return ret;
	}
	if ((ret = parse_primary(p, depth, &operand)))
		return ret;
	if (neg) {
		*out = node_new(p, SEL_NOT);
		p->sel->nodes[*out].child = operand;
	} else {
		*out = operand;
	}
	return BIP_OK;
}

/* operand { op operand }: one AND or OR node over the chain, or the lone operand. */
static int parse_chain(struct parser *p, unsigned depth, enum tok_kind op, uint16_t *out)
{
	struct sel_node *nodes = p->sel->nodes;
	uint16_t first, last, parent;
	int ret;

	ret = op == TOK_OR ? parse_chain(p, depth, TOK_AND, &first) : parse_not(p, depth, &first);
	if (ret)
		return ret;
	if (p->tok.kind != op) {
		*out = first;
		return BIP_OK;
	}
	parent = node_new(p, op == TOK_OR ? SEL_OR : SEL_AND);
	nodes[parent].child = last = first;
	while (p->tok.kind == op) {
		uint16_t next;

		if ((ret = lex(p)))
			return ret;
		ret = op == TOK_OR ? parse_chain(p, depth, TOK_AND, &next)
				   : parse_not(p, depth, &next);
		if (ret)
			return ret;
		nodes[last].next = next;
		last = next;
	}
	*out = parent;
	return BIP_OK;
}

static int parse_or(struct parser *p, unsigned depth, uint16_t *out)
{
	return parse_chain(p, depth, TOK_OR, out);
}

/* Count the tokens of the text; stops quietly at a lexical error, which the parser reports. */
static size_t count_tokens(const char *s, size_t len)
{
	struct parser p = {.s = s, .len = len};
	size_t n = 0;

	while (lex(&p) == BIP_OK && p.tok.kind != TOK_END)
		n++;
	return n;
}

void bip_selector_free(struct bip_selector *sel)
{
	if (!sel)
		return;
	free(sel->text);
	free(sel->nodes);
	free(sel->vals);
	free(sel);
}

int bip_selector_parse(const char *text, struct bip_selector **out, char *err, size_t errlen)
{
	struct bip_selector *sel = NULL;
	struct parser p = {.err = err, .errlen = errlen};
	size_t len, ntok;
	int ret = BIP_EINVAL;

	if (err && errlen)
		err[0] = '\0';
	if (!text || !out) {
		if (err && errlen)
			snprintf(err, errlen, "no selector given");
		goto out;
	}
	len = strlen(text);
	if (len > BIP_SELECTOR_MAX) {
		if (err && errlen)
			snprintf(err, errlen,
				 "selector is %zu bytes long, over the limit of %d bytes", len,
				 BIP_SELECTOR_MAX);
		goto out;
	}
	ntok = count_tokens(text, len);

	ret = BIP_ENOMEM;
	sel = calloc(1, sizeof(*sel));
	if (!sel)
		goto out;
	sel->text = malloc(len + 1);
	/* + 1: an empty selector is one all() node, and calloc(0) may return NULL */
	sel->nodes = calloc(ntok + 1, sizeof(*sel->nodes));
	sel->vals = calloc(ntok + 1, sizeof(*sel->vals));
	if (!sel->text || !sel->nodes || !sel->vals)
		goto out;
	memcpy(sel->text, text, len + 1);

	p.s = sel->text;
	p.len = len;
	p.sel = sel;
	if ((ret = lex(&p)))
		goto out;
	if (p.tok.kind == TOK_END) {
		sel->root = node_new(&p, SEL_ALL);
	} else {
		if ((ret = parse_or(&p, 0, &sel->root)))
			goto out;
		if (p.tok.kind != TOK_END) {
			ret = tok_error(&p, "", "unexpected ");
			goto out;
		}
	}
	*out = sel;
	sel = NULL;
	ret = BIP_OK;
out:
	if (ret == BIP_ENOMEM && err && errlen)
		snprintf(err, errlen, "out of memory parsing a selector");
	bip_selector_free(sel);
	return ret;
}

static const char *label_get(const struct sel_node *n, const char *text,
			     const struct bip_label *labels, size_t nlabels)
{
	for (size_t i = 0; i < nlabels; i++) {
		const char *k = labels[i].key;

		if (k && strncmp(k, text + n->key, n->keylen) == 0 && k[n->keylen] == '\0')
			return labels[i].value ? labels[i].value : "";
	}
	return NULL;
}

static bool str_eq(const char *v, const char *s, size_t n)
{
	return strncmp(v, s, n) == 0 && v[n] == '\0';
}

static bool eval(const struct bip_selector *sel, uint16_t i, const struct bip_label *labels,
		 size_t nlabels)
{
	const struct sel_node *n = &sel->nodes[i];
	const char *t = sel->text, *v = NULL;
	size_t vlen;

	if (n->kind != SEL_ALL && n->kind != SEL_NOT && n->kind != SEL_AND && n->kind != SEL_OR)
		v = label_get(n, t, labels, nlabels);
	switch ((enum sel_kind)n->kind) {
	case SEL_ALL:
		return true;
	case SEL_HAS:
		return v != NULL;
	case SEL_EQ:
		return v && str_eq(v, t + n->val, n->vallen);
	case SEL_NE:
		return !v || !str_eq(v, t + n->val, n->vallen);
	case SEL_IN:
	case SEL_NOTIN: {
		bool in = false;

		for (size_t k = n->val; v && k < (size_t)n->val + n->vallen && !in; k++)
			in = str_eq(v, t + sel->vals[k].off, sel->vals[k].len);
		return n->kind == SEL_IN ? in : !in;
	}
	case SEL_CONTAINS:
		return v && memmem(v, strlen(v), t + n->val, n->vallen) != NULL;
	case SEL_STARTS:
		return v && strncmp(v, t + n->val, n->vallen) == 0;
	case SEL_ENDS:
		if (!v)
			return false;
		vlen = strlen(v);
		return vlen >= n->vallen &&
		       memcmp(v + vlen - n->vallen, t + n->val, n->vallen) == 0;
	case SEL_NOT:
		return !eval(sel, n->child, labels, nlabels);
	case SEL_AND:
		for (uint16_t c = n->child; c != SEL_NONE; c = sel->nodes[c].next)
			if (!eval(sel, c, labels, nlabels))
				return false;
		return true;
	case SEL_OR:
		for (uint16_t c = n->child; c != SEL_NONE; c = sel->nodes[c].next)
			if (eval(sel, c, labels, nlabels))
				return true;
		return false;
	}
	return false;
}

bool bip_selector_match(const struct bip_selector *sel, const struct bip_label *labels, size_t n)
{
	if (!sel)
		return true;
	if (!labels)
		n = 0;
	return eval(sel, sel->root, labels, n);
}

const char *bip_selector_text(const struct bip_selector *sel)
{
	return sel ? sel->text : "";
}

size_t bip_selector_key(const struct bip_selector *sel, size_t i, char *buf, size_t len)
{
	size_t seen = 0;

	for (size_t k = 0; sel && k < sel->nnodes; k++) {
		const struct sel_node *n = &sel->nodes[k];

		if (n->kind == SEL_ALL || n->kind == SEL_NOT || n->kind == SEL_AND ||
		    n->kind == SEL_OR)
			continue;
		if (seen++ == i) {
			snprintf(buf, len, "%.*s", (int)n->keylen, sel->text + n->key);
			return n->keylen + 1;
		}
	}
	if (len)
		buf[0] = '\0';
	return 0;
}
