/*
 * Reading the whole store: block listings, every allocation, utilization, who holds an address,
 * freeing long-empty blocks, and the consistency check with its repairs.
 *
 * The check streams blocks and handles (never holding every record's text at once), indexes
 * handles by id in a hash table, and cross-checks both directions. Repairs never free an address
 * that some handle may still use: a missing handle record is rebuilt (on the node that holds its
 * addresses, with the CNI container and interface when the id splits one way), a handle naming
 * an address its block does not give it loses that address, stray affinities are deleted; each
 * repair is one transaction conditioned on the records being as read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* --- a string -> index hash table ------------------------------------------------------ */

struct smap {
	const char **keys;
	size_t *vals;
	size_t cap, n;
};

static uint64_t shash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int smap_put(struct bip_ipam *ip, struct smap *m, const char *k, size_t v)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct smap nm = {0};

		nm.cap = m->cap ? m->cap * 2 : 1024;
		nm.keys = bip__im_calloc(ip, nm.cap, sizeof(*nm.keys));
		nm.vals = bip__im_calloc(ip, nm.cap, sizeof(*nm.vals));
		if (!nm.keys || !nm.vals) {
			free(nm.keys);
			free(nm.vals);
			return BIP_ENOMEM;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->keys[i]) {
				size_t j = shash(m->keys[i]) & (nm.cap - 1);

				while (nm.keys[j])
					j = (j + 1) & (nm.cap - 1);
				nm.keys[j] = m->keys[i];
				nm.vals[j] = m->vals[i];
			}
		nm.n = m->n;
		free(m->keys);
		free(m->vals);
		*m = nm;
	}
	size_t j = shash(k) & (m->cap - 1);

	while (m->keys[j]) {
		if (strcmp(m->keys[j], k) == 0) {
			m->vals[j] = v;
			return BIP_OK;
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->keys[j] = k;
	m->vals[j] = v;
	m->n++;
	return BIP_OK;
}

static bool smap_get(const struct smap *m, const char *k, size_t *v)
{
	if (!m->cap)
		return false;
	for (size_t j = shash(k) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1))
		if (strcmp(m->keys[j], k) == 0) {
			*v = m->vals[j];
			return true;
		}
	return false;
}

static void smap_free(struct smap *m)
{
	free(m->keys);
	free(m->vals);
}

/* --- streaming blocks ------------------------------------------------------------------- */

typedef int (*blk_fn)(void *ctx, const struct bip_kv *kv, struct blk *b);

