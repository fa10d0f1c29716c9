/* Address algebra: strict parsing, canonical text, containment, ordering, arithmetic, blocks. */
#include <stdint.h>
#include <string.h>

#include "blockipam/addr.h"
#include "blockipam/err.h"
#include "t.h"

/* 128-bit numbers in tables: high and low 64 bits. */
struct u128 {
	uint64_t hi, lo;
};

static bip_u128 u128(struct u128 x)
{
	return ((bip_u128)x.hi << 64) | x.lo;
}

static const char *u128_str(bip_u128 v, char *buf)
{
	snprintf(buf, 40, "0x%016llx%016llx", (unsigned long long)(v >> 64),
		 (unsigned long long)(uint64_t)v);
	return buf;
}

#define CHECK_U128(got, want)                                                                      \
	do {                                                                                       \
		char g_[40], w_[40];                                                               \
		bip_u128 gv_ = (got), wv_ = (want);                                                \
		T_CHECK(gv_ == wv_, "line %d: got %s, want %s", rows[i].line, u128_str(gv_, g_),   \
			u128_str(wv_, w_));                                                        \
	} while (0)

static struct bip_addr A(const char *s) {
	struct bip_addr a = {0};

	if (bip_addr_parse(s, &a) != BIP_OK) {
		t_failed_checks++;
		fprintf(stderr, "  bad address in a table: '%s'\n", s);
	}
	return a;
}

static struct bip_prefix
P(const char *s) {
	struct bip_prefix p = {{0}};

	if (bip_prefix_parse(s, &p) != BIP_OK) {
		t_failed_checks++;
		fprintf(stderr, "  bad prefix in a table: '%s'\n", s);
	}
	return p;
}

static const struct bip_addr sentinel = {.v = 0xdead, .family = 42};

