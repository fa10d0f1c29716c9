/*
 * The read-only walkers of the whole store: every block (streamed, decoded one at a time),
 * the block list, every allocation, every handle, and who holds an address. STATUS, ipam show,
 * routes and the check are built on them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* --- streaming blocks ------------------------------------------------------------------- */

struct blk_stream {
	struct bip_ipam *ip;
	bip__blk_fn fn;
	void *ctx;
	size_t corrupt;
};

static int on_block(void *ctx, const struct bip_kv *kv)
{
	struct blk_stream *s = ctx;
	struct blk *b = NULL;
	int rc = bip__blk_decode(s->ip, kv->key, kv->value, kv->len, kv->rev, &b);

	if (rc == BIP_ENOMEM)
		return rc;
	if (rc != BIP_OK)
		s->corrupt++;
	rc = s->fn(s->ctx, kv, b);
	bip__blk_free(b);
	return rc;
}

int bip__foreach_block(struct bip_ipam *ip, bip__blk_fn fn, void *ctx)
{
	struct blk_stream s = {ip, fn, ctx, 0};
	int64_t rev;
	int rc = bip_store_list_cb(ip->store, PFX_BLOCKS, 0, on_block, &s, &rev);

	if (rc != BIP_OK && rc != BIP_ENOMEM)
		bip__store_fail(ip, rc, "cannot list blocks");
	return rc;
}

/* --- block list ------------------------------------------------------------------------- */

struct blist {
	struct bip_ipam *ip;
	struct bip_pool *pools;
	size_t npools;
	struct bip_prefix *res;
	size_t nres;
	struct bip_block_info *v;
	size_t n, cap;
};

static int on_blist(void *ctx, const struct bip_kv *kv, struct blk *b)
{
	struct blist *l = ctx;
	struct bip_block_info *bi;
	const struct bip_pool *p;

	(void)kv;
	if (!b)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct bip_block_info *v = bip__im_realloc(l->ip, l->v, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	bi = &l->v[l->n];
	memset(bi, 0, sizeof(*bi));
	bi->cidr = b->cidr;
	bi->size = b->size;
	bi->used = b->used;
	bi->claimed = b->claimed;
	bi->empty_since = b->empty_since;
	for (uint32_t o = 0; o < b->size; o++) {
		bool res =
		    l->nres && bip__addr_reserved(l->res, l->nres, bip_prefix_nth(b->cidr, o));

		if (b->handle[o] && b->holder[o])
			bi->borrowed++;
		if (res && b->handle[o])
			bi->reserved_held++;
		else if (res)
			bi->reserved++;
	}
	bi->free = b->size - b->used - bi->reserved;
	p = bip__pool_of(l->pools, l->npools, b->cidr);
	bi->node = b->node ? bip__im_strdup(l->ip, b->node) : NULL;
	bi->pool = p ? bip__im_strdup(l->ip, p->name) : NULL;
	l->n++;
	if ((b->node && !bi->node) || (p && !bi->pool))
		return BIP_ENOMEM;
	return 0;
}

int bip_ipam_block_list(struct bip_ipam *ip, struct bip_block_info **out, size_t *n)
{
	struct blist l = {.ip = ip};
	int64_t *revs = NULL;
	int rc;

	ip->errmsg[0] = '\0';
	rc = bip__load_pools(ip, &l.pools, &revs, &l.npools);
	if (rc == BIP_OK)
		rc = bip__load_reservations(ip, &l.res, &l.nres);
	if (rc == BIP_OK)
		rc = bip__foreach_block(ip, on_blist, &l);
	bip_pools_free(l.pools, l.npools);
	free(revs);
	free(l.res);
	if (rc != BIP_OK) {
		bip_block_infos_free(l.v, l.n);
		return rc;
	}
	*out = l.v;
	*n = l.n;
	return BIP_OK;
}

void bip_block_infos_free(struct bip_block_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].node);
		free(v[i].pool);
	}
	free(v);
}

/* --- every allocation ----------------------------------------------------------------------- */

struct aforeach {
	int (*fn)(void *ctx, const struct bip_alloc_entry *e);
	void *ctx;
};