struct blk_stream {
	struct bip_ipam *ip;
	blk_fn fn;
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

/* Call fn for every block (b NULL when the record does not decode). */
static int foreach_block(struct bip_ipam *ip, blk_fn fn, void *ctx)
{
	struct blk_stream s = {ip, fn, ctx, 0};
	int64_t rev;
	int rc = bip_store_list_cb(ip->store, PFX_BLOCKS, 0, on_block, &s, &rev);

	if (rc != BIP_OK && rc != BIP_ENOMEM)
		bip__seterr(ip, rc, "cannot list blocks");
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
		rc = foreach_block(ip, on_blist, &l);
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
	return foreach_block(ip, on_aforeach, &f);
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
		bip__seterr(ip, rc, "cannot list handles");
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

int bip_ipam_addr_info(struct bip_ipam *ip, struct bip_addr addr, struct bip_addr_info *out)
{
	struct bip_addr_info ai = {0};
	struct bip_pool *pools = NULL;
	int64_t *revs = NULL, rev;
	struct bip_prefix *res = NULL;
	size_t npools = 0, nres = 0;
	struct findblk f = {.addr = addr};
	char key[KEY_LEN], as[BIP_ADDR_STRLEN];
	struct bip_kv kv = {0};
	struct blk *b = NULL;
	const struct bip_pool *p;
	uint32_t o;
	int rc;

	ip->errmsg[0] = '\0';
	bip_addr_fmt(addr, as);
	rc = bip__load_pools(ip, &pools, &revs, &npools);
	if (rc == BIP_OK)
		rc = bip__load_reservations(ip, &res, &nres);
	if (rc != BIP_OK)
		goto out;
	ai.reserved = bip__addr_reserved(res, nres, addr);
	p = bip__pool_of(pools, npools, (struct bip_prefix){addr, (uint8_t)bip_addr_bits(addr)});
	if (p) {
		ai.pool = bip__im_strdup(ip, p->name);
		bip_prefix_sub_of(p->cidr, p->block_len, addr, &f.cidr, NULL);
		f.found = true;
	} else {
		rc = bip_store_list_cb(ip->store, PFX_BLOCKS, BIP_LIST_KEYS_ONLY, on_findblk, &f,
				       &rev);
		if (rc == 1)
			rc = BIP_OK;
		if (rc != BIP_OK)
			goto out;
	}
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
	bip_pools_free(pools, npools);
	free(revs);
	free(res);
	return rc;
}

/* --- empty blocks ----------------------------------------------------------------------- */

struct empties {
	struct bip_ipam *ip;
	int64_t cutoff;
	struct bip_kv *v;
	char **nodes;
	size_t n, cap;
};

static int on_empty(void *ctx, const struct bip_kv *kv, struct blk *b)
{
	struct empties *e = ctx;

	if (!b || b->used || b->hostlocal || !b->empty_since || b->empty_since > e->cutoff)
		return 0;
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct bip_kv *v = bip__im_realloc(e->ip, e->v, cap * sizeof(*v));
		char **nodes;

		if (!v)
			return BIP_ENOMEM;
		e->v = v;
		nodes = bip__im_realloc(e->ip, e->nodes, cap * sizeof(*nodes));
		if (!nodes)
			return BIP_ENOMEM;
		e->nodes = nodes;
		e->cap = cap;
	}
	e->v[e->n].key = bip__im_strdup(e->ip, kv->key);
	e->v[e->n].value = NULL;
	e->v[e->n].rev = kv->rev;
	e->nodes[e->n] = b->node ? bip__im_strdup(e->ip, b->node) : NULL;
	e->n++;
	/* Without its node the block would go and its affinity stay. */
	return e->v[e->n - 1].key && (!b->node || e->nodes[e->n - 1]) ? 0 : BIP_ENOMEM;
}

/*
 * emptySince is the wall clock of whichever process emptied the block, compared here with this
 * one's: a jump either way only moves when an empty block goes (early: an affinity given back
 * and claimed again, churn; late: an empty block kept). Neither can touch an address: a block is
 * deleted only while it holds none, conditioned on its record being exactly as read.
 */
int bip_ipam_release_empty_blocks(struct bip_ipam *ip, unsigned min_age_s, size_t *deleted)
{
	struct empties e = {.ip = ip, .cutoff = bip__now() - (int64_t)min_age_s};
	size_t d = 0;
	int rc;

	ip->errmsg[0] = '\0';
	rc = foreach_block(ip, on_empty, &e);
	for (size_t i = 0; rc == BIP_OK && i < e.n; i++) {
		struct bip_prefix cidr;
		char akey[KEY_LEN];
		struct bip_cmp cmps[1];
		struct bip_op ops[2];
		size_t nops = 0;
		int trc;

		if (bip__cidr_from_keypart(e.v[i].key + strlen(PFX_BLOCKS), &cidr) != BIP_OK)
			continue;
		cmps[0] = (struct bip_cmp){e.v[i].key, e.v[i].rev};
		ops[nops++] = (struct bip_op){BIP_OP_DEL, e.v[i].key};
		if (e.nodes[i]) {
			bip__key_affinity(akey, e.nodes[i], cidr);
			ops[nops++] = (struct bip_op){BIP_OP_DEL, akey};
		}
		/* A block that changed since it was read is in use again: leave it. */
		trc = bip_store_txn(ip->store, cmps, 1, ops, nops, NULL);
		if (trc == BIP_OK)
			d++;
		else if (trc != BIP_ECONFLICT)
			rc = bip__seterr(ip, trc, "cannot delete %s", e.v[i].key);
	}
	for (size_t i = 0; i < e.n; i++) {
		free(e.v[i].key);
		free(e.nodes[i]);
	}
	free(e.v);
	free(e.nodes);
	if (deleted)
		*deleted = d;
	return rc;
}

/* --- utilization ------------------------------------------------------------------------ */

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

/* --- the consistency check ---------------------------------------------------------------- */

const char *bip_problem_name(enum bip_problem_kind k)
{
	static const char *const names[] = {
	    [BIP_PROB_ADDR_NO_HANDLE] = "address-without-handle",
	    [BIP_PROB_HANDLE_DANGLING] = "handle-names-free-address",
	    [BIP_PROB_BLOCK_NO_POOL] = "block-outside-pools",
	    [BIP_PROB_BLOCK_TWO_OWNERS] = "block-with-two-owners",
	    [BIP_PROB_AFFINITY_NO_BLOCK] = "affinity-without-block",
	    [BIP_PROB_AFFINITY_MISMATCH] = "affinity-mismatch",
	    [BIP_PROB_AFFINITY_PENDING] = "pending-affinity",
	    [BIP_PROB_BLOCK_CORRUPT] = "corrupt-record",
	    [BIP_PROB_ADDR_TWICE] = "address-held-twice",
	};

	if ((unsigned)k >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[k];
}

void bip_check_report_free(struct bip_check_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].key);
		free(r->v[i].subject);
		free(r->v[i].detail);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* One allocated address as the blocks say (32 bytes: a check holds one per address). */
struct c_alloc {
	bip_u128 v;	 /* the address */
	uint32_t handle; /* index in the interned handles */
	uint8_t family;
	uint8_t blen; /* its block's prefix length */
};

/* Strings and small arrays of a check, carved from 1 MiB chunks that never move and are freed
 * together: at 550,000 handles, one malloc per id and per address list would cost more than
 * the data. */
struct arena {
	char **chunks;
	size_t n, used;
};

#define ARENA_CHUNK (1u << 20)

static void *arena_alloc(struct bip_ipam *ip, struct arena *ar, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (size > ARENA_CHUNK)
		return NULL;
	if (!ar->n || ar->used + size > ARENA_CHUNK) {
		char **v = bip__im_realloc(ip, ar->chunks, (ar->n + 1) * sizeof(*v));

		if (!v)
			return NULL;
		ar->chunks = v;
		ar->chunks[ar->n] = bip__im_malloc(ip, ARENA_CHUNK);
		if (!ar->chunks[ar->n])
			return NULL;
		ar->n++;
		ar->used = 0;
	}
	ar->used += size;
	return ar->chunks[ar->n - 1] + ar->used - size;
}

static void arena_free(struct arena *ar)
{
	for (size_t i = 0; i < ar->n; i++)
		free(ar->chunks[i]);
	free(ar->chunks);
}

struct c_block {
	struct bip_prefix cidr;
	char *node;
	int64_t rev;
	int naff; /* affinities naming it */
	bool has_node_aff;
	bool empty;
};

struct c_handle { /* 40 bytes */
	char *id;
	char *node; /* the node holding its first address in the blocks (a record to rebuild) */
	struct bip_prefix *addrs;
	int64_t rev;
	uint32_t naddrs;
	bool present; /* a record exists */
};

struct checker {
	struct bip_ipam *ip;
	struct bip_check_report *rep;
	struct bip_pool *pools;
	int64_t *pool_revs;
	size_t npools;
	struct c_block *blocks;
	size_t nblocks, capb;
	struct c_alloc *allocs;
	size_t nallocs, capa;
	struct c_handle *handles;
	size_t nhandles, caph;
	struct smap hmap;
	struct arena arena; /* handle ids and address lists */
	bool repair;
	bool (*want)(void *ctx, const struct bip_problem *p);
	void *want_ctx;
	int rc;
};

/* Set what add_problem cannot know: the revision of the record and whether a repair exists. */
static void last_problem(struct checker *c, int64_t rev, bool fixable)
{
	if (c->rep->n) {
		c->rep->v[c->rep->n - 1].rev = rev;
		c->rep->v[c->rep->n - 1].fixable = fixable;
	}
}

/* Whether to repair the record that problems [first, last) were found in. */
static bool may_repair(const struct checker *c, size_t first, size_t last)
{
	if (!c->repair)
		return false;
	for (size_t i = first; c->want && i < last; i++)
		if (!c->want(c->want_ctx, &c->rep->v[i]))
			return false;
	return true;
}

static int add_problem(struct checker *c, enum bip_problem_kind kind, const char *key,
		       const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int add_problem(struct checker *c, enum bip_problem_kind kind, const char *key,
		       const char *subject, const char *fmt, ...)
{
	struct bip_problem *v;
	char detail[512];
	va_list ap;

	v = bip__im_realloc(c->ip, c->rep->v, (c->rep->n + 1) * sizeof(*v));
	if (!v)
		return BIP_ENOMEM;
	c->rep->v = v;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	v = &c->rep->v[c->rep->n];
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	v->key = bip__im_strdup(c->ip, key);
	v->subject = bip__im_strdup(c->ip, subject);
	v->detail = bip__im_strdup(c->ip, detail);
	c->rep->n++;
	if (!v->key || !v->subject || !v->detail)
		return BIP_ENOMEM;
	return BIP_OK;
}

static int intern_handle(struct checker *c, const char *id, size_t *idx)
{
	struct c_handle *h;

	if (smap_get(&c->hmap, id, idx))
		return BIP_OK;
	if (c->nhandles == c->caph) {
		size_t cap = c->caph ? c->caph * 2 : 256;
		struct c_handle *v = bip__im_realloc(c->ip, c->handles, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		c->handles = v;
		c->caph = cap;
		/* the map holds pointers to ids, which do not move */
	}
	h = &c->handles[c->nhandles];
	memset(h, 0, sizeof(*h));
	h->id = arena_alloc(c->ip, &c->arena, strlen(id) + 1);
	if (!h->id)
		return BIP_ENOMEM;
	strcpy(h->id, id);
	*idx = c->nhandles++;
	return smap_put(c->ip, &c->hmap, h->id, *idx);
}

static int on_check_block(void *ctx, const struct bip_kv *kv, struct blk *b)
{
	struct checker *c = ctx;
	struct c_block *cb;
	char cs[BIP_PREFIX_STRLEN];
	const char *kp = kv->key + strlen(PFX_BLOCKS), *holder;
	int rc;

	c->rep->blocks++;
	if (!b) {
		rc = add_problem(c, BIP_PROB_BLOCK_CORRUPT, kv->key, kp,
				 "the block record does not decode or breaks its invariants");
		last_problem(c, kv->rev, false);
		return rc;
	}
	bip__cidr_keypart(b->cidr, cs);
	if (strcmp(cs, kp) != 0) {
		rc = add_problem(c, BIP_PROB_BLOCK_CORRUPT, kv->key, kp,
				 "the record holds block %s, not the one its key names", cs);
		last_problem(c, kv->rev, false);
		return rc;
	}
	if (c->nblocks == c->capb) {
		size_t cap = c->capb ? c->capb * 2 : 256;
		struct c_block *v = bip__im_realloc(c->ip, c->blocks, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		c->blocks = v;
		c->capb = cap;
	}
	cb = &c->blocks[c->nblocks];
	memset(cb, 0, sizeof(*cb));
	cb->cidr = b->cidr;
	cb->rev = b->rev;
	cb->empty = b->used == 0;
	if (b->node) {
		cb->node = bip__im_strdup(c->ip, b->node);
		if (!cb->node)
			return BIP_ENOMEM;
	}
	c->nblocks++;
	if (!b->hostlocal && !bip__pool_of(c->pools, c->npools, b->cidr)) {
		rc = add_problem(c, BIP_PROB_BLOCK_NO_POOL, kv->key, bip_prefix_fmt(b->cidr, cs),
				 "block %s lies outside every pool (%u addresses in use)", cs,
				 b->used);
		if (rc != BIP_OK)
			return rc;
		last_problem(c, b->rev, b->used == 0);
	}
	for (uint32_t o = 0; o < b->size; o++) {
		size_t hi;

		if (!b->handle[o])
			continue;
		rc = intern_handle(c, b->handle[o], &hi);
		if (rc != BIP_OK)
			return rc;
		holder = b->holder && b->holder[o] ? b->holder[o] : b->node;
		if (holder && !c->handles[hi].node) {
			c->handles[hi].node = arena_alloc(c->ip, &c->arena, strlen(holder) + 1);
			if (!c->handles[hi].node)
				return BIP_ENOMEM;
			strcpy(c->handles[hi].node, holder);
		}
		if (c->nallocs == c->capa) {
			size_t cap = c->capa ? c->capa * 2 : 1024;
			struct c_alloc *v = bip__im_realloc(c->ip, c->allocs, cap * sizeof(*v));

			if (!v)
				return BIP_ENOMEM;
			c->allocs = v;
			c->capa = cap;
		}
		c->allocs[c->nallocs++] = (struct c_alloc){
		    bip_prefix_nth(b->cidr, o).v, (uint32_t)hi, b->cidr.addr.family, b->cidr.len};
		c->rep->addresses++;
	}
	return BIP_OK;
}

static int on_check_handle(void *ctx, const struct bip_kv *kv)
{
	struct checker *c = ctx;
	const char *id = kv->key + strlen(PFX_HANDLES);
	struct bip_handle_info h = {0};
	struct c_handle *ch;
	size_t hi;
	int rc;

	c->rep->handles++;
	if (!bip__valid_handle(id)) {
		rc = add_problem(c, BIP_PROB_BLOCK_CORRUPT, kv->key, id, "invalid handle id");
		last_problem(c, kv->rev, false);
		return rc;
	}
	rc = bip__handle_decode(c->ip, id, kv->value, kv->len, &h);
	if (rc == BIP_ENOMEM)
		return rc;
	if (rc != BIP_OK) {
		rc = add_problem(c, BIP_PROB_BLOCK_CORRUPT, kv->key, id,
				 "the handle record does not decode");
		last_problem(c, kv->rev, false);
		return rc;
	}
	rc = intern_handle(c, id, &hi);
	if (rc != BIP_OK) {
		bip_handle_info_clear(&h);
		return rc;
	}
	ch = &c->handles[hi];
	ch->present = true;
	ch->rev = kv->rev;
	ch->addrs = arena_alloc(c->ip, &c->arena, h.naddrs * sizeof(*h.addrs) + 1);
	if (ch->addrs && h.naddrs)
		memcpy(ch->addrs, h.addrs, h.naddrs * sizeof(*h.addrs));
	ch->naddrs = (uint32_t)h.naddrs;
	bip_handle_info_clear(&h);
	return ch->addrs ? BIP_OK : BIP_ENOMEM;
}

static int cmp_cblock(const void *x, const void *y)
{
	return bip_prefix_cmp(((const struct c_block *)x)->cidr, ((const struct c_block *)y)->cidr);
}

static struct c_block *find_cblock(struct checker *c, struct bip_prefix p)
{
	size_t lo = 0, hi = c->nblocks;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int k = bip_prefix_cmp(c->blocks[mid].cidr, p);

		if (k == 0)
			return &c->blocks[mid];
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * The scan lists blocks, then handles, then affinities, each at its own time: a plugin of any
 * node that allocates or releases in between makes records that agree look as if they did not
 * (a new handle whose address the block list predates, a released one whose block entry it
 * still saw, a new block's affinity). Reporting those would be false, and repairing them would
 * damage live records. So whatever looks wrong is read again, with the records it depends on,
 * at ONE store revision (bip_store_read), and judged and repaired on that.
 */

/* Read keys[0..n) at one revision into got[0..n) (each 0 or 1 entry). */
static int reread(struct checker *c, char (*keys)[KEY_LEN], size_t n, struct bip_kvs *got)
{
	struct bip_read reads[BIP_READ_MAX];
	int rc;

	for (size_t i = 0; i < n; i++)
		reads[i] = (struct bip_read){keys[i], false, 0};
	rc = bip_store_read(c->ip->store, reads, n, got, NULL);
	return rc == BIP_OK ? BIP_OK : bip__seterr(c->ip, rc, "cannot read %s again", keys[0]);
}

/*
 * Read handle h and the blocks of its addresses (those the scan saw it hold, `given`, and those
 * it lists) at one revision. On success h describes the record as read then (present, rev,
 * addresses) and *fresh (malloc'd; NULL when empty) the addresses those blocks give it.
 */
static int reread_handle(struct checker *c, struct c_handle *h, const struct bip_prefix *given,
			 size_t ngiven, struct bip_prefix **fresh, size_t *nfresh, bool *done)
{
	struct bip_prefix cidrs[BIP_READ_MAX], *out = NULL;
	struct bip_kvs got[BIP_READ_MAX];
	char(*keys)[KEY_LEN] = NULL;
	size_t n = 0, nout = 0, nread = 0;
	int rc = BIP_OK;

	*fresh = NULL;
	*nfresh = 0;
	*done = false;
	for (size_t i = 0; i < ngiven + h->naddrs; i++) {
		struct bip_prefix p = i < ngiven ? given[i] : h->addrs[i - ngiven];
		bool dup = false;

		p.addr = bip_prefix_first(p);
		for (size_t j = 0; j < n && !dup; j++)
			dup = bip_prefix_eq(cidrs[j], p);
		if (dup)
			continue;
		if (n + 1 == BIP_READ_MAX) /* more blocks than one read takes: judge on the scan */
			return BIP_OK;
		cidrs[n++] = p;
	}
	rc = BIP_ENOMEM;
	keys = bip__im_calloc(c->ip, n + 1, sizeof(*keys));
	out = bip__im_calloc(c->ip, HANDLE_MAX_ADDRS + ngiven + 1, sizeof(*out));
	if (!keys || !out)
		goto out;
	bip__key_handle(keys[0], h->id);
	for (size_t j = 0; j < n; j++)
		bip__key_block(keys[j + 1], cidrs[j]);
	rc = reread(c, keys, n + 1, got);
	if (rc != BIP_OK)
		goto out;
	nread = n + 1;
	h->present = got[0].n > 0;
	h->naddrs = 0;
	if (h->present) {
		struct bip_handle_info info = {0};

		rc = bip__handle_decode(c->ip, h->id, got[0].v[0].value, got[0].v[0].len, &info);
		if (rc == BIP_OK) {
			h->rev = got[0].v[0].rev;
			h->addrs =
			    arena_alloc(c->ip, &c->arena, info.naddrs * sizeof(*info.addrs) + 1);
			if (h->addrs && info.naddrs)
				memcpy(h->addrs, info.addrs, info.naddrs * sizeof(*info.addrs));
			h->naddrs = (uint32_t)info.naddrs;
			rc = h->addrs ? BIP_OK : BIP_ENOMEM;
		}
		bip_handle_info_clear(&info);
		if (rc != BIP_OK)
			goto out;
	}
	for (size_t j = 1; j < nread; j++) {
		struct blk *b = NULL;

		if (!got[j].n)
			continue;
		rc = bip__blk_decode(c->ip, got[j].v[0].key, got[j].v[0].value, got[j].v[0].len,
				     got[j].v[0].rev, &b);
		if (rc == BIP_ENOMEM)
			goto out;
		if (rc != BIP_OK)
			continue; /* a block that does not decode is reported on its own */
		for (uint32_t o = 0; o < b->size && nout < HANDLE_MAX_ADDRS + ngiven; o++)
			if (b->handle[o] && strcmp(b->handle[o], h->id) == 0)
				out[nout++] =
				    (struct bip_prefix){bip_prefix_nth(b->cidr, o), b->cidr.len};
		bip__blk_free(b);
	}
	*fresh = out;
	*nfresh = nout;
	*done = true;
	out = NULL;
	rc = BIP_OK;
out:
	for (size_t j = 0; j < nread; j++)
		bip_kvs_free(&got[j]);
	free(keys);
	free(out);
	return rc;
}

/* Whether a handle's addresses are exactly those its blocks give it. */
static bool handle_agrees(const struct c_handle *h, const struct bip_prefix *given, size_t ngiven)
{
	for (size_t i = 0; i < ngiven; i++) {
		bool listed = false;

		for (size_t j = 0; j < h->naddrs && !listed; j++)
			listed = bip_addr_eq(h->addrs[j].addr, given[i].addr);
		if (!listed)
			return false;
	}
	for (size_t j = 0; j < h->naddrs; j++) {
		bool held = false;

		for (size_t i = 0; i < ngiven && !held; i++)
			held = bip_addr_eq(h->addrs[j].addr, given[i].addr);
		if (!held)
			return false;
	}
	return true;
}

/*
 * The compares a handle repair commits under: the blocks of `want` (and of the addresses the
 * record lists), read again with the handle at one revision, must still give the handle exactly
 * `want`, and the handle must be as judged; then each of those records is compared at the
 * revision just read. A repair judged on one view and written after another node changed a
 * block would otherwise rebuild a record for an address released meanwhile (a dangling handle
 * that a later ADD of the same attachment would take up again). BIP_ECONFLICT: changed since
 * judged (leave it). keys must hold BIP_READ_MAX keys; cmps as many.
 */
static int repair_cmps(struct checker *c, struct c_handle *h, const struct bip_prefix *want,
		       size_t nwant, char (*keys)[KEY_LEN], struct bip_cmp *cmps, size_t *ncmps)
{
	struct c_handle now = *h;
	struct bip_prefix *fresh = NULL;
	struct bip_kvs got[BIP_READ_MAX];
	size_t nfresh = 0, n = 1, nread = 0;
	bool done = false;
	int rc;

	rc = reread_handle(c, &now, want, nwant, &fresh, &nfresh, &done);
	if (rc != BIP_OK)
		return rc;
	rc = BIP_ECONFLICT;
	if (!done || now.present != h->present || (h->present && now.rev != h->rev) ||
	    nfresh != nwant)
		goto out;
	for (size_t i = 0; i < nwant; i++) {
		bool found = false;

		for (size_t j = 0; j < nfresh && !found; j++)
			found = bip_addr_eq(fresh[j].addr, want[i].addr);
		if (!found)
			goto out;
	}
	/* the blocks again, for their revisions (reread_handle keeps none) */
	bip__key_handle(keys[0], h->id);
	for (size_t i = 0; i < nwant + h->naddrs; i++) {
		struct bip_prefix p = i < nwant ? want[i] : h->addrs[i - nwant];
		char k[KEY_LEN];
		bool dup = false;

		p.addr = bip_prefix_first(p);
		bip__key_block(k, p);
		for (size_t j = 1; j < n && !dup; j++)
			dup = strcmp(keys[j], k) == 0;
		if (dup)
			continue;
		if (n == BIP_READ_MAX)
			goto out;
		memcpy(keys[n++], k, KEY_LEN);
	}
	rc = reread(c, keys, n, got);
	if (rc != BIP_OK)
		goto out;
	nread = n;
	rc = BIP_ECONFLICT;
	if ((got[0].n > 0) != h->present || (h->present && got[0].v[0].rev != h->rev))
		goto out;
	for (size_t j = 0; j < n; j++)
		cmps[j] = (struct bip_cmp){keys[j], got[j].n ? got[j].v[0].rev : 0};
	*ncmps = n;
	rc = BIP_OK;
out:
	for (size_t j = 0; j < nread; j++)
		bip_kvs_free(&got[j]);
	free(fresh);
	return rc;
}

/* Rebuild or trim a handle record so it lists exactly `want` (delete when empty). */
static int repair_handle(struct checker *c, struct c_handle *h, const struct bip_prefix *want,
			 size_t nwant)
{
	struct bip_handle_info info = {0};
	struct bip_kv kv = {0};
	char key[KEY_LEN];
	struct bip_cmp *cmps = NULL;
	char(*keys)[KEY_LEN] = NULL;
	struct bip_op op;
	char *v = NULL;
	size_t len = 0, ncmps = 0;
	int rc;

	bip__key_handle(key, h->id);
	if (h->present) {
		rc = bip_store_get(c->ip->store, key, &kv);
		if (rc == BIP_ENOTFOUND || (rc == BIP_OK && kv.rev != h->rev))
			rc = BIP_ECONFLICT; /* changed since it was judged: leave it */
		if (rc == BIP_OK)
			rc = bip__handle_decode(c->ip, h->id, kv.value, kv.len, &info);
		if (rc != BIP_OK)
			goto out;
		free(info.addrs);
	} else {
		/* The node that holds the addresses owns the rebuilt record, and a CNI handle id
		 * that splits only one way ("<network>.<container>.<ifname>", two dots) gives its
		 * container and interface: without them no gc would ever take the record (a gc
		 * releases only the handles of the node it runs for; CNI GC only the attachments
		 * the plugin recorded). An id with more dots splits several ways: only
		 * `blockipamctl gc --live` (which tries every split) can take it then. */
		const char *d1 = strchr(h->id, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
		bool split = d2 && d1 > h->id && d2 > d1 + 1 && d2[1] && !strchr(d2 + 1, '.');

		rc = BIP_ENOMEM;
		info.time = bip__now();
		info.id = bip__im_strdup(c->ip, h->id);
		info.node = h->node ? bip__im_strdup(c->ip, h->node) : NULL;
		if (!info.id || (h->node && !info.node))
			goto out;
		if (split) {
			size_t cn = (size_t)(d2 - d1 - 1);

			info.container = bip__im_malloc(c->ip, cn + 1);
			info.ifname = bip__im_strdup(c->ip, d2 + 1);
			if (!info.container || !info.ifname)
				goto out;
			memcpy(info.container, d1 + 1, cn);
			info.container[cn] = '\0';
		}
	}
	info.addrs = (struct bip_prefix *)want;
	info.naddrs = nwant;
	if (nwant) {
		v = bip__handle_encode(c->ip, &info, &len);
		rc = BIP_ENOMEM;
		if (!v)
			goto out;
		op = (struct bip_op){BIP_OP_PUT, key, v, len};
	} else {
		op = (struct bip_op){BIP_OP_DEL, key};
	}
	rc = BIP_ENOMEM;
	keys = bip__im_calloc(c->ip, BIP_READ_MAX, sizeof(*keys));
	cmps = bip__im_calloc(c->ip, BIP_READ_MAX, sizeof(*cmps));
	if (!keys || !cmps)
		goto out;
	rc = repair_cmps(c, h, want, nwant, keys, cmps, &ncmps);
	if (rc == BIP_OK)
		rc = bip_store_txn(c->ip->store, cmps, ncmps, &op, 1, NULL);
out:
	info.addrs = NULL;
	bip_handle_info_clear(&info);
	bip_kv_clear(&kv);
	free(keys);
	free(cmps);
	free(v);
	return rc;
}

static int check_handles(struct checker *c)
{
	char as[BIP_ADDR_STRLEN], key[KEY_LEN];
	size_t *count = bip__im_calloc(c->ip, c->nhandles + 1, sizeof(size_t));
	size_t *start = bip__im_calloc(c->ip, c->nhandles + 1, sizeof(size_t));
	struct bip_prefix *flat = bip__im_calloc(c->ip, c->nallocs + 1, sizeof(*flat));
	struct bip_prefix **held = bip__im_calloc(c->ip, c->nhandles + 1, sizeof(*held));
	struct bip_prefix *fresh = NULL;
	size_t nfresh;
	int rc = BIP_ENOMEM;

	if (!count || !start || !flat || !held)
		goto out;
	/* What the blocks give each handle, grouped by handle in one array. */
	for (size_t i = 0; i < c->nallocs; i++)
		count[c->allocs[i].handle]++;
	for (size_t h = 0, at = 0; h < c->nhandles; h++) {
		start[h] = at;
		held[h] = flat + at;
		at += count[h];
		count[h] = 0;
	}
	for (size_t i = 0; i < c->nallocs; i++) {
		const struct c_alloc *a = &c->allocs[i];

		flat[start[a->handle] + count[a->handle]++] =
		    (struct bip_prefix){{a->v, a->family}, a->blen};
	}
	for (size_t h = 0; h < c->nhandles; h++) {
		struct c_handle *ch = &c->handles[h];
		const struct bip_prefix *given = held[h];
		size_t ngiven = count[h];
		bool bad = false;
		size_t first = c->rep->n;

		free(fresh);
		fresh = NULL;
		if (!handle_agrees(ch, given, ngiven)) {
			bool done;

			rc = reread_handle(c, ch, given, ngiven, &fresh, &nfresh, &done);
			if (rc != BIP_OK)
				goto out;
			if (done) { /* else too many blocks to read at once: the scan's view */
				given = fresh;
				ngiven = nfresh;
			}
		}
		bip__key_handle(key, ch->id);
		/* Addresses given by blocks but not listed by the handle. */
		for (size_t i = 0; i < ngiven; i++) {
			bool listed = false;

			for (size_t j = 0; j < ch->naddrs && !listed; j++)
				listed = bip_addr_eq(ch->addrs[j].addr, given[i].addr);
			if (listed)
				continue;
			bad = true;
			rc = add_problem(c, BIP_PROB_ADDR_NO_HANDLE, key,
					 bip_addr_fmt(given[i].addr, as),
					 ch->present ? "address %s is held by '%s' in its block, "
						       "but the handle record does not list it"
						     : "address %s is held by '%s', which has no "
						       "handle record",
					 as, ch->id);
			if (rc != BIP_OK)
				goto out;
			last_problem(c, ch->present ? ch->rev : 0, true);
		}
		/* Addresses the handle lists that its blocks do not give it. */
		for (size_t j = 0; j < ch->naddrs; j++) {
			bool is_given = false;

			for (size_t i = 0; i < ngiven && !is_given; i++)
				is_given = bip_addr_eq(ch->addrs[j].addr, given[i].addr);
			if (is_given)
				continue;
			bad = true;
			rc = add_problem(c, BIP_PROB_HANDLE_DANGLING, key,
					 bip_addr_fmt(ch->addrs[j].addr, as),
					 "handle '%s' lists %s, but its block does not give it to "
					 "the handle",
					 ch->id, as);
			if (rc != BIP_OK)
				goto out;
			last_problem(c, ch->rev, true);
		}
		if (bad && may_repair(c, first, c->rep->n)) {
			rc = repair_handle(c, ch, given, ngiven);
			if (rc != BIP_OK && rc != BIP_ECONFLICT)
				goto out;
			for (size_t p = first; rc == BIP_OK && p < c->rep->n; p++)
				c->rep->v[p].repaired = true;
		}
	}
	rc = BIP_OK;
out:
	free(fresh);
	free(held);
	free(flat);
	free(start);
	free(count);
	return rc;
}

/* An affinity and its block as read together at one revision (rev 0: absent). */
struct aff_now {
	int64_t aff_rev, blk_rev;
	enum aff_state st;
	bool blk_ok;		     /* the block decodes */
	char node[BIP_NAME_MAX + 1]; /* the block's node, "" for none */
};

static int reread_affinity(struct checker *c, const char *akey, struct bip_prefix cidr,
			   struct aff_now *now)
{
	char(*keys)[KEY_LEN] = bip__im_calloc(c->ip, 2, KEY_LEN);
	struct bip_kvs got[2];
	int rc = BIP_ENOMEM;

	memset(now, 0, sizeof(*now));
	if (!keys)
		return rc;
	snprintf(keys[0], KEY_LEN, "%s", akey);
	bip__key_block(keys[1], cidr);
	rc = reread(c, keys, 2, got);
	if (rc == BIP_OK) {
		if (got[0].n) {
			now->aff_rev = got[0].v[0].rev;
			if (bip__affinity_decode(got[0].v[0].value, got[0].v[0].len, &now->st, NULL,
						 NULL) != BIP_OK)
				now->st = AFF_PENDING;
		}
		if (got[1].n) {
			struct blk *b = NULL;

			now->blk_rev = got[1].v[0].rev;
			rc = bip__blk_decode(c->ip, got[1].v[0].key, got[1].v[0].value,
					     got[1].v[0].len, got[1].v[0].rev, &b);
			if (rc == BIP_OK) {
				now->blk_ok = true;
				snprintf(now->node, sizeof(now->node), "%s",
					 b->node ? b->node : "");
				bip__blk_free(b);
			}
			if (rc != BIP_ENOMEM)
				rc = BIP_OK; /* one that does not decode is reported on its own */
		}
		bip_kvs_free(&got[0]);
		bip_kvs_free(&got[1]);
	}
	free(keys);
	return rc;
}

static int check_affinities(struct checker *c)
{
	struct bip_kvs kvs = {0};
	char cs[BIP_PREFIX_STRLEN], key[KEY_LEN], bkey[KEY_LEN];
	struct bip_cmp cmps[2];
	struct aff_now now;
	int rc = bip_store_list(c->ip->store, PFX_AFFINITY, 0, &kvs);

	if (rc != BIP_OK)
		return bip__seterr(c->ip, rc, "cannot list affinities");
	for (size_t i = 0; i < kvs.n && rc == BIP_OK; i++) {
		const char *rest = kvs.v[i].key + strlen(PFX_AFFINITY);
		const char *slash = strchr(rest, '/');
		char node[BIP_NAME_MAX + 1];
		struct bip_prefix cidr;
		enum aff_state st;
		struct c_block *b;
		const char *bnode;
		bool del = false, fix = false, exists;

		c->rep->affinities++;
		if (!slash || (size_t)(slash - rest) > BIP_NAME_MAX ||
		    bip__cidr_from_keypart(slash + 1, &cidr) != BIP_OK ||
		    bip__affinity_decode(kvs.v[i].value, kvs.v[i].len, &st, NULL, NULL) != BIP_OK) {
			rc = add_problem(c, BIP_PROB_BLOCK_CORRUPT, kvs.v[i].key, rest,
					 "the affinity record does not decode");
			last_problem(c, kvs.v[i].rev, false);
			continue;
		}
		memcpy(node, rest, (size_t)(slash - rest));
		node[slash - rest] = '\0';
		bip_prefix_fmt(cidr, cs);
		b = find_cblock(c, cidr);
		exists = b != NULL;
		bnode = b ? b->node : NULL;
		cmps[0] = (struct bip_cmp){kvs.v[i].key, kvs.v[i].rev};
		cmps[1] = (struct bip_cmp){NULL, 0};
		if (!b || !b->node || strcmp(b->node, node) != 0 || st != AFF_CONFIRMED) {
			/* judged on the affinity and its block as they are together */
			rc = reread_affinity(c, kvs.v[i].key, cidr, &now);
			if (rc != BIP_OK)
				break;
			if (!now.aff_rev)
				continue; /* gone meanwhile */
			if (now.blk_rev && now.blk_ok && strcmp(now.node, node) == 0 &&
			    now.st == AFF_CONFIRMED) {
				if (b && b->node && strcmp(b->node, node) == 0) {
					b->naff++;
					b->has_node_aff = true;
				}
				continue; /* fine now: a claim or release in between */
			}
			st = now.st;
			exists = now.blk_rev && now.blk_ok;
			bnode = now.node[0] ? now.node : NULL;
			cmps[0].rev = now.aff_rev;
			bip__key_block(bkey, cidr);
			cmps[1] = (struct bip_cmp){bkey, now.blk_rev};
		}
		if (!exists) {
			rc = add_problem(c,
					 st == AFF_CONFIRMED ? BIP_PROB_AFFINITY_NO_BLOCK
							     : BIP_PROB_AFFINITY_PENDING,
					 kvs.v[i].key, cs,
					 "node '%s' has a %s affinity for block %s, which does not "
					 "exist",
					 node, st == AFF_CONFIRMED ? "confirmed" : "pending", cs);
			del = true;
		} else if (!bnode || strcmp(bnode, node) != 0) {
			if (b)
				b->naff++;
			rc = add_problem(
			    c,
			    b && b->naff > 1 ? BIP_PROB_BLOCK_TWO_OWNERS
					     : BIP_PROB_AFFINITY_MISMATCH,
			    kvs.v[i].key, cs,
			    "node '%s' has an affinity for block %s, which belongs to %s", node, cs,
			    bnode ? bnode : "no node");
			del = true;
		} else {
			if (b) {
				b->naff++;
				b->has_node_aff = true;
			}
			if (st != AFF_CONFIRMED) {
				rc = add_problem(c, BIP_PROB_AFFINITY_PENDING, kvs.v[i].key, cs,
						 "node '%s' owns block %s but its affinity is left "
						 "%s",
						 node, cs,
						 st == AFF_PENDING ? "pending" : "pendingDeletion");
				fix = true;
			}
		}
		if (rc == BIP_OK && (del || fix))
			last_problem(c, cmps[0].rev, true);
		if (rc == BIP_OK && (del || fix) && may_repair(c, c->rep->n - 1, c->rep->n)) {
			const char *val = bip__affinity_value(AFF_CONFIRMED);
			struct bip_op op =
			    del ? (struct bip_op){BIP_OP_DEL, kvs.v[i].key}
				: (struct bip_op){BIP_OP_PUT, kvs.v[i].key, val, strlen(val)};
			int trc =
			    bip_store_txn(c->ip->store, cmps, cmps[1].key ? 2 : 1, &op, 1, NULL);

			if (trc == BIP_OK)
				c->rep->v[c->rep->n - 1].repaired = true;
			else if (trc != BIP_ECONFLICT)
				rc = trc;
		}
	}
	/* Blocks that name a node without that node's affinity. */
	for (size_t i = 0; i < c->nblocks && rc == BIP_OK; i++) {
		struct c_block *b = &c->blocks[i];

		if (!b->node || b->has_node_aff)
			continue;
		bip_prefix_fmt(b->cidr, cs);
		bip__key_affinity(key, b->node, b->cidr);
		rc = reread_affinity(c, key, b->cidr, &now);
		if (rc != BIP_OK)
			break;
		if (now.aff_rev || !now.blk_rev || !now.blk_ok || strcmp(now.node, b->node) != 0)
			continue; /* its affinity came, or the block went or moved, meanwhile */
		b->rev = now.blk_rev;
		rc = add_problem(c, BIP_PROB_AFFINITY_MISMATCH, key, cs,
				 "block %s names node '%s', which has no affinity for it", cs,
				 b->node);
		if (rc == BIP_OK)
			last_problem(c, b->rev, true);
		if (rc == BIP_OK && may_repair(c, c->rep->n - 1, c->rep->n)) {
			const char *val = bip__affinity_value(AFF_CONFIRMED);
			struct bip_op op = {BIP_OP_PUT, key, val, strlen(val)};
			int trc;

			bip__key_block(bkey, b->cidr);
			cmps[0] = (struct bip_cmp){key, 0};
			cmps[1] = (struct bip_cmp){bkey, b->rev};
			trc = bip_store_txn(c->ip->store, cmps, 2, &op, 1, NULL);
			if (trc == BIP_OK)
				c->rep->v[c->rep->n - 1].repaired = true;
			else if (trc != BIP_ECONFLICT)
				rc = trc;
		}
	}
	bip_kvs_free(&kvs);
	return rc;
}

static int check_overlaps(struct checker *c)
{
	char a[BIP_PREFIX_STRLEN], b[BIP_PREFIX_STRLEN], key[KEY_LEN];

	for (size_t i = 1; i < c->nblocks; i++) {
		struct bip_prefix p = c->blocks[i - 1].cidr, q = c->blocks[i].cidr;

		if (!bip_prefix_overlaps(p, q))
			continue;
		bip__key_block(key, q);
		if (add_problem(c, BIP_PROB_ADDR_TWICE, key, bip_prefix_fmt(q, b),
				"blocks %s and %s overlap: their common addresses can be held "
				"twice",
				bip_prefix_fmt(p, a), b) != BIP_OK)
			return BIP_ENOMEM;
		last_problem(c, c->blocks[i].rev, false);
	}
	return BIP_OK;
}

/* Empty blocks outside every pool go (with the affinity of the node they name), each
 * conditioned on the block being as read. Non-empty ones need their addresses released first. */
static int repair_no_pool(struct checker *c)
{
	for (size_t p = 0; p < c->rep->n; p++) {
		struct bip_problem *pr = &c->rep->v[p];
		struct bip_prefix cidr;
		struct c_block *b;
		char akey[KEY_LEN];
		struct bip_cmp cmp;
		struct bip_op ops[2];
		size_t nops = 0;
		int trc;

		if (pr->kind != BIP_PROB_BLOCK_NO_POOL || !pr->fixable ||
		    !may_repair(c, p, p + 1) ||
		    bip_prefix_parse_net(pr->subject, &cidr) != BIP_OK ||
		    !(b = find_cblock(c, cidr)) || !b->empty)
			continue;
		cmp = (struct bip_cmp){pr->key, b->rev};
		ops[nops++] = (struct bip_op){BIP_OP_DEL, pr->key};
		if (b->node) {
			bip__key_affinity(akey, b->node, b->cidr);
			ops[nops++] = (struct bip_op){BIP_OP_DEL, akey};
		}
		trc = bip_store_txn(c->ip->store, &cmp, 1, ops, nops, NULL);
		if (trc == BIP_OK)
			pr->repaired = true;
		else if (trc != BIP_ECONFLICT)
			return trc;
	}
	return BIP_OK;
}

static int check_run(struct bip_ipam *ip, bool repair,
		     bool (*want)(void *ctx, const struct bip_problem *p), void *ctx,
		     struct bip_check_report *out)
{
	struct bip_check_report rep = {0};
	struct checker c = {.ip = ip, .rep = &rep, .repair = repair, .want = want, .want_ctx = ctx};
	int64_t rev;
	int rc;

	ip->errmsg[0] = '\0';
	/* A damaged file first: its records cannot be trusted, and its error says how to restore.
	 */
	rc = ip->store->ops->verify ? ip->store->ops->verify(ip->store) : BIP_OK;
	if (rc != BIP_OK)
		bip__seterr(ip, rc, "the store failed its integrity check");
	if (rc == BIP_OK)
		rc = bip__load_pools(ip, &c.pools, &c.pool_revs, &c.npools);
	if (rc == BIP_OK)
		rc = foreach_block(ip, on_check_block, &c);
	if (rc == BIP_OK) {
		rc = bip_store_list_cb(ip->store, PFX_HANDLES, 0, on_check_handle, &c, &rev);
		if (rc != BIP_OK && rc != BIP_ENOMEM)
			bip__seterr(ip, rc, "cannot list handles");
	}
	if (rc == BIP_OK && c.nblocks)
		qsort(c.blocks, c.nblocks, sizeof(*c.blocks), cmp_cblock);
	if (rc == BIP_OK)
		rc = check_overlaps(&c);
	if (rc == BIP_OK)
		rc = check_handles(&c);
	if (rc == BIP_OK)
		rc = check_affinities(&c);
	if (rc == BIP_OK && repair)
		rc = repair_no_pool(&c);
	bip_pools_free(c.pools, c.npools);
	free(c.pool_revs);
	for (size_t i = 0; i < c.nblocks; i++)
		free(c.blocks[i].node);
	free(c.blocks);
	free(c.allocs);
	arena_free(&c.arena);
	free(c.handles);
	smap_free(&c.hmap);
	if (rc != BIP_OK) {
		bip_check_report_free(&rep);
		return rc;
	}
	*out = rep;
	return BIP_OK;
}

int bip_ipam_check(struct bip_ipam *ip, bool repair, struct bip_check_report *out)
{
	return check_run(ip, repair, NULL, NULL, out);
}

int bip_ipam_check_repair_if(struct bip_ipam *ip,
			     bool (*want)(void *ctx, const struct bip_problem *p), void *ctx,
			     struct bip_check_report *out)
{
	return check_run(ip, true, want, ctx, out);
}
