/*
 * Inputs that come with one request rather than with the network: what ADD is asked for
 * (specific addresses, pod annotations), what CHECK verifies (prevResult) and what GC keeps
 * (cni.dev/valid-attachments). Only the command that uses an input parses it, so that a DEL is
 * never refused over, say, a malformed annotation.
 *
 * Specific addresses: the first of these sources that names any is used, the others ignored
 * (the CNI conventions say a plugin that reads "args" ignores the CNI_ARGS equivalent; the
 * design says "stop at the first level that names any"):
 *   runtimeConfig.ips  >  args.cni.ips  >  CNI_ARGS IP=  >  the ipAddrs pod annotation.
 * A prefix length given with an address ("10.1.2.3/24") is accepted and ignored: the reported
 * length comes from ipam.prefix_length.
 *
 * Pod annotations arrive through the CRI capability io.kubernetes.cri.pod-annotations. Their
 * values are JSON lists inside a string, as in Calico: "[\"pool-a\", \"10.0.0.0/16\"]".
 * blockipam's own keys (blockipam.io/...) win over Calico's (cni.projectcalico.org/...) when both
 * are present; both are validated.
 */
#include <stdlib.h>
#include <string.h>

#include "cni.h"

#define MAX_IPS 16

static int add_ip(struct bip_cni_conf *c, const char *s, const char *field, size_t i,
		  struct bip_cni_err *e)
{
	struct bip_prefix p;

	if (bip_prefix_parse_ex(s, false, true, &p) != BIP_OK)
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "invalid %s[%zu]: '%s' is not an IP address", field, i, s);
	for (size_t k = 0; k < c->nips; k++)
		if (bip_addr_eq(c->ips[k], p.addr))
			return bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid %s[%zu]: '%s' given twice",
					    field, i, s);
	if (c->nips == MAX_IPS)
		return bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid %s: more than %d addresses", field,
				    MAX_IPS);
	c->ips[c->nips++] = p.addr;
	return 0;
}

/* A list of address strings into c->ips (when c->ips is still empty). */
static int take_ips(struct bip_cni_conf *c, json_t *list, const char *field, struct bip_cni_err *e)
{
	const char **v = NULL;
	size_t n = 0;
	int rc;

	if (!list)
		return 0;
	rc = bip_cni_json_strings(list, field, &v, &n, e);
	for (size_t i = 0; !rc && i < n; i++)
		rc = add_ip(c, v[i], field, i, e);
	free(v);
	if (!rc && c->nips && !c->ips_source)
		c->ips_source = field;
	return rc;
}

/* Annotation kinds, and their keys in precedence order. */
enum { ANN_V4POOLS, ANN_V6POOLS, ANN_IPADDRS, ANN__COUNT };
static const char *const ann_keys[ANN__COUNT][2] = {
    {"blockipam.io/ipv4pools", "cni.projectcalico.org/ipv4pools"},
    {"blockipam.io/ipv6pools", "cni.projectcalico.org/ipv6pools"},
    {"blockipam.io/ipAddrs", "cni.projectcalico.org/ipAddrs"},
};

/* The parsed value of one annotation (a list of strings), or NULL when absent. */
static int ann_value(json_t *anns, const char *key, json_t **out, struct bip_cni_err *e)
{
	json_t *v = json_object_get(anns, key);
	json_error_t jerr;
	json_t *list;
	size_t i;
	json_t *s;
	char f[96];

	*out = NULL;
	if (!v)
		return 0;
	snprintf(f, sizeof(f), "pod annotation %s", key);
	if (!json_is_string(v))
		return bip_cni_type_err(e, f, v, "a string");
	list = json_loads(json_string_value(v), JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_array(list)) {
		json_decref(list);
		return bip_cni_errf(
		    e, BIP_CNI_ECONFIG,
		    "invalid pod annotation %s '%.200s': want a JSON list of strings", key,
		    json_string_value(v));
	}
	json_array_foreach(list, i, s)
	{
		if (!json_is_string(s)) {
			json_decref(list);
			return bip_cni_errf(e, BIP_CNI_ECONFIG,
					    "invalid pod annotation %s '%.200s': item %zu is not a "
					    "string",
					    key, json_string_value(v), i);
		}
	}
	*out = list;
	return 0;
}