static int on_aforeach(void *ctx, const struct bip_kv *kv, struct blk *b)
{
	struct aforeach *f = ctx;

	(void)kv;
	if (!b)
		return 0;
	for (uint32_t o = 0; o < b->size; o++) {
		struct bip_alloc_entry e;
		int rc;

		if (!b->handle[o])
			continue;
		e.addr = bip_prefix_nth(b->cidr, o);
		e.block = b->cidr;
		e.handle = b->handle[o];
		e.node = b->holder[o] ? b->holder[o] : b->node;
		e.block_node = b->node;
		rc = f->fn(f->ctx, &e);
		if (rc)
			return rc;
	}
	return 0;
}

int bip_ipam_alloc_foreach(struct bip_ipam *ip,
			   int (*fn)(void *ctx, const struct bip_alloc_entry *e), void *ctx)
{
	struct aforeach f = {fn, ctx};

	ip->errmsg[0] = '\0';
	return bip__foreach_block(ip, on_aforeach, &f);
}

/* --- handles ---------------------------------------------------------------------------- */

struct hforeach {
	struct bip_ipam *ip;
	size_t skip;
	int (*fn)(void *ctx, const struct bip_handle_info *h);
	void *ctx;
};

static int on_handle(void *ctx, const struct bip_kv *kv)
{
	struct hforeach *f = ctx;
	struct bip_handle_info h = {0};
	int rc = bip__handle_decode(f->ip, kv->key + f->skip, kv->value, kv->len, &h);

	if (rc == BIP_ENOMEM)
		return rc;
	if (rc != BIP_OK)
		return 0; /* the check reports it */
	h.rev = kv->rev;
	rc = f->fn(f->ctx, &h);
	bip_handle_info_clear(&h);
	return rc;
}

int bip_ipam_handle_foreach(struct bip_ipam *ip, const char *prefix,
			    int (*fn)(void *ctx, const struct bip_handle_info *h), void *ctx)
{
	struct hforeach f = {ip, strlen(PFX_HANDLES), fn, ctx};
	char pfx[KEY_LEN];
	int64_t rev;
	int rc;

	ip->errmsg[0] = '\0';
	if (prefix && strchr(prefix, '/'))
		return bip__seterr(ip, BIP_EINVAL, "invalid handle prefix '%s'", prefix);
	snprintf(pfx, sizeof(pfx), PFX_HANDLES "%s", prefix ? prefix : "");
	rc = bip_store_list_cb(ip->store, pfx, 0, on_handle, &f, &rev);
	if (rc != BIP_OK && rc != BIP_ENOMEM && !ip->errmsg[0])
		bip__store_fail(ip, rc, "cannot list handles");
	return rc;
}

/* --- who holds an address --------------------------------------------------------------- */

struct findblk {
	struct bip_addr addr;
	struct bip_prefix cidr;
	bool found;
};

static int on_findblk(void *ctx, const struct bip_kv *kv)
{
	struct findblk *f = ctx;
	struct bip_prefix p;

	if (bip__cidr_from_keypart(kv->key + strlen(PFX_BLOCKS), &p) == BIP_OK &&
	    bip_prefix_contains(p, f->addr)) {
		f->cidr = p;
		f->found = true;
		return 1;
	}
	return 0;
}

void bip_addr_info_clear(struct bip_addr_info *ai)
{
	if (!ai)
		return;
	bip_handle_info_clear(&ai->holder);
	free(ai->block_node);
	free(ai->pool);
	memset(ai, 0, sizeof(*ai));
}

/* The block that would hold f->addr (f->found, f->cidr): by its pool's block size, else by
 * the block keys; and ai's pool and whether the address is reserved. */
