/*
 * The resources operators manage: pools, the IPAM config, reservations, nodes and namespaces.
 * Every write validates the whole resource first and is one conditional transaction. Pool writes
 * also update the "poolset" key under a compare, so two pools written at once are serialised
 * and can never overlap each other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define KEY_POOLSET "poolset"

static int cmp_pool_order(const void *x, const void *y)
{
	const struct bip_pool *p = x, *q = y;

	if (p->cidr.addr.family != q->cidr.addr.family)
		return p->cidr.addr.family < q->cidr.addr.family ? -1 : 1;
	if (p->priority != q->priority)
		return p->priority > q->priority ? -1 : 1;
	return strcmp(p->name, q->name);
}

void bip_pool_clear(struct bip_pool *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->node_selector);
	free(p->ns_selector);
	free(p->extra);
	memset(p, 0, sizeof(*p));
}

void bip_pools_free(struct bip_pool *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		bip_pool_clear(&v[i]);
	free(v);
}

struct pool_pair {
	struct bip_pool pool;
	int64_t rev;
};

static int cmp_pair(const void *x, const void *y)
{
	return cmp_pool_order(&((const struct pool_pair *)x)->pool,
			      &((const struct pool_pair *)y)->pool);
}

int bip__pools_from(struct bip_ipam *ip, const struct bip_kvs *kvs, struct bip_pool **out,
		    int64_t **revs, size_t *n)
{
	struct pool_pair *pp = NULL;
	struct bip_pool *pools = NULL;
	int64_t *rv = NULL;
	size_t k = 0;
	int rc;

	pp = bip__im_calloc(ip, kvs->n, sizeof(*pp));
	pools = bip__im_calloc(ip, kvs->n, sizeof(*pools));
	rv = bip__im_calloc(ip, kvs->n, sizeof(*rv));
	rc = BIP_ENOMEM;
	if (!pp || !pools || !rv)
		goto out;
	for (; k < kvs->n; k++) {
		const char *name = kvs->v[k].key + strlen(PFX_POOLS);

		rc = bip__pool_decode(ip, name, kvs->v[k].value, kvs->v[k].len, &pp[k].pool);
		if (rc != BIP_OK) {
			bip__seterr(ip, rc, "store record %s does not decode", kvs->v[k].key);
			goto out;
		}
		pp[k].rev = kvs->v[k].rev;
	}
	qsort(pp, kvs->n, sizeof(*pp), cmp_pair);
	for (size_t i = 0; i < kvs->n; i++) {
		pools[i] = pp[i].pool;
		rv[i] = pp[i].rev;
	}
	*out = pools;
	*revs = rv;
	*n = kvs->n;
	pools = NULL;
	rv = NULL;
	k = 0;
	rc = BIP_OK;
out:
	for (size_t i = 0; i < k; i++)
		bip_pool_clear(&pp[i].pool);
	free(pp);
	free(pools);
	free(rv);
	return rc;
}

int bip__load_pools(struct bip_ipam *ip, struct bip_pool **out, int64_t **revs, size_t *n)
{
	struct bip_kvs kvs = {0};
	int rc = bip_store_list(ip->store, PFX_POOLS, 0, &kvs);

	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot list pools");
	rc = bip__pools_from(ip, &kvs, out, revs, n);
	bip_kvs_free(&kvs);
	return rc;
}

const struct bip_pool *bip__pool_of(const struct bip_pool *pools, size_t n, struct bip_prefix p)
{
	for (size_t i = 0; i < n; i++)
		if (bip_prefix_covers(pools[i].cidr, p))
			return &pools[i];
	return NULL;
}

int bip__reservations_from(struct bip_ipam *ip, const struct bip_kvs *kvs, struct bip_prefix **out,
			   size_t *n)
{
	struct bip_prefix *all = NULL;
	size_t total = 0;
	int rc;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < kvs->n; i++) {
		struct bip_reservation r;
		struct bip_prefix *v;

		rc = bip__reservation_decode(ip, kvs->v[i].key + strlen(PFX_RESERVATIONS),
					     kvs->v[i].value, kvs->v[i].len, &r);
		if (rc != BIP_OK) {
			bip__seterr(ip, rc, "store record %s does not decode", kvs->v[i].key);
			goto fail;
		}
		v = bip__im_realloc(ip, all, (total + r.ncidrs + 1) * sizeof(*v));
		if (!v) {
			bip_reservation_clear(&r);
			rc = BIP_ENOMEM;
			goto fail;
		}
		all = v;
		if (r.ncidrs) /* a reservation may list none: cidrs is NULL then */
			memcpy(all + total, r.cidrs, r.ncidrs * sizeof(*v));
		total += r.ncidrs;
		bip_reservation_clear(&r);
	}
	*out = all;
	*n = total;
	return BIP_OK;
fail:
	free(all);
	return rc;
}

int bip__load_reservations(struct bip_ipam *ip, struct bip_prefix **out, size_t *n)
{
	struct bip_kvs kvs = {0};
	int rc;

	*out = NULL;
	*n = 0;
	rc = bip_store_list(ip->store, PFX_RESERVATIONS, 0, &kvs);
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot list reservations");
	rc = bip__reservations_from(ip, &kvs, out, n);
	bip_kvs_free(&kvs);
	return rc;
}

bool bip__addr_reserved(const struct bip_prefix *res, size_t nres, struct bip_addr a)
{
	for (size_t i = 0; i < nres; i++)
		if (bip_prefix_contains(res[i], a))
			return true;
	return false;
}

/* --- pools ------------------------------------------------------------------------------ */

