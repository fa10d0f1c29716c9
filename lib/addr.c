/*
 * Address algebra: strict parsing, canonical formatting, and splitting prefixes into
 * sub-prefixes.
 *
 * Formatting is done here rather than by inet_ntop, whose output depends on the libc: glibc
 * prints every address in ::/96 with a dotted tail ("::1234:5678" as "::18.52.86.120"). We
 * follow RFC 5952: lowercase hex without leading zeros, the longest run of two or more zero
 * groups (the first on a tie) compressed to "::", and mixed notation only for IPv4-mapped
 * addresses (::ffff:0:0/96), the one prefix where a dotted tail is an IPv4 address.
 *
 * IPv4 is parsed here (inet_pton would do, but we want to name exactly what we accept: four
 * decimal parts 0-255, no leading zeros, no empty parts). IPv6 is parsed by inet_pton after a
 * check that only hex digits, ':' and '.' appear, so no zone index or space slips through.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "blockipam/addr.h"
#include "blockipam/err.h"

static int parse_v4(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		unsigned x = 0, digits = 0;

		if (part > 0) {
			if (i >= n || s[i] != '.')
				return BIP_EINVAL;
			i++;
		}
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			if (digits > 0 && x == 0)
				return BIP_EINVAL; /* leading zero */
			x = x * 10 + (unsigned)(s[i] - '0');
			if (x > 255)
				return BIP_EINVAL;
			digits++;
			i++;
		}
		if (digits == 0)
			return BIP_EINVAL;
		v = (v << 8) | x;
	}
	if (i != n)
		return BIP_EINVAL;
	*out = v;
	return BIP_OK;
}

int bip_addr_parse_n(const char *s, size_t n, struct bip_addr *out)
{
	char buf[BIP_ADDR_STRLEN];
	uint8_t bytes[16];
	bool colon = false;

	if (!s || n == 0)
		return BIP_EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == ':')
			colon = true;
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			   (c >= 'A' && c <= 'F') || c == '.'))
			return BIP_EINVAL;
	}
	if (!colon) {
		uint32_t v;

		if (parse_v4(s, n, &v) != BIP_OK)
			return BIP_EINVAL;
		out->v = v;
		out->family = 4;
		return BIP_OK;
	}
	if (n >= sizeof(buf))
		return BIP_EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET6, buf, bytes) != 1)
		return BIP_EINVAL;
	*out = bip_addr_from_bytes(6, bytes);
	return BIP_OK;
}

int bip_addr_parse(const char *s, struct bip_addr *out)
{
	if (!s)
		return BIP_EINVAL;
	return bip_addr_parse_n(s, strlen(s), out);
}

int bip_prefix_parse_ex(const char *s, bool require_net, bool allow_bare, struct bip_prefix *out)
{
	struct bip_addr a;
	const char *slash;
	unsigned len = 0, digits = 0;

	if (!s)
		return BIP_EINVAL;
	slash = strchr(s, '/');
	if (!slash) {
		if (!allow_bare || bip_addr_parse(s, &a) != BIP_OK)
			return BIP_EINVAL;
		out->addr = a;
		out->len = (uint8_t)bip_addr_bits(a);
		return BIP_OK;
	}
	if (bip_addr_parse_n(s, (size_t)(slash - s), &a) != BIP_OK)
		return BIP_EINVAL;
	for (const char *p = slash + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return BIP_EINVAL;
		if (digits > 0 && len == 0)
			return BIP_EINVAL; /* leading zero */
		len = len * 10 + (unsigned)(*p - '0');
		if (len > 128)
			return BIP_EINVAL;
		digits++;
	}
	if (digits == 0 || len > bip_addr_bits(a))
		return BIP_EINVAL;
	if (require_net && (a.v & ~bip_mask(a.family, len)) != 0)
		return BIP_EHOSTBITS;
	out->addr = a;
	out->len = (uint8_t)len;
	return BIP_OK;
}

int bip_prefix_parse(const char *s, struct bip_prefix *out)
{
	return bip_prefix_parse_ex(s, false, false, out);
}

int bip_prefix_parse_net(const char *s, struct bip_prefix *out)
{
	return bip_prefix_parse_ex(s, true, false, out);
}

void bip_addr_to_bytes(struct bip_addr a, uint8_t *out)
{
	int n = a.family == 4 ? 4 : 16;

	for (int i = n - 1; i >= 0; i--) {
		out[i] = (uint8_t)(a.v & 0xff);
		a.v >>= 8;
	}
}

