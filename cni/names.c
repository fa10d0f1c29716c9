/*
 * The character rules the CNI spec and blockipam share. Container ids and network names use the
 * spec's pattern ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$; pool references in a config are either a CIDR
 * or a pool name under the same pattern (pool names are Kubernetes-style object names).
 */
#include <stdio.h>
#include <string.h>

#include "cni.h"

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool bip_cni_name_ok(const char *s, size_t max)
{
	size_t n;

	if (!s || !alnum(s[0]))
		return false;
	for (n = 1; s[n]; n++)
		if (!alnum(s[n]) && s[n] != '_' && s[n] != '.' && s[n] != '-')
			return false;
	return n <= max;
}

bool bip_cni_poolref_ok(const char *s, int family, char *why, size_t whylen)
{
	struct bip_prefix p;
	int rc;

	if (!strchr(s, '/')) {
		if (bip_cni_name_ok(s, BIP_NAME_MAX))
			return true;
		snprintf(why, whylen, "'%s' is neither a CIDR nor a pool name", s);
		return false;
	}
	rc = bip_prefix_parse_net(s, &p);
	if (rc == BIP_EHOSTBITS) {
		snprintf(why, whylen, "CIDR '%s' has host bits set", s);
		return false;
	}
	if (rc != BIP_OK) {
		snprintf(why, whylen, "invalid CIDR '%s'", s);
		return false;
	}
	if (family && p.addr.family != family) {
		snprintf(why, whylen, "'%s' is not an IPv%d CIDR", s, family);
		return false;
	}
	return true;
}

static bool endpoint_ok(const char *s, size_t n)
{
	const char *colon = NULL;
	unsigned long port = 0;

	for (size_t i = 0; i < n; i++)
		if (s[i] == ':')
			colon = s + i;
	if (!colon || colon == s || colon + 1 == s + n)
		return false;
	if (s[0] == '[') { /* [v6]:port */
		if (colon[-1] != ']' || bip_addr_parse_n(s + 1, (size_t)(colon - s) - 2,
							 &(struct bip_addr){0}) != BIP_OK)
			return false;
	} else {
		for (const char *p = s; p < colon; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
				return false;
	}
	for (const char *p = colon + 1; p < s + n; p++) {
		if (*p < '0' || *p > '9' || (p == colon + 1 && *p == '0'))
			return false;
		port = port * 10 + (unsigned long)(*p - '0');
		if (port > 65535)
			return false;
	}
	return port > 0;
}

bool bip_cni_store_addr_ok(const char *s, char *why, size_t whylen)
{
	const char *path = NULL, *eps = NULL;

	if (strncmp(s, "sqlite://", 9) == 0)
		path = s + 9;
	else if (s[0] == '/')
		path = s;
	else if (strncmp(s, "etcd://", 7) == 0)
		eps = s + 7;
	else if (strncmp(s, "etcds://", 8) == 0)
		eps = s + 8;
	if (path) {
		size_t n = strlen(path);

		if (path[0] != '/' || n < 2 || path[n - 1] == '/') {
			snprintf(why, whylen,
				 "store address '%s': want sqlite:///absolute/path/to/file.db", s);
			return false;
		}
		for (const char *p = path; *p; p++) {
			if ((unsigned char)*p < ' ' || *p == 0x7f) {
				snprintf(why, whylen, "store address '%s': control character in path",
					 s);
				return false;
			}
		}
		return true;
	}
	if (eps) {
		while (*eps) {
			const char *comma = strchr(eps, ',');
			size_t n = comma ? (size_t)(comma - eps) : strlen(eps);

			if (!endpoint_ok(eps, n)) {
				snprintf(why, whylen,
					 "store address '%s': endpoint '%.*s' is not host:port", s,
					 (int)n, eps);
				return false;
			}
			eps += n + (comma ? 1 : 0);
			if (comma && !*eps) {
				snprintf(why, whylen, "store address '%s': empty endpoint", s);
				return false;
			}
		}
		if (eps[-1] == '/') {
			snprintf(why, whylen, "store address '%s': no endpoint", s);
			return false;
		}
		return true;
	}
	snprintf(why, whylen,
		 "store address '%s': unknown scheme (want sqlite:///path, etcd://host:port or "
		 "etcds://host:port)",
		 s);
	return false;
}
