/*
 * Addresses are values. One type for IPv4 and IPv6, passed by value, with small inline helpers
 * (compare, mask, add, contains) so that allocation code reads like arithmetic. An IPv4 address
 * lives in the low 32 bits of the 128-bit value; `family` says which it is. Two addresses of
 * different families are never equal and never contain each other.
 *
 * Parsing is strict: dotted quads without leading zeros, no trailing junk, prefix lengths within
 * the family. Formatting is canonical (RFC 5952 for IPv6). Parsers write their output only on
 * success.
 */
#ifndef BLOCKIPAM_ADDR_H
#define BLOCKIPAM_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

__extension__ typedef unsigned __int128 bip_u128;

struct bip_addr {
	bip_u128 v;
	uint8_t family; /* 4 or 6 */
};

struct bip_prefix {
	struct bip_addr addr;
	uint8_t len;
};

/* Longest text of an address ("ffff:...:255.255.255.255") and of a prefix, with the NUL. */
#define BIP_ADDR_STRLEN 46
#define BIP_PREFIX_STRLEN 50

static inline unsigned bip_family_bits(int family)
{
	return family == 4 ? 32 : 128;
}

static inline unsigned bip_addr_bits(struct bip_addr a)
{
	return bip_family_bits(a.family);
}

/* The netmask of a prefix length inside a family, as a 128-bit value. */
static inline bip_u128 bip_mask(int family, unsigned len)
{
	unsigned bits = bip_family_bits(family);

	if (len == 0)
		return 0;
	if (len > bits)
		len = bits;
	/* The top len bits of 128, moved down to the family's width. */
	return (~(bip_u128)0 << (128 - len)) >> (128 - bits);
}

static inline int bip_addr_cmp(struct bip_addr a, struct bip_addr b)
{
	if (a.family != b.family)
		return a.family < b.family ? -1 : 1;
	return a.v < b.v ? -1 : a.v > b.v;
}

static inline bool bip_addr_eq(struct bip_addr a, struct bip_addr b)
{
	return a.family == b.family && a.v == b.v;
}

/* a + n, wrapping inside the family. */
static inline struct bip_addr bip_addr_add(struct bip_addr a, bip_u128 n)
{
	a.v += n;
	if (a.family == 4)
		a.v &= 0xffffffffu;
	return a;
}

static inline struct bip_addr bip_addr_next(struct bip_addr a)
{
	return bip_addr_add(a, 1);
}

static inline struct bip_addr bip_addr_prev(struct bip_addr a)
{
	return bip_addr_add(a, ~(bip_u128)0);
}

/* Number of addresses in a prefix, minus one (so that ::/0 fits). */
static inline bip_u128 bip_prefix_last_ordinal(struct bip_prefix p)
{
	unsigned host = bip_addr_bits(p.addr) - p.len;

	return host == 128 ? ~(bip_u128)0 : (((bip_u128)1) << host) - 1;
}

static inline struct bip_addr bip_prefix_first(struct bip_prefix p)
{
	struct bip_addr a = p.addr;

	a.v &= bip_mask(a.family, p.len);
	return a;
}

static inline struct bip_addr bip_prefix_last(struct bip_prefix p)
{
	return bip_addr_add(bip_prefix_first(p), bip_prefix_last_ordinal(p));
}

static inline bool bip_prefix_contains(struct bip_prefix p, struct bip_addr a)
{
	return p.addr.family == a.family &&
	       (a.v & bip_mask(a.family, p.len)) == (p.addr.v & bip_mask(a.family, p.len));
}

/* Whether p wholly contains q. */
static inline bool bip_prefix_covers(struct bip_prefix p, struct bip_prefix q)
{
	return p.len <= q.len && bip_prefix_contains(p, q.addr);
}

static inline bool bip_prefix_overlaps(struct bip_prefix p, struct bip_prefix q)
{
	return bip_prefix_covers(p, q) || bip_prefix_covers(q, p);
}

static inline bool bip_prefix_eq(struct bip_prefix p, struct bip_prefix q)
{
	return p.len == q.len && bip_addr_eq(bip_prefix_first(p), bip_prefix_first(q));
}

/* Prefix ordering: by family, then first address, then length. */
int bip_prefix_cmp(struct bip_prefix p, struct bip_prefix q);

/* The n-th address of p; n must be <= bip_prefix_last_ordinal(p). */
static inline struct bip_addr bip_prefix_nth(struct bip_prefix p, bip_u128 n)
{
	return bip_addr_add(bip_prefix_first(p), n);
}

/* The ordinal of a inside p; a must be contained in p. */
static inline bip_u128 bip_prefix_ordinal(struct bip_prefix p, struct bip_addr a)
{
	return a.v - bip_prefix_first(p).v;
}

/*
 * Sub-prefixes of length sublen (the blocks of a pool): how many there are, minus one, and the
 * k-th of them. Return BIP_EINVAL when sublen is shorter than p or longer than the family.
 */
int bip_prefix_subcount(struct bip_prefix p, unsigned sublen, bip_u128 *last_index);
int bip_prefix_sub(struct bip_prefix p, unsigned sublen, bip_u128 k, struct bip_prefix *out);
/* The sub-prefix of length sublen that holds a, and its index inside p. */
int bip_prefix_sub_of(struct bip_prefix p, unsigned sublen, struct bip_addr a,
		      struct bip_prefix *out, bip_u128 *index);

/*
 * Parse an address ("10.0.0.1", "fd00::1"). BIP_EINVAL on anything else. Writes *out only on
 * success.
 */
int bip_addr_parse(const char *s, struct bip_addr *out);
/* Like bip_addr_parse on the first n bytes of s (which need not be NUL-terminated). */
int bip_addr_parse_n(const char *s, size_t n, struct bip_addr *out);

/*
 * Parse "addr/len". bip_prefix_parse keeps host bits (an interface address such as
 * "10.0.0.5/24"); bip_prefix_parse_net refuses them with BIP_EHOSTBITS. A bare address is
 * refused (BIP_EINVAL) unless allow_bare, in which case it is a /32 or /128.
 */
int bip_prefix_parse(const char *s, struct bip_prefix *out);
int bip_prefix_parse_net(const char *s, struct bip_prefix *out);
int bip_prefix_parse_ex(const char *s, bool require_net, bool allow_bare, struct bip_prefix *out);

/* Canonical text. buf must hold BIP_ADDR_STRLEN / BIP_PREFIX_STRLEN bytes. Return buf. */
char *bip_addr_fmt(struct bip_addr a, char *buf);
char *bip_prefix_fmt(struct bip_prefix p, char *buf);

/* Conversion to and from network byte order (4 or 16 bytes). */
void bip_addr_to_bytes(struct bip_addr a, uint8_t *out);
struct bip_addr bip_addr_from_bytes(int family, const uint8_t *in);

#endif
