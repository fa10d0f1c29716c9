/*
 * The endpoint list of an etcd address, parsed once by one strict grammar: what
 * bip_store_addr_check() accepts is exactly what bip_etcd_open() connects to. A host is a name
 * or an IPv4 address (ASCII letters, digits, '.', '-') or a bracketed IPv6 address; a port is
 * 1-65535 without leading zeros, 2379 when left out. The host is resolved at each connect
 * (http.c).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "blockipam/err.h"
#include "blockipam/store.h"
#include "etcd_int.h"
#include "../store_int.h"

/* ASCII only: <ctype.h> answers by the locale, and a program that links the library may have
 * called setlocale(), where bytes above 127 can count as letters. */
static bool ascii_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool ascii_alnum(unsigned char c)
{
	return ascii_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ascii_xdigit(unsigned char c)
{
	return ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* 1..65535, digits only, no leading zero. */
static bool port_ok(const char *s, size_t n)
{
	unsigned long v = 0;

	if (n == 0 || n > 5 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!ascii_digit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535;
}

static bool host_ok(const char *s, size_t n, bool v6)
{
	if (n == 0 || n > HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(v6 ? ascii_xdigit(c) || c == ':' || c == '.'
			 : ascii_alnum(c) || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* "host:port", "[v6]:port", or either without ":port" (etcd's 2379). */
static int parse_endpoint(const char *s, size_t n, struct endpoint *ep)
{
	const char *host = s, *port = NULL;
	size_t hlen = n, plen = 0;
	bool v6 = false;

	if (n && s[0] == '[') {
		const char *rb = memchr(s, ']', n);

		if (!rb)
			return BIP_EINVAL;
		v6 = true;
		host = s + 1;
		hlen = (size_t)(rb - host);
		if (rb + 1 < s + n) {
			if (rb[1] != ':')
				return BIP_EINVAL;
			port = rb + 2;
			plen = (size_t)(s + n - port);
		}
	} else {
		const char *colon = memchr(s, ':', n);

		if (colon) {
			hlen = (size_t)(colon - s);
			port = colon + 1;
			plen = (size_t)(s + n - port);
		}
	}
	if (!host_ok(host, hlen, v6) || (port && !port_ok(port, plen)))
		return BIP_EINVAL;
	memcpy(ep->host, host, hlen);
	ep->host[hlen] = '\0';
	if (port) {
		memcpy(ep->port, port, plen);
		ep->port[plen] = '\0';
	} else {
		strcpy(ep->port, "2379");
	}
	snprintf(ep->hosthdr, sizeof(ep->hosthdr), v6 ? "[%s]:%s" : "%s:%s", ep->host, ep->port);
	return BIP_OK;
}

/* etcd_int.h says what it accepts. */
int bip__etcd_parse_endpoints(const char *endpoints, struct endpoint *eps, size_t *neps, char *err,
			      size_t errlen)
{
	struct endpoint scratch;
	const char *p = endpoints;
	size_t n = 0;

	for (;;) {
		size_t len = strcspn(p, ",");

		if (n == MAX_ENDPOINTS) {
			bip__store_seterr(err, errlen, "more than %d endpoints", MAX_ENDPOINTS);
			return BIP_EINVAL;
		}
		if (len == 0) {
			bip__store_seterr(err, errlen, "%s",
					  *endpoints ? "empty endpoint" : "no endpoint");
			return BIP_EINVAL;
		}
		if (parse_endpoint(p, len, eps ? &eps[n] : &scratch) != BIP_OK) {
			bip__store_seterr(
			    err, errlen,
			    "endpoint '%.*s' is not host[:port] or [v6addr][:port] (port 1-65535, "
			    "default 2379)",
			    (int)(len < 300 ? len : 300), p);
			return BIP_EINVAL;
		}
		n++;
		if (!p[len])
			break;
		p += len + 1;
	}
	if (neps)
		*neps = n;
	return BIP_OK;
}

int bip_etcd_addr_check(const char *endpoints, char *err, size_t errlen)
{
	return bip__etcd_parse_endpoints(endpoints, NULL, NULL, err, errlen);
}
