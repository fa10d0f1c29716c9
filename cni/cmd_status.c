/*
 * STATUS (spec 1.1.0): code 50 when the store cannot be reached (run.c) or when this node
 * could not get an address of a family the network assigns. The snapshot is read through the
 * library (config, pools, blocks, the node's labels and pod CIDRs; in host-local mode the
 * allocations inside the ranges) and judged by bip_cni_capacity_ok.
 *
 * Eligible pools follow the allocation order's last two levels: the pools named in the network
 * config when it names any (existing and enabled), else the library's automatic selection
 * (bip_ipam_pool_selects: the one rule ADD uses, the implicit kubernetes.io/hostname label
 * included). Namespace selectors are not applied: STATUS has no pod, and some namespace may
 * still be served.
 */
#include <stdlib.h>
#include <string.h>

#include "cni.h"

static bool named(const struct bip_cni_conf *c, const struct bip_pool *p)
{
	char buf[BIP_PREFIX_STRLEN];

	bip_prefix_fmt(p->cidr, buf);
	for (size_t i = 0; i < c->npools4 + c->npools6; i++)
		if (strcmp(c->pools[i], p->name) == 0 || strcmp(c->pools[i], buf) == 0)
			return true;
	return false;
}

bool bip_cni_pod_cidr_of(const struct bip_node *node, int family)
{
	for (size_t i = 0; i < node->npod_cidrs; i++)
		if (node->pod_cidrs[i].addr.family == family)
			return true;
	return false;
}

struct used {
	const struct bip_range *ranges;
	size_t n;
	bip_u128 *used;
};

static int count_used(void *ctx, const struct bip_alloc_entry *a)
{
	struct used *u = ctx;

	for (size_t i = 0; i < u->n; i++) {
		const struct bip_range *r = &u->ranges[i];

		if (bip_addr_cmp(a->addr, r->start) >= 0 && bip_addr_cmp(a->addr, r->end) <= 0 &&
		    !bip_addr_eq(a->addr, r->gateway))
			u->used[i]++;
	}
	return 0;
}

/* What STATUS reads and owns: in points into it. */
struct snapshot {
	struct bip_cni_capacity_in in;
	struct bip_node node;
	struct bip_pool *pools;
	struct bip_block_info *blocks;
	struct bip_range *pod_ranges;
	bip_u128 *used;
	bool *eligible;
};

static int unavailable(struct bip_ipam *ipam, int rc, const char *step, struct bip_cni_err *e)
{
	return bip_cni_errf(e, BIP_CNI_EUNAVAILABLE, "%s: %s", step,
			    *bip_ipam_errmsg(ipam) ? bip_ipam_errmsg(ipam) : bip_strerror(rc));
}

/* The config, the node (absent is fine), the pools and the blocks. */
static int read_snapshot(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct snapshot *sn,
			 struct bip_cni_err *e)
{
	const char *step = "reading the IPAM config";
	int rc = bip_ipam_config_get(ipam, &sn->in.cfg);

	if (rc == BIP_OK) {
		step = "reading the node";
		rc = bip_ipam_node_get(ipam, ctx->node, &sn->node);
		if (rc == BIP_ENOTFOUND)
			rc = BIP_OK;
	}
	if (rc == BIP_OK) {
		step = "listing pools";
		rc = bip_ipam_pool_list(ipam, &sn->pools, &sn->in.npools);
	}
	if (rc == BIP_OK) {
		step = "listing blocks";
		rc = bip_ipam_block_list(ipam, &sn->blocks, &sn->in.nblocks);
	}
	if (rc != BIP_OK)
		return unavailable(ipam, rc, step, e);
	sn->in.pools = sn->pools;
	sn->in.blocks = sn->blocks;
	return 0;
}

/* The pools this node may allocate from: the named ones, else the automatic selection. */
static int mark_eligible(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct snapshot *sn,
			 struct bip_cni_err *e)
{
	const struct bip_cni_conf *c = ctx->conf;