static void fmt_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fmt_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int bip_pool_validate(const struct bip_pool *p, char *err, size_t errlen)
{
	static const struct {
		const char *text;
	} forbidden[] = {{"169.254.0.0/16"}, {"fe80::/10"}};
	char cs[BIP_PREFIX_STRLEN];
	unsigned fam = p->cidr.addr.family,
		 bl = p->block_len ? p->block_len : bip__default_block_len((int)fam);
	unsigned lo = fam == 4 ? 20 : 116, hi = fam == 4 ? 32 : 128;
	struct bip_selector *sel;
	char serr[256];

	if (!bip__valid_name(p->name)) {
		fmt_err(err, errlen, "invalid pool name '%s': want letters, digits, '.', '-', '_'",
			p->name ? p->name : "");
		return BIP_EINVAL;
	}
	if (fam != 4 && fam != 6) {
		fmt_err(err, errlen, "pool '%s': missing cidr", p->name);
		return BIP_EINVAL;
	}
	bip_prefix_fmt(p->cidr, cs);
	if ((p->cidr.addr.v & ~bip_mask((int)fam, p->cidr.len)) != 0) {
		fmt_err(err, errlen, "pool '%s': host bits set in cidr '%s'", p->name, cs);
		return BIP_EHOSTBITS;
	}
	if (bl < lo || bl > hi) {
		fmt_err(err, errlen, "pool '%s': blockSize %u out of range %u-%u for IPv%u",
			p->name, bl, lo, hi, fam);
		return BIP_EINVAL;
	}
	if (p->cidr.len > bl) {
		fmt_err(err, errlen, "pool '%s': cidr %s is smaller than one block (/%u)", p->name,
			cs, bl);
		return BIP_EINVAL;
	}
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		struct bip_prefix f;

		bip_prefix_parse_net(forbidden[i].text, &f);
		if (bip_prefix_overlaps(f, p->cidr)) {
			fmt_err(err, errlen, "pool '%s': cidr %s overlaps link-local %s", p->name,
				cs, forbidden[i].text);
			return BIP_EOVERLAP;
		}
	}
	for (int s = 0; s < 2; s++) {
		const char *text = s ? p->ns_selector : p->node_selector;

		if (!text || !*text)
			continue;
		if (bip_selector_parse(text, &sel, serr, sizeof(serr)) != BIP_OK) {
			fmt_err(err, errlen, "pool '%s': invalid %s: %s", p->name,
				s ? "namespaceSelector" : "nodeSelector", serr);
			return BIP_EINVAL;
		}
		bip_selector_free(sel);
	}
	if (p->allowed_uses & ~7u) {
		fmt_err(err, errlen, "pool '%s': unknown allowedUses bits", p->name);
		return BIP_EINVAL;
	}
	if ((p->allowed_uses & BIP_USE_LOADBALANCER) &&
	    (p->allowed_uses & (BIP_USE_WORKLOAD | BIP_USE_TUNNEL))) {
		fmt_err(err, errlen,
			"pool '%s': allowedUses LoadBalancer cannot be combined with Workload or "
			"Tunnel",
			p->name);
		return BIP_EINVAL;
	}
	if (p->mode != BIP_ASSIGN_AUTOMATIC && p->mode != BIP_ASSIGN_MANUAL) {
		fmt_err(err, errlen, "pool '%s': invalid assignmentMode", p->name);
		return BIP_EINVAL;
	}
	return BIP_OK;
}

static int poolset_cmp(struct bip_ipam *ip, int64_t *rev)
{
	struct bip_kv kv = {0};
	int rc = bip_store_get(ip->store, KEY_POOLSET, &kv);

	if (rc == BIP_ENOTFOUND) {
		*rev = 0;
		return BIP_OK;
	}
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot read %s", KEY_POOLSET);
	*rev = kv.rev;
	bip_kv_clear(&kv);
	return BIP_OK;
}

/* Write (or delete, when p is NULL) pool `name`, conditioned on the pool and the poolset. */
static int pool_commit(struct bip_ipam *ip, const char *name, const struct bip_pool *p, int64_t rev,
		       int64_t setrev)
{
	char key[KEY_LEN];
	struct bip_cmp cmps[2];
	struct bip_op ops[2];
	char *v = NULL;
	size_t len = 0;
	int rc;

	snprintf(key, sizeof(key), PFX_POOLS "%s", name);
	if (p) {
		v = bip__pool_encode(ip, p, &len);
		if (!v)
			return BIP_ENOMEM;
	}
	cmps[0] = (struct bip_cmp){key, rev};
	cmps[1] = (struct bip_cmp){KEY_POOLSET, setrev};
	ops[0] = p ? (struct bip_op){BIP_OP_PUT, key, v, len} : (struct bip_op){BIP_OP_DEL, key};
	ops[1] = (struct bip_op){BIP_OP_PUT, KEY_POOLSET, "{}", 2};
	rc = bip_store_txn(ip->store, cmps, 2, ops, 2, NULL);
	free(v);
	return rc;
}