static int find_block(struct bip_ipam *ip, struct bip_addr_info *ai, struct findblk *f)
{
	struct bip_pool *pools = NULL;
	int64_t *revs = NULL, rev;
	struct bip_prefix *res = NULL;
	size_t npools = 0, nres = 0;
	const struct bip_pool *p;
	int rc;

	rc = bip__load_pools(ip, &pools, &revs, &npools);
	if (rc == BIP_OK)
		rc = bip__load_reservations(ip, &res, &nres);
	if (rc != BIP_OK)
		goto out;
	ai->reserved = bip__addr_reserved(res, nres, f->addr);
	p = bip__pool_of(pools, npools,
			 (struct bip_prefix){f->addr, (uint8_t)bip_addr_bits(f->addr)});
	if (p) {
		ai->pool = bip__im_strdup(ip, p->name);
		bip_prefix_sub_of(p->cidr, p->block_len, f->addr, &f->cidr, NULL);
		f->found = true;
	} else {
		rc = bip_store_list_cb(ip->store, PFX_BLOCKS, BIP_LIST_KEYS_ONLY, on_findblk, f,
				       &rev);
		if (rc == 1)
			rc = BIP_OK;
		else if (rc != BIP_OK && rc != BIP_ENOMEM)
			bip__store_fail(ip, rc, "cannot list %s", PFX_BLOCKS);
	}
out:
	bip_pools_free(pools, npools);
	free(revs);
	free(res);
	return rc;
}

int bip_ipam_addr_info(struct bip_ipam *ip, struct bip_addr addr, struct bip_addr_info *out)
{
	struct bip_addr_info ai = {0};
	struct findblk f = {.addr = addr};
	char key[KEY_LEN], as[BIP_ADDR_STRLEN];
	struct bip_kv kv = {0};
	struct blk *b = NULL;
	uint32_t o;
	int rc;

	ip->errmsg[0] = '\0';
	bip_addr_fmt(addr, as);
	rc = find_block(ip, &ai, &f);
	if (rc != BIP_OK)
		goto out;
	rc = bip__seterr(ip, BIP_ENOTFOUND, "address %s is not allocated%s", as,
			 ai.reserved ? " (it is reserved)" : "");
	if (!f.found)
		goto out;
	bip__key_block(key, f.cidr);
	rc = bip_store_get(ip->store, key, &kv);
	if (rc == BIP_ENOTFOUND) {
		rc = bip__seterr(ip, BIP_ENOTFOUND, "address %s is not allocated", as);
		goto out;
	}
	if (rc == BIP_OK)
		rc = bip__blk_decode(ip, key, kv.value, kv.len, kv.rev, &b);
	if (rc == BIP_OK && !bip_prefix_eq(b->cidr, f.cidr)) /* addr is not in it */
		rc = bip__seterr(ip, BIP_ECORRUPT, "store record %s holds another block", key);
	if (rc != BIP_OK)
		goto out;
	o = (uint32_t)bip_prefix_ordinal(b->cidr, addr);
	ai.block = b->cidr;
	if (!b->handle[o]) {
		rc = bip__seterr(ip, BIP_ENOTFOUND, "address %s is not allocated (block %s is %s)",
				 as, key + strlen(PFX_BLOCKS), b->node ? b->node : "unowned");
		goto out;
	}
	ai.block_node = b->node ? bip__im_strdup(ip, b->node) : NULL;
	ai.borrowed = b->holder[o] != NULL;
	rc = bip_ipam_handle_get(ip, b->handle[o], &ai.holder);
	if (rc == BIP_ENOTFOUND) {
		/* A handle without its record: say who the block names. */
		ai.holder.id = bip__im_strdup(ip, b->handle[o]);
		ai.holder.node = bip__im_strdup(ip, b->holder[o] ? b->holder[o] : b->node);
		rc = BIP_OK;
	}
	if (rc != BIP_OK)
		goto out;
	/* Only this address, not the handle's others. */
	for (size_t i = 0; i < ai.holder.naddrs; i++)
		if (bip_addr_eq(ai.holder.addrs[i].addr, addr)) {
			ai.holder.addrs[0] = ai.holder.addrs[i];
			ai.holder.naddrs = 1;
		}
	*out = ai;
	memset(&ai, 0, sizeof(ai));
	rc = BIP_OK;
out:
	bip_addr_info_clear(&ai);
	bip__blk_free(b);
	bip_kv_clear(&kv);
	return rc;
}
