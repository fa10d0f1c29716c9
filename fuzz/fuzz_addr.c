/*
 * Address and prefix parsing. Anything a parser accepts must format to text that parses back
 * to the same value and formats the same again; the parsers must agree with each other; and a
 * parsed prefix must obey the algebra (first <= addr <= last, its own only block is itself).
 * A broken invariant aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/addr.h"
#include "blockipam/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static void check_addr(struct bip_addr a)
{
	char buf[BIP_ADDR_STRLEN], again[BIP_ADDR_STRLEN];
	struct bip_addr b;
	uint8_t bytes[16];

	check(a.family == 4 || a.family == 6);
	check(a.family == 6 || a.v <= 0xffffffffu);
	bip_addr_fmt(a, buf);
	check(strlen(buf) < BIP_ADDR_STRLEN);
	check(bip_addr_parse(buf, &b) == BIP_OK);
	check(bip_addr_eq(a, b));
	check(strcmp(bip_addr_fmt(b, again), buf) == 0);
	bip_addr_to_bytes(a, bytes);
	check(bip_addr_eq(bip_addr_from_bytes(a.family, bytes), a));
	check(bip_addr_eq(bip_addr_prev(bip_addr_next(a)), a));
}

static void check_prefix(struct bip_prefix p, int net)
{
	char buf[BIP_PREFIX_STRLEN];
	struct bip_prefix q, sub;
	struct bip_addr first = bip_prefix_first(p), last = bip_prefix_last(p);
	bip_u128 count, index;

	check_addr(p.addr);
	check(p.len <= bip_addr_bits(p.addr));
	check(!net || bip_addr_eq(first, p.addr));
	bip_prefix_fmt(p, buf);
	check(strlen(buf) < BIP_PREFIX_STRLEN);
	check(bip_prefix_parse(buf, &q) == BIP_OK);
	check(bip_addr_eq(p.addr, q.addr) && p.len == q.len);
	check(bip_prefix_parse_net(buf, &q) == (net ? BIP_OK : BIP_EHOSTBITS));

	check(bip_addr_cmp(first, p.addr) <= 0 && bip_addr_cmp(p.addr, last) <= 0);
	check(bip_prefix_contains(p, first) && bip_prefix_contains(p, last));
	check(bip_prefix_contains(p, p.addr));
	check(bip_prefix_ordinal(p, last) == bip_prefix_last_ordinal(p));
	check(bip_addr_eq(bip_prefix_nth(p, bip_prefix_ordinal(p, p.addr)), p.addr));
	check(bip_prefix_covers(p, p) && bip_prefix_overlaps(p, p) && bip_prefix_eq(p, p));

	check(bip_prefix_subcount(p, p.len, &count) == BIP_OK && count == 0);
	check(bip_prefix_sub_of(p, p.len, p.addr, &sub, &index) == BIP_OK && index == 0);
	check(bip_prefix_eq(sub, p));
	/* The block of the address one level down, and back. */
	if (p.len < bip_addr_bits(p.addr)) {
		unsigned len = p.len + 1u;

		check(bip_prefix_sub_of(p, len, p.addr, &sub, &index) == BIP_OK && index <= 1);
		check(bip_prefix_covers(p, sub) && !bip_prefix_covers(sub, p));
		check(bip_prefix_sub(p, len, index, &q) == BIP_OK && bip_prefix_eq(q, sub));
		check(bip_prefix_sub(p, len, 2, &q) == BIP_EINVAL);
	}
	check(bip_prefix_subcount(p, bip_addr_bits(p.addr) + 1u, &count) == BIP_EINVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bip_addr a, b;
	struct bip_prefix p, q;
	char *s;
	int ret, ret_net;

	/* The raw bytes, not terminated: an over-read is an ASan report. */
	ret = bip_addr_parse_n((const char *)data, size, &a);
	check(ret == BIP_OK || ret == BIP_EINVAL);
	if (ret == BIP_OK)
		check_addr(a);

	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	/* With no NUL inside, the terminated and the counted parser agree. */
	if (!memchr(data, '\0', size)) {
		check(bip_addr_parse(s, &b) == ret);
		check(ret != BIP_OK || bip_addr_eq(a, b));
	}

	ret = bip_prefix_parse(s, &p);
	ret_net = bip_prefix_parse_net(s, &q);
	check(ret == BIP_OK || ret == BIP_EINVAL);
	check(ret_net == BIP_OK || ret_net == BIP_EINVAL || ret_net == BIP_EHOSTBITS);
	check((ret == BIP_OK) == (ret_net != BIP_EINVAL));
	if (ret == BIP_OK)
		check_prefix(p, ret_net == BIP_OK);
	if (ret_net == BIP_OK)
		check(bip_addr_eq(p.addr, q.addr) && p.len == q.len);

	/* A bare address is its own /32 or /128. */
	ret = bip_prefix_parse_ex(s, false, true, &p);
	check(ret == BIP_OK || ret == BIP_EINVAL);
	if (ret == BIP_OK) {
		check_prefix(p, bip_addr_eq(bip_prefix_first(p), p.addr));
		if (!strchr(s, '/'))
			check(p.len == bip_addr_bits(p.addr));
	}
	free(s);
	return 0;
}