static int pool_put_once(struct bip_ipam *ip, struct bip_pool *pool, bool create_only)
{
	struct bip_pool *pools = NULL;
	int64_t *revs = NULL, rev = 0, setrev;
	struct bip_prefix *blocks = NULL;
	size_t n = 0, nblocks = 0;
	char a[BIP_PREFIX_STRLEN], b[BIP_PREFIX_STRLEN];
	int rc;

	rc = poolset_cmp(ip, &setrev);
	if (rc == BIP_OK)
		rc = bip__load_pools(ip, &pools, &revs, &n);
	if (rc != BIP_OK)
		goto out;
	bip_prefix_fmt(pool->cidr, a);
	for (size_t i = 0; i < n; i++) {
		const struct bip_pool *o = &pools[i];

		if (strcmp(o->name, pool->name) == 0) {
			if (create_only) {
				rc = bip__seterr(ip, BIP_EEXIST, "pool '%s' already exists",
						 o->name);
				goto out;
			}
			if (!bip_prefix_eq(o->cidr, pool->cidr) ||
			    o->block_len != pool->block_len) {
				rc = bip__seterr(
				    ip, BIP_EINVAL,
				    "pool '%s': cidr and blockSize cannot change in place "
				    "(%s/%u -> %s/%u); create a new pool and migrate",
				    o->name, bip_prefix_fmt(o->cidr, b), o->block_len, a,
				    pool->block_len);
				goto out;
			}
			rev = revs[i];
			continue;
		}
		if (bip_prefix_overlaps(o->cidr, pool->cidr)) {
			rc = bip__seterr(ip, BIP_EOVERLAP, "pool '%s' (%s) overlaps pool '%s' (%s)",
					 pool->name, a, o->name, bip_prefix_fmt(o->cidr, b));
			goto out;
		}
	}
	if (rev == 0) {
		/* A new pool must not cut across blocks left from an earlier pool. */
		struct bip_kvs kvs = {0};

		rc = bip_store_list(ip->store, PFX_BLOCKS, BIP_LIST_KEYS_ONLY, &kvs);
		if (rc != BIP_OK)
			goto out;
		for (size_t i = 0; i < kvs.n && rc == BIP_OK; i++) {
			struct bip_prefix bp;

			if (bip__cidr_from_keypart(kvs.v[i].key + strlen(PFX_BLOCKS), &bp) !=
			    BIP_OK)
				continue;
			if (bip_prefix_overlaps(bp, pool->cidr) &&
			    (bp.len != pool->block_len || !bip_prefix_covers(pool->cidr, bp)))
				rc = bip__seterr(
				    ip, BIP_EOVERLAP,
				    "pool '%s' (%s, /%u blocks) conflicts with existing "
				    "block %s; release it first",
				    pool->name, a, pool->block_len, bip_prefix_fmt(bp, b));
		}
		bip_kvs_free(&kvs);
		if (rc != BIP_OK)
			goto out;
	}
	rc = pool_commit(ip, pool->name, pool, rev, setrev);
out:
	free(blocks);
	(void)nblocks;
	bip_pools_free(pools, n);
	free(revs);
	return rc;
}

int bip_ipam_pool_put(struct bip_ipam *ip, struct bip_pool *pool, bool create_only)
{
	char err[sizeof(ip->errmsg)];
	int rc;

	ip->errmsg[0] = '\0';
	if (!pool->block_len)
		pool->block_len = bip__default_block_len(pool->cidr.addr.family);
	if (!pool->allowed_uses)
		pool->allowed_uses = BIP_USE_WORKLOAD | BIP_USE_TUNNEL;
	rc = bip_pool_validate(pool, err, sizeof(err));
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "%s", err);
	for (int attempt = 0; attempt < 32; attempt++) {
		rc = pool_put_once(ip, pool, create_only);
		if (rc != BIP_ECONFLICT)
			return rc;
		ip->retries++;
		bip__backoff(ip, attempt);
	}
	return bip__seterr(ip, BIP_EAGAIN, "pool '%s': too many concurrent changes", pool->name);
}

int bip_ipam_pool_get(struct bip_ipam *ip, const char *name, struct bip_pool *out)
{
	char key[KEY_LEN];
	struct bip_kv kv = {0};
	int rc;

	ip->errmsg[0] = '\0';
	if (!bip__valid_name(name))
		return bip__seterr(ip, BIP_EINVAL, "invalid pool name '%s'", name ? name : "");
	snprintf(key, sizeof(key), PFX_POOLS "%s", name);
	rc = bip_store_get(ip->store, key, &kv);
	if (rc == BIP_ENOTFOUND)
		return bip__seterr(ip, rc, "pool '%s' does not exist", name);
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot read %s", key);
	rc = bip__pool_decode(ip, name, kv.value, kv.len, out);
	bip_kv_clear(&kv);
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "store record %s does not decode", key);
	return BIP_OK;
}

int bip_ipam_pool_list(struct bip_ipam *ip, struct bip_pool **out, size_t *n)
{
	int64_t *revs = NULL;
	int rc;

	ip->errmsg[0] = '\0';
	rc = bip__load_pools(ip, out, &revs, n);
	free(revs);
	return rc;
}

/* Release every affinity of the blocks inside cidr (all nodes), or of one node's blocks. */
static int release_affinities(struct bip_ipam *ip, const struct bip_prefix *within,
			      const char *only_node, size_t *released, size_t *deleted);

/* The addresses held in one pool's blocks, collected before any is released. */
struct held {
	struct bip_ipam *ip;
	struct bip_prefix cidr;
	struct bip_addr *addr;
	char **handle;
	size_t n;
};

static int collect_held(void *ctx, const struct bip_alloc_entry *e)
{
	struct held *h = ctx;
	struct bip_addr *a;
	char **hd;

	if (!bip_prefix_covers(h->cidr, e->block))
		return 0;
	a = bip__im_realloc(h->ip, h->addr, (h->n + 1) * sizeof(*a));
	if (!a)
		return BIP_ENOMEM;
	h->addr = a;
	hd = bip__im_realloc(h->ip, h->handle, (h->n + 1) * sizeof(*hd));
	if (!hd)
		return BIP_ENOMEM;
	h->handle = hd;
	if (!(hd[h->n] = bip__im_strdup(h->ip, e->handle)))
		return BIP_ENOMEM;
	a[h->n++] = e->addr;
	return 0;
}

/*
 * Release every address held in the blocks inside cidr, each from the handle that held it when
 * listed (one transaction per address: a handle that changed meanwhile is left alone). Called
 * once the pool is disabled and its affinities are gone, so nothing new starts in it, and an
 * unowned block goes with its last address.
 */
