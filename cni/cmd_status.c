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

int bip_cni_cmd_status(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e)
{
	const struct bip_cni_conf *c = ctx->conf;
	struct bip_cni_capacity_in in = {.node = ctx->node, .want4 = c->assign4, .want6 = c->assign6};
	struct bip_node node = {0};
	struct bip_pool *pools = NULL;
	struct bip_block_info *blocks = NULL;
	struct bip_range *pod_ranges = NULL;
	bip_u128 *used = NULL;
	bool *eligible = NULL;
	const char *step;
	char why[256];
	int rc;

	bip_cni_subnet_rules(c, in.subnet);
	step = "reading the IPAM config";
	rc = bip_ipam_config_get(ipam, &in.cfg);
	if (rc == BIP_OK) {
		step = "reading the node";
		rc = bip_ipam_node_get(ipam, ctx->node, &node);
		if (rc == BIP_ENOTFOUND)
			rc = BIP_OK;
	}
	if (rc == BIP_OK) {
		step = "listing pools";
		rc = bip_ipam_pool_list(ipam, &pools, &in.npools);
	}
	if (rc == BIP_OK) {
		step = "listing blocks";
		rc = bip_ipam_block_list(ipam, &blocks, &in.nblocks);
	}
	if (rc != BIP_OK) {
		rc = bip_cni_errf(e, BIP_CNI_EUNAVAILABLE, "%s: %s", step,
				  *bip_ipam_errmsg(ipam) ? bip_ipam_errmsg(ipam) : bip_strerror(rc));
		goto out;
	}
	in.pools = pools;
	in.blocks = blocks;
	eligible = calloc(in.npools + 1, sizeof(*eligible));
	if (!eligible) {
		rc = bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < in.npools; i++) {
		size_t nfam = pools[i].cidr.addr.family == 4 ? c->npools4 : c->npools6;

		if (nfam) {
			eligible[i] = named(c, &pools[i]);
			continue;
		}
		rc = bip_ipam_pool_selects(ipam, &pools[i], BIP_USE_WORKLOAD, ctx->node,
					   node.name ? &node.labels : NULL, NULL, NULL,
					   &eligible[i]);
		if (rc != BIP_OK) {
			rc = bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
			goto out;
		}
	}
	in.eligible = eligible;
	if ((c->use_pod_cidr4 && !bip_cni_pod_cidr_of(&node, 4)) ||
	    (c->use_pod_cidr6 && !bip_cni_pod_cidr_of(&node, 6))) {
		rc = bip_cni_errf(e, BIP_CNI_EUNAVAILABLE,
				  "node '%s' has no IPv%d pod CIDR (ipam subnet usePodCidr%s)",
				  ctx->node, c->use_pod_cidr4 && !bip_cni_pod_cidr_of(&node, 4) ? 4 : 6,
				  c->use_pod_cidr4 && !bip_cni_pod_cidr_of(&node, 4) ? "" : "IPv6");
		goto out;
	}
	/* host-local: the config's ranges, else the node's pod CIDRs (the engine's order) */
	in.ranges = c->ranges;
	in.nranges = c->nranges;
	if (!in.nranges && node.npod_cidrs) {
		pod_ranges = calloc(node.npod_cidrs, sizeof(*pod_ranges));
		if (!pod_ranges) {
			rc = bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < node.npod_cidrs; i++)
			bip_pod_cidr_range(node.pod_cidrs[i], (int)i, &pod_ranges[i]);
		in.ranges = pod_ranges;
		in.nranges = node.npod_cidrs;
	}
	if (in.nranges) {
		struct used u = {in.ranges, in.nranges, NULL};

		used = calloc(in.nranges, sizeof(*used));
		if (!used) {
			rc = bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
			goto out;
		}
		u.used = used;
		rc = bip_ipam_alloc_foreach(ipam, count_used, &u);
		if (rc != BIP_OK) {
			rc = bip_cni_errf(e, BIP_CNI_EUNAVAILABLE, "listing allocations: %s",
					  *bip_ipam_errmsg(ipam) ? bip_ipam_errmsg(ipam)
								 : bip_strerror(rc));
			goto out;
		}
		in.range_used = used;
	}
	rc = 0;
	if (!bip_cni_capacity_ok(&in, why, sizeof(why)))
		rc = bip_cni_errf(e, BIP_CNI_EUNAVAILABLE, "%s", why);
out:
	free(used);
	free(pod_ranges);
	free(eligible);
	bip_block_infos_free(blocks, in.nblocks);
	bip_pools_free(pools, in.npools);
	bip_node_clear(&node);
	return rc;
}
