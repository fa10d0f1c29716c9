/*
 * STATUS asks "could this node get an address now?". The answer is computed here from a
 * snapshot (pools, blocks, IPAM config, host-local ranges with their use), without touching the
 * store, so that it can be tested with tables. Per wanted family, the node can allocate when:
 *
 *   host-local (ranges or the node's pod CIDRs): every range set of the family has a range with
 *     a free address (addresses between start and end, less the gateway, less those taken);
 *   blocks: some eligible pool of the family has a free address in one of the node's blocks,
 *     or an unclaimed block the node may claim (autoAllocateBlocks, under maxBlocksPerHost),
 *     or, unless strictAffinity, a free address in another node's (or no node's) block.
 *
 * Reservations are counted as the engine reports them per block (bip_block_info.reserved);
 * a wholly reserved unclaimed block still counts as claimable (the engine would skip it).
 * The main plugin's subnet rule (bip_alloc_req.subnet) is applied as the engine does: the
 * subnet's network, gateway and IPv4 broadcast addresses are not free, a rule with max_blocks
 * lets the node use only its first blocks and claim none beyond, and no_borrow forbids other
 * nodes' blocks.
 */
#include <stdio.h>
#include <string.h>

#include "cni.h"

/* How many addresses of block b the rule keeps out (as the engine's subnet_of). */
static uint64_t kept_in(const struct bip_subnet_rule *r, const struct bip_pool *p,
			const struct bip_block_info *b)
{
	struct bip_prefix sub = r->kind == BIP_SUBNET_POOL ? p->cidr : b->cidr;
	struct bip_addr keep[3] = {
	    bip_prefix_first(sub), bip_addr_next(bip_prefix_first(sub)), {0}};
	uint64_t n = 0;

	if (r->kind == BIP_SUBNET_NONE)
		return 0;
	if (r->kind == BIP_SUBNET_POOL && bip_prefix_contains(sub, r->gateway))
		keep[1] = r->gateway;
	if (sub.addr.family == 4)
		keep[2] = bip_prefix_last(sub);
	for (int i = 0; i < 3; i++)
		n += keep[i].family && bip_prefix_contains(b->cidr, keep[i]);
	return n;
}

static bip_u128 block_free(const struct bip_block_info *b, uint64_t kept)
{
	uint64_t taken = b->used + b->reserved + kept;

	return taken >= b->size ? 0 : b->size - taken;
}

static bool same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool ranges_ok(const struct bip_cni_capacity_in *in, int family)
{
	int last_set = -1;

	for (size_t i = 0; i < in->nranges; i++)
		if (in->ranges[i].set > last_set)
			last_set = in->ranges[i].set;
	for (int set = 0; set <= last_set; set++) {
		bool present = false, ok = false;

		for (size_t i = 0; i < in->nranges; i++) {
			const struct bip_range *r = &in->ranges[i];
			bip_u128 size;

			if (r->set != set || r->subnet.addr.family != family)
				continue;
			present = true;
			size = r->end.v - r->start.v + 1;
			if (r->gateway.family == family &&
			    bip_addr_cmp(r->gateway, r->start) >= 0 &&
			    bip_addr_cmp(r->gateway, r->end) <= 0)
				size--;
			if (in->range_used[i] < size)
				ok = true;
		}
		if (present && !ok)
			return false;
	}
	return true;
}

static bool pool_ok(const struct bip_cni_capacity_in *in, const struct bip_pool *p,
		    unsigned node_blocks, unsigned eligible_own, unsigned *seen_own)
{
	const struct bip_subnet_rule *r = &in->subnet[p->cidr.addr.family == 6];
	unsigned max = r->kind == BIP_SUBNET_BLOCK ? r->max_blocks : 0;
	unsigned d = p->block_len - p->cidr.len;
	bip_u128 claimed = 0, total = d >= 128 ? ~(bip_u128)0 : (bip_u128)1 << d;
	bool may_claim =
	    in->cfg.auto_allocate_blocks &&
	    (in->cfg.max_blocks_per_host == 0 || node_blocks < in->cfg.max_blocks_per_host) &&
	    (max == 0 || eligible_own < max);

	for (size_t i = 0; i < in->nblocks; i++) {
		const struct bip_block_info *b = &in->blocks[i];
		bool own = same(b->node, in->node);

		if (!same(b->pool, p->name))
			continue;
		claimed++;
		if (own && max && (*seen_own)++ >= max)
			continue; /* beyond the node's first max blocks: the engine skips it */
		if (block_free(b, kept_in(r, p, b)) == 0)
			continue;
		if (own || (!in->cfg.strict_affinity && !r->no_borrow))
			return true;
	}
	return may_claim && claimed < total;
}

static bool blocks_ok(const struct bip_cni_capacity_in *in, int family)
{
	unsigned node_blocks = 0, eligible_own = 0, seen_own = 0;

	for (size_t i = 0; i < in->nblocks; i++) {
		const struct bip_block_info *b = &in->blocks[i];

		if (b->cidr.addr.family != family || !same(b->node, in->node))
			continue;
		node_blocks++;
		for (size_t k = 0; k < in->npools; k++)
			eligible_own += in->eligible[k] && same(b->pool, in->pools[k].name);
	}
	for (size_t i = 0; i < in->npools; i++) {
		const struct bip_pool *p = &in->pools[i];

		if (in->eligible[i] && !p->disabled && p->cidr.addr.family == family &&
		    pool_ok(in, p, node_blocks, eligible_own, &seen_own))
			return true;
	}
	return false;
}

bool bip_cni_capacity_ok(const struct bip_cni_capacity_in *in, char *why, size_t whylen)
{
	for (int family = 4; family <= 6; family += 2) {
		bool ok;

		if (!(family == 4 ? in->want4 : in->want6))
			continue;
		ok = in->nranges ? ranges_ok(in, family) : blocks_ok(in, family);
		if (!ok && !in->nranges) {
			size_t nfam = 0, nel = 0;

			for (size_t i = 0; i < in->npools; i++) {
				if (in->pools[i].cidr.addr.family != family)
					continue;
				nfam++;
				nel += in->eligible[i] && !in->pools[i].disabled;
			}
			if (!nfam) {
				snprintf(why, whylen, "no IPv%d pool exists: %s", family,
					 family == 4 ? BIP_NO_POOL_HINT4 : BIP_NO_POOL_HINT6);
				return false;
			}
			if (!nel) {
				snprintf(
				    why, whylen,
				    "no IPv%d pool serves node '%s': none of the %zu IPv%d "
				    "pool%s is enabled, Automatic and selects it (or, when the "
				    "network config names pools, is one of them)",
				    family, in->node, nfam, family, nfam == 1 ? "" : "s");
				return false;
			}
		}
		if (!ok) {
			snprintf(why, whylen, "no free IPv%d address for node '%s' in %s", family,
				 in->node, in->nranges ? "its ranges" : "its eligible pools");
			return false;
		}
	}
	return true;
}