struct bip_addr bip_addr_from_bytes(int family, const uint8_t *in)
{
	struct bip_addr a = {.v = 0, .family = (uint8_t)family};
	int n = family == 4 ? 4 : 16;

	for (int i = 0; i < n; i++)
		a.v = (a.v << 8) | in[i];
	return a;
}

static void fmt_v4(uint32_t v, char *buf, size_t size)
{
	snprintf(buf, size, "%u.%u.%u.%u", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
}

static void fmt_v6(bip_u128 v, char *buf)
{
	bool mapped = (v >> 32) == 0xffff;
	int ngroups = mapped ? 6 : 8; /* a mapped address ends in a dotted quad instead */
	int zero = -1, nzero = 1;     /* the run to compress: none unless two or more */
	size_t n = 0;
	uint16_t w[8];

	for (int i = 0; i < 8; i++)
		w[i] = (uint16_t)(v >> (112 - 16 * i));
	for (int i = 0, j; i < ngroups; i = j + 1) {
		for (j = i; j < ngroups && w[j] == 0; j++)
			;
		if (j - i > nzero) {
			zero = i;
			nzero = j - i;
		}
	}
	for (int i = 0; i < ngroups; i++) {
		if (i == zero) {
			n += (size_t)snprintf(buf + n, BIP_ADDR_STRLEN - n, "::");
			i += nzero - 1;
			continue;
		}
		n += (size_t)snprintf(buf + n, BIP_ADDR_STRLEN - n, "%s%x",
				      n && buf[n - 1] != ':' ? ":" : "", w[i]);
	}
	if (mapped) {
		if (buf[n - 1] != ':')
			buf[n++] = ':';
		fmt_v4((uint32_t)v, buf + n, BIP_ADDR_STRLEN - n);
	}
}

char *bip_addr_fmt(struct bip_addr a, char *buf)
{
	if (a.family == 4)
		fmt_v4((uint32_t)a.v, buf, BIP_ADDR_STRLEN);
	else
		fmt_v6(a.v, buf);
	return buf;
}

char *bip_prefix_fmt(struct bip_prefix p, char *buf)
{
	size_t n;

	bip_addr_fmt(p.addr, buf);
	n = strlen(buf);
	snprintf(buf + n, BIP_PREFIX_STRLEN - n, "/%u", (unsigned)p.len);
	return buf;
}

int bip_prefix_cmp(struct bip_prefix p, struct bip_prefix q)
{
	int c = bip_addr_cmp(bip_prefix_first(p), bip_prefix_first(q));

	if (c)
		return c;
	return p.len < q.len ? -1 : p.len > q.len;
}

int bip_prefix_subcount(struct bip_prefix p, unsigned sublen, bip_u128 *last_index)
{
	unsigned d;

	if (sublen < p.len || sublen > bip_addr_bits(p.addr))
		return BIP_EINVAL;
	d = sublen - p.len;
	*last_index = d == 128 ? ~(bip_u128)0 : (((bip_u128)1) << d) - 1;
	return BIP_OK;
}

int bip_prefix_sub(struct bip_prefix p, unsigned sublen, bip_u128 k, struct bip_prefix *out)
{
	bip_u128 last;
	unsigned host;

	if (bip_prefix_subcount(p, sublen, &last) != BIP_OK || k > last)
		return BIP_EINVAL;
	host = bip_addr_bits(p.addr) - sublen;
	out->addr = bip_addr_add(bip_prefix_first(p), host == 128 ? 0 : k << host);
	out->len = (uint8_t)sublen;
	return BIP_OK;
}

int bip_prefix_sub_of(struct bip_prefix p, unsigned sublen, struct bip_addr a,
		      struct bip_prefix *out, bip_u128 *index)
{
	bip_u128 last;
	unsigned host;

	if (bip_prefix_subcount(p, sublen, &last) != BIP_OK || !bip_prefix_contains(p, a))
		return BIP_EINVAL;
	host = bip_addr_bits(a) - sublen;
	out->addr = a;
	out->addr.v &= bip_mask(a.family, sublen);
	out->len = (uint8_t)sublen;
	if (index)
		*index = host == 128 ? 0 : (out->addr.v - bip_prefix_first(p).v) >> host;
	return BIP_OK;
}