	sn->eligible = calloc(sn->in.npools + 1, sizeof(*sn->eligible));
	if (!sn->eligible)
		return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
	for (size_t i = 0; i < sn->in.npools; i++) {
		size_t nfam = sn->pools[i].cidr.addr.family == 4 ? c->npools4 : c->npools6;

		if (nfam) {
			sn->eligible[i] = named(c, &sn->pools[i]);
			continue;
		}
		if (bip_ipam_pool_selects(ipam, &sn->pools[i], BIP_USE_WORKLOAD, ctx->node,
					  sn->node.name ? &sn->node.labels : NULL, NULL, NULL,
					  &sn->eligible[i]) != BIP_OK)
			return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
	}
	sn->in.eligible = sn->eligible;
	return 0;
}

/* host-local: the config's ranges, else the node's pod CIDRs (the engine's order), and the
 * addresses allocated inside each. */
static int count_ranges(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct snapshot *sn,
			struct bip_cni_err *e)
{
	struct used u;
	int rc;

	sn->in.ranges = ctx->conf->ranges;
	sn->in.nranges = ctx->conf->nranges;
	if (!sn->in.nranges && sn->node.npod_cidrs) {
		sn->pod_ranges = calloc(sn->node.npod_cidrs, sizeof(*sn->pod_ranges));
		if (!sn->pod_ranges)
			return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
		for (size_t i = 0; i < sn->node.npod_cidrs; i++)
			bip_pod_cidr_range(sn->node.pod_cidrs[i], (int)i, &sn->pod_ranges[i]);
		sn->in.ranges = sn->pod_ranges;
		sn->in.nranges = sn->node.npod_cidrs;
	}
	if (!sn->in.nranges)
		return 0;
	sn->used = calloc(sn->in.nranges, sizeof(*sn->used));
	if (!sn->used)
		return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
	u = (struct used){sn->in.ranges, sn->in.nranges, sn->used};
	rc = bip_ipam_alloc_foreach(ipam, count_used, &u);
	if (rc != BIP_OK)
		return unavailable(ipam, rc, "listing allocations", e);
	sn->in.range_used = sn->used;
	return 0;
}

int bip_cni_cmd_status(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e)
{
	const struct bip_cni_conf *c = ctx->conf;
	struct snapshot sn = {.in = {.node = ctx->node, .want4 = c->assign4, .want6 = c->assign6}};
	char why[256];
	int rc;

	bip_cni_subnet_rules(c, sn.in.subnet);
	rc = read_snapshot(ctx, ipam, &sn, e);
	if (!rc)
		rc = mark_eligible(ctx, ipam, &sn, e);
	if (!rc && ((c->use_pod_cidr4 && !bip_cni_pod_cidr_of(&sn.node, 4)) ||
		    (c->use_pod_cidr6 && !bip_cni_pod_cidr_of(&sn.node, 6)))) {
		bool no4 = c->use_pod_cidr4 && !bip_cni_pod_cidr_of(&sn.node, 4);

		rc = bip_cni_errf(e, BIP_CNI_EUNAVAILABLE,
				  "node '%s' has no IPv%d pod CIDR (ipam subnet usePodCidr%s)",
				  ctx->node, no4 ? 4 : 6, no4 ? "" : "IPv6");
	}
	if (!rc)
		rc = count_ranges(ctx, ipam, &sn, e);
	if (!rc && !bip_cni_capacity_ok(&sn.in, why, sizeof(why)))
		rc = bip_cni_errf(e, BIP_CNI_EUNAVAILABLE, "%s", why);
	free(sn.used);
	free(sn.pod_ranges);
	free(sn.eligible);
	bip_block_infos_free(sn.blocks, sn.in.nblocks);
	bip_pools_free(sn.pools, sn.in.npools);
	bip_node_clear(&sn.node);
	return rc;
}