static int check_ann_pools(json_t *list, const char *key, int family, struct bip_cni_err *e)
{
	size_t i;
	json_t *s;

	json_array_foreach(list, i, s)
	{
		char why[160];

		if (!bip_cni_poolref_ok(json_string_value(s), family, why, sizeof(why)))
			return bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid pod annotation %s: %s",
					    key, why);
	}
	return 0;
}

struct ann {
	json_t *list;
	const char *key;
};

static int parse_annotations(json_t *rt, struct bip_cni_conf *c, struct ann chosen[ANN__COUNT],
			     struct bip_cni_err *e)
{
	json_t *anns = rt ? json_object_get(rt, "io.kubernetes.cri.pod-annotations") : NULL;
	size_t slot = 0, n = 0;

	if (!anns)
		return 0;
	if (!json_is_object(anns))
		return bip_cni_type_err(e, "runtimeConfig.io.kubernetes.cri.pod-annotations", anns,
					"an object");
	for (int k = 0; k < ANN__COUNT; k++) {
		for (int w = 0; w < 2; w++) {
			json_t *list;
			int rc = ann_value(anns, ann_keys[k][w], &list, e);

			if (rc)
				return rc;
			if (!list)
				continue;
			c->ann_json[slot++] = list; /* owned by c from here on */
			if (k != ANN_IPADDRS) {
				rc = check_ann_pools(list, ann_keys[k][w], k == ANN_V4POOLS ? 4 : 6,
						     e);
				if (rc)
					return rc;
			}
			if (!chosen[k].list)
				chosen[k] = (struct ann){list, ann_keys[k][w]};
		}
	}
	for (int k = ANN_V4POOLS; k <= ANN_V6POOLS; k++)
		n += chosen[k].list ? json_array_size(chosen[k].list) : 0;
	if (!n)
		return 0;
	c->ann_pools = calloc(n + 1, sizeof(*c->ann_pools));
	if (!c->ann_pools)
		return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
	for (int k = ANN_V4POOLS; k <= ANN_V6POOLS; k++) {
		size_t i;
		json_t *s;

		if (!chosen[k].list)
			continue;
		json_array_foreach(chosen[k].list, i, s) c->ann_pools[c->nann_pools++] =
		    json_string_value(s);
	}
	return 0;
}

static int parse_add(json_t *root, const struct bip_cni_env *env, struct bip_cni_conf *c,
		     struct bip_cni_err *e)
{
	json_t *rt = json_object_get(root, "runtimeConfig");
	json_t *args = json_object_get(root, "args");
	json_t *cni = NULL;
	struct ann chosen[ANN__COUNT] = {{NULL, NULL}};
	int rc;

	if (rt && !json_is_object(rt))
		return bip_cni_type_err(e, "runtimeConfig", rt, "an object");
	if (args && !json_is_object(args))
		return bip_cni_type_err(e, "args", args, "an object");
	if (args && (cni = json_object_get(args, "cni")) && !json_is_object(cni))
		return bip_cni_type_err(e, "args.cni", cni, "an object");
	c->ips = calloc(MAX_IPS, sizeof(*c->ips));
	if (!c->ips)
		return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
	rc = parse_annotations(rt, c, chosen, e);
	if (!rc && rt)
		rc = take_ips(c, json_object_get(rt, "ips"), "runtimeConfig.ips", e);
	if (!rc && cni && !c->nips)
		rc = take_ips(c, json_object_get(cni, "ips"), "args.cni.ips", e);
	if (!rc && !c->nips && env && env->args.nips) {
		for (size_t i = 0; i < env->args.nips; i++)
			c->ips[c->nips++] = env->args.ips[i];
		c->ips_source = "CNI_ARGS IP";
	}
	if (!rc && !c->nips && chosen[ANN_IPADDRS].list) {
		size_t i;
		json_t *s;

		json_array_foreach(chosen[ANN_IPADDRS].list, i, s)
		{
			rc = add_ip(c, json_string_value(s), chosen[ANN_IPADDRS].key, i, e);
			if (rc)
				break;
		}
		c->ips_source = chosen[ANN_IPADDRS].key;
	}
	return rc;
}

