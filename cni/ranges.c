/*
 * host-local mode: "ranges" (a list of range sets, one address per set) and the legacy single
 * range at the top of the ipam section ("subnet", "rangeStart", "rangeEnd", "gateway"), which
 * is prepended as its own set, as host-local does. Each range is canonicalised the way
 * host-local's range.go does it, so a host-local config means the same here:
 *
 *   subnet      a network address (host bits set is an error) with at least 2 host bits
 *   rangeStart  default network + 1
 *   rangeEnd    default the last address (IPv4: the broadcast address - 1)
 *   gateway     default network + 1; never handed out, reported with each address
 *
 * Ranges must not overlap (inside a set or across sets), and a set holds one family.
 * "subnet": "usePodCidr" / "usePodCidrIPv6" (Calico's spelling) stand for the node's pod CIDR
 * of that family: such a set is that one entry, without start, end or gateway, and cannot be
 * mixed with explicit ranges (the engine allocates from either the ranges or the pod CIDRs).
 */
#include <stdlib.h>
#include <string.h>

#include "cni.h"

struct rctx {
	struct bip_cni_conf *c;
	size_t cap;
	int set;
	int pod_cidr_sets; /* how many sets are usePodCidr */
};

static int parse_addr_field(json_t *r, const char *key, const char *path, struct bip_addr *out,
			    struct bip_cni_err *e)
{
	json_t *v = json_object_get(r, key);
	char f[96];

	if (!v)
		return 0;
	snprintf(f, sizeof(f), "%s.%s", path, key);
	return bip_cni_json_addr(v, f, out, e);
}

/* subnet "usePodCidr" / "usePodCidrIPv6": the node's pod CIDR, once per family. */
static int pod_cidr_subnet(json_t *r, const char *path, const char *s, struct rctx *x,
			   struct bip_cni_err *e)
{
	static const char *const no[] = {"rangeStart", "rangeEnd", "gateway"};
	bool v6 = s[10] != '\0';

	for (size_t i = 0; i < 3; i++)
		if (json_object_get(r, no[i]))
			return bip_cni_errf(e, BIP_CNI_ECONFIG,
					    "invalid %s.%s: not supported with \"subnet\": "
					    "\"%s\" (the node's pod CIDR)",
					    path, no[i], s);
	if (v6 ? x->c->use_pod_cidr6 : x->c->use_pod_cidr4)
		return bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid %s.subnet: '%s' given twice", path,
				    s);
	if (v6)
		x->c->use_pod_cidr6 = true;
	else
		x->c->use_pod_cidr4 = true;
	x->pod_cidr_sets++;
	return 0;
}

static int parse_subnet(const char *s, const char *path, struct bip_prefix *out,
			struct bip_cni_err *e)
{
	int rc = bip_prefix_parse_net(s, out);

	if (rc == BIP_EHOSTBITS)
		return bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid %s.subnet: '%s' has host bits set",
				    path, s);
	if (rc != BIP_OK)
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "invalid %s.subnet: '%s' is not a CIDR (or usePodCidr, "
				    "usePodCidrIPv6)",
				    path, s);
	if (out->len + 2u > bip_addr_bits(out->addr))
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "invalid %s.subnet: '%s' is too small to allocate from", path,
				    s);
	return 0;
}

/* A range with its defaults filled in (s: its subnet as written): inside its subnet, and
 * neither mixing families in its set nor overlapping another range. */
static int check_range(const struct bip_range *rg, const char *path, const char *s,
		       const struct rctx *x, struct bip_cni_err *e)
{
	char a[BIP_ADDR_STRLEN], b[BIP_ADDR_STRLEN];

	if (!bip_prefix_contains(rg->subnet, rg->start))
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "invalid %s.rangeStart: '%s' is not in '%s'", path,
				    bip_addr_fmt(rg->start, a), s);
	if (!bip_prefix_contains(rg->subnet, rg->end))
		return bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid %s.rangeEnd: '%s' is not in '%s'",
				    path, bip_addr_fmt(rg->end, a), s);
	if (bip_addr_cmp(rg->start, rg->end) > 0)
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "invalid %s: rangeStart '%s' is after rangeEnd '%s'", path,
				    bip_addr_fmt(rg->start, a), bip_addr_fmt(rg->end, b));
	if (rg->gateway.family != rg->subnet.addr.family)
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "invalid %s.gateway: '%s' is not of the family of '%s'", path,
				    bip_addr_fmt(rg->gateway, a), s);
	for (size_t i = 0; i < x->c->nranges; i++) {
		const struct bip_range *o = &x->c->ranges[i];

		if (o->set == rg->set && o->subnet.addr.family != rg->subnet.addr.family)
			return bip_cni_errf(e, BIP_CNI_ECONFIG,
					    "invalid %s: range set %d mixes IPv4 and IPv6", path,
					    rg->set);
		if (o->start.family == rg->start.family && bip_addr_cmp(rg->start, o->end) <= 0 &&
		    bip_addr_cmp(o->start, rg->end) <= 0)
			return bip_cni_errf(e, BIP_CNI_ECONFIG,
					    "invalid %s: %s-%s overlaps another range", path,
					    bip_addr_fmt(rg->start, a), bip_addr_fmt(rg->end, b));
	}
	return 0;
}