static int release_held(struct bip_ipam *ip, struct bip_prefix cidr, size_t *released)
{
	struct held h = {.ip = ip, .cidr = cidr};
	int rc;

	rc = bip_ipam_alloc_foreach(ip, collect_held, &h);
	for (size_t i = 0; rc == BIP_OK && i < h.n; i++) {
		int r = bip_ipam_release_addr(ip, h.addr[i], h.handle[i]);

		if (r == BIP_OK)
			(*released)++;
		else if (r != BIP_ENOTFOUND && r != BIP_EOWNER)
			rc = r;
	}
	for (size_t i = 0; i < h.n; i++)
		free(h.handle[i]);
	free(h.handle);
	free(h.addr);
	return rc;
}

int bip_ipam_pool_delete(struct bip_ipam *ip, const char *name)
{
	return bip_ipam_pool_delete_force(ip, name, false, NULL);
}

int bip_ipam_pool_delete_force(struct bip_ipam *ip, const char *name, bool release,
			       size_t *released)
{
	struct bip_pool p = {0};
	char key[KEY_LEN];
	size_t nrel = 0;
	int rc;

	rc = bip_ipam_pool_get(ip, name, &p);
	if (rc != BIP_OK)
		return rc;
	/* 1. Disable it, so no new allocation starts in it. */
	for (int attempt = 0; !p.disabled && attempt < 32; attempt++) {
		struct bip_kv kv = {0};
		int64_t setrev;

		snprintf(key, sizeof(key), PFX_POOLS "%s", name);
		rc = poolset_cmp(ip, &setrev);
		if (rc == BIP_OK)
			rc = bip_store_get(ip->store, key, &kv);
		if (rc != BIP_OK)
			goto out;
		p.disabled = true;
		rc = pool_commit(ip, name, &p, kv.rev, setrev);
		bip_kv_clear(&kv);
		if (rc == BIP_ECONFLICT) {
			p.disabled = false;
			bip__backoff(ip, attempt);
			continue;
		}
		if (rc != BIP_OK)
			goto out;
	}
	/* Not disabled (every attempt lost a race): releasing would race allocations still
	 * claiming blocks in it. */
	if (!p.disabled) {
		rc = bip__seterr(ip, BIP_EAGAIN, "pool '%s': too many concurrent changes", name);
		goto out;
	}
	/* 2. Release the affinities of its blocks: empty blocks go, others become unowned. */
	rc = release_affinities(ip, &p.cidr, NULL, NULL, NULL);
	if (rc != BIP_OK)
		goto out;
	/* 2b. Forced: release the addresses still held, so no block outlives its pool. */
	if (release) {
		rc = release_held(ip, p.cidr, &nrel);
		if (released)
			*released = nrel;
		if (rc != BIP_OK)
			goto out;
	}
	/* 3. Delete the record. */
	for (int attempt = 0; attempt < 32; attempt++) {
		struct bip_kv kv = {0};
		int64_t setrev;

		snprintf(key, sizeof(key), PFX_POOLS "%s", name);
		rc = poolset_cmp(ip, &setrev);
		if (rc == BIP_OK)
			rc = bip_store_get(ip->store, key, &kv);
		if (rc == BIP_ENOTFOUND) {
			rc = BIP_OK;
			break;
		}
		if (rc != BIP_OK)
			goto out;
		rc = pool_commit(ip, name, NULL, kv.rev, setrev);
		bip_kv_clear(&kv);
		if (rc != BIP_ECONFLICT)
			break;
		bip__backoff(ip, attempt);
	}
	if (rc == BIP_ECONFLICT)
		rc = bip__seterr(ip, BIP_EAGAIN, "pool '%s': too many concurrent changes", name);
out:
	bip_pool_clear(&p);
	return rc;
}

/* --- affinity release (pools, nodes) ------------------------------------------------------ */

/* Release one affinity: the block goes when empty, becomes unowned otherwise (each address
 * keeps its holding node). One transaction, conditioned on the block and affinity as read. */
static int release_one(struct bip_ipam *ip, const char *affkey, int64_t affrev, const char *node,
		       struct bip_prefix cidr, size_t *released, size_t *deleted)
{
	char key[KEY_LEN];
	struct bip_kv kv = {0};
	struct blk *b = NULL;
	struct bip_cmp cmps[2];
	struct bip_op ops[2];
	size_t nops = 0, len = 0;
	char *v = NULL;
	int rc;

	bip__key_block(key, cidr);
	rc = bip_store_get(ip->store, key, &kv);
	if (rc != BIP_OK && rc != BIP_ENOTFOUND)
		return bip__seterr(ip, rc, "cannot read %s", key);
	if (rc == BIP_OK) {
		rc = bip__blk_decode(ip, key, kv.value, kv.len, kv.rev, &b);
		if (rc != BIP_OK) {
			bip_kv_clear(&kv);
			return bip__seterr(ip, rc, "store record %s does not decode", key);
		}
	}
	cmps[0] = (struct bip_cmp){affkey, affrev};
	cmps[1] = (struct bip_cmp){key, b ? b->rev : 0};
	ops[nops++] = (struct bip_op){BIP_OP_DEL, affkey};
	if (b && b->node && strcmp(b->node, node) == 0) {
		if (b->used == 0) {
			ops[nops++] = (struct bip_op){BIP_OP_DEL, key};
			if (deleted)
				(*deleted)++;
		} else {
			for (uint32_t o = 0; o < b->size; o++)
				if (b->handle[o] && !b->holder[o]) {
					b->holder[o] = bip__im_strdup(ip, node);
					if (!b->holder[o]) {
						rc = BIP_ENOMEM;
						goto out;
					}
				}
			free(b->node);
			b->node = NULL;
			v = bip__blk_encode(ip, b, &len);
			if (!v) {
				rc = BIP_ENOMEM;
				goto out;
			}
			ops[nops++] = (struct bip_op){BIP_OP_PUT, key, v, len};
		}
	}
	rc = bip_store_txn(ip->store, cmps, 2, ops, nops, NULL);
	if (rc == BIP_OK && released)
		(*released)++;
out:
	free(v);
	bip__blk_free(b);
	bip_kv_clear(&kv);
	return rc;
}