static int parse_check(json_t *root, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	json_t *prev = json_object_get(root, "prevResult");
	json_t *ips, *ip;
	size_t i;

	if (!prev)
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "missing prevResult: CHECK needs the result "
				    "of ADD");
	if (!json_is_object(prev))
		return bip_cni_type_err(e, "prevResult", prev, "an object");
	c->has_prev = true;
	ips = json_object_get(prev, "ips");
	if (!ips)
		return 0;
	if (!json_is_array(ips))
		return bip_cni_type_err(e, "prevResult.ips", ips, "a list");
	c->prev_ips = calloc(json_array_size(ips) + 1, sizeof(*c->prev_ips));
	if (!c->prev_ips)
		return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
	json_array_foreach(ips, i, ip)
	{
		static const char want[] = "an address with its prefix length (\"10.0.0.5/26\")";
		json_t *a = json_is_object(ip) ? json_object_get(ip, "address") : NULL;
		char f[64];

		snprintf(f, sizeof(f), "prevResult.ips[%zu]", i);
		if (!json_is_object(ip))
			return bip_cni_type_err(e, f, ip, "an object");
		snprintf(f, sizeof(f), "prevResult.ips[%zu].address", i);
		if (!a)
			return bip_cni_errf(e, BIP_CNI_ECONFIG, "missing %s", f);
		if (!json_is_string(a))
			return bip_cni_type_err(e, f, a, want);
		if (bip_prefix_parse(json_string_value(a), &c->prev_ips[c->nprev_ips]) != BIP_OK)
			return bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid %s '%.80s': want %s", f,
					    json_string_value(a), want);
		c->nprev_ips++;
	}
	return 0;
}

static int add_attachments(json_t *list, const char *key, struct bip_cni_conf *c, size_t *cap,
			   struct bip_cni_err *e)
{
	size_t i;
	json_t *a;

	if (!json_is_array(list))
		return bip_cni_type_err(e, key, list, "a list");
	json_array_foreach(list, i, a)
	{
		json_t *id = json_is_object(a) ? json_object_get(a, "containerID") : NULL;
		json_t *ifn = json_is_object(a) ? json_object_get(a, "ifname") : NULL;
		char f[64];

		snprintf(f, sizeof(f), "%s[%zu]", key, i);
		if (!json_is_string(id) || !json_is_string(ifn) || !*json_string_value(id) ||
		    !*json_string_value(ifn))
			return bip_cni_type_err(e, f, a,
						"{\"containerID\": \"...\", \"ifname\": \"...\"}");
		if (c->nvalid == *cap) {
			size_t ncap = *cap ? 2 * *cap : 16;
			struct bip_cni_attachment *v = realloc(c->valid, ncap * sizeof(*v));

			if (!v)
				return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
			c->valid = v;
			*cap = ncap;
		}
		c->valid[c->nvalid].container_id = json_string_value(id);
		c->valid[c->nvalid].ifname = json_string_value(ifn);
		c->nvalid++;
	}
	return 0;
}

static int parse_gc(json_t *root, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	static const char *const keys[] = {"cni.dev/valid-attachments", "cni.dev/attachments"};
	size_t cap = 0;

	for (size_t k = 0; k < 2; k++) {
		json_t *list = json_object_get(root, keys[k]);
		int rc;

		if (!list)
			continue;
		rc = add_attachments(list, keys[k], c, &cap, e);
		if (rc)
			return rc;
		c->has_valid = true;
	}
	/* Without the list every handle would look stale: refuse rather than release all. */
	if (!c->has_valid)
		return bip_cni_errf(
		    e, BIP_CNI_ECONFIG,
		    "missing cni.dev/valid-attachments: GC needs the attachments to "
		    "keep");
	return 0;
}

int bip_cni_request_parse(json_t *root, enum bip_cni_cmd cmd, const struct bip_cni_env *env,
			  struct bip_cni_conf *c, struct bip_cni_err *e)
{
	switch (cmd) {
	case BIP_CNI_CMD_ADD:
		return parse_add(root, env, c, e);
	case BIP_CNI_CMD_CHECK:
		return parse_check(root, c, e);
	case BIP_CNI_CMD_GC:
		return parse_gc(root, c, e);
	default:
		return 0;
	}
}
