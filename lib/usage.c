/*
 * Utilization: per pool its capacity, addresses in use, reserved and free, and blocks; one row
 * more for blocks outside every pool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void bip_pool_usages_free(struct bip_pool_usage *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].name);
	free(v);
}

/*
 * Addresses of pool that reservations cover, each counted once. Two prefixes are either
 * disjoint or one holds the other, so the union is the sum of the reservations that no other
 * one holds (of equal ones, the first).
 */
static bip_u128 reserved_in(const struct bip_prefix *res, size_t nres, struct bip_prefix pool)
{
	bip_u128 n = 0;

	for (size_t r = 0; r < nres; r++) {
		bool inner = false;

		if (bip_prefix_covers(res[r], pool))
			return bip_prefix_last_ordinal(pool) + 1;
		if (!bip_prefix_covers(pool, res[r]))
			continue;
		for (size_t q = 0; q < nres && !inner; q++)
			inner = q != r && bip_prefix_covers(res[q], res[r]) &&
				(!bip_prefix_eq(res[q], res[r]) || q < r);
		if (!inner)
			n += bip_prefix_last_ordinal(res[r]) + 1;
	}
	return n;
}

int bip_ipam_usage(struct bip_ipam *ip, struct bip_pool_usage **out, size_t *n)
{
	struct bip_block_info *blocks = NULL;
	struct bip_pool *pools = NULL;
	struct bip_prefix *res = NULL;
	int64_t *revs = NULL;
	size_t nblocks = 0, npools = 0, nres = 0;
	struct bip_pool_usage *u = NULL;
	int rc;

	ip->errmsg[0] = '\0';
	rc = bip__load_pools(ip, &pools, &revs, &npools);
	if (rc == BIP_OK)
		rc = bip__load_reservations(ip, &res, &nres);
	if (rc == BIP_OK)
		rc = bip_ipam_block_list(ip, &blocks, &nblocks);
	if (rc != BIP_OK)
		goto out;
	/* One row per pool, then one for blocks outside every pool. */
	u = bip__im_calloc(ip, npools + 1, sizeof(*u));
	rc = BIP_ENOMEM;
	if (!u)
		goto out;
	for (size_t i = 0; i < npools; i++) {
		u[i].name = bip__im_strdup(ip, pools[i].name);
		if (!u[i].name)
			goto out;
		u[i].cidr = pools[i].cidr;
		u[i].capacity = bip_prefix_last_ordinal(pools[i].cidr) + 1;
		u[i].reserved = reserved_in(res, nres, pools[i].cidr);
	}
	for (size_t b = 0; b < nblocks; b++) {
		const struct bip_pool *p = bip__pool_of(pools, npools, blocks[b].cidr);
		struct bip_pool_usage *row = p ? &u[p - pools] : &u[npools];

		row->used += blocks[b].used;
		row->blocks++;
		if (!p)
			row->capacity += blocks[b].size;
		else /* held, so counted in used: not also in reserved */
			row->reserved -= blocks[b].reserved_held < row->reserved
					     ? blocks[b].reserved_held
					     : row->reserved;
	}
	/* Saturating: only a broken store (overlapping blocks) can hold more than the pool. */
	for (size_t i = 0; i <= npools; i++)
		u[i].free = u[i].used + u[i].reserved < u[i].capacity
				? u[i].capacity - u[i].used - u[i].reserved
				: 0;
	*n = npools + (u[npools].blocks ? 1 : 0);
	*out = u;
	u = NULL;
	rc = BIP_OK;
out:
	if (u)
		bip_pool_usages_free(u, npools + 1);
	bip_block_infos_free(blocks, nblocks);
	bip_pools_free(pools, npools);
	free(revs);
	free(res);
	return rc;
}