static int release_affinities(struct bip_ipam *ip, const struct bip_prefix *within,
			      const char *only_node, size_t *released, size_t *deleted)
{
	char pfx[KEY_LEN];
	int rc = BIP_OK;

	if (only_node)
		snprintf(pfx, sizeof(pfx), PFX_AFFINITY "%s/", only_node);
	else
		snprintf(pfx, sizeof(pfx), PFX_AFFINITY);
	for (int round = 0; round < 64; round++) {
		struct bip_kvs kvs = {0};
		bool conflict = false;

		rc = bip_store_list(ip->store, pfx, BIP_LIST_KEYS_ONLY, &kvs);
		if (rc != BIP_OK)
			return bip__seterr(ip, rc, "cannot list affinities");
		for (size_t i = 0; i < kvs.n; i++) {
			const char *rest = kvs.v[i].key + strlen(PFX_AFFINITY);
			const char *slash = strchr(rest, '/');
			char node[BIP_NAME_MAX + 1];
			struct bip_prefix cidr;

			if (!slash || (size_t)(slash - rest) > BIP_NAME_MAX ||
			    bip__cidr_from_keypart(slash + 1, &cidr) != BIP_OK)
				continue;
			memcpy(node, rest, (size_t)(slash - rest));
			node[slash - rest] = '\0';
			if (within && !bip_prefix_covers(*within, cidr))
				continue;
			rc = release_one(ip, kvs.v[i].key, kvs.v[i].rev, node, cidr, released,
					 deleted);
			if (rc == BIP_ECONFLICT) {
				conflict = true;
				rc = BIP_OK;
			}
			if (rc != BIP_OK)
				break;
		}
		bip_kvs_free(&kvs);
		if (rc != BIP_OK || !conflict)
			return rc;
		bip__backoff(ip, round);
	}
	return bip__seterr(ip, BIP_EAGAIN,
			   "too many concurrent changes while releasing affinities");
}

int bip_ipam_node_release(struct bip_ipam *ip, const char *node, size_t *released_blocks,
			  size_t *deleted_blocks)
{
	size_t r = 0, d = 0;
	int rc;

	ip->errmsg[0] = '\0';
	if (!bip__valid_name(node))
		return bip__seterr(ip, BIP_EINVAL, "invalid node name '%s'", node ? node : "");
	rc = release_affinities(ip, NULL, node, &r, &d);
	if (released_blocks)
		*released_blocks = r;
	if (deleted_blocks)
		*deleted_blocks = d;
	return rc;
}

/* --- config ----------------------------------------------------------------------------- */

void bip_config_default(struct bip_config *c)
{
	c->strict_affinity = false;
	c->auto_allocate_blocks = true;
	c->max_blocks_per_host = 0;
	c->empty_block_release_s = BIP_EMPTY_BLOCK_RELEASE_DEFAULT;
	c->ip_cooldown_s = 0;
}

int bip_ipam_config_get(struct bip_ipam *ip, struct bip_config *out)
{
	struct bip_kv kv = {0};
	int rc;

	ip->errmsg[0] = '\0';
	rc = bip_store_get(ip->store, KEY_CONFIG, &kv);
	if (rc == BIP_ENOTFOUND) {
		bip_config_default(out);
		return BIP_OK;
	}
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot read the IPAM config");
	rc = bip__config_decode(ip, kv.value, kv.len, out);
	bip_kv_clear(&kv);
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "store record %s does not decode", KEY_CONFIG);
	return BIP_OK;
}

int bip_ipam_config_set(struct bip_ipam *ip, const struct bip_config *cfg)
{
	struct bip_op op = {BIP_OP_PUT, KEY_CONFIG, NULL, 0};
	char *v;
	int rc;

	ip->errmsg[0] = '\0';
	if (cfg->max_blocks_per_host > 1000000)
		return bip__seterr(ip, BIP_EINVAL, "maxBlocksPerHost %u out of range 0-1000000",
				   cfg->max_blocks_per_host);
	if (cfg->ip_cooldown_s > BIP_COOLDOWN_MAX)
		return bip__seterr(ip, BIP_EINVAL, "ipCooldownSeconds %u out of range 0-%d",
				   cfg->ip_cooldown_s, BIP_COOLDOWN_MAX);
	if (cfg->empty_block_release_s > 365u * 86400)
		return bip__seterr(ip, BIP_EINVAL, "emptyBlockReleaseSeconds %u out of range 0-%u",
				   cfg->empty_block_release_s, 365u * 86400);
	/* strictAffinity off with autoAllocateBlocks off is allowed (Calico refuses it): nodes
	 * then only borrow, which is what such a setting asks for. */
	v = bip__config_encode(ip, cfg, &op.len);
	if (!v)
		return BIP_ENOMEM;
	op.value = v;
	rc = bip_store_txn(ip->store, NULL, 0, &op, 1, NULL);
	free(v);
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot write the IPAM config");
	return BIP_OK;
}

/* --- generic named records ---------------------------------------------------------------- */

static int put_named(struct bip_ipam *ip, const char *pfx, const char *name, char *v, size_t len)
{
	char key[KEY_LEN];
	struct bip_op op;
	int rc;

	if (!v)
		return BIP_ENOMEM;
	snprintf(key, sizeof(key), "%s%s", pfx, name);
	op = (struct bip_op){BIP_OP_PUT, key, v, len};
	rc = bip_store_txn(ip->store, NULL, 0, &op, 1, NULL);
	free(v);
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot write %s", key);
	return BIP_OK;
}

static int get_named(struct bip_ipam *ip, const char *pfx, const char *what, const char *name,
		     struct bip_kv *kv)
{
	char key[KEY_LEN];
	int rc;