static void test_addr_parse(void)
{
	static const struct {
		const char *in;
		int ret;
		const char *out; /* canonical text, when ret is BIP_OK */
		int line;
	} rows[] = {
	    {"0.0.0.0", BIP_OK, "0.0.0.0", __LINE__},
	    {"10.0.0.1", BIP_OK, "10.0.0.1", __LINE__},
	    {"255.255.255.255", BIP_OK, "255.255.255.255", __LINE__},
	    {"192.168.100.200", BIP_OK, "192.168.100.200", __LINE__},
	    {"::", BIP_OK, "::", __LINE__},
	    {"::1", BIP_OK, "::1", __LINE__},
	    {"1::", BIP_OK, "1::", __LINE__},
	    {"::ffff:1.2.3.4", BIP_OK, "::ffff:1.2.3.4", __LINE__},
	    {"::FFFF:1.2.3.4", BIP_OK, "::ffff:1.2.3.4", __LINE__},
	    {"0:0:0:0:0:ffff:102:304", BIP_OK, "::ffff:1.2.3.4", __LINE__},
	    {"::ffff:0.0.0.0", BIP_OK, "::ffff:0.0.0.0", __LINE__},
	    {"::ffff:255.255.255.255", BIP_OK, "::ffff:255.255.255.255", __LINE__},
	    /* Only IPv4-mapped addresses are mixed; ::/96 and ::ffff:0:0:0/96 are plain hex. */
	    {"::1.2.3.4", BIP_OK, "::102:304", __LINE__},
	    {"::1234:5678", BIP_OK, "::1234:5678", __LINE__},
	    {"::2", BIP_OK, "::2", __LINE__},
	    {"::ffff", BIP_OK, "::ffff", __LINE__},
	    {"::1:ffff:1.2.3.4", BIP_OK, "::1:ffff:102:304", __LINE__},
	    {"::ffff:0:1.2.3.4", BIP_OK, "::ffff:0:102:304", __LINE__},
	    {"64:ff9b::1.2.3.4", BIP_OK, "64:ff9b::102:304", __LINE__},
	    {"1:2:3:4:5:6:1.2.3.4", BIP_OK, "1:2:3:4:5:6:102:304", __LINE__},
	    /* RFC 5952: lowercase, no leading zeros, longest run of 2+ zero groups, first on tie.
	     */
	    {"FE80::A", BIP_OK, "fe80::a", __LINE__},
	    {"2001:DB8::1", BIP_OK, "2001:db8::1", __LINE__},
	    {"2001:0db8:0000:0000:0000:0000:0000:0001", BIP_OK, "2001:db8::1", __LINE__},
	    {"2001:db8:0:1:1:1:1:1", BIP_OK, "2001:db8:0:1:1:1:1:1", __LINE__},
	    {"2001:db8::1:0:0:1", BIP_OK, "2001:db8::1:0:0:1", __LINE__},
	    {"2001:db8:0:0:1:0:0:1", BIP_OK, "2001:db8::1:0:0:1", __LINE__},
	    {"1:0:0:1:0:0:0:1", BIP_OK, "1:0:0:1::1", __LINE__},
	    {"0:0:1:0:0:0:0:0", BIP_OK, "0:0:1::", __LINE__},
	    {"1:2:3:4:5:6:7::", BIP_OK, "1:2:3:4:5:6:7:0", __LINE__},
	    {"::2:3:4:5:6:7:8", BIP_OK, "0:2:3:4:5:6:7:8", __LINE__},
	    {"1:2:3:4:5:6:7:8", BIP_OK, "1:2:3:4:5:6:7:8", __LINE__},
	    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", BIP_OK,
	     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", __LINE__},
	    {"fd00::", BIP_OK, "fd00::", __LINE__},
	    {"0000:0000:0000:0000:0000:ffff:255.255.255.255", BIP_OK, "::ffff:255.255.255.255",
	     __LINE__},
	    /* Refused: leading zeros, wrong part counts, junk, zones, spaces, empty. */
	    {"01.2.3.4", BIP_EINVAL, NULL, __LINE__},
	    {"1.2.3.04", BIP_EINVAL, NULL, __LINE__},
	    {"00.0.0.0", BIP_EINVAL, NULL, __LINE__},
	    {"1.2.3", BIP_EINVAL, NULL, __LINE__},
	    {"1.2.3.4.5", BIP_EINVAL, NULL, __LINE__},
	    {"256.1.1.1", BIP_EINVAL, NULL, __LINE__},
	    {"1.2.3.256", BIP_EINVAL, NULL, __LINE__},
	    {"1000.1.1.1", BIP_EINVAL, NULL, __LINE__},
	    {"4294967296.1.1.1", BIP_EINVAL, NULL, __LINE__},
	    {"1.2.3.4 ", BIP_EINVAL, NULL, __LINE__},
	    {" 1.2.3.4", BIP_EINVAL, NULL, __LINE__},
	    {"1..2.3", BIP_EINVAL, NULL, __LINE__},
	    {"1.2.3.", BIP_EINVAL, NULL, __LINE__},
	    {".1.2.3", BIP_EINVAL, NULL, __LINE__},
	    {"1.2.3.4.", BIP_EINVAL, NULL, __LINE__},
	    {"a.b.c.d", BIP_EINVAL, NULL, __LINE__},
	    {"0x1.2.3.4", BIP_EINVAL, NULL, __LINE__},
	    {"1.2.3.-4", BIP_EINVAL, NULL, __LINE__},
	    {"1.2.3.+4", BIP_EINVAL, NULL, __LINE__},
	    {"16909060", BIP_EINVAL, NULL, __LINE__},
	    {"1.2.3.4/32", BIP_EINVAL, NULL, __LINE__},
	    {"fe80::1%eth0", BIP_EINVAL, NULL, __LINE__},
	    {"fe80::1%1", BIP_EINVAL, NULL, __LINE__},
	    {" ::1", BIP_EINVAL, NULL, __LINE__},
	    {"::1 ", BIP_EINVAL, NULL, __LINE__},
	    {"[::1]", BIP_EINVAL, NULL, __LINE__},
	    {":::", BIP_EINVAL, NULL, __LINE__},
	    {"1:::2", BIP_EINVAL, NULL, __LINE__},
	    {"1::2::3", BIP_EINVAL, NULL, __LINE__},
	    {":1::", BIP_EINVAL, NULL, __LINE__},
	    {"1:", BIP_EINVAL, NULL, __LINE__},
	    {"1:2:3:4:5:6:7:8:9", BIP_EINVAL, NULL, __LINE__},
	    {"1:2:3:4:5:6:7", BIP_EINVAL, NULL, __LINE__},
	    {"12345::", BIP_EINVAL, NULL, __LINE__},
	    {"g::", BIP_EINVAL, NULL, __LINE__},
	    {"::ffff:01.2.3.4", BIP_EINVAL, NULL, __LINE__},
	    {"::ffff:1.2.3", BIP_EINVAL, NULL, __LINE__},
	    {"::ffff:1.2.3.256", BIP_EINVAL, NULL, __LINE__},
	    {"::1.2.3.4:1", BIP_EINVAL, NULL, __LINE__},
	    {"1:2:3:4:5:6:7:1.2.3.4", BIP_EINVAL, NULL, __LINE__},
	    {"00000:0000:0000:0000:0000:ffff:255.255.255.255", BIP_EINVAL, NULL, __LINE__},
	    {"", BIP_EINVAL, NULL, __LINE__},
	    {".", BIP_EINVAL, NULL, __LINE__},
	    {":", BIP_EINVAL, NULL, __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_addr a = sentinel, b = sentinel;
		char buf[BIP_ADDR_STRLEN];
		int ret = bip_addr_parse(rows[i].in, &a);

		T_CHECK(ret == rows[i].ret, "line %d: '%s': got %s, want %s", rows[i].line,
			rows[i].in, bip_errname(ret), bip_errname(rows[i].ret));
		if (ret != BIP_OK) {
			T_CHECK(bip_addr_eq(a, sentinel), "line %d: output written on failure",
				rows[i].line);
			continue;
		}
		T_CHECK(a.family == (strchr(rows[i].in, ':') ? 6 : 4), "line %d: family %d",
			rows[i].line, a.family);
		T_CHECK_STR(bip_addr_fmt(a, buf), rows[i].out);
		/* The canonical text parses back to the same value and formats the same. */
		T_CHECK_INT(bip_addr_parse(buf, &b), BIP_OK);
		T_CHECK(bip_addr_eq(a, b), "line %d: round trip of '%s'", rows[i].line, buf);
	}
}

static void test_addr_parse_n(void)
{
	static const struct {
		const char *in;
		size_t n;
		int ret;
		const char *out;
		int line;
	} rows[] = {
	    {"10.0.0.1/24", 8, BIP_OK, "10.0.0.1", __LINE__},
	    {"10.0.0.12", 8, BIP_OK, "10.0.0.1", __LINE__}, /* stops where told */
	    {"10.0.0.1", 6, BIP_EINVAL, NULL, __LINE__},
	    {"fd00::1/64", 7, BIP_OK, "fd00::1", __LINE__},
	    {"fd00::1", 0, BIP_EINVAL, NULL, __LINE__},
	    {"1.2.3.4\0junk", 7, BIP_OK, "1.2.3.4", __LINE__},
	    {"1.2.3.4\0", 8, BIP_EINVAL, NULL, __LINE__}, /* a NUL inside is junk */
	    {"::1\0", 4, BIP_EINVAL, NULL, __LINE__},
	};
	struct bip_addr a = sentinel;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char buf[BIP_ADDR_STRLEN];
		int ret;

		a = sentinel;
		ret = bip_addr_parse_n(rows[i].in, rows[i].n, &a);
		T_CHECK(ret == rows[i].ret, "line %d: got %s", rows[i].line, bip_errname(ret));
		if (ret == BIP_OK)
			T_CHECK_STR(bip_addr_fmt(a, buf), rows[i].out);
		else
			T_CHECK(bip_addr_eq(a, sentinel), "line %d: output written", rows[i].line);
	}
	T_CHECK_INT(bip_addr_parse(NULL, &a), BIP_EINVAL);
	T_CHECK_INT(bip_addr_parse_n(NULL, 3, &a), BIP_EINVAL);
}

