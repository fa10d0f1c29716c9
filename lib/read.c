/*
 * What an attempt starts from: the handle, config, pools, reservations, node, namespace and the
 * node's affinities, read in one store request at one revision (read_context), decoded; the
 * blocks it needs, read ahead together and decoded on first use (the block cache); and the
 * sorted list of every block, for claims and overlap checks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc_int.h"

static int cmp_prefix(const void *x, const void *y)
{
	return bip_prefix_cmp(*(const struct bip_prefix *)x, *(const struct bip_prefix *)y);
}

struct keylist {
	struct bip_ipam *ip;
	size_t skip; /* bytes of prefix to skip */
	struct bip_prefix *v;
	size_t n, cap;
	int bad;
};

static int collect_cidr(void *ctx, const struct bip_kv *kv)
{
	struct keylist *kl = ctx;
	const char *part = kv->key + kl->skip;
	const char *slash = strrchr(part, '/');
	struct bip_prefix p;

	if (slash)
		part = slash + 1;
	if (bip__cidr_from_keypart(part, &p) != BIP_OK) {
		kl->bad++; /* a key the check reports; allocation ignores it */
		return 0;
	}
	if (kl->n == kl->cap) {
		size_t cap = kl->cap ? kl->cap * 2 : 16;
		struct bip_prefix *v = bip__im_realloc(kl->ip, kl->v, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		kl->v = v;
		kl->cap = cap;
	}
	kl->v[kl->n++] = p;
	return 0;
}

/* Every block's CIDR, sorted, from the keys of blocks/ (the values are not needed). */
static int existing_from(struct attempt *a, const struct bip_kvs *kvs)
{
	struct keylist kl = {.ip = a->ip, .skip = strlen(PFX_BLOCKS)};

	for (size_t i = 0; i < kvs->n; i++) {
		int rc = collect_cidr(&kl, &kvs->v[i]);

		if (rc != BIP_OK) {
			free(kl.v);
			return rc;
		}
	}
	if (kl.n)
		qsort(kl.v, kl.n, sizeof(*kl.v), cmp_prefix);
	a->cache.existing = kl.v;
	a->cache.nexisting = kl.n;
	a->cache.have_existing = true;
	return BIP_OK;
}

int bip__need_existing(struct attempt *a)
{
	struct bip_kvs kvs = {0};
	int rc;

	if (a->cache.have_existing)
		return BIP_OK;
	rc = bip_store_list(a->ip->store, PFX_BLOCKS, BIP_LIST_KEYS_ONLY, &kvs);
	if (rc != BIP_OK && rc != BIP_ENOMEM)
		bip__store_fail(a->ip, rc, "cannot list %s", PFX_BLOCKS);
	if (rc == BIP_OK)
		rc = existing_from(a, &kvs);
	a->cache.have_existing = true;
	bip_kvs_free(&kvs);
	return rc;
}

/* Whether any existing block overlaps p. Blocks hold at most 2^16 addresses, so only blocks
 * starting in [first(p) - 2^16, last(p)] can overlap it. */
bool bip__overlaps_existing(const struct attempt *a, struct bip_prefix p)
{
	size_t lo = 0, hi = a->cache.nexisting;
	struct bip_addr first = bip_prefix_first(p), last = bip_prefix_last(p);

	/* lo = the first index whose start is after last(p) */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (bip_addr_cmp(bip_prefix_first(a->cache.existing[mid]), last) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i-- > 0;) {
		struct bip_prefix e = a->cache.existing[i];
		struct bip_addr ef = bip_prefix_first(e);

		if (ef.family != first.family)
			break;
		if (bip_addr_cmp(bip_prefix_last(e), first) >= 0)
			return true;
		if (ef.v < first.v && first.v - ef.v > ((bip_u128)1 << 16))
			break;
	}
	return false;
}

struct blk *bip__cached_blk(struct attempt *a, struct bip_prefix cidr)
{
	for (size_t i = 0; i < a->cache.nblks; i++)
		if (bip_prefix_eq(a->cache.blks[i]->cidr, cidr))
			return a->cache.blks[i];
	return NULL;
}

static int add_blk(struct attempt *a, struct blk *b)
{
	if (a->cache.nblks == a->cache.capblks) {
		size_t cap = a->cache.capblks ? a->cache.capblks * 2 : 8;
		struct blk **v = bip__im_realloc(a->ip, a->cache.blks, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		a->cache.blks = v;
		a->cache.capblks = cap;
	}
	a->cache.blks[a->cache.nblks++] = b;
	return BIP_OK;
}

static struct pre_blk *read_ahead(struct attempt *a, struct bip_prefix cidr)
{
	for (size_t i = 0; i < a->cache.npre; i++)
		if (bip_prefix_eq(a->cache.pre[i].cidr, cidr))
			return &a->cache.pre[i];
	return NULL;
}

/* The block at cidr: from the cache, else as read ahead, else the store; *out NULL when it does
 * not exist. */
int bip__get_blk(struct attempt *a, struct bip_prefix cidr, struct blk **out)
{
	char key[KEY_LEN];
	struct bip_kv kv = {0};
	struct pre_blk *p;
	struct blk *b;
	int rc;

	*out = bip__cached_blk(a, cidr);
	if (*out)
		return BIP_OK;
	bip__key_block(key, cidr);
	p = read_ahead(a, cidr);
	if (p && !p->found)
		return BIP_OK;
	if (p) {
		/* decoded once: from now on the cache has it */
		kv = p->kv;
		*p = a->cache.pre[--a->cache.npre];
	} else {
		rc = bip_store_get(a->ip->store, key, &kv);
		if (rc == BIP_ENOTFOUND)
			return BIP_OK;
		if (rc != BIP_OK)
			return bip__store_fail(a->ip, rc, "cannot read %s", key);
	}
	rc = bip__blk_decode(a->ip, key, kv.value, kv.len, kv.rev, &b);
	bip_kv_clear(&kv);
	if (rc == BIP_ECORRUPT)
		return bip__seterr(a->ip, rc, "store record %s does not decode", key);
	if (rc != BIP_OK)
		return rc;
	if (!bip_prefix_eq(b->cidr, cidr)) {
		bip__blk_free(b);
		return bip__seterr(a->ip, BIP_ECORRUPT, "store record %s holds another block", key);
	}
	rc = add_blk(a, b);
	if (rc != BIP_OK) {
		bip__blk_free(b);
		return rc;
	}
	*out = b;
	return BIP_OK;
}

/*
 * Read the blocks at cidrs ahead, in one store request (per BIP_READ_MAX) instead of one each,
 * for bip__get_blk to decode when it is asked for them: a block is decoded, and a bad one reported,
 * at the moment it was before. Blocks known already are skipped, and one block alone is left to
 * bip__get_blk: a get is one request too.
 */
int bip__prefetch_blks(struct attempt *a, const struct bip_prefix *cidrs, size_t n)
{
	struct bip_prefix *want = NULL;
	char(*keys)[KEY_LEN] = NULL;
	struct bip_read reads[BIP_READ_MAX];
	struct bip_kvs got[BIP_READ_MAX];
	struct pre_blk *pre;
	size_t k = 0;
	int rc = BIP_ENOMEM;

	if (n < 2)
		return BIP_OK;
	want = bip__im_calloc(a->ip, n, sizeof(*want));
	keys = bip__im_calloc(a->ip, n < BIP_READ_MAX ? n : BIP_READ_MAX, KEY_LEN);
	if (!want || !keys)
		goto out;
	for (size_t i = 0; i < n; i++) {
		bool dup = bip__cached_blk(a, cidrs[i]) || read_ahead(a, cidrs[i]);

		for (size_t j = 0; j < k && !dup; j++)
			dup = bip_prefix_eq(want[j], cidrs[i]);
		if (!dup)
			want[k++] = cidrs[i];
	}
	rc = BIP_OK;
	if (k < 2)
		goto out;
	rc = BIP_ENOMEM;
	pre = bip__im_realloc(a->ip, a->cache.pre, (a->cache.npre + k) * sizeof(*pre));
	if (!pre)
		goto out;
	a->cache.pre = pre;
	for (size_t off = 0; off < k; off += BIP_READ_MAX) {
		size_t m = k - off < BIP_READ_MAX ? k - off : BIP_READ_MAX;

		for (size_t j = 0; j < m; j++) {
			bip__key_block(keys[j], want[off + j]);
			reads[j] = (struct bip_read){keys[j], false, 0};
		}
		rc = bip_store_read(a->ip->store, reads, m, got, NULL);
		if (rc != BIP_OK) {
			bip__store_fail(a->ip, rc, "cannot read %s%s", keys[0],
					m > 1 ? " and the other blocks read with it" : "");
			goto out;
		}
		for (size_t j = 0; j < m; j++) {
			struct pre_blk *p = &a->cache.pre[a->cache.npre++];

			*p = (struct pre_blk){.cidr = want[off + j], .found = got[j].n > 0};
			if (p->found) /* the entry moves here; the array goes */
				p->kv = got[j].v[0];
			free(got[j].v);
		}
	}
	rc = BIP_OK;
out:
	free(want);
	free(keys);
	return rc;
}

/* An affinity of the requesting node to create in the commit (aff_rev 0) or to rewrite (the
 * revision it was read at). */
int bip__add_new_aff(struct attempt *a, struct bip_prefix cidr, int64_t aff_rev)
{
	struct bip_prefix *v =
	    bip__im_realloc(a->ip, a->pend.new_aff, (a->pend.nnew_aff + 1) * sizeof(*v));
	int64_t *r;

	if (!v)
		return BIP_ENOMEM;
	a->pend.new_aff = v;
	r = bip__im_realloc(a->ip, a->pend.new_aff_rev, (a->pend.nnew_aff + 1) * sizeof(*r));
	if (!r)
		return BIP_ENOMEM;
	a->pend.new_aff_rev = r;
	a->pend.new_aff_rev[a->pend.nnew_aff] = aff_rev;
	a->pend.new_aff[a->pend.nnew_aff++] = cidr;
	return BIP_OK;
}

/* Another node's affinity to delete in the commit; node (malloc'd) is the attempt's then, on
 * failure too. */
int bip__drop_aff(struct attempt *a, struct bip_prefix cidr, char *node)
{
	struct bip_prefix *v =
	    bip__im_realloc(a->ip, a->pend.drop_aff, (a->pend.ndrop + 1) * sizeof(*v));
	char **nv;

	if (v)
		a->pend.drop_aff = v;
	nv =
	    v ? bip__im_realloc(a->ip, a->pend.drop_node, (a->pend.ndrop + 1) * sizeof(*nv)) : NULL;
	if (!nv) {
		free(node);
		return BIP_ENOMEM;
	}
	a->pend.drop_node = nv;
	a->pend.drop_aff[a->pend.ndrop] = cidr;
	a->pend.drop_node[a->pend.ndrop++] = node;
	return BIP_OK;
}

/* A new block owned by the requesting node, with its affinity, committed with the rest.
 * aff_rev: the revision of an affinity that already exists (0: create it). */
int bip__new_blk(struct attempt *a, struct bip_prefix cidr, const char *node, int64_t aff_rev,
		 struct blk **out)
{
	struct blk *b = bip__blk_new(a->ip, cidr, node);
	int rc;

	if (!b)
		return BIP_ENOMEM;
	rc = add_blk(a, b);
	if (rc != BIP_OK) {
		bip__blk_free(b);
		return rc;
	}
	if (node) {
		rc = bip__add_new_aff(a, cidr, aff_rev);
		if (rc != BIP_OK)
			return rc;
	}
	/* Later overlap checks in this attempt must see it. */
	if (a->cache.have_existing) {
		struct bip_prefix *v = bip__im_realloc(a->ip, a->cache.existing,
						       (a->cache.nexisting + 1) * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		a->cache.existing = v;
		a->cache.existing[a->cache.nexisting++] = cidr;
		qsort(a->cache.existing, a->cache.nexisting, sizeof(*v), cmp_prefix);
	}
	*out = b;
	return BIP_OK;
}

/* A batch of reads being built: entry i fills slot[i] of the attempt's answers. */
struct batch {
	char keys[RD__N][KEY_LEN];
	struct bip_read reads[RD__N];
	int slot[RD__N];
	size_t n;
};

static void batch_add(struct batch *b, int slot, bool prefix, unsigned flags, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void batch_add(struct batch *b, int slot, bool prefix, unsigned flags, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->keys[b->n], KEY_LEN, fmt, ap);
	va_end(ap);
	b->reads[b->n] = (struct bip_read){b->keys[b->n], prefix, flags};
	b->slot[b->n++] = slot;
}

/*
 * Everything an allocation reads before it knows which blocks it needs, in ONE store request at
 * one revision: the handle, the config, the pools, the reservations, the node, the namespace,
 * and the node's affinities (block mode) or every block's key (host-local ranges, which need
 * them to lay out their sub-blocks). Decoded afterwards by bip__use_handle and bip__use_context, in
 * the order they were once read, so a bad record is reported as before.
 */
int bip__read_context(struct attempt *a)
{
	const struct bip_alloc_req *req = a->req;
	struct bip_kvs got[RD__N];
	struct batch b;
	int rc;

	b.n = 0;
	batch_add(&b, RD_HANDLE, false, 0, PFX_HANDLES "%s", req->handle);
	batch_add(&b, RD_CONFIG, false, 0, KEY_CONFIG);
	batch_add(&b, RD_POOLS, true, 0, PFX_POOLS);
	batch_add(&b, RD_RESERVATIONS, true, 0, PFX_RESERVATIONS);
	batch_add(&b, RD_NODE, false, 0, PFX_NODES "%s", req->node);
	if (req->namespace)
		batch_add(&b, RD_NAMESPACE, false, 0, PFX_NAMESPACES "%s", req->namespace);
	if (req->nranges)
		batch_add(&b, RD_BLOCKS, true, BIP_LIST_KEYS_ONLY, PFX_BLOCKS);
	else
		batch_add(&b, RD_AFFINITY, true, 0, PFX_AFFINITY "%s/", req->node);
	rc = bip_store_read(a->ip->store, b.reads, b.n, got, NULL);
	if (rc != BIP_OK)
		return bip__store_fail(
		    a->ip, rc,
		    "cannot read the records for '%s' (its handle, the config, pools, "
		    "reservations, node '%s'%s)",
		    req->handle, req->node, req->namespace ? ", namespace" : "");
	for (size_t i = 0; i < b.n; i++)
		a->rec.kvs[b.slot[i]] = got[i];
	return BIP_OK;
}

/* The handle record (kv NULL: there is none). */
int bip__use_handle(struct attempt *a, const struct bip_kv *kv)
{
	int rc;

	if (!kv)
		return BIP_OK;
	rc = bip__handle_decode(a->ip, a->req->handle, kv->value, kv->len, &a->rec.held);
	a->rec.handle_rev = kv->rev;
	if (rc == BIP_ECORRUPT)
		return bip__seterr(a->ip, rc, "store record %s does not decode", kv->key);
	if (rc != BIP_OK)
		return rc;
	a->rec.have_handle = true;
	return BIP_OK;
}

static int decode_node(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
		       void *out)
{
	return bip__node_decode(ip, name, v, len, out);
}

static int decode_namespace(struct bip_ipam *ip, const char *name, const unsigned char *v,
			    size_t len, void *out)
{
	return bip__namespace_decode(ip, name, v, len, out);
}

/* A record that may be absent (a single key read): decoded into out, and *have, when there. */
static int use_optional(struct bip_ipam *ip, const struct bip_kvs *kvs, const char *name,
			int (*decode)(struct bip_ipam *ip, const char *name, const unsigned char *v,
				      size_t len, void *out),
			void *out, bool *have)
{
	int rc;

	if (kvs->n == 0)
		return BIP_OK;
	rc = decode(ip, name, kvs->v[0].value, kvs->v[0].len, out);
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "store record %s does not decode", kvs->v[0].key);
	*have = true;
	return BIP_OK;
}

/* The rest of what bip__read_context read: config, pools, reservations, node, namespace, and the
 * node's affinities or every block's key. */
int bip__use_context(struct attempt *a)
{
	struct bip_ipam *ip = a->ip;
	const struct bip_alloc_req *req = a->req;
	const struct bip_kvs *cfg = &a->rec.kvs[RD_CONFIG];
	int rc;

	if (cfg->n == 0) {
		bip_config_default(&a->rec.cfg);
	} else {
		rc = bip__config_decode(ip, cfg->v[0].value, cfg->v[0].len, &a->rec.cfg);
		if (rc != BIP_OK)
			return bip__seterr(ip, rc, "store record %s does not decode", KEY_CONFIG);
	}
	rc = bip__pools_from(ip, &a->rec.kvs[RD_POOLS], &a->rec.pools, &a->rec.pool_revs,
			     &a->rec.npools);
	if (rc != BIP_OK)
		return rc;
	a->rec.have_pools = true;
	a->pend.pool_used = bip__im_calloc(ip, a->rec.npools, sizeof(bool));
	if (!a->pend.pool_used)
		return BIP_ENOMEM;
	rc = bip__reservations_from(ip, &a->rec.kvs[RD_RESERVATIONS], &a->rec.res, &a->rec.nres);
	if (rc == BIP_OK)
		rc = use_optional(ip, &a->rec.kvs[RD_NODE], req->node, decode_node, &a->rec.node,
				  &a->rec.have_node);
	if (rc == BIP_OK && req->namespace)
		rc = use_optional(ip, &a->rec.kvs[RD_NAMESPACE], req->namespace, decode_namespace,
				  &a->rec.ns, &a->rec.have_ns);
	if (rc != BIP_OK)
		return rc;
	if (req->nranges)
		return existing_from(a, &a->rec.kvs[RD_BLOCKS]);
	a->own.have_aff = true;
	for (size_t i = 0; i < a->rec.kvs[RD_AFFINITY].n && rc == BIP_OK; i++)
		rc = bip__collect_affinity(a, &a->rec.kvs[RD_AFFINITY].v[i]);
	return rc;
}

/* Labels with the well-known name label added, as Kubernetes does. */
int bip__labels_with_name(struct bip_ipam *ip, const struct bip_label_set *src,
			  const char *name_key, const char *name, struct bip_label_set *out)
{
	struct bip_label_set ls = {0};
	bool has = false;
	int rc;

	for (size_t i = 0; src && i < src->n; i++)
		has |= strcmp(src->v[i].key, name_key) == 0;
	ls.v = bip__im_calloc(ip, (src ? src->n : 0) + 1, sizeof(*ls.v));
	if (!ls.v)
		return BIP_ENOMEM;
	if (src && src->n) {
		struct bip_label_set tmp;

		rc = bip__label_set_dup(ip, &tmp, src);
		if (rc != BIP_OK) {
			free(ls.v);
			return rc;
		}
		memcpy(ls.v, tmp.v, tmp.n * sizeof(*ls.v));
		ls.n = tmp.n;
		free(tmp.v);
	}
	if (!has && name) {
		ls.v[ls.n].key = bip__im_strdup(ip, name_key);
		ls.v[ls.n].value = bip__im_strdup(ip, name);
		ls.n++;
		if (!ls.v[ls.n - 1].key || !ls.v[ls.n - 1].value) {
			bip__label_set_clear(&ls);
			return BIP_ENOMEM;
		}
	}
	*out = ls;
	return BIP_OK;
}

/* The handle record alone (release, handle_get). */
int bip__read_handle(struct attempt *a)
{
	char key[KEY_LEN];
	struct bip_kv kv = {0};
	int rc;

	bip__key_handle(key, a->req->handle);
	rc = bip_store_get(a->ip->store, key, &kv);
	if (rc == BIP_ENOTFOUND)
		return BIP_OK;
	if (rc != BIP_OK)
		return bip__store_fail(a->ip, rc, "cannot read %s", key);
	rc = bip__use_handle(a, &kv);
	bip_kv_clear(&kv);
	return rc;
}

/* The blocks of the addresses a handle record lists, read ahead together. */
int bip__prefetch_held(struct attempt *a)
{
	struct bip_prefix *cidrs;
	int rc;

	if (a->rec.held.naddrs < 2)
		return BIP_OK;
	cidrs = bip__im_calloc(a->ip, a->rec.held.naddrs, sizeof(*cidrs));
	if (!cidrs)
		return BIP_ENOMEM;
	for (size_t i = 0; i < a->rec.held.naddrs; i++) {
		cidrs[i] = a->rec.held.addrs[i];
		cidrs[i].addr.v &= bip_mask(cidrs[i].addr.family, cidrs[i].len);
	}
	rc = bip__prefetch_blks(a, cidrs, a->rec.held.naddrs);
	free(cidrs);
	return rc;
}

/*
 * The addresses a handle record lists must be given to the handle by their blocks: a repeated
 * request returns them, so a record that says otherwise (a corrupt store) would hand out an
 * address that is free or someone else's. Every change that takes an address from a handle
 * rewrites its record in the same txn, so a mismatch seen while the record is unchanged is
 * corruption (check --repair fixes the record); while it changed, a lost race.
 */
int bip__verify_held(struct attempt *a)
{
	const char *id = a->req->handle;
	char key[KEY_LEN], as[BIP_ADDR_STRLEN];
	struct bip_kv kv = {0};
	int rc = bip__prefetch_held(a);

	if (rc != BIP_OK)
		return rc;
	for (size_t i = 0; i < a->rec.held.naddrs; i++) {
		struct bip_prefix cidr = a->rec.held.addrs[i];
		struct blk *b;
		uint32_t o;

		cidr.addr.v &= bip_mask(cidr.addr.family, cidr.len);
		rc = bip__get_blk(a, cidr, &b);
		if (rc != BIP_OK)
			return rc;
		o = b ? (uint32_t)bip_prefix_ordinal(b->cidr, a->rec.held.addrs[i].addr) : 0;
		if (b && b->handle[o] && strcmp(b->handle[o], id) == 0)
			continue;
		bip__key_handle(key, id);
		rc = bip_store_get(a->ip->store, key, &kv);
		if (rc == BIP_ENOTFOUND || (rc == BIP_OK && kv.rev != a->rec.handle_rev))
			rc = BIP_ECONFLICT;
		else if (rc == BIP_OK)
			rc = bip__seterr(a->ip, BIP_ECORRUPT,
					 "handle '%s' lists %s, which its block does not give it "
					 "(check --repair fixes the record)",
					 id, bip_addr_fmt(a->rec.held.addrs[i].addr, as));
		else
			bip__store_fail(a->ip, rc, "cannot read %s", key);
		bip_kv_clear(&kv);
		return rc;
	}
	return BIP_OK;
}