	if (!bip__valid_name(name))
		return bip__seterr(ip, BIP_EINVAL, "invalid %s name '%s'", what, name ? name : "");
	snprintf(key, sizeof(key), "%s%s", pfx, name);
	rc = bip_store_get(ip->store, key, kv);
	if (rc == BIP_ENOTFOUND)
		return bip__seterr(ip, rc, "%s '%s' does not exist", what, name);
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot read %s", key);
	return BIP_OK;
}

static int delete_named(struct bip_ipam *ip, const char *pfx, const char *what, const char *name)
{
	struct bip_kv kv = {0};
	struct bip_cmp cmp;
	struct bip_op op;
	char key[KEY_LEN];
	int rc = get_named(ip, pfx, what, name, &kv);

	if (rc != BIP_OK)
		return rc;
	snprintf(key, sizeof(key), "%s%s", pfx, name);
	cmp = (struct bip_cmp){key, kv.rev};
	op = (struct bip_op){BIP_OP_DEL, key};
	bip_kv_clear(&kv);
	rc = bip_store_txn(ip->store, &cmp, 1, &op, 1, NULL);
	if (rc == BIP_ECONFLICT)
		return bip__seterr(ip, BIP_EAGAIN, "%s '%s' changed while deleting it", what, name);
	return rc;
}

typedef int (*decode_fn)(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
			 void *out);

/* get_named, then decode into out. */
static int get_decoded(struct bip_ipam *ip, const char *pfx, const char *what, const char *name,
		       decode_fn dec, void *out)
{
	struct bip_kv kv = {0};
	int rc;

	ip->errmsg[0] = '\0';
	rc = get_named(ip, pfx, what, name, &kv);
	if (rc == BIP_OK) {
		rc = dec(ip, name, kv.value, kv.len, out);
		if (rc != BIP_OK)
			bip__seterr(ip, rc, "store record %s%s does not decode", pfx, name);
	}
	bip_kv_clear(&kv);
	return rc;
}

static int list_named(struct bip_ipam *ip, const char *pfx, size_t elem, decode_fn dec,
		      void (*clear)(void *), void **out, size_t *n)
{
	struct bip_kvs kvs = {0};
	char *v;
	size_t k = 0;
	int rc = bip_store_list(ip->store, pfx, 0, &kvs);

	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot list %s", pfx);
	v = bip__im_calloc(ip, kvs.n, elem);
	rc = BIP_ENOMEM;
	if (!v)
		goto out;
	for (; k < kvs.n; k++) {
		rc =
		    dec(ip, kvs.v[k].key + strlen(pfx), kvs.v[k].value, kvs.v[k].len, v + k * elem);
		if (rc != BIP_OK) {
			bip__seterr(ip, rc, "store record %s does not decode", kvs.v[k].key);
			goto out;
		}
	}
	*out = v;
	*n = kvs.n;
	v = NULL;
	k = 0;
	rc = BIP_OK;
out:
	for (size_t i = 0; i < k; i++)
		clear(v + i * elem);
	free(v);
	bip_kvs_free(&kvs);
	return rc;
}

/* --- reservations --------------------------------------------------------------------------- */

void bip_reservation_clear(struct bip_reservation *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->cidrs);
	memset(r, 0, sizeof(*r));
}

void bip_reservations_free(struct bip_reservation *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		bip_reservation_clear(&v[i]);
	free(v);
}

int bip_ipam_reservation_put(struct bip_ipam *ip, const struct bip_reservation *r)
{
	size_t len = 0;
	char *v;

	ip->errmsg[0] = '\0';
	if (!bip__valid_name(r->name))
		return bip__seterr(ip, BIP_EINVAL, "invalid reservation name '%s'",
				   r->name ? r->name : "");
	if (r->ncidrs > 4096)
		return bip__seterr(ip, BIP_EINVAL,
				   "reservation '%s': too many CIDRs (at most 4096)", r->name);
	for (size_t i = 0; i < r->ncidrs; i++) {
		struct bip_prefix c = r->cidrs[i];

		if ((c.addr.family != 4 && c.addr.family != 6) ||
		    (c.addr.v & ~bip_mask(c.addr.family, c.len)) != 0) {
			char buf[BIP_PREFIX_STRLEN];

			return bip__seterr(ip, BIP_EHOSTBITS,
					   "reservation '%s': host bits set in '%s'", r->name,
					   bip_prefix_fmt(c, buf));
		}
	}
	v = bip__reservation_encode(ip, r, &len);
	return put_named(ip, PFX_RESERVATIONS, r->name, v, len);
}

static int dec_res(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
		   void *out)
{
	return bip__reservation_decode(ip, name, v, len, out);
}

static void clr_res(void *p)
{
	bip_reservation_clear(p);
}

int bip_ipam_reservation_get(struct bip_ipam *ip, const char *name, struct bip_reservation *out)
{
	return get_decoded(ip, PFX_RESERVATIONS, "reservation", name, dec_res, out);
}

int bip_ipam_reservation_list(struct bip_ipam *ip, struct bip_reservation **out, size_t *n)
{
	ip->errmsg[0] = '\0';
	return list_named(ip, PFX_RESERVATIONS, sizeof(**out), dec_res, clr_res, (void **)out, n);
}

int bip_ipam_reservation_delete(struct bip_ipam *ip, const char *name)
{
	ip->errmsg[0] = '\0';
	return delete_named(ip, PFX_RESERVATIONS, "reservation", name);
}

/* --- nodes ------------------------------------------------------------------------------ */

void bip_node_clear(struct bip_node *n)
{
	if (!n)
		return;
	free(n->name);
	bip__label_set_clear(&n->labels);
	free(n->addrs);
	free(n->pod_cidrs);
	memset(n, 0, sizeof(*n));
}