static int push_range(struct rctx *x, const struct bip_range *rg, struct bip_cni_err *e)
{
	if (x->c->nranges == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 4;
		struct bip_range *v = realloc(x->c->ranges, cap * sizeof(*v));

		if (!v)
			return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
		x->c->ranges = v;
		x->cap = cap;
	}
	x->c->ranges[x->c->nranges++] = *rg;
	return 0;
}

/* One range object (or the ipam object itself, for the legacy form) at path. */
static int parse_range(json_t *r, const char *path, struct rctx *x, struct bip_cni_err *e)
{
	struct bip_range rg = {.set = x->set};
	json_t *sub = json_object_get(r, "subnet");
	const char *s;
	char f[96];
	int rc;

	if (!json_is_object(r))
		return bip_cni_type_err(e, path, r, "an object");
	if (!sub)
		return bip_cni_errf(e, BIP_CNI_ECONFIG, "missing %s.subnet", path);
	snprintf(f, sizeof(f), "%s.subnet", path);
	if (!json_is_string(sub))
		return bip_cni_type_err(e, f, sub, "a CIDR");
	s = json_string_value(sub);
	if (strcmp(s, "usePodCidr") == 0 || strcmp(s, "usePodCidrIPv6") == 0)
		return pod_cidr_subnet(r, path, s, x, e);
	rc = parse_subnet(s, path, &rg.subnet, e);
	if (!rc)
		rc = parse_addr_field(r, "rangeStart", path, &rg.start, e);
	if (!rc)
		rc = parse_addr_field(r, "rangeEnd", path, &rg.end, e);
	if (!rc)
		rc = parse_addr_field(r, "gateway", path, &rg.gateway, e);
	if (rc)
		return rc;
	if (!rg.start.family)
		rg.start = bip_addr_next(bip_prefix_first(rg.subnet));
	if (!rg.end.family) {
		rg.end = bip_prefix_last(rg.subnet);
		if (rg.end.family == 4)
			rg.end = bip_addr_prev(rg.end);
	}
	if (!rg.gateway.family)
		rg.gateway = bip_addr_next(bip_prefix_first(rg.subnet));
	rc = check_range(&rg, path, s, x, e);
	return rc ? rc : push_range(x, &rg, e);
}

/* Close a set: count it per family. */
static void end_set(struct rctx *x, size_t first)
{
	if (x->c->nranges > first) {
		if (x->c->ranges[first].subnet.addr.family == 4)
			x->c->nsets4++;
		else
			x->c->nsets6++;
	}
	x->set++;
}

int bip_cni_ranges_parse(json_t *ipam, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	struct rctx x = {.c = c};
	json_t *ranges = json_object_get(ipam, "ranges");
	json_t *set, *r;
	size_t i, j;
	int rc;

	if (!json_object_get(ipam, "subnet")) {
		static const char *const legacy[] = {"rangeStart", "rangeEnd"};

		for (i = 0; i < 2; i++)
			if (json_object_get(ipam, legacy[i]))
				return bip_cni_errf(e, BIP_CNI_ECONFIG, "ipam.%s needs ipam.subnet",
						    legacy[i]);
		if (ranges && json_object_get(ipam, "gateway"))
			return bip_cni_errf(
			    e, BIP_CNI_ECONFIG,
			    "ipam.gateway needs ipam.subnet when ipam.ranges is used "
			    "(give each range its gateway)");
	} else {
		size_t first = c->nranges;

		rc = parse_range(ipam, "ipam", &x, e);
		if (rc)
			return rc;
		end_set(&x, first);
	}
	if (ranges) {
		if (!json_is_array(ranges) || json_array_size(ranges) == 0)
			return bip_cni_type_err(e, "ipam.ranges", ranges,
						"a non-empty list of range sets");
		json_array_foreach(ranges, i, set)
		{
			size_t first = c->nranges;
			int pod_before = x.pod_cidr_sets;
			char path[64];

			snprintf(path, sizeof(path), "ipam.ranges[%zu]", i);
			if (!json_is_array(set) || json_array_size(set) == 0)
				return bip_cni_type_err(e, path, set, "a non-empty list of ranges");
			json_array_foreach(set, j, r)
			{
				snprintf(path, sizeof(path), "ipam.ranges[%zu][%zu]", i, j);
				rc = parse_range(r, path, &x, e);
				if (rc)
					return rc;
			}
			if (x.pod_cidr_sets != pod_before && json_array_size(set) != 1)
				return bip_cni_errf(
				    e, BIP_CNI_ECONFIG,
				    "invalid ipam.ranges[%zu]: usePodCidr must be the "
				    "only range of its set",
				    i);
			end_set(&x, first);
		}
	}
	if (x.pod_cidr_sets && c->nranges)
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "usePodCidr cannot be combined with explicit ranges");
	c->host_local = c->nranges > 0 || x.pod_cidr_sets > 0;
	return 0;
}
