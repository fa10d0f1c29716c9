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

bool bip_cni_store_addr_ok(const char *s, char *why, size_t whylen)
{
	/* the store layer's grammar, the one bip_store_open applies */
	return bip_store_addr_check(s, why, whylen) == BIP_OK;
}