void bip_nodes_free(struct bip_node *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		bip_node_clear(&v[i]);
	free(v);
}

static int check_labels(struct bip_ipam *ip, const char *what, const char *name,
			const struct bip_label_set *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		const char *k = ls->v[i].key;
		bool ok = k && *k && strlen(k) <= 253;

		for (const char *p = k; ok && *p; p++)
			ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_' ||
			     *p == '/';
		if (!ok)
			return bip__seterr(ip, BIP_EINVAL, "%s '%s': invalid label key '%s'", what,
					   name, k ? k : "");
		if (!bip__valid_attr(ls->v[i].value))
			return bip__seterr(ip, BIP_EINVAL, "%s '%s': invalid value of label '%s'",
					   what, name, k);
	}
	return BIP_OK;
}

int bip_ipam_node_put(struct bip_ipam *ip, const struct bip_node *node)
{
	struct bip_node old = {0};
	struct bip_kv kv = {0};
	struct bip_pool *pools = NULL;
	int64_t *revs = NULL, oldrev = 0;
	size_t npools = 0, len;
	char key[KEY_LEN], buf[BIP_PREFIX_STRLEN], buf2[BIP_PREFIX_STRLEN];
	struct drop {
		char *key;
		int64_t rev; /* -1: no compare (an affinity) */
	} *drop = NULL;
	size_t ndrop = 0, ncmp, nop;
	struct bip_cmp *cmps = NULL;
	struct bip_op *ops = NULL;
	char *v = NULL;
	int rc;

	ip->errmsg[0] = '\0';
	if (!bip__valid_name(node->name))
		return bip__seterr(ip, BIP_EINVAL, "invalid node name '%s'",
				   node->name ? node->name : "");
	rc = check_labels(ip, "node", node->name, &node->labels);
	if (rc != BIP_OK)
		return rc;
	if (node->naddrs > NODE_MAX_ADDRS)
		return bip__seterr(ip, BIP_EINVAL, "node '%s': too many addresses (at most %d)",
				   node->name, NODE_MAX_ADDRS);
	for (size_t i = 0; i < node->npod_cidrs; i++) {
		struct bip_prefix c = node->pod_cidrs[i];

		bip_prefix_fmt(c, buf);
		if ((c.addr.v & ~bip_mask(c.addr.family, c.len)) != 0)
			return bip__seterr(ip, BIP_EHOSTBITS,
					   "node '%s': host bits set in pod CIDR '%s'", node->name,
					   buf);
		if (bip_addr_bits(c.addr) - c.len < 2)
			return bip__seterr(
			    ip, BIP_EINVAL,
			    "node '%s': pod CIDR %s is too small (at least 4 addresses)",
			    node->name, buf);
		for (size_t j = 0; j < i; j++)
			if (node->pod_cidrs[j].addr.family == c.addr.family)
				return bip__seterr(ip, BIP_EINVAL,
						   "node '%s': more than one IPv%d pod CIDR",
						   node->name, c.addr.family);
	}
	rc = bip__load_pools(ip, &pools, &revs, &npools);
	if (rc != BIP_OK)
		goto out;
	for (size_t i = 0; i < node->npod_cidrs; i++)
		for (size_t j = 0; j < npools; j++)
			if (bip_prefix_overlaps(node->pod_cidrs[i], pools[j].cidr)) {
				rc =
				    bip__seterr(ip, BIP_EOVERLAP,
						"node '%s': pod CIDR %s overlaps pool '%s' (%s)",
						node->name, bip_prefix_fmt(node->pod_cidrs[i], buf),
						pools[j].name, bip_prefix_fmt(pools[j].cidr, buf2));
				goto out;
			}
	snprintf(key, sizeof(key), PFX_NODES "%s", node->name);
	rc = bip_store_get(ip->store, key, &kv);
	if (rc == BIP_OK) {
		rc = bip__node_decode(ip, node->name, kv.value, kv.len, &old);
		oldrev = kv.rev;
		if (rc != BIP_OK) {
			rc = bip__seterr(ip, rc, "store record %s does not decode", key);
			goto out;
		}
	} else if (rc != BIP_ENOTFOUND) {
		rc = bip__seterr(ip, rc, "cannot read %s", key);
		goto out;
	}
	/* A pod CIDR that goes away or changes must not hold addresses (in any of its
	 * sub-blocks); its empty blocks and their affinities go with it. */
	for (size_t i = 0; i < old.npod_cidrs; i++) {
		struct bip_prefix c = old.pod_cidrs[i];
		struct bip_kvs blocks = {0};
		uint64_t held = 0;
		bool kept = false;

		for (size_t j = 0; j < node->npod_cidrs; j++)
			kept |= bip_prefix_eq(node->pod_cidrs[j], c);
		if (kept)
			continue;
		rc = bip_store_list(ip->store, PFX_BLOCKS, BIP_LIST_KEYS_ONLY, &blocks);
		for (size_t k = 0; rc == BIP_OK && k < blocks.n; k++) {
			struct bip_prefix bp;
			struct bip_kv bkv = {0};
			struct blk *b = NULL;

			if (bip__cidr_from_keypart(blocks.v[k].key + strlen(PFX_BLOCKS), &bp) !=
				BIP_OK ||
			    !bip_prefix_covers(c, bp))
				continue;
			rc = bip_store_get(ip->store, blocks.v[k].key, &bkv);
			if (rc == BIP_OK)
				rc = bip__blk_decode(ip, blocks.v[k].key, bkv.value, bkv.len,
						     bkv.rev, &b);
			else if (rc == BIP_ENOTFOUND)
				rc = BIP_OK;
			if (b) {
				held += b->used;
				if (!b->used) {
					/* a pod CIDR may be kept in many sub-blocks: all go */
					struct drop *d =
					    bip__im_realloc(ip, drop, (ndrop + 2) * sizeof(*d));
					char akey[KEY_LEN];

					if (!d) {
						rc = BIP_ENOMEM;
					} else {
						drop = d;
						drop[ndrop].rev = b->rev;
						drop[ndrop++].key =
						    bip__im_strdup(ip, blocks.v[k].key);
						bip__key_affinity(akey, node->name, bp);
						drop[ndrop].rev = -1;
						drop[ndrop++].key = bip__im_strdup(ip, akey);
					}
				}
			}
			bip__blk_free(b);
			bip_kv_clear(&bkv);
		}
		bip_kvs_free(&blocks);
		if (rc == BIP_OK && held)
			rc = bip__seterr(
			    ip, BIP_EBUSY,
			    "node '%s': pod CIDR %s cannot change while %llu addresses from "
			    "it are held",
			    node->name, bip_prefix_fmt(c, buf), (unsigned long long)held);
		if (rc != BIP_OK)
			goto out;
	}
	v = bip__node_encode(ip, node, &len);
	rc = BIP_ENOMEM;
	cmps = bip__im_calloc(ip, 1 + ndrop, sizeof(*cmps));
	ops = bip__im_calloc(ip, 1 + ndrop, sizeof(*ops));
	if (!v || !cmps || !ops)
		goto out;
	cmps[0] = (struct bip_cmp){key, oldrev};
	ops[0] = (struct bip_op){BIP_OP_PUT, key, v, len};
	ncmp = nop = 1;
	for (size_t i = 0; i < ndrop; i++) {
		if (!drop[i].key)
			goto out;
		if (drop[i].rev >= 0)
			cmps[ncmp++] = (struct bip_cmp){drop[i].key, drop[i].rev};
		ops[nop++] = (struct bip_op){BIP_OP_DEL, drop[i].key};
	}
	rc = bip_store_txn(ip->store, cmps, ncmp, ops, nop, NULL);
	if (rc == BIP_ECONFLICT)
		rc = bip__seterr(ip, BIP_EAGAIN, "node '%s' changed while writing it", node->name);
out:
	for (size_t i = 0; i < ndrop; i++)
		free(drop[i].key);
	free(drop);
	free(cmps);
	free(ops);
	free(v);
	bip_kv_clear(&kv);
	bip_node_clear(&old);
	bip_pools_free(pools, npools);
	free(revs);
	return rc;
}

