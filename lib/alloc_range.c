/*
 * Host-local mode (CNI ranges and the node's pod CIDRs, cut into blocks of their own) and
 * specific addresses (a request that names them).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc_int.h"

#define RANGE_SUB_BITS 8

unsigned bip__range_block_len(struct bip_prefix subnet)
{
	unsigned bits = bip_addr_bits(subnet.addr);

	return subnet.len >= bits - RANGE_SUB_BITS ? subnet.len : bits - RANGE_SUB_BITS;
}

/*
 * How r is kept in the store: in sub-blocks of bip__range_block_len, or of 2^16 when an earlier
 * version made them so (those stay as they are); and the index of the last existing sub-block
 * of the range (*newest, when *have).
 */
static int range_layout(struct attempt *a, const struct bip_range *r, unsigned *sl,
			bip_u128 *newest, bool *have)
{
	struct bip_addr first = bip_prefix_first(r->subnet), last = bip_prefix_last(r->subnet);
	unsigned bits = bip_addr_bits(r->subnet.addr);
	unsigned legacy = r->subnet.len >= bits - 16 ? r->subnet.len : bits - 16;
	size_t lo = 0, hi, end;
	int rc = bip__need_blocks_near(a, r->subnet, 0);

	*sl = bip__range_block_len(r->subnet);
	*have = false;
	if (rc != BIP_OK)
		return rc;
	/* the existing list is sorted: [lo, end) are the blocks starting inside the subnet */
	for (hi = a->cache.nexisting; lo < hi;) {
		size_t mid = (lo + hi) / 2;

		if (bip_addr_cmp(bip_prefix_first(a->cache.existing[mid]), first) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < a->cache.nexisting; end++)
		if (bip_addr_cmp(bip_prefix_first(a->cache.existing[end]), last) > 0)
			break;
	for (size_t i = lo; i < end && legacy != *sl; i++)
		if (a->cache.existing[i].len == legacy &&
		    bip_prefix_covers(r->subnet, a->cache.existing[i]))
			*sl = legacy;
	for (size_t i = lo; i < end; i++) {
		struct bip_prefix sb;

		if (a->cache.existing[i].len != *sl ||
		    !bip_prefix_covers(r->subnet, a->cache.existing[i]))
			continue;
		bip_prefix_sub_of(r->subnet, *sl, a->cache.existing[i].addr, &sb, newest);
		*have = true;
	}
	return BIP_OK;
}

/*
 * Take from r's sub-blocks, starting at the newest one: they are made in order as they fill,
 * so the ones before it were full when it was made. After the last sub-block of the range the
 * walk wraps to the first, and an address released early is reused only then: host-local's
 * round robin (it continues after the last address it handed out), a sub-block at a time. An
 * allocation reads one sub-block, or, once the range has wrapped, the full ones before the
 * first with room.
 */
static int take_from_range(struct attempt *a, const struct bip_range *r, int range_index,
			   unsigned *need)
{
	struct bip_prefix sb;
	bip_u128 k, kfirst, klast, k0, newest = 0;
	unsigned sl;
	bool have;
	int rc = range_layout(a, r, &sl, &newest, &have);

	if (rc != BIP_OK)
		return rc;
	bip_prefix_sub_of(r->subnet, sl, r->start.family ? r->start : bip_prefix_first(r->subnet),
			  &sb, &kfirst);
	bip_prefix_sub_of(r->subnet, sl, r->end.family ? r->end : bip_prefix_last(r->subnet), &sb,
			  &klast);
	k0 = have && newest >= kfirst && newest <= klast ? newest : kfirst;
	k = k0;
	for (unsigned steps = 0; *need && steps < 4096; steps++) {
		struct blk *b;

		bip_prefix_sub(r->subnet, sl, k, &sb);
		rc = bip__get_blk(a, sb, &b);
		if (rc != BIP_OK)
			return rc;
		if (!b) {
			if (bip__overlaps_existing(a, sb)) {
				char buf[BIP_PREFIX_STRLEN];

				return bip__seterr(a->ip, BIP_EOVERLAP,
						   "range %s overlaps an existing block",
						   bip_prefix_fmt(r->subnet, buf));
			}
			rc = bip__new_blk(a, sb, a->req->node, 0, &b);
			if (rc != BIP_OK)
				return rc;
			b->hostlocal = true;
		}
		rc = bip__take_from(a, b, need, r, range_index);
		if (rc != BIP_OK)
			return rc;
		k = k == klast ? kfirst : k + 1;
		if (k == k0)
			break;
	}
	return BIP_OK;
}

/* Host-local mode for one family: one address per range set, or need from a pod CIDR. */
int bip__alloc_ranges(struct attempt *a, int fam, unsigned need_podcidr)
{
	const char *node = a->req->node;
	int rc = BIP_OK;

	for (size_t i = 0; i < a->nranges; i++) {
		const struct bip_range *r = &a->ranges[i];
		unsigned need = need_podcidr ? need_podcidr : 1;
		bool done = false;

		if (r->subnet.addr.family != fam)
			continue;
		/* One address per range set: skip sets already served. */
		for (size_t j = 0; j < a->pend.nout && !need_podcidr; j++)
			done |= a->pend.out[j].range_index >= 0 &&
				a->ranges[a->pend.out[j].range_index].set == r->set &&
				a->pend.out[j].addr.family == fam;
		for (size_t j = 0; j < a->rec.held.naddrs && !need_podcidr; j++)
			for (size_t k = 0; k < a->nranges; k++)
				done |= a->ranges[k].set == r->set &&
					bip_prefix_contains(a->ranges[k].subnet,
							    a->rec.held.addrs[j].addr);
		if (done)
			continue;
		rc = take_from_range(a, r, (int)i, &need);
		if (rc != BIP_OK)
			return rc;
		if (need_podcidr) {
			if (need) {
				char buf[BIP_PREFIX_STRLEN];

				return bip__seterr(a->ip, BIP_EEXHAUSTED,
						   "no free address in pod CIDR %s of node '%s'",
						   bip_prefix_fmt(r->subnet, buf), node);
			}
			return BIP_OK;
		}
	}
	if (need_podcidr)
		return BIP_OK;
	/* Every set of this family must be served. */
	for (size_t i = 0; i < a->nranges; i++) {
		bool served = false;
		const struct bip_range *r = &a->ranges[i];

		if (r->subnet.addr.family != fam)
			continue;
		for (size_t j = 0; j < a->pend.nout; j++)
			served |= a->pend.out[j].range_index >= 0 &&
				  a->ranges[a->pend.out[j].range_index].set == r->set;
		for (size_t j = 0; j < a->rec.held.naddrs; j++)
			for (size_t k = 0; k < a->nranges; k++)
				served |= a->ranges[k].set == r->set &&
					  bip_prefix_contains(a->ranges[k].subnet,
							      a->rec.held.addrs[j].addr);
		if (!served) {
			char s[BIP_ADDR_STRLEN], e[BIP_ADDR_STRLEN], sub[BIP_PREFIX_STRLEN];
			struct bip_addr first =
			    r->start.family ? r->start : bip_addr_next(bip_prefix_first(r->subnet));
			struct bip_addr lastv = r->end.family ? r->end : bip_prefix_last(r->subnet);

			return bip__seterr(
			    a->ip, BIP_EEXHAUSTED,
			    "no free address in range set %d (%s, %s-%s) for node '%s'", r->set,
			    bip_prefix_fmt(r->subnet, sub), bip_addr_fmt(first, s),
			    bip_addr_fmt(lastv, e), node);
		}
	}
	return BIP_OK;
}

/* Specific addresses. */
/*
 * Under the main plugin's subnet model a requested address must not be one the model keeps
 * out, and (a rule with max_blocks) its block must be one of the node's subnets, or become
 * its first.
 */
static int specific_subnet_ok(struct attempt *a, struct bip_addr addr, struct bip_prefix cidr)
{
	static const char *const what[] = {"network address", "gateway", "broadcast address"};
	const struct bip_subnet_rule *rule = &a->req->subnet[addr.family == 6];
	char as[BIP_ADDR_STRLEN], bs[BIP_PREFIX_STRLEN], ss[BIP_PREFIX_STRLEN];
	char saved[sizeof(a->ip->errmsg)];
	struct bip_addr keep[3];
	struct bip_prefix sub;
	unsigned mine = 0;
	size_t *idx, n = 0;
	int k, rc;

	if (!bip__subnet_of(a, cidr, &sub, keep))
		return BIP_OK;
	bip_addr_fmt(addr, as);
	k = bip__kept_out(keep, addr);
	if (k >= 0)
		return bip__seterr(a->ip, BIP_ETAKEN, "requested address %s is the %s of subnet %s",
				   as, what[k], bip_prefix_fmt(sub, ss));
	if (rule->kind != BIP_SUBNET_BLOCK || !rule->max_blocks)
		return BIP_OK;
	rc = bip__need_affinities(a);
	if (rc != BIP_OK)
		return rc;
	/* The network's scope: the pools its automatic addresses would come from (as in
	 * bip__alloc_family), and the requested address's own. */
	idx = bip__im_calloc(a->ip, a->rec.npools + 1, sizeof(*idx));
	if (!idx)
		return BIP_ENOMEM;
	memcpy(saved, a->ip->errmsg, sizeof(saved));
	rc = bip__candidate_pools(a, addr.family, idx, &n);
	if (rc != BIP_OK && rc != BIP_ENOMEM) {
		memcpy(a->ip->errmsg, saved, sizeof(saved));
		n = 0;
		rc = BIP_OK;
	}
	for (size_t i = 0; i < a->own.naff && rc == BIP_OK; i++) {
		const struct bip_pool *p = bip__pool_of(a->rec.pools, a->rec.npools, a->own.aff[i]);
		bool scope = p && bip_prefix_covers(p->cidr, cidr);

		for (size_t j = 0; p && j < n && !scope; j++)
			scope = &a->rec.pools[idx[j]] == p;
		if (!scope)
			continue;
		if (bip_prefix_eq(a->own.aff[i], cidr)) {
			if (mine >= rule->max_blocks)
				rc =
				    bip__seterr(a->ip, BIP_EBLOCKLIMIT,
						"requested address %s is in block %s of node '%s', "
						"which is not its subnet",
						as, bip_prefix_fmt(cidr, bs), a->req->node);
			break;
		}
		if (++mine >= rule->max_blocks)
			rc = bip__seterr(
			    a->ip, BIP_EBLOCKLIMIT,
			    "requested address %s is outside the subnet %s of node '%s' "
			    "(the main plugin takes %u IPv%d subnet%s per node)",
			    as, bip_prefix_fmt(a->own.aff[i], ss), a->req->node, rule->max_blocks,
			    addr.family, rule->max_blocks > 1 ? "s" : "");
	}
	free(idx);
	return rc;
}

/* The block cidr that would hold the requested addr: its range's (host-local mode, *r and
 * *range_index set) or its pool's; checks that the range or pool may give it. */
static int specific_where(struct attempt *a, struct bip_addr addr, const char *as,
			  const struct bip_range **r, int *range_index, struct bip_prefix *cidr)
{
	enum bip_use use = a->req->use ? a->req->use : BIP_USE_WORKLOAD;
	struct bip_prefix one = {addr, (uint8_t)bip_addr_bits(addr)};
	const struct bip_pool *p;
	char uses[64];

	for (size_t j = 0; j < a->nranges && !*r; j++)
		if (bip_prefix_contains(a->ranges[j].subnet, addr)) {
			*r = &a->ranges[j];
			*range_index = (int)j;
		}
	if (*r) {
		unsigned sl;
		bip_u128 newest;
		bool have;
		int rc = range_layout(a, *r, &sl, &newest, &have);

		if (rc == BIP_OK)
			bip_prefix_sub_of((*r)->subnet, sl, addr, cidr, NULL);
		return rc;
	}
	p = bip__pool_of(a->rec.pools, a->rec.npools, one);
	if (a->nranges)
		return bip__seterr(a->ip, BIP_ENOPOOL,
				   "requested address %s is in none of the ranges", as);
	if (!p)
		return bip__seterr(a->ip, BIP_ENOPOOL, "requested address %s is not in any pool",
				   as);
	if (p->disabled)
		return bip__seterr(a->ip, BIP_EDISABLED,
				   "requested address %s is in pool '%s', which is disabled", as,
				   p->name);
	if (!(p->allowed_uses & use))
		return bip__seterr(a->ip, BIP_ENOPOOL,
				   "requested address %s is in pool '%s', whose allowedUses "
				   "(%s) do not include %s",
				   as, p->name, bip__uses_fmt(p->allowed_uses, uses, sizeof(uses)),
				   bip__use_name(use));
	bip_prefix_sub_of(p->cidr, p->block_len, addr, cidr, NULL);
	a->pend.pool_used[p - a->rec.pools] = true;
	return BIP_OK;
}

/* What forbids addr whatever its block holds: a reservation, the range's bounds and gateway,
 * a pool's subnet rules. */
static int specific_allowed(struct attempt *a, struct bip_addr addr, const char *as,
			    const struct bip_range *r, struct bip_prefix cidr)
{
	if (bip__addr_reserved(a->rec.res, a->rec.nres, addr))
		return bip__seterr(a->ip, BIP_ERESERVED, "requested address %s is reserved", as);
	if (r && ((r->start.family && bip_addr_cmp(addr, r->start) < 0) ||
		  (r->end.family && bip_addr_cmp(addr, r->end) > 0)))
		return bip__seterr(a->ip, BIP_ENOPOOL,
				   "requested address %s is outside rangeStart-rangeEnd", as);
	if (r && r->gateway.family && bip_addr_eq(addr, r->gateway))
		return bip__seterr(a->ip, BIP_ETAKEN, "requested address %s is the gateway", as);
	return r ? BIP_OK : specific_subnet_ok(a, addr, cidr);
}

/* Block cidr, read or made for addr: a block made for a specific address is affine to the
 * node asking, since the pod lives there, so that is where the block must be routed. */
static int specific_block(struct attempt *a, const char *as, const struct bip_range *r,
			  struct bip_prefix cidr, struct blk **b)
{
	char bs[BIP_PREFIX_STRLEN];
	int rc = bip__get_blk(a, cidr, b);

	if (rc != BIP_OK || *b)
		return rc;
	rc = bip__need_blocks_near(a, cidr, 0);
	if (rc == BIP_OK && bip__overlaps_existing(a, cidr))
		return bip__seterr(a->ip, BIP_EOVERLAP,
				   "block %s for %s overlaps an existing block",
				   bip_prefix_fmt(cidr, bs), as);
	if (rc == BIP_OK)
		rc = bip__new_blk(a, cidr, a->req->node, 0, b);
	if (rc == BIP_OK)
		(*b)->hostlocal = r != NULL;
	return rc;
}

/* Whether ordinal o of b may go to this request: free, cooled down, in a block the node may
 * take from. */
static int specific_free(struct attempt *a, const char *as, const struct bip_range *r,
			 const struct blk *b, uint32_t o, int fam)
{
	const struct bip_alloc_req *req = a->req;
	char bs[BIP_PREFIX_STRLEN];

	if (b->handle[o])
		return bip__seterr(a->ip, BIP_ETAKEN,
				   "requested address %s is already in use by '%s'", as,
				   b->handle[o]);
	if (bip__cooling(a, b, o))
		return bip__seterr(a->ip, BIP_ETAKEN,
				   "requested address %s was released %llds ago and cools down "
				   "for ipCooldownSeconds (%u s): try again in %llds",
				   as, (long long)(a->now - b->freed_at[o]),
				   a->rec.cfg.ip_cooldown_s,
				   (long long)(b->freed_at[o] + a->rec.cfg.ip_cooldown_s - a->now));
	if (!r && req->subnet[fam == 6].no_borrow && (!b->node || strcmp(b->node, req->node) != 0))
		return bip__seterr(a->ip, BIP_ETAKEN,
				   "requested address %s is in block %s of %s%s%s, not in a subnet "
				   "of node '%s' (the main plugin's subnets are per node)",
				   as, bip_prefix_fmt(b->cidr, bs), b->node ? "node '" : "no node",
				   b->node ? b->node : "", b->node ? "'" : "", req->node);
	if (!r && a->rec.cfg.strict_affinity && b->node && strcmp(b->node, req->node) != 0)
		return bip__seterr(a->ip, BIP_ETAKEN,
				   "requested address %s is in block %s of node '%s' and "
				   "strictAffinity forbids borrowing",
				   as, bip_prefix_fmt(b->cidr, bs), b->node);
	return BIP_OK;
}

/* Take the requested address addr (not held by the handle yet). */
static int take_specific(struct attempt *a, struct bip_addr addr)
{
	const struct bip_range *r = NULL;
	char as[BIP_ADDR_STRLEN];
	struct bip_prefix cidr;
	int range_index = -1;
	struct blk *b = NULL;
	uint32_t o;
	int rc;

	bip_addr_fmt(addr, as);
	rc = specific_where(a, addr, as, &r, &range_index, &cidr);
	if (rc == BIP_OK)
		rc = specific_allowed(a, addr, as, r, cidr);
	if (rc == BIP_OK)
		rc = specific_block(a, as, r, cidr, &b);
	if (rc != BIP_OK)
		return rc;
	o = (uint32_t)bip_prefix_ordinal(b->cidr, addr);
	rc = specific_free(a, as, r, b, o, addr.family);
	if (rc == BIP_OK)
		rc = bip__blk_take(a->ip, b, o, a->req->handle, a->req->node);
	if (rc == BIP_OK)
		rc = bip__push_out(a, addr, b->cidr,
				   !r && (!b->node || strcmp(b->node, a->req->node) != 0),
				   range_index);
	return rc;
}

int bip__alloc_specific(struct attempt *a)
{
	for (size_t i = 0; i < a->req->nips; i++) {
		struct bip_addr addr = a->req->ips[i];
		bool held = false;
		int rc;

		for (size_t j = 0; j < a->rec.held.naddrs; j++)
			held |= bip_addr_eq(a->rec.held.addrs[j].addr, addr);
		if (held)
			continue;
		rc = take_specific(a, addr);
		if (rc != BIP_OK)
			return rc;
	}
	return BIP_OK;
}