enum pfx_fn { PARSE, NET, BARE, BARE_NET };

static int prefix_parse(enum pfx_fn fn, const char *s, struct bip_prefix *out)
{
	switch (fn) {
	case PARSE:
		return bip_prefix_parse(s, out);
	case NET:
		return bip_prefix_parse_net(s, out);
	case BARE:
		return bip_prefix_parse_ex(s, false, true, out);
	case BARE_NET:
		return bip_prefix_parse_ex(s, true, true, out);
	}
	return -1;
}

static void test_prefix_parse(void)
{
	static const struct {
		enum pfx_fn fn;
		const char *in;
		int ret;
		const char *out;
		int line;
	} rows[] = {
	    {PARSE, "0.0.0.0/0", BIP_OK, "0.0.0.0/0", __LINE__},
	    {PARSE, "::/0", BIP_OK, "::/0", __LINE__},
	    {PARSE, "10.0.0.0/8", BIP_OK, "10.0.0.0/8", __LINE__},
	    {PARSE, "10.1.2.3/32", BIP_OK, "10.1.2.3/32", __LINE__},
	    {PARSE, "255.255.255.255/32", BIP_OK, "255.255.255.255/32", __LINE__},
	    {PARSE, "::1/128", BIP_OK, "::1/128", __LINE__},
	    {PARSE, "FD00:0::/48", BIP_OK, "fd00::/48", __LINE__},
	    {PARSE, "::ffff:10.0.0.0/104", BIP_OK, "::ffff:10.0.0.0/104", __LINE__},
	    /* bip_prefix_parse keeps host bits: an interface address. */
	    {PARSE, "10.1.0.5/16", BIP_OK, "10.1.0.5/16", __LINE__},
	    {PARSE, "fd00::5/64", BIP_OK, "fd00::5/64", __LINE__},
	    {PARSE, "1.2.3.4/0", BIP_OK, "1.2.3.4/0", __LINE__},
	    {NET, "10.1.0.5/16", BIP_EHOSTBITS, NULL, __LINE__},
	    {NET, "10.1.0.0/16", BIP_OK, "10.1.0.0/16", __LINE__},
	    {NET, "10.0.0.1/31", BIP_EHOSTBITS, NULL, __LINE__},
	    {NET, "10.0.0.1/32", BIP_OK, "10.0.0.1/32", __LINE__},
	    {NET, "1.2.3.4/0", BIP_EHOSTBITS, NULL, __LINE__},
	    {NET, "0.0.0.0/0", BIP_OK, "0.0.0.0/0", __LINE__},
	    {NET, "::1/127", BIP_EHOSTBITS, NULL, __LINE__},
	    {NET, "::1/128", BIP_OK, "::1/128", __LINE__},
	    {NET, "fd00::1:0/112", BIP_OK, "fd00::1:0/112", __LINE__},
	    {NET, "fd00::1:0/111", BIP_EHOSTBITS, NULL, __LINE__},
	    {NET, "10.0.0.0/33", BIP_EINVAL, NULL, __LINE__}, /* EINVAL beats EHOSTBITS */
	    /* A bare address only when allowed, as a /32 or /128. */
	    {PARSE, "10.0.0.1", BIP_EINVAL, NULL, __LINE__},
	    {NET, "10.0.0.1", BIP_EINVAL, NULL, __LINE__},
	    {BARE, "10.0.0.1", BIP_OK, "10.0.0.1/32", __LINE__},
	    {BARE, "fd00::1", BIP_OK, "fd00::1/128", __LINE__},
	    {BARE_NET, "fd00::1", BIP_OK, "fd00::1/128", __LINE__},
	    {BARE, "10.0.0.1/8", BIP_OK, "10.0.0.1/8", __LINE__},
	    {BARE_NET, "10.0.0.1/8", BIP_EHOSTBITS, NULL, __LINE__},
	    {BARE, "10.0.0.01", BIP_EINVAL, NULL, __LINE__},
	    {BARE, "", BIP_EINVAL, NULL, __LINE__},
	    /* Refused lengths and forms. */
	    {PARSE, "1.2.3.4/33", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "::/129", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "::/1000", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "::/99999999999999999999", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "10.0.0.0/", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "10.0.0.0/08", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "10.0.0.0/00", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "1.2.3.4/-1", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "1.2.3.4/+8", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "1.2.3.4/ 8", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "1.2.3.4 /8", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "1.2.3.4/8 ", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "1.2.3.4/8/8", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "1.2.3.4/0x8", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "/8", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "/", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "01.2.3.4/8", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "fe80::1%eth0/64", BIP_EINVAL, NULL, __LINE__},
	    {PARSE, "10.0.0.0/8%eth0", BIP_EINVAL, NULL, __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_prefix p = {sentinel, 77}, q;
		char buf[BIP_PREFIX_STRLEN];
		int ret = prefix_parse(rows[i].fn, rows[i].in, &p);

		T_CHECK(ret == rows[i].ret, "line %d: '%s': got %s, want %s", rows[i].line,
			rows[i].in, bip_errname(ret), bip_errname(rows[i].ret));
		if (ret != BIP_OK) {
			T_CHECK(bip_addr_eq(p.addr, sentinel) && p.len == 77,
				"line %d: output written on failure", rows[i].line);
			continue;
		}
		T_CHECK_STR(bip_prefix_fmt(p, buf), rows[i].out);
		T_CHECK_INT(bip_prefix_parse(buf, &q), BIP_OK);
		T_CHECK(bip_addr_eq(p.addr, q.addr) && p.len == q.len, "line %d: round trip",
			rows[i].line);
	}
	T_CHECK_INT(bip_prefix_parse(NULL, NULL), BIP_EINVAL);
}

static void test_contains(void)
{
	static const struct {
		const char *p, *a;
		bool want;
		int line;
	} rows[] = {
	    {"10.0.0.0/8", "10.0.0.0", true, __LINE__},
	    {"10.0.0.0/8", "10.255.255.255", true, __LINE__},
	    {"10.0.0.0/8", "11.0.0.0", false, __LINE__},
	    {"10.0.0.0/8", "9.255.255.255", false, __LINE__},
	    {"10.1.0.5/16", "10.1.200.1", true, __LINE__}, /* host bits ignored */
	    {"0.0.0.0/0", "255.255.255.255", true, __LINE__},
	    {"0.0.0.0/0", "::", false, __LINE__}, /* never across families */
	    {"::/0", "0.0.0.0", false, __LINE__},
	    {"::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, __LINE__},
	    {"10.0.0.1/32", "10.0.0.1", true, __LINE__},
	    {"10.0.0.1/32", "10.0.0.2", false, __LINE__},
	    {"fd00::/48", "fd00:0:0:ffff::1", true, __LINE__},
	    {"fd00::/48", "fd00:0:1::", false, __LINE__},
	    {"::1/128", "::1", true, __LINE__},
	    {"::1/128", "::", false, __LINE__},
	    {"::ffff:0.0.0.0/96", "::ffff:1.2.3.4", true, __LINE__},
	    {"::ffff:0.0.0.0/96", "1.2.3.4", false, __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		T_CHECK(bip_prefix_contains(P(rows[i].p), A(rows[i].a)) == rows[i].want,
			"line %d: %s in %s", rows[i].line, rows[i].a, rows[i].p);
}

static void test_covers_overlaps(void)
{
	static const struct {
		const char *p, *q;
		bool covers, covered, overlaps;
		int line;
	} rows[] = {
	    {"10.0.0.0/8", "10.1.0.0/16", true, false, true, __LINE__},
	    {"10.0.0.0/8", "10.0.0.0/8", true, true, true, __LINE__},
	    {"10.0.0.0/8", "10.0.0.5/8", true, true, true, __LINE__},
	    {"10.0.0.0/8", "11.0.0.0/8", false, false, false, __LINE__},
	    {"10.0.0.0/9", "10.128.0.0/9", false, false, false, __LINE__},
	    {"10.0.0.0/7", "11.0.0.0/8", true, false, true, __LINE__},
	    {"0.0.0.0/0", "1.2.3.4/32", true, false, true, __LINE__},
	    {"0.0.0.0/0", "::/0", false, false, false, __LINE__},
	    {"::/0", "fd00::/8", true, false, true, __LINE__},
	    {"fd00::/64", "fd00::/65", true, false, true, __LINE__},
	    {"fd00::/65", "fd00::8000:0:0:0/65", false, false, false, __LINE__},
	    {"fd00::1/128", "fd00::/127", false, true, true, __LINE__},
	    {"10.0.0.0/26", "10.0.0.64/26", false, false, false, __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_prefix p = P(rows[i].p), q = P(rows[i].q);

		T_CHECK(bip_prefix_covers(p, q) == rows[i].covers, "line %d: covers", rows[i].line);
		T_CHECK(bip_prefix_covers(q, p) == rows[i].covered, "line %d: covered",
			rows[i].line);
		T_CHECK(bip_prefix_overlaps(p, q) == rows[i].overlaps, "line %d: overlaps",
			rows[i].line);
		T_CHECK(bip_prefix_overlaps(q, p) == rows[i].overlaps,
			"line %d: overlaps (swapped)", rows[i].line);
	}
}

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

static void test_compare(void)
{
	static const struct {
		const char *a, *b;
		int want;
		int line;
	} addrs[] = {
	    {"10.0.0.1", "10.0.0.2", -1, __LINE__},
	    {"10.0.0.2", "10.0.0.1", 1, __LINE__},
	    {"10.0.0.1", "10.0.0.1", 0, __LINE__},
	    {"9.255.255.255", "10.0.0.0", -1, __LINE__},
	    {"255.255.255.255", "::", -1, __LINE__}, /* every IPv4 before every IPv6 */
	    {"::", "0.0.0.0", 1, __LINE__},
	    {"::1", "::2", -1, __LINE__},
	    {"8000::", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, __LINE__},
	    {"::1:0:0:0:0", "::ffff:ffff", 1, __LINE__},
	};
	static const struct {
		const char *a, *b;
		int want;
		bool eq;
		int line;
	} prefixes[] = {
	    {"10.0.0.0/8", "10.0.0.0/16", -1, false, __LINE__},
	    {"10.0.0.0/16", "10.0.0.0/8", 1, false, __LINE__},
	    {"10.0.0.0/16", "10.1.0.0/16", -1, false, __LINE__},
	    {"10.1.0.0/16", "10.0.0.0/8", 1, false, __LINE__},
	    {"10.0.0.5/24", "10.0.0.0/24", 0, true, __LINE__}, /* compared as networks */
	    {"0.0.0.0/0", "::/0", -1, false, __LINE__},
	    {"fd00::/48", "fd00::/48", 0, true, __LINE__},
	};

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		struct bip_addr a = A(addrs[i].a), b = A(addrs[i].b);

		T_CHECK(sign(bip_addr_cmp(a, b)) == addrs[i].want, "line %d", addrs[i].line);
		T_CHECK(sign(bip_addr_cmp(b, a)) == -addrs[i].want, "line %d: swapped",
			addrs[i].line);
		T_CHECK(bip_addr_eq(a, b) == (addrs[i].want == 0), "line %d: eq", addrs[i].line);
	}
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		struct bip_prefix a = P(prefixes[i].a), b = P(prefixes[i].b);

		T_CHECK(sign(bip_prefix_cmp(a, b)) == prefixes[i].want, "line %d",
			prefixes[i].line);
		T_CHECK(sign(bip_prefix_cmp(b, a)) == -prefixes[i].want, "line %d: swapped",
			prefixes[i].line);
		T_CHECK(bip_prefix_eq(a, b) == prefixes[i].eq, "line %d: eq", prefixes[i].line);
	}
	/* Same value, different family: not equal. */
	{
		struct bip_addr v4 = A("0.0.0.1"), v6 = A("::1");

		T_CHECK(!bip_addr_eq(v4, v6), "families differ");
		T_CHECK(bip_addr_cmp(v4, v6) < 0, "IPv4 first");
	}
}

static void test_next_prev(void)
{
	static const struct {
		const char *a, *next, *prev;
		int line;
	} rows[] = {
	    {"10.0.0.1", "10.0.0.2", "10.0.0.0", __LINE__},
	    {"10.0.0.255", "10.0.1.0", "10.0.0.254", __LINE__},
	    {"10.255.255.255", "11.0.0.0", "10.255.255.254", __LINE__},
	    {"255.255.255.255", "0.0.0.0", "255.255.255.254", __LINE__}, /* wraps in IPv4 */
	    {"0.0.0.0", "0.0.0.1", "255.255.255.255", __LINE__},
	    {"::", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", __LINE__},
	    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	     "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", __LINE__},
	    {"::ffff", "::1:0", "::fffe", __LINE__},
	    {"fd00::ffff:ffff:ffff:ffff", "fd00:0:0:1::", "fd00::ffff:ffff:ffff:fffe", __LINE__},
	    {"::ffff:255.255.255.255", "::1:0:0:0", "::ffff:255.255.255.254", __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_addr a = A(rows[i].a), n = bip_addr_next(a), p = bip_addr_prev(a);
		char buf[BIP_ADDR_STRLEN];

		T_CHECK_STR(bip_addr_fmt(n, buf), rows[i].next);
		T_CHECK_STR(bip_addr_fmt(p, buf), rows[i].prev);
		T_CHECK(n.family == a.family && p.family == a.family, "line %d: family",
			rows[i].line);
		T_CHECK(bip_addr_eq(bip_addr_prev(n), a) && bip_addr_eq(bip_addr_next(p), a),
			"line %d: next and prev undo each other", rows[i].line);
	}
}

static void test_nth_ordinal(void)
{
	static const struct {
		const char *p;
		struct u128 n;
		const char *want;
		struct u128 last; /* bip_prefix_last_ordinal */
		const char *first, *lastaddr;
		int line;
	} rows[] = {
	    {"10.0.0.0/24", {0, 0}, "10.0.0.0", {0, 255}, "10.0.0.0", "10.0.0.255", __LINE__},
	    {"10.0.0.0/24", {0, 255}, "10.0.0.255", {0, 255}, "10.0.0.0", "10.0.0.255", __LINE__},
	    {"10.0.0.77/24", {0, 5}, "10.0.0.5", {0, 255}, "10.0.0.0", "10.0.0.255", __LINE__},
	    {"10.0.0.0/16",
	     {0, 1000},
	     "10.0.3.232",
	     {0, 65535},
	     "10.0.0.0",
	     "10.0.255.255",
	     __LINE__},
	    {"10.0.0.9/32", {0, 0}, "10.0.0.9", {0, 0}, "10.0.0.9", "10.0.0.9", __LINE__},
	    {"0.0.0.0/0",
	     {0, 0xffffffff},
	     "255.255.255.255",
	     {0, 0xffffffff},
	     "0.0.0.0",
	     "255.255.255.255",
	     __LINE__},
	    {"fd00::/64",
	     {0, 0x10},
	     "fd00::10",
	     {0, UINT64_MAX},
	     "fd00::",
	     "fd00::ffff:ffff:ffff:ffff",
	     __LINE__},
	    {"fd00::/48",
	     {1, 0},
	     "fd00:0:0:1::",
	     {0xffff, UINT64_MAX},
	     "fd00::",
	     "fd00::ffff:ffff:ffff:ffff:ffff",
	     __LINE__},
	    {"::/0",
	     {UINT64_MAX, UINT64_MAX},
	     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	     {UINT64_MAX, UINT64_MAX},
	     "::",
	     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	     __LINE__},
	    {"::1/128", {0, 0}, "::1", {0, 0}, "::1", "::1", __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_prefix p = P(rows[i].p);
		struct bip_addr a = bip_prefix_nth(p, u128(rows[i].n));
		char buf[BIP_ADDR_STRLEN];

		T_CHECK_STR(bip_addr_fmt(a, buf), rows[i].want);
		CHECK_U128(bip_prefix_ordinal(p, a), u128(rows[i].n));
		CHECK_U128(bip_prefix_last_ordinal(p), u128(rows[i].last));
		T_CHECK_STR(bip_addr_fmt(bip_prefix_first(p), buf), rows[i].first);
		T_CHECK_STR(bip_addr_fmt(bip_prefix_last(p), buf), rows[i].lastaddr);
		T_CHECK(bip_prefix_contains(p, a), "line %d: nth is inside", rows[i].line);
	}
}

static void test_mask(void)
{
	static const struct {
		int family;
		unsigned len;
		struct u128 want;
		int line;
	} rows[] = {
	    {4, 0, {0, 0}, __LINE__},
	    {4, 1, {0, 0x80000000}, __LINE__},
	    {4, 24, {0, 0xffffff00}, __LINE__},
	    {4, 32, {0, 0xffffffff}, __LINE__},
	    {4, 40, {0, 0xffffffff}, __LINE__}, /* clamped to the family */
	    {6, 0, {0, 0}, __LINE__},
	    {6, 1, {0x8000000000000000, 0}, __LINE__},
	    {6, 64, {UINT64_MAX, 0}, __LINE__},
	    {6, 65, {UINT64_MAX, 0x8000000000000000}, __LINE__},
	    {6, 128, {UINT64_MAX, UINT64_MAX}, __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK_U128(bip_mask(rows[i].family, rows[i].len), u128(rows[i].want));
}

static void test_subcount(void)
{
	static const struct {
		const char *p;
		unsigned sublen;
		int ret;
		struct u128 last;
		int line;
	} rows[] = {
	    {"10.0.0.0/16", 26, BIP_OK, {0, 1023}, __LINE__}, /* 1024 blocks */
	    {"10.0.0.0/16", 16, BIP_OK, {0, 0}, __LINE__},
	    {"10.0.0.0/16", 32, BIP_OK, {0, 65535}, __LINE__},
	    {"10.0.0.0/16", 15, BIP_EINVAL, {0, 0}, __LINE__},
	    {"10.0.0.0/16", 33, BIP_EINVAL, {0, 0}, __LINE__},
	    {"0.0.0.0/0", 0, BIP_OK, {0, 0}, __LINE__},
	    {"0.0.0.0/0", 32, BIP_OK, {0, 0xffffffff}, __LINE__},
	    {"0.0.0.0/0", 26, BIP_OK, {0, (1u << 26) - 1}, __LINE__},
	    {"fd00::/48", 122, BIP_OK, {(1u << 10) - 1, UINT64_MAX}, __LINE__}, /* 2^74 */
	    {"fd00::/64", 122, BIP_OK, {0, (1ull << 58) - 1}, __LINE__},
	    {"fd00::/120", 122, BIP_OK, {0, 3}, __LINE__},
	    {"fd00::/122", 122, BIP_OK, {0, 0}, __LINE__},
	    {"fd00::/48", 129, BIP_EINVAL, {0, 0}, __LINE__},
	    {"fd00::/48", 47, BIP_EINVAL, {0, 0}, __LINE__},
	    {"::/0", 0, BIP_OK, {0, 0}, __LINE__},
	    {"::/0", 64, BIP_OK, {0, UINT64_MAX}, __LINE__},
	    {"::/0", 127, BIP_OK, {UINT64_MAX >> 1, UINT64_MAX}, __LINE__},
	    {"::/0", 128, BIP_OK, {UINT64_MAX, UINT64_MAX}, __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bip_u128 last = 12345;
		int ret = bip_prefix_subcount(P(rows[i].p), rows[i].sublen, &last);

		T_CHECK(ret == rows[i].ret, "line %d: got %s", rows[i].line, bip_errname(ret));
		CHECK_U128(last, ret == BIP_OK ? u128(rows[i].last) : 12345);
	}
}

static void test_sub(void)
{
	static const struct {
		const char *p;
		unsigned sublen;
		struct u128 k;
		int ret;
		const char *want;
		int line;
	} rows[] = {
	    {"10.0.0.0/16", 26, {0, 0}, BIP_OK, "10.0.0.0/26", __LINE__},
	    {"10.0.0.0/16", 26, {0, 1}, BIP_OK, "10.0.0.64/26", __LINE__},
	    {"10.0.0.0/16", 26, {0, 5}, BIP_OK, "10.0.1.64/26", __LINE__},
	    {"10.0.0.0/16", 26, {0, 1023}, BIP_OK, "10.0.255.192/26", __LINE__},
	    {"10.0.0.0/16", 26, {0, 1024}, BIP_EINVAL, NULL, __LINE__},
	    {"10.0.7.7/16", 26, {0, 1}, BIP_OK, "10.0.0.64/26", __LINE__}, /* host bits dropped */
	    {"10.0.0.0/16", 16, {0, 0}, BIP_OK, "10.0.0.0/16", __LINE__},
	    {"10.0.0.0/16", 16, {0, 1}, BIP_EINVAL, NULL, __LINE__},
	    {"10.0.0.0/16", 15, {0, 0}, BIP_EINVAL, NULL, __LINE__},
	    {"10.0.0.0/16", 33, {0, 0}, BIP_EINVAL, NULL, __LINE__},
	    {"10.0.0.0/16", 32, {0, 65535}, BIP_OK, "10.0.255.255/32", __LINE__},
	    {"0.0.0.0/0", 0, {0, 0}, BIP_OK, "0.0.0.0/0", __LINE__},
	    {"0.0.0.0/0", 0, {0, 1}, BIP_EINVAL, NULL, __LINE__},
	    {"0.0.0.0/0", 1, {0, 1}, BIP_OK, "128.0.0.0/1", __LINE__},
	    {"0.0.0.0/0", 32, {0, 0xffffffff}, BIP_OK, "255.255.255.255/32", __LINE__},
	    {"0.0.0.0/0", 32, {1, 0}, BIP_EINVAL, NULL, __LINE__},
	    {"0.0.0.0/0", 32, {0, 0x100000000}, BIP_EINVAL, NULL, __LINE__},
	    {"fd00::/48", 122, {0, 0}, BIP_OK, "fd00::/122", __LINE__},
	    {"fd00::/48", 122, {0, 1}, BIP_OK, "fd00::40/122", __LINE__},
	    {"fd00::/48", 122, {0, 1ull << 58}, BIP_OK, "fd00:0:0:1::/122", __LINE__},
	    {"fd00::/48", 122, {1, 0}, BIP_OK, "fd00:0:0:40::/122", __LINE__},
	    {"fd00::/48",
	     122,
	     {1023, UINT64_MAX},
	     BIP_OK,
	     "fd00::ffff:ffff:ffff:ffff:ffc0/122",
	     __LINE__},
	    {"fd00::/48", 122, {1024, 0}, BIP_EINVAL, NULL, __LINE__},
	    {"::/0", 0, {0, 0}, BIP_OK, "::/0", __LINE__},
	    {"::/0", 0, {0, 1}, BIP_EINVAL, NULL, __LINE__},
	    {"::/0", 1, {0, 1}, BIP_OK, "8000::/1", __LINE__},
	    {"::/0",
	     128,
	     {UINT64_MAX, UINT64_MAX},
	     BIP_OK,
	     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
	     __LINE__},
	    {"::/0", 128, {0, 1}, BIP_OK, "::1/128", __LINE__},
	    {"::/0", 64, {0, UINT64_MAX}, BIP_OK, "ffff:ffff:ffff:ffff::/64", __LINE__},
	    {"::/0", 64, {1, 0}, BIP_EINVAL, NULL, __LINE__},
	    {"::1/128", 128, {0, 0}, BIP_OK, "::1/128", __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_prefix s = {sentinel, 77};
		char buf[BIP_PREFIX_STRLEN];
		int ret = bip_prefix_sub(P(rows[i].p), rows[i].sublen, u128(rows[i].k), &s);

		T_CHECK(ret == rows[i].ret, "line %d: got %s", rows[i].line, bip_errname(ret));
		if (ret == BIP_OK)
			T_CHECK_STR(bip_prefix_fmt(s, buf), rows[i].want);
		else
			T_CHECK(bip_addr_eq(s.addr, sentinel) && s.len == 77,
				"line %d: output written on failure", rows[i].line);
	}
}

static void test_sub_of(void)
{
	static const struct {
		const char *p;
		unsigned sublen;
		const char *a;
		int ret;
		const char *want;
		struct u128 index;
		int line;
	} rows[] = {
	    {"10.0.0.0/16", 26, "10.0.0.0", BIP_OK, "10.0.0.0/26", {0, 0}, __LINE__},
	    {"10.0.0.0/16", 26, "10.0.1.100", BIP_OK, "10.0.1.64/26", {0, 5}, __LINE__},
	    {"10.0.0.0/16", 26, "10.0.255.255", BIP_OK, "10.0.255.192/26", {0, 1023}, __LINE__},
	    {"10.0.0.0/16", 26, "10.1.0.0", BIP_EINVAL, NULL, {0, 0}, __LINE__},
	    {"10.0.0.0/16", 26, "fd00::1", BIP_EINVAL, NULL, {0, 0}, __LINE__},
	    {"10.0.0.0/16", 15, "10.0.0.1", BIP_EINVAL, NULL, {0, 0}, __LINE__},
	    {"10.0.0.0/16", 33, "10.0.0.1", BIP_EINVAL, NULL, {0, 0}, __LINE__},
	    {"10.0.0.0/16", 32, "10.0.1.1", BIP_OK, "10.0.1.1/32", {0, 257}, __LINE__},
	    {"10.0.0.0/16", 16, "10.0.1.1", BIP_OK, "10.0.0.0/16", {0, 0}, __LINE__},
	    {"10.0.9.9/16", 26, "10.0.0.65", BIP_OK, "10.0.0.64/26", {0, 1}, __LINE__},
	    {"0.0.0.0/0", 0, "1.2.3.4", BIP_OK, "0.0.0.0/0", {0, 0}, __LINE__},
	    {"0.0.0.0/0",
	     32,
	     "255.255.255.255",
	     BIP_OK,
	     "255.255.255.255/32",
	     {0, 0xffffffff},
	     __LINE__},
	    {"0.0.0.0/0", 8, "10.1.2.3", BIP_OK, "10.0.0.0/8", {0, 10}, __LINE__},
	    {"fd00::/48", 122, "fd00::41", BIP_OK, "fd00::40/122", {0, 1}, __LINE__},
	    {"fd00::/48",
	     122,
	     "fd00::ffff:ffff:ffff:ffff:ffff",
	     BIP_OK,
	     "fd00::ffff:ffff:ffff:ffff:ffc0/122",
	     {1023, UINT64_MAX},
	     __LINE__},
	    {"fd00::/48", 122, "fd00:0:1::", BIP_EINVAL, NULL, {0, 0}, __LINE__},
	    {"fd00::/48", 122, "10.0.0.1", BIP_EINVAL, NULL, {0, 0}, __LINE__},
	    {"::/0", 0, "fd00::1", BIP_OK, "::/0", {0, 0}, __LINE__},
	    {"::/0", 128, "::", BIP_OK, "::/128", {0, 0}, __LINE__},
	    {"::/0",
	     128,
	     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	     BIP_OK,
	     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
	     {UINT64_MAX, UINT64_MAX},
	     __LINE__},
	    {"::/0", 1, "8000::1", BIP_OK, "8000::/1", {0, 1}, __LINE__},
	    {"::/0", 64, "fd00::1", BIP_OK, "fd00::/64", {0, 0xfd00000000000000}, __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_prefix p = P(rows[i].p), s = {sentinel, 77}, back;
		struct bip_addr a = A(rows[i].a);
		bip_u128 index = 12345;
		char buf[BIP_PREFIX_STRLEN];
		int ret = bip_prefix_sub_of(p, rows[i].sublen, a, &s, &index);

		T_CHECK(ret == rows[i].ret, "line %d: got %s", rows[i].line, bip_errname(ret));
		if (ret != BIP_OK) {
			T_CHECK(bip_addr_eq(s.addr, sentinel) && s.len == 77 && index == 12345,
				"line %d: output written on failure", rows[i].line);
			continue;
		}
		T_CHECK_STR(bip_prefix_fmt(s, buf), rows[i].want);
		CHECK_U128(index, u128(rows[i].index));
		/* sub_of and sub agree, and the index is optional. */
		T_CHECK_INT(bip_prefix_sub(p, rows[i].sublen, index, &back), BIP_OK);
		T_CHECK(bip_prefix_eq(back, s), "line %d: sub(index) is the same block",
			rows[i].line);
		T_CHECK_INT(bip_prefix_sub_of(p, rows[i].sublen, a, &back, NULL), BIP_OK);
	}
}

static void test_bytes(void)
{
	static const struct {
		const char *a;
		uint8_t bytes[16];
		int line;
	} rows[] = {
	    {"1.2.3.4", {1, 2, 3, 4}, __LINE__},
	    {"255.0.0.1", {255, 0, 0, 1}, __LINE__},
	    {"::1", {[15] = 1}, __LINE__},
	    {"fd00::ab:cdef", {0xfd, 0, [12] = 0, 0xab, 0xcd, 0xef}, __LINE__},
	    {"::ffff:1.2.3.4", {[10] = 0xff, 0xff, 1, 2, 3, 4}, __LINE__},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_addr a = A(rows[i].a), b;
		size_t n = a.family == 4 ? 4 : 16;
		uint8_t out[16];

		memset(out, 0xee, sizeof(out));
		bip_addr_to_bytes(a, out);
		T_CHECK(memcmp(out, rows[i].bytes, n) == 0, "line %d: bytes", rows[i].line);
		T_CHECK(n == 16 || out[4] == 0xee, "line %d: wrote past 4 bytes", rows[i].line);
		b = bip_addr_from_bytes(a.family, rows[i].bytes);
		T_CHECK(bip_addr_eq(a, b), "line %d: from_bytes", rows[i].line);
	}
}

T_MAIN(T(test_addr_parse), T(test_addr_parse_n), T(test_prefix_parse), T(test_contains),
       T(test_covers_overlaps), T(test_compare), T(test_next_prev), T(test_nth_ordinal),
       T(test_mask), T(test_subcount), T(test_sub), T(test_sub_of), T(test_bytes))