static int dec_node(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
		    void *out)
{
	return bip__node_decode(ip, name, v, len, out);
}

static void clr_node(void *p)
{
	bip_node_clear(p);
}

int bip_ipam_node_get(struct bip_ipam *ip, const char *name, struct bip_node *out)
{
	return get_decoded(ip, PFX_NODES, "node", name, dec_node, out);
}

int bip_ipam_node_list(struct bip_ipam *ip, struct bip_node **out, size_t *n)
{
	ip->errmsg[0] = '\0';
	return list_named(ip, PFX_NODES, sizeof(**out), dec_node, clr_node, (void **)out, n);
}

int bip_ipam_node_delete(struct bip_ipam *ip, const char *name)
{
	ip->errmsg[0] = '\0';
	return delete_named(ip, PFX_NODES, "node", name);
}

/* --- namespaces ----------------------------------------------------------------------------- */

void bip_namespace_clear(struct bip_namespace *ns)
{
	if (!ns)
		return;
	free(ns->name);
	bip__label_set_clear(&ns->labels);
	for (size_t i = 0; i < ns->npools; i++)
		free(ns->pools[i]);
	free(ns->pools);
	memset(ns, 0, sizeof(*ns));
}

void bip_namespaces_free(struct bip_namespace *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		bip_namespace_clear(&v[i]);
	free(v);
}

int bip_ipam_namespace_put(struct bip_ipam *ip, const struct bip_namespace *ns)
{
	size_t len = 0;
	char *v;
	int rc;

	ip->errmsg[0] = '\0';
	if (!bip__valid_name(ns->name))
		return bip__seterr(ip, BIP_EINVAL, "invalid namespace name '%s'",
				   ns->name ? ns->name : "");
	rc = check_labels(ip, "namespace", ns->name, &ns->labels);
	if (rc != BIP_OK)
		return rc;
	if (ns->npools > NS_MAX_POOLS)
		return bip__seterr(ip, BIP_EINVAL, "namespace '%s': too many pools (at most %d)",
				   ns->name, NS_MAX_POOLS);
	for (size_t i = 0; i < ns->npools; i++) {
		struct bip_prefix p;

		if (!bip__valid_name(ns->pools[i]) &&
		    bip_prefix_parse_net(ns->pools[i], &p) != BIP_OK)
			return bip__seterr(ip, BIP_EINVAL,
					   "namespace '%s': pool '%s' is neither a name nor a CIDR",
					   ns->name, ns->pools[i] ? ns->pools[i] : "");
	}
	v = bip__namespace_encode(ip, ns, &len);
	return put_named(ip, PFX_NAMESPACES, ns->name, v, len);
}

static int dec_ns(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
		  void *out)
{
	return bip__namespace_decode(ip, name, v, len, out);
}

static void clr_ns(void *p)
{
	bip_namespace_clear(p);
}

int bip_ipam_namespace_get(struct bip_ipam *ip, const char *name, struct bip_namespace *out)
{
	return get_decoded(ip, PFX_NAMESPACES, "namespace", name, dec_ns, out);
}

int bip_ipam_namespace_list(struct bip_ipam *ip, struct bip_namespace **out, size_t *n)
{
	ip->errmsg[0] = '\0';
	return list_named(ip, PFX_NAMESPACES, sizeof(**out), dec_ns, clr_ns, (void **)out, n);
}

int bip_ipam_namespace_delete(struct bip_ipam *ip, const char *name)
{
	ip->errmsg[0] = '\0';
	return delete_named(ip, PFX_NAMESPACES, "namespace", name);
}
