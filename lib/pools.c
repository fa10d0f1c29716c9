/*
 * Pools: reading them (sorted by their selection order, with the reservations beside them),
 * validating, writing and deleting them. Every write validates the whole pool first and is one
 * conditional transaction that also updates the "poolset" key under a compare, so two pools
 * written at once are serialised and can never overlap each other. Deleting a pool by force
 * releases its addresses and the affinities of its blocks (lib/affinities.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "txn.h"

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
		return bip__store_fail(ip, rc, "cannot list pools");
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
		return bip__store_fail(ip, rc, "cannot list reservations");
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
		return bip__store_fail(ip, rc, "cannot read %s", KEY_POOLSET);
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
	if (rc != BIP_OK && rc != BIP_ECONFLICT && rc != BIP_ENOMEM)
		bip__store_fail(ip, rc, "cannot write %s", key);
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
		if (rc != BIP_OK) {
			bip__store_fail(ip, rc, "cannot list %s", PFX_BLOCKS);
			goto out;
		}
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

struct pool_put {
	struct bip_pool *pool;
	bool create_only;
};

static int pool_put_attempt(struct bip_ipam *ip, void *ctx)
{
	struct pool_put *pp = ctx;

	return pool_put_once(ip, pp->pool, pp->create_only);
}

void bip_pool_defaults(struct bip_pool *p)
{
	if (!p->block_len)
		p->block_len = bip__default_block_len(p->cidr.addr.family);
	if (!p->allowed_uses)
		p->allowed_uses = BIP_USE_WORKLOAD | BIP_USE_TUNNEL;
}

int bip_ipam_pool_put(struct bip_ipam *ip, struct bip_pool *pool, bool create_only)
{
	char err[sizeof(ip->errmsg)], what[BIP_NAME_MAX + 8];
	int rc;

	ip->errmsg[0] = '\0';
	bip_pool_defaults(pool);
	rc = bip_pool_validate(pool, err, sizeof(err));
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "%s", err);
	snprintf(what, sizeof(what), "pool '%s'", pool->name);
	return bip__retry(ip, pool_put_attempt, &(struct pool_put){pool, create_only}, what);
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
		return bip__store_fail(ip, rc, "cannot read %s", key);
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

/* The revisions a write of pool p's record is conditioned on: the record's and the pool set's. */
static int pool_revs(struct bip_ipam *ip, const struct bip_pool *p, int64_t *rev, int64_t *setrev)
{
	struct bip_kv kv = {0};
	char key[KEY_LEN];
	int rc;

	snprintf(key, sizeof(key), PFX_POOLS "%s", p->name);
	rc = poolset_cmp(ip, setrev);
	if (rc == BIP_OK) {
		rc = bip_store_get(ip->store, key, &kv);
		if (rc != BIP_OK && rc != BIP_ENOTFOUND && rc != BIP_ENOMEM)
			bip__store_fail(ip, rc, "cannot read %s", key);
	}
	*rev = kv.rev;
	bip_kv_clear(&kv);
	return rc;
}

/* Disable pool p, conditioned on its record and the pool set as read. */
static int pool_disable_once(struct bip_ipam *ip, void *ctx)
{
	struct bip_pool *p = ctx;
	int64_t rev, setrev;
	int rc = pool_revs(ip, p, &rev, &setrev);

	if (rc != BIP_OK)
		return rc;
	p->disabled = true;
	rc = pool_commit(ip, p->name, p, rev, setrev);
	if (rc != BIP_OK)
		p->disabled = false;
	return rc;
}

/* Delete pool p's record (gone already: done), conditioned as pool_disable_once. */
static int pool_delete_once(struct bip_ipam *ip, void *ctx)
{
	struct bip_pool *p = ctx;
	int64_t rev, setrev;
	int rc = pool_revs(ip, p, &rev, &setrev);

	if (rc == BIP_ENOTFOUND)
		return BIP_OK;
	return rc == BIP_OK ? pool_commit(ip, p->name, NULL, rev, setrev) : rc;
}

int bip_ipam_pool_delete_force(struct bip_ipam *ip, const char *name, bool release,
			       size_t *released)
{
	struct bip_pool p = {0};
	char what[BIP_NAME_MAX + 8];
	size_t nrel = 0;
	int rc;

	rc = bip_ipam_pool_get(ip, name, &p);
	if (rc != BIP_OK)
		return rc;
	/* 1. Disable it, so no new allocation starts in it. Not disabled (every attempt lost a
	 * race): releasing would race allocations still claiming blocks in it. */
	snprintf(what, sizeof(what), "pool '%s'", name);
	if (!p.disabled) {
		rc = bip__retry(ip, pool_disable_once, &p, what);
		if (rc != BIP_OK)
			goto out;
	}
	/* 2. Release the affinities of its blocks: empty blocks go, others become unowned. */
	rc = bip__release_affinities(ip, &p.cidr, NULL, NULL, NULL);
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
	rc = bip__retry(ip, pool_delete_once, &p, what);
out:
	bip_pool_clear(&p);
	return rc;
}
