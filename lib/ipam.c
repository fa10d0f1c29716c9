/*
 * The allocator. One request = one attempt after another until one commits:
 *
 *   read the handle (a repeated request returns what it holds), the config, the pools, the
 *   reservations, the node, the namespace and the node's affinities, all in ONE store request
 *   at one revision (bip_store_read: on etcd one round trip instead of seven), then the blocks
 *   it needs (together, where there are several); for each family pick the candidate pools
 *   (specific addresses > explicit pools > namespace pools > configured pools > automatic pools
 *   matching the node and namespace selectors); take free addresses from the node's own blocks,
 *   then from a newly claimed block (walk the pool from a start derived from the node name; the
 *   first block that does not exist wins), then, unless strictAffinity, borrow from other
 *   nodes' blocks; finally commit the handle record, every changed block, every new affinity
 *   and the pools used, in ONE store transaction conditioned on each of them being as read.
 *
 * A lost race (BIP_ECONFLICT) throws the attempt away and starts over after a jittered backoff;
 * past the retry budget the caller gets BIP_EAGAIN. Because the commit is conditioned on the
 * exact revisions read, no address can be handed out twice, and because it is one transaction,
 * no crash can leave a block change without its handle record or the other way round.
 *
 * Claiming a block is part of the same transaction: the block is created if absent and its
 * affinity created if absent, both or neither. That is the two-phase pending -> confirmed claim
 * of Calico collapsed into one atomic step, which needs no repair path: two nodes racing for one
 * block can never both own it, and a crash cannot leave a pending affinity behind.
 *
 * Within a block, never-used addresses go first (lowest first), then released ones, oldest
 * release first, so an address whose old connections may linger is reused last.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "txn.h"

#define MAX_PER_REQUEST HANDLE_MAX_ADDRS

/* The records an attempt starts from, read together (read_context). */
enum {
	RD_HANDLE,
	RD_CONFIG,
	RD_POOLS,
	RD_RESERVATIONS,
	RD_NODE,
	RD_NAMESPACE,
	RD_AFFINITY,
	RD_BLOCKS,
	RD__N
};

/* A block read ahead (prefetch_blks), decoded when get_blk asks for it. */
struct pre_blk {
	struct bip_prefix cidr;
	struct bip_kv kv;
	bool found;
};

/* The records an attempt starts from, decoded (read.c). */
struct att_records {
	struct bip_kvs kvs[RD__N]; /* read_context's answers, by RD_ slot */
	struct bip_config cfg;
	struct bip_pool *pools;
	int64_t *pool_revs;
	size_t npools;
	bool have_pools; /* a release reads the pools only when it needs them */
	struct bip_prefix *res;
	size_t nres;
	struct bip_node node;
	bool have_node;
	struct bip_namespace ns;
	bool have_ns;
	struct bip_label_set node_labels, ns_labels; /* with their name labels (select.c) */
	struct bip_handle_info held;
	int64_t handle_rev;
	bool have_handle;
};

/* The blocks the attempt has read or made (cache.c). */
struct att_cache {
	struct blk **blks;
	size_t nblks, capblks;
	struct pre_blk *pre; /* read ahead, not decoded yet */
	size_t npre;
	struct bip_prefix *existing; /* every block in the store, sorted */
	size_t nexisting;
	bool have_existing;
};

/* This node's affinities, as read. */
struct att_affinities {
	struct bip_prefix *aff;
	int64_t *aff_rev;
	long *aff_free;	    /* free addresses of each, -1 unknown */
	int64_t *aff_empty; /* when each became empty, 0 unknown or not empty */
	size_t naff, capaff;
	bool have_aff;
};

/* What the commit writes besides the changed blocks (commit.c). */
struct att_pending {
	struct bip_assigned *out; /* the addresses taken */
	size_t nout;
	struct bip_prefix *new_aff;
	int64_t *new_aff_rev; /* 0: must not exist yet */
	size_t nnew_aff;
	/* Other nodes' empty blocks taken over in this attempt: their affinities go. */
	struct bip_prefix *drop_aff;
	char **drop_node;
	size_t ndrop;
	bool *pool_used; /* by pool index: compared in the commit */
};

struct attempt {
	struct bip_ipam *ip;
	const struct bip_alloc_req *req;
	int64_t now; /* wall clock at the start of the attempt (cooldown, empty blocks) */
	struct att_records rec;
	struct att_cache cache;
	struct att_affinities own;
	struct att_pending pend;
	const struct bip_range *ranges; /* host-local mode */
	size_t nranges;
	struct bip_range *own_ranges;
	struct bip_alloc_result *result;
};

static void attempt_clear(struct attempt *a)
{
	for (size_t i = 0; i < RD__N; i++)
		bip_kvs_free(&a->rec.kvs[i]);
	for (size_t i = 0; i < a->cache.npre; i++)
		bip_kv_clear(&a->cache.pre[i].kv);
	free(a->cache.pre);
	bip_pools_free(a->rec.pools, a->rec.npools);
	free(a->rec.pool_revs);
	free(a->pend.pool_used);
	free(a->rec.res);
	bip__label_set_clear(&a->rec.node_labels);
	bip__label_set_clear(&a->rec.ns_labels);
	bip_node_clear(&a->rec.node);
	bip_namespace_clear(&a->rec.ns);
	bip_handle_info_clear(&a->rec.held);
	for (size_t i = 0; i < a->cache.nblks; i++)
		bip__blk_free(a->cache.blks[i]);
	free(a->cache.blks);
	free(a->pend.new_aff);
	free(a->pend.new_aff_rev);
	free(a->cache.existing);
	free(a->own.aff);
	free(a->own.aff_rev);
	free(a->own.aff_free);
	free(a->own.aff_empty);
	free(a->pend.drop_aff);
	for (size_t i = 0; i < a->pend.ndrop; i++)
		free(a->pend.drop_node[i]);
	free(a->pend.drop_node);
	free(a->pend.out);
	free(a->own_ranges);
	memset(a, 0, sizeof(*a));
}

/*
 * Hold the store's writer lock across one attempt, where the store has one (see store.h). The
 * store bounds the wait by its timeout: past it (a frozen holder) the call answers BIP_EAGAIN.
 */
static int store_lock(struct bip_ipam *ip, bool on)
{
	int rc;

	if (!ip->store->ops->lock)
		return BIP_OK;
	rc = ip->store->ops->lock(ip->store, on);
	if (rc != BIP_OK && on)
		return bip__seterr(ip, rc, "cannot take this node's store lock");
	return BIP_OK;
}

/* --- reading ---------------------------------------------------------------------------- */

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

static int need_existing(struct attempt *a)
{
	struct bip_kvs kvs = {0};
	int rc;

	if (a->cache.have_existing)
		return BIP_OK;
	rc = bip_store_list(a->ip->store, PFX_BLOCKS, BIP_LIST_KEYS_ONLY, &kvs);
	if (rc == BIP_OK)
		rc = existing_from(a, &kvs);
	a->cache.have_existing = true;
	bip_kvs_free(&kvs);
	return rc;
}

/* Whether any existing block overlaps p. Blocks hold at most 2^16 addresses, so only blocks
 * starting in [first(p) - 2^16, last(p)] can overlap it. */
static bool overlaps_existing(const struct attempt *a, struct bip_prefix p)
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

static struct blk *cached_blk(struct attempt *a, struct bip_prefix cidr)
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
static int get_blk(struct attempt *a, struct bip_prefix cidr, struct blk **out)
{
	char key[KEY_LEN];
	struct bip_kv kv = {0};
	struct pre_blk *p;
	struct blk *b;
	int rc;

	*out = cached_blk(a, cidr);
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
			return bip__seterr(a->ip, rc, "cannot read %s", key);
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
 * for get_blk to decode when it is asked for them: a block is decoded, and a bad one reported,
 * at the moment it was before. Blocks known already are skipped, and one block alone is left to
 * get_blk: a get is one request too.
 */
static int prefetch_blks(struct attempt *a, const struct bip_prefix *cidrs, size_t n)
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
		bool dup = cached_blk(a, cidrs[i]) || read_ahead(a, cidrs[i]);

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
			bip__seterr(a->ip, rc, "cannot read %s%s", keys[0],
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
static int add_new_aff(struct attempt *a, struct bip_prefix cidr, int64_t aff_rev)
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
static int drop_aff(struct attempt *a, struct bip_prefix cidr, char *node)
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
static int new_blk(struct attempt *a, struct bip_prefix cidr, const char *node, int64_t aff_rev,
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
		rc = add_new_aff(a, cidr, aff_rev);
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
 * them to lay out their sub-blocks). Decoded afterwards by use_handle and use_context, in the
 * order they were once read, so a bad record is reported as before.
 */
static int read_context(struct attempt *a)
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
		return bip__seterr(
		    a->ip, rc,
		    "cannot read the records for '%s' (its handle, the config, pools, "
		    "reservations, node '%s'%s)",
		    req->handle, req->node, req->namespace ? ", namespace" : "");
	for (size_t i = 0; i < b.n; i++)
		a->rec.kvs[b.slot[i]] = got[i];
	return BIP_OK;
}

/* The handle record (kv NULL: there is none). */
static int use_handle(struct attempt *a, const struct bip_kv *kv)
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

static int collect_affinity(void *ctx, const struct bip_kv *kv);

/* The rest of what read_context read: config, pools, reservations, node, namespace, and the
 * node's affinities or every block's key. */
static int use_context(struct attempt *a)
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
		rc = collect_affinity(a, &a->rec.kvs[RD_AFFINITY].v[i]);
	return rc;
}

/* Labels with the well-known name label added, as Kubernetes does. */
static int labels_with_name(struct bip_ipam *ip, const struct bip_label_set *src,
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
static int read_handle(struct attempt *a)
{
	char key[KEY_LEN];
	struct bip_kv kv = {0};
	int rc;

	bip__key_handle(key, a->req->handle);
	rc = bip_store_get(a->ip->store, key, &kv);
	if (rc == BIP_ENOTFOUND)
		return BIP_OK;
	if (rc != BIP_OK)
		return bip__seterr(a->ip, rc, "cannot read %s", key);
	rc = use_handle(a, &kv);
	bip_kv_clear(&kv);
	return rc;
}

/* The blocks of the addresses a handle record lists, read ahead together. */
static int prefetch_held(struct attempt *a)
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
	rc = prefetch_blks(a, cidrs, a->rec.held.naddrs);
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
static int verify_held(struct attempt *a)
{
	const char *id = a->req->handle;
	char key[KEY_LEN], as[BIP_ADDR_STRLEN];
	struct bip_kv kv = {0};
	int rc = prefetch_held(a);

	if (rc != BIP_OK)
		return rc;
	for (size_t i = 0; i < a->rec.held.naddrs; i++) {
		struct bip_prefix cidr = a->rec.held.addrs[i];
		struct blk *b;
		uint32_t o;

		cidr.addr.v &= bip_mask(cidr.addr.family, cidr.len);
		rc = get_blk(a, cidr, &b);
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
			bip__seterr(a->ip, rc, "cannot read %s", key);
		bip_kv_clear(&kv);
		return rc;
	}
	return BIP_OK;
}

/* --- pool selection --------------------------------------------------------------------- */

static int pool_ref(const struct attempt *a, const char *ref)
{
	struct bip_prefix p;
	bool is_cidr = bip_prefix_parse_net(ref, &p) == BIP_OK;

	for (size_t i = 0; i < a->rec.npools; i++) {
		if (strcmp(a->rec.pools[i].name, ref) == 0)
			return (int)i;
		if (is_cidr && bip_prefix_eq(a->rec.pools[i].cidr, p))
			return (int)i;
	}
	return -1;
}

static const char *use_name(enum bip_use u)
{
	return u == BIP_USE_TUNNEL	   ? "Tunnel"
	       : u == BIP_USE_LOADBALANCER ? "LoadBalancer"
					   : "Workload";
}

/* "Workload, Tunnel": the uses a pool allows, as manifests spell them. */
static const char *uses_fmt(unsigned uses, char *buf, size_t len)
{
	static const enum bip_use all[] = {BIP_USE_WORKLOAD, BIP_USE_TUNNEL, BIP_USE_LOADBALANCER};
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if ((uses & all[i]) && at < len)
			at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? ", " : "",
					       use_name(all[i]));
	if (!buf[0])
		snprintf(buf, len, "none");
	return buf;
}

/* Pools named at one level: those of family fam, in the order given. */
static int named_pools(struct attempt *a, int fam, const char *const *refs, size_t nrefs,
		       const char *level, size_t *idx, size_t *n)
{
	enum bip_use use = a->req->use ? a->req->use : BIP_USE_WORKLOAD;

	*n = 0;
	for (size_t r = 0; r < nrefs; r++) {
		int i = pool_ref(a, refs[r]);
		const struct bip_pool *p;

		if (i < 0)
			return bip__seterr(a->ip, BIP_ENOPOOL, "pool '%s' (from %s) does not exist",
					   refs[r], level);
		p = &a->rec.pools[i];
		if (p->cidr.addr.family != fam)
			continue;
		if (p->disabled)
			return bip__seterr(a->ip, BIP_EDISABLED, "pool '%s' (from %s) is disabled",
					   p->name, level);
		if (!(p->allowed_uses & use)) {
			char uses[64];

			return bip__seterr(
			    a->ip, BIP_ENOPOOL,
			    "pool '%s' (from %s) does not allow use %s (allowedUses: %s)", p->name,
			    level, use_name(use), uses_fmt(p->allowed_uses, uses, sizeof(uses)));
		}
		idx[(*n)++] = (size_t)i;
	}
	return BIP_OK;
}

static bool selector_matches(const char *text, const struct bip_label_set *ls)
{
	struct bip_selector *sel;
	bool m;

	if (!text || !*text)
		return true;
	if (bip_selector_parse(text, &sel, NULL, 0) != BIP_OK)
		return false; /* validated on write: a bad one in the store selects nothing */
	m = bip_selector_match(sel, ls->v, ls->n);
	bip_selector_free(sel);
	return m;
}

/* The automatic level's test of one pool, given the labels with their implicit name labels
 * (ns_labels NULL: the namespace is not judged). */
static bool auto_selected(const struct bip_pool *p, enum bip_use use,
			  const struct bip_label_set *node_labels,
			  const struct bip_label_set *ns_labels)
{
	if (p->disabled || p->mode != BIP_ASSIGN_AUTOMATIC || !(p->allowed_uses & use))
		return false;
	return selector_matches(p->node_selector, node_labels) &&
	       (!ns_labels || selector_matches(p->ns_selector, ns_labels));
}

int bip_ipam_pool_selects(struct bip_ipam *ip, const struct bip_pool *p, enum bip_use use,
			  const char *node, const struct bip_label_set *node_labels, const char *ns,
			  const struct bip_label_set *ns_labels, bool *out)
{
	struct bip_label_set nl = {0}, nsl = {0};
	int rc;

	ip->errmsg[0] = '\0';
	rc = labels_with_name(ip, node_labels, "kubernetes.io/hostname", node, &nl);
	if (rc == BIP_OK && ns)
		rc = labels_with_name(ip, ns_labels, "kubernetes.io/metadata.name", ns, &nsl);
	if (rc == BIP_OK) {
		struct bip_pool q = *p;

		/* as stored: 0 allowed uses is the default (Workload and Tunnel) */
		if (!q.allowed_uses)
			q.allowed_uses = BIP_USE_WORKLOAD | BIP_USE_TUNNEL;
		*out = q.cidr.addr.family &&
		       auto_selected(&q, use ? use : BIP_USE_WORKLOAD, &nl, ns ? &nsl : NULL);
	}
	bip__label_set_clear(&nl);
	bip__label_set_clear(&nsl);
	return rc;
}

/* Candidate pools for one family, most specific level first; idx has room for npools. */
static int candidate_pools(struct attempt *a, int fam, size_t *idx, size_t *n)
{
	const struct bip_alloc_req *req = a->req;
	enum bip_use use = req->use ? req->use : BIP_USE_WORKLOAD;
	int rc;

	rc = named_pools(a, fam, req->pools, req->npools, "the pod's pool annotation", idx, n);
	if (rc != BIP_OK || *n)
		return rc;
	if (a->rec.have_ns) {
		rc = named_pools(a, fam, (const char *const *)a->rec.ns.pools, a->rec.ns.npools,
				 "the namespace's pools", idx, n);
		if (rc != BIP_OK || *n)
			return rc;
	}
	rc = named_pools(a, fam, req->cfg_pools, req->ncfg_pools, "the network config", idx, n);
	if (rc != BIP_OK || *n)
		return rc;
	if (!a->rec.node_labels.v) {
		rc = labels_with_name(a->ip, a->rec.have_node ? &a->rec.node.labels : NULL,
				      "kubernetes.io/hostname", req->node, &a->rec.node_labels);
		if (rc != BIP_OK)
			return rc;
		rc = labels_with_name(a->ip, a->rec.have_ns ? &a->rec.ns.labels : NULL,
				      "kubernetes.io/metadata.name", req->namespace,
				      &a->rec.ns_labels);
		if (rc != BIP_OK)
			return rc;
	}
	for (size_t i = 0; i < a->rec.npools; i++) {
		const struct bip_pool *p = &a->rec.pools[i];

		if (p->cidr.addr.family == fam &&
		    auto_selected(p, use, &a->rec.node_labels, &a->rec.ns_labels))
			idx[(*n)++] = i;
	}
	if (*n == 0) {
		size_t nfam = 0, off = 0, manual = 0, uses = 0;

		for (size_t i = 0; i < a->rec.npools; i++) {
			const struct bip_pool *p = &a->rec.pools[i];

			if (p->cidr.addr.family != fam)
				continue;
			nfam++;
			if (p->disabled)
				off++;
			else if (p->mode != BIP_ASSIGN_AUTOMATIC)
				manual++;
			else if (!(p->allowed_uses & use))
				uses++;
		}
		if (!nfam)
			return bip__seterr(a->ip, BIP_ENOPOOL, "no IPv%d pool exists: %s", fam,
					   fam == 4 ? BIP_NO_POOL_HINT4 : BIP_NO_POOL_HINT6);
		return bip__seterr(
		    a->ip, BIP_ENOPOOL,
		    "no IPv%d pool selects node '%s'%s%s: of %zu IPv%d pool%s, %zu %s "
		    "disabled, %zu Manual (used only when named), %zu without use %s, "
		    "%zu with a nodeSelector or namespaceSelector that does not match",
		    fam, req->node, req->namespace ? " in namespace " : "",
		    req->namespace ? req->namespace : "", nfam, fam, nfam == 1 ? "" : "s", off,
		    off == 1 ? "is" : "are", manual, uses, use_name(use),
		    nfam - off - manual - uses);
	}
	return BIP_OK;
}

/* --- taking addresses ------------------------------------------------------------------- */

/*
 * The main plugin's subnet around block blk under the request's rule for its family, and the
 * addresses it keeps out: keep[0] the network address, keep[1] the gateway, keep[2] the IPv4
 * broadcast address (family 0 = none). False (nothing kept out) when the family is routed.
 */
static bool subnet_of(const struct attempt *a, struct bip_prefix blk, struct bip_prefix *sub,
		      struct bip_addr keep[3])
{
	const struct bip_subnet_rule *r = &a->req->subnet[blk.addr.family == 6];
	const struct bip_pool *p;

	memset(keep, 0, 3 * sizeof(*keep));
	*sub = blk;
	if (r->kind == BIP_SUBNET_NONE)
		return false;
	if (r->kind == BIP_SUBNET_POOL) {
		p = bip__pool_of(a->rec.pools, a->rec.npools, blk);
		if (!p)
			return false;
		*sub = p->cidr;
	}
	keep[0] = bip_prefix_first(*sub);
	keep[1] = bip_addr_next(keep[0]);
	if (r->kind == BIP_SUBNET_POOL && bip_prefix_contains(*sub, r->gateway))
		keep[1] = r->gateway;
	if (sub->addr.family == 4)
		keep[2] = bip_prefix_last(*sub);
	return true;
}

/* Which of keep (subnet_of) addr is: 0 network, 1 gateway, 2 broadcast; -1 none. */
static int kept_out(const struct bip_addr *keep, struct bip_addr addr)
{
	for (int i = 0; keep && i < 3; i++)
		if (keep[i].family && bip_addr_eq(keep[i], addr))
			return i;
	return -1;
}

static int push_out(struct attempt *a, struct bip_addr addr, struct bip_prefix block, bool borrowed,
		    int range_index)
{
	struct bip_assigned *v =
	    bip__im_realloc(a->ip, a->pend.out, (a->pend.nout + 1) * sizeof(*v));
	struct bip_addr keep[3];
	struct bip_prefix sub;

	if (!v)
		return BIP_ENOMEM;
	a->pend.out = v;
	a->pend.out[a->pend.nout] = (struct bip_assigned){addr, block, borrowed, range_index};
	if (range_index >= 0)
		a->pend.out[a->pend.nout].range = a->ranges[range_index].subnet;
	else if (subnet_of(a, block, &sub, keep)) {
		a->pend.out[a->pend.nout].subnet = sub;
		a->pend.out[a->pend.nout].gateway = keep[1];
	}
	a->pend.nout++;
	return BIP_OK;
}

/* A released address within ipCooldownSeconds of its release. A clock that went back makes
 * the wait longer, one that jumped ahead shorter: never an address handed out twice. */
static bool cooling(const struct attempt *a, const struct blk *b, uint32_t o)
{
	return a->rec.cfg.ip_cooldown_s && b->freed_at[o] &&
	       a->now - b->freed_at[o] < (int64_t)a->rec.cfg.ip_cooldown_s;
}

static bool ordinal_ok(const struct attempt *a, const struct blk *b, uint32_t o,
		       const struct bip_range *r, const struct bip_addr *keep)
{
	struct bip_addr addr = bip_prefix_nth(b->cidr, o);

	if (b->handle[o] || bip__addr_reserved(a->rec.res, a->rec.nres, addr) || cooling(a, b, o) ||
	    kept_out(keep, addr) >= 0)
		return false;
	if (r) {
		if (r->start.family && bip_addr_cmp(addr, r->start) < 0)
			return false;
		if (r->end.family && bip_addr_cmp(addr, r->end) > 0)
			return false;
		if (r->gateway.family && bip_addr_eq(addr, r->gateway))
			return false;
	}
	return true;
}

/* Take up to *need addresses from b; never-used first, then the longest free. */
static int take_from(struct attempt *a, struct blk *b, unsigned *need, const struct bip_range *r,
		     int range_index)
{
	const char *node = a->req->node;
	bool borrowed = r == NULL && (!b->node || strcmp(b->node, node) != 0);
	struct bip_addr keep[3];
	struct bip_prefix sub;
	bool l2 = r == NULL && subnet_of(a, b->cidr, &sub, keep);
	int rc;

	for (uint32_t o = 0; *need && o < b->size; o++) {
		if (b->inq[o] || !ordinal_ok(a, b, o, r, l2 ? keep : NULL))
			continue;
		rc = bip__blk_take(a->ip, b, o, a->req->handle, node);
		if (rc == BIP_OK)
			rc =
			    push_out(a, bip_prefix_nth(b->cidr, o), b->cidr, borrowed, range_index);
		if (rc != BIP_OK)
			return rc;
		(*need)--;
	}
	for (uint32_t i = 0; *need && i < b->nfreed;) {
		uint32_t o = b->freed[i];

		if (!ordinal_ok(a, b, o, r, l2 ? keep : NULL)) {
			i++;
			continue;
		}
		rc = bip__blk_take(a->ip, b, o, a->req->handle, node); /* removes it from freed */
		if (rc == BIP_OK)
			rc =
			    push_out(a, bip_prefix_nth(b->cidr, o), b->cidr, borrowed, range_index);
		if (rc != BIP_OK)
			return rc;
		(*need)--;
	}
	return BIP_OK;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static bool fully_reserved(const struct attempt *a, struct bip_prefix blk)
{
	for (size_t i = 0; i < a->rec.nres; i++)
		if (bip_prefix_covers(a->rec.res[i], blk))
			return true;
	return false;
}

/* The first block of pool p, walking from the node's start, that overlaps no existing block. */
static int find_unclaimed(struct attempt *a, const struct bip_pool *p, struct bip_prefix *out)
{
	bip_u128 last, start, k;
	uint64_t steps = 0, max_steps;
	int rc = need_existing(a);

	if (rc != BIP_OK)
		return rc;
	if (bip_prefix_subcount(p->cidr, p->block_len, &last) != BIP_OK)
		return BIP_EEXHAUSTED;
	start = last == ~(bip_u128)0 ? fnv1a(a->req->node) : fnv1a(a->req->node) % (last + 1);
	/* Every block that exists can be skipped once; beyond that, only reserved ones. */
	max_steps = a->cache.nexisting + a->rec.nres * 64 + 1024;
	for (k = start;; k = k == last ? 0 : k + 1) {
		struct bip_prefix cand;

		if (bip_prefix_sub(p->cidr, p->block_len, k, &cand) != BIP_OK)
			return BIP_EINVAL;
		if (!overlaps_existing(a, cand) && !fully_reserved(a, cand)) {
			*out = cand;
			return BIP_OK;
		}
		if (++steps > last || steps > max_steps)
			return BIP_EEXHAUSTED;
	}
}

static bool in_candidates(const struct attempt *a, const size_t *idx, size_t n,
			  struct bip_prefix blk)
{
	for (size_t i = 0; i < n; i++)
		if (bip_prefix_covers(a->rec.pools[idx[i]].cidr, blk))
			return true;
	return false;
}

/* One of this node's affinities (affinity/<node>/<cidr>), with its free-address count. */
static int collect_affinity(void *ctx, const struct bip_kv *kv)
{
	struct attempt *a = ctx;
	const char *part = kv->key + strlen(PFX_AFFINITY) + strlen(a->req->node) + 1;
	struct bip_prefix p;
	enum aff_state st;
	long nfree;
	int64_t es;

	if (bip__cidr_from_keypart(part, &p) != BIP_OK ||
	    bip__affinity_decode(kv->value, kv->len, &st, &nfree, &es) != BIP_OK)
		return 0; /* the check reports it; allocation does without it */
	if (a->own.naff == a->own.capaff) {
		size_t cap = a->own.capaff ? a->own.capaff * 2 : 16;
		struct bip_prefix *v = bip__im_realloc(a->ip, a->own.aff, cap * sizeof(*v));
		int64_t *r, *e;
		long *f;

		if (!v)
			return BIP_ENOMEM;
		a->own.aff = v;
		r = bip__im_realloc(a->ip, a->own.aff_rev, cap * sizeof(*r));
		if (!r)
			return BIP_ENOMEM;
		a->own.aff_rev = r;
		f = bip__im_realloc(a->ip, a->own.aff_free, cap * sizeof(*f));
		if (!f)
			return BIP_ENOMEM;
		a->own.aff_free = f;
		e = bip__im_realloc(a->ip, a->own.aff_empty, cap * sizeof(*e));
		if (!e)
			return BIP_ENOMEM;
		a->own.aff_empty = e;
		a->own.capaff = cap;
	}
	a->own.aff[a->own.naff] = p;
	a->own.aff_empty[a->own.naff] = es;
	a->own.aff_rev[a->own.naff] = kv->rev;
	a->own.aff_free[a->own.naff++] = nfree;
	return 0;
}

/* This node's affinities, with the free-address counts they carry. */
static int need_affinities(struct attempt *a)
{
	char pfx[KEY_LEN];
	int64_t rev;
	int rc;

	if (a->own.have_aff)
		return BIP_OK;
	a->own.have_aff = true;
	snprintf(pfx, sizeof(pfx), PFX_AFFINITY "%s/", a->req->node);
	rc = bip_store_list_cb(a->ip->store, pfx, 0, collect_affinity, a, &rev);
	if (rc != BIP_OK && rc != BIP_ENOMEM)
		bip__seterr(a->ip, rc, "cannot list %s", pfx);
	return rc;
}

static unsigned held_of(const struct attempt *a, int fam)
{
	unsigned n = 0;

	for (size_t i = 0; i < a->rec.held.naddrs; i++)
		n += a->rec.held.addrs[i].addr.family == fam;
	return n;
}

static unsigned out_of(const struct attempt *a, int fam)
{
	unsigned n = 0;

	for (size_t i = 0; i < a->pend.nout; i++)
		n += a->pend.out[i].addr.family == fam;
	return n;
}

/*
 * The block step 1 of alloc_family reads first for each family (the node's first block with
 * room in the first candidate pool that has one), read ahead together: a dual-stack request
 * then reads its two blocks in one request. Uses the affinities read_context read. Pool
 * selection failures are left for alloc_family to report where it always did (the message is
 * put back); running out of memory is not.
 */
static int prefetch_own(struct attempt *a, const unsigned *want, bool podcidr)
{
	const struct bip_alloc_req *req = a->req;
	struct bip_prefix first[2];
	size_t n = 0;
	int rc = BIP_OK;

	if (req->nranges || !a->own.have_aff)
		return BIP_OK;
	for (int f = 0; f < 2 && rc == BIP_OK; f++) {
		int fam = f ? 6 : 4;
		char saved[sizeof(a->ip->errmsg)];
		bool skip = want[f] <= held_of(a, fam) + out_of(a, fam), ranges = false;
		bool found = false;
		size_t *idx, k = 0;

		for (size_t i = 0; i < req->nips; i++)
			skip |= req->ips[i].family == fam; /* specific addresses only */
		for (size_t i = 0; i < a->nranges; i++)
			ranges |= a->ranges[i].subnet.addr.family == fam;
		if (skip || (podcidr && ranges))
			continue;
		idx = bip__im_calloc(a->ip, a->rec.npools + 1, sizeof(*idx));
		if (!idx)
			return BIP_ENOMEM;
		memcpy(saved, a->ip->errmsg, sizeof(saved));
		rc = candidate_pools(a, fam, idx, &k);
		if (rc != BIP_OK && rc != BIP_ENOMEM) {
			memcpy(a->ip->errmsg, saved, sizeof(saved));
			rc = BIP_OK;
			k = 0;
		}
		for (size_t pi = 0; pi < k && !found; pi++)
			for (size_t i = 0; i < a->own.naff && !found; i++)
				if (bip_prefix_covers(a->rec.pools[idx[pi]].cidr, a->own.aff[i]) &&
				    (a->own.aff_free[i] != 0 || cached_blk(a, a->own.aff[i]))) {
					first[n++] = a->own.aff[i];
					found = true;
				}
		free(idx);
	}
	return rc == BIP_OK ? prefetch_blks(a, first, n) : rc;
}

/*
 * Another node's block in pool p that has been empty long enough (min(emptyBlockReleaseSeconds,
 * BIP_RECLAIM_MIN_AGE)) to be taken over by this node, which found no unclaimed block left: the
 * block becomes this node's and the old owner's affinity goes, in the attempt's one commit,
 * conditioned on the block being as read, so a block that took an address meanwhile stays with
 * its node (a wrong clock can only make the take-over early or late). Calico (v3.32) does the
 * same after 60 s. At most RECLAIM_SCAN blocks of the pool are read, in one request, walking
 * from the node's start as claims do; one that does not decode is passed over (the check
 * reports it). *out NULL when there is none.
 */
#define RECLAIM_SCAN BIP_READ_MAX

static int reclaim_empty(struct attempt *a, const struct bip_pool *p, struct blk **out)
{
	unsigned age = a->rec.cfg.empty_block_release_s;
	struct bip_prefix *cand = NULL;
	size_t ncand = 0, first = 0, cnt = 0;
	int rc;

	*out = NULL;
	if (!age)
		return BIP_OK;
	if (age > BIP_RECLAIM_MIN_AGE)
		age = BIP_RECLAIM_MIN_AGE;
	rc = need_existing(a);
	if (rc != BIP_OK)
		return rc;
	for (size_t i = 0; i < a->cache.nexisting; i++)
		if (bip_prefix_covers(p->cidr, a->cache.existing[i]) && !cnt++)
			first = i;
	if (!cnt)
		return BIP_OK;
	cand = bip__im_calloc(a->ip, cnt < RECLAIM_SCAN ? cnt : RECLAIM_SCAN, sizeof(*cand));
	if (!cand)
		return BIP_ENOMEM;
	/* The pool's blocks are contiguous in the sorted list: walk them from the node's start. */
	for (size_t s = 0, start = (size_t)(fnv1a(a->req->node) % cnt);
	     s < cnt && ncand < RECLAIM_SCAN; s++) {
		struct bip_prefix c = a->cache.existing[first + (start + s) % cnt];
		bool mine = false;

		for (size_t i = 0; i < a->own.naff && !mine; i++)
			mine = bip_prefix_eq(a->own.aff[i], c);
		if (!mine && bip_prefix_covers(p->cidr, c) && !fully_reserved(a, c))
			cand[ncand++] = c;
	}
	rc = prefetch_blks(a, cand, ncand);
	for (size_t i = 0; rc == BIP_OK && i < ncand; i++) {
		char saved[sizeof(a->ip->errmsg)];
		struct blk *b;
		char *old;

		memcpy(saved, a->ip->errmsg, sizeof(saved));
		rc = get_blk(a, cand[i], &b);
		if (rc == BIP_ECORRUPT) {
			memcpy(a->ip->errmsg, saved, sizeof(saved));
			rc = BIP_OK;
			continue;
		}
		if (rc != BIP_OK || !b || b->used || b->dirty || b->hostlocal || !b->node ||
		    strcmp(b->node, a->req->node) == 0 || !b->empty_since ||
		    a->now - b->empty_since < (int64_t)age)
			continue;
		/* Take it over: the old owner's affinity goes, ours comes (must not exist). On
		 * failure the attempt is thrown away, so a half-made change does not matter. */
		rc = BIP_ENOMEM;
		old = b->node;
		b->node = bip__im_strdup(a->ip, a->req->node);
		if (!b->node) {
			b->node = old;
			break;
		}
		rc = drop_aff(a, b->cidr, old);
		if (rc == BIP_OK)
			rc = add_new_aff(a, b->cidr, 0);
		if (rc != BIP_OK)
			break;
		b->claimed = a->now;
		b->dirty = true;
		*out = b;
		rc = BIP_OK;
		break;
	}
	free(cand);
	return rc;
}

/* Block mode for one family: own blocks, new blocks, borrowed addresses. */
static int alloc_family(struct attempt *a, int fam, unsigned need)
{
	const char *node = a->req->node;
	const struct bip_subnet_rule *rule = &a->req->subnet[fam == 6];
	unsigned max = rule->kind == BIP_SUBNET_BLOCK ? rule->max_blocks : 0;
	size_t *idx, n = 0;
	unsigned owned = 0, mine = 0;
	bool limit = false, strict = a->rec.cfg.strict_affinity;
	struct bip_prefix last = {0};
	int rc;

	idx = bip__im_calloc(a->ip, a->rec.npools + 1, sizeof(*idx));
	if (!idx)
		return BIP_ENOMEM;
	rc = candidate_pools(a, fam, idx, &n);
	if (rc != BIP_OK)
		goto out;
	rc = need_affinities(a);
	if (rc != BIP_OK)
		goto out;
	/* 1. The node's own blocks, in candidate pool order. */
	for (size_t pi = 0; pi < n && need; pi++) {
		for (size_t i = 0; i < a->own.naff && need; i++) {
			struct blk *b;

			if (!bip_prefix_covers(a->rec.pools[idx[pi]].cidr, a->own.aff[i]))
				continue;
			/* The main plugin's model uses only the node's first max blocks. */
			if (max && mine++ >= max)
				continue;
			last = a->own.aff[i];
			/* Full by its affinity's count, and not changed in this attempt: the
			 * block need not be read at all. */
			if (a->own.aff_free[i] == 0 && !cached_blk(a, a->own.aff[i]))
				continue;
			rc = get_blk(a, a->own.aff[i], &b);
			if (rc != BIP_OK)
				goto out;
			if (!b) /* an affinity left without its block: claim it again */
				rc = new_blk(a, a->own.aff[i], node, a->own.aff_rev[i], &b);
			if (rc != BIP_OK)
				goto out;
			if (b->node && strcmp(b->node, node) != 0)
				continue; /* stale affinity: the check reports it */
			if (!b->node) {
				b->node = bip__im_strdup(a->ip, node);
				if (!b->node) {
					rc = BIP_ENOMEM;
					goto out;
				}
				b->dirty = true;
				a->pend.pool_used[idx[pi]] = true;
			}
			rc = take_from(a, b, &need, NULL, -1);
			if (rc != BIP_OK)
				goto out;
		}
	}
	for (size_t i = 0; i < a->own.naff; i++)
		owned +=
		    a->own.aff[i].addr.family == fam && in_candidates(a, idx, n, a->own.aff[i]);
	/* 2. New blocks. */
	for (size_t pi = 0; pi < n && need && a->rec.cfg.auto_allocate_blocks;) {
		struct bip_prefix cidr;
		struct blk *b;

		if (a->rec.cfg.max_blocks_per_host && owned >= a->rec.cfg.max_blocks_per_host) {
			limit = true;
			break;
		}
		if (max && owned >= max)
			break;
		rc = find_unclaimed(a, &a->rec.pools[idx[pi]], &cidr);
		if (rc == BIP_EEXHAUSTED) {
			pi++;
			continue;
		}
		if (rc != BIP_OK)
			goto out;
		rc = new_blk(a, cidr, node, 0, &b);
		if (rc != BIP_OK)
			goto out;
		a->pend.pool_used[idx[pi]] = true;
		owned++;
		last = cidr;
		rc = take_from(a, b, &need, NULL, -1);
		if (rc != BIP_OK)
			goto out;
	}
	/* 2b. No unclaimed block left: take over another node's long-empty one. */
	for (size_t pi = 0; pi < n && need && a->rec.cfg.auto_allocate_blocks && !limit; pi++) {
		struct blk *b = NULL;

		if (a->rec.cfg.max_blocks_per_host && owned >= a->rec.cfg.max_blocks_per_host) {
			limit = true;
			break;
		}
		if (max && owned >= max)
			break; /* the main plugin's model: no block beyond its first max */
		rc = reclaim_empty(a, &a->rec.pools[idx[pi]], &b);
		if (rc != BIP_OK)
			goto out;
		if (!b)
			continue;
		a->pend.pool_used[idx[pi]] = true;
		owned++;
		rc = take_from(a, b, &need, NULL, -1);
		if (rc != BIP_OK)
			goto out;
		pi--; /* the same pool may have more */
	}
	/* 3. Borrow from other nodes' blocks (and unowned ones). */
	if (need && !strict && !rule->no_borrow) {
		rc = need_existing(a);
		if (rc != BIP_OK)
			goto out;
		for (size_t pi = 0; pi < n && need; pi++) {
			const struct bip_pool *p = &a->rec.pools[idx[pi]];
			size_t cnt = 0, start;

			for (size_t i = 0; i < a->cache.nexisting; i++)
				cnt += bip_prefix_covers(p->cidr, a->cache.existing[i]);
			if (!cnt)
				continue;
			/* Walk the pool's blocks from a node-derived start, as for claims. */
			start = (size_t)(fnv1a(node) % cnt);
			for (size_t s = 0; s < cnt && need; s++) {
				size_t want = (start + s) % cnt, seen = 0;
				struct blk *b = NULL;

				for (size_t i = 0; i < a->cache.nexisting; i++) {
					if (!bip_prefix_covers(p->cidr, a->cache.existing[i]))
						continue;
					if (seen++ != want)
						continue;
					rc = get_blk(a, a->cache.existing[i], &b);
					break;
				}
				if (rc != BIP_OK)
					goto out;
				if (!b || (b->node && strcmp(b->node, node) == 0))
					continue;
				rc = take_from(a, b, &need, NULL, -1);
				if (rc != BIP_OK)
					goto out;
			}
		}
	}
	if (need) {
		char bs[BIP_PREFIX_STRLEN];
		const struct bip_pool *lp = bip__pool_of(a->rec.pools, a->rec.npools, last);

		if (max && owned >= max && lp)
			rc = bip__seterr(
			    a->ip, BIP_EBLOCKLIMIT,
			    "node '%s' uses %u IPv%d block%s as its subnet and %s is full "
			    "(pool '%s', blockSize %u: %llu addresses, %d kept out as "
			    "network, gateway%s)",
			    node, max, fam, max > 1 ? "s" : "", bip_prefix_fmt(last, bs), lp->name,
			    lp->block_len, (unsigned long long)bip_prefix_last_ordinal(last) + 1,
			    fam == 4 ? 3 : 2, fam == 4 ? " and broadcast" : "");
		else if (limit)
			rc = bip__seterr(a->ip, BIP_EBLOCKLIMIT,
					 "node '%s' holds its limit of %u IPv%d blocks "
					 "(maxBlocksPerHost) and no address could be borrowed%s",
					 node, a->rec.cfg.max_blocks_per_host, fam,
					 strict ? " (strictAffinity is on)" : "");
		else
			rc = bip__seterr(
			    a->ip, BIP_EEXHAUSTED,
			    "no free IPv%d address for node '%s' in pool%s %s%s%s", fam, node,
			    n > 1 ? "s" : "", a->rec.pools[idx[0]].name, n > 1 ? ", ..." : "",
			    strict ? " (strictAffinity is on: no borrowing)"
			    : rule->no_borrow
				? " (the main plugin's subnet is a block of this node: "
				  "no borrowing)"
				: "");
		goto out;
	}
	rc = BIP_OK;
out:
	free(idx);
	return rc;
}

/*
 * A range of more than 2^8 addresses (an IPv4 /16, an IPv6 /64 pod CIDR) is kept as sub-blocks
 * of 2^8 (/24, /120), made as they fill. One record is read, decoded, re-encoded and rewritten
 * per allocation, so its size is the cost: a /16 kept whole cost 12.5 ms per CNI ADD with 5,000
 * held against 3 ms empty; a sub-block holds at most 256.
 */
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
	int rc = need_existing(a);

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
		rc = get_blk(a, sb, &b);
		if (rc != BIP_OK)
			return rc;
		if (!b) {
			if (overlaps_existing(a, sb)) {
				char buf[BIP_PREFIX_STRLEN];

				return bip__seterr(a->ip, BIP_EOVERLAP,
						   "range %s overlaps an existing block",
						   bip_prefix_fmt(r->subnet, buf));
			}
			rc = new_blk(a, sb, a->req->node, 0, &b);
			if (rc != BIP_OK)
				return rc;
			b->hostlocal = true;
		}
		rc = take_from(a, b, need, r, range_index);
		if (rc != BIP_OK)
			return rc;
		k = k == klast ? kfirst : k + 1;
		if (k == k0)
			break;
	}
	return BIP_OK;
}

/* Host-local mode for one family: one address per range set, or need from a pod CIDR. */
static int alloc_ranges(struct attempt *a, int fam, unsigned need_podcidr)
{
	const char *node = a->req->node;
	int rc = need_existing(a);

	if (rc != BIP_OK)
		return rc;
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

	if (!subnet_of(a, cidr, &sub, keep))
		return BIP_OK;
	bip_addr_fmt(addr, as);
	k = kept_out(keep, addr);
	if (k >= 0)
		return bip__seterr(a->ip, BIP_ETAKEN, "requested address %s is the %s of subnet %s",
				   as, what[k], bip_prefix_fmt(sub, ss));
	if (rule->kind != BIP_SUBNET_BLOCK || !rule->max_blocks)
		return BIP_OK;
	rc = need_affinities(a);
	if (rc != BIP_OK)
		return rc;
	/* The network's scope: the pools its automatic addresses would come from (as in
	 * alloc_family), and the requested address's own. */
	idx = bip__im_calloc(a->ip, a->rec.npools + 1, sizeof(*idx));
	if (!idx)
		return BIP_ENOMEM;
	memcpy(saved, a->ip->errmsg, sizeof(saved));
	rc = candidate_pools(a, addr.family, idx, &n);
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

static int alloc_specific(struct attempt *a)
{
	const struct bip_alloc_req *req = a->req;
	enum bip_use use = req->use ? req->use : BIP_USE_WORKLOAD;
	int rc;

	for (size_t i = 0; i < req->nips; i++) {
		struct bip_addr addr = req->ips[i];
		char as[BIP_ADDR_STRLEN], bs[BIP_PREFIX_STRLEN];
		struct bip_prefix cidr;
		const struct bip_range *r = NULL;
		int range_index = -1;
		struct blk *b;
		uint32_t o;
		bool held = false;

		for (size_t j = 0; j < a->rec.held.naddrs; j++)
			held |= bip_addr_eq(a->rec.held.addrs[j].addr, addr);
		if (held)
			continue;
		bip_addr_fmt(addr, as);
		for (size_t j = 0; j < a->nranges && !r; j++)
			if (bip_prefix_contains(a->ranges[j].subnet, addr)) {
				r = &a->ranges[j];
				range_index = (int)j;
			}
		if (r) {
			unsigned sl;
			bip_u128 newest;
			bool have;

			rc = range_layout(a, r, &sl, &newest, &have);
			if (rc != BIP_OK)
				return rc;
			bip_prefix_sub_of(r->subnet, sl, addr, &cidr, NULL);
		} else {
			struct bip_prefix one = {addr, (uint8_t)bip_addr_bits(addr)};
			const struct bip_pool *p = bip__pool_of(a->rec.pools, a->rec.npools, one);

			if (a->nranges)
				return bip__seterr(a->ip, BIP_ENOPOOL,
						   "requested address %s is in none of the ranges",
						   as);
			if (!p)
				return bip__seterr(a->ip, BIP_ENOPOOL,
						   "requested address %s is not in any pool", as);
			if (p->disabled)
				return bip__seterr(
				    a->ip, BIP_EDISABLED,
				    "requested address %s is in pool '%s', which is disabled", as,
				    p->name);
			if (!(p->allowed_uses & use)) {
				char uses[64];

				return bip__seterr(
				    a->ip, BIP_ENOPOOL,
				    "requested address %s is in pool '%s', whose allowedUses "
				    "(%s) do not include %s",
				    as, p->name, uses_fmt(p->allowed_uses, uses, sizeof(uses)),
				    use_name(use));
			}
			bip_prefix_sub_of(p->cidr, p->block_len, addr, &cidr, NULL);
			a->pend.pool_used[p - a->rec.pools] = true;
		}
		if (bip__addr_reserved(a->rec.res, a->rec.nres, addr))
			return bip__seterr(a->ip, BIP_ERESERVED, "requested address %s is reserved",
					   as);
		if (r && ((r->start.family && bip_addr_cmp(addr, r->start) < 0) ||
			  (r->end.family && bip_addr_cmp(addr, r->end) > 0)))
			return bip__seterr(a->ip, BIP_ENOPOOL,
					   "requested address %s is outside rangeStart-rangeEnd",
					   as);
		if (r && r->gateway.family && bip_addr_eq(addr, r->gateway))
			return bip__seterr(a->ip, BIP_ETAKEN, "requested address %s is the gateway",
					   as);
		if (!r && (rc = specific_subnet_ok(a, addr, cidr)) != BIP_OK)
			return rc;
		rc = get_blk(a, cidr, &b);
		if (rc != BIP_OK)
			return rc;
		if (!b) {
			/* A block made for a specific address is affine to the node asking: the
			 * pod lives there, so that is where the block must be routed. */
			rc = need_existing(a);
			if (rc == BIP_OK && overlaps_existing(a, cidr))
				return bip__seterr(a->ip, BIP_EOVERLAP,
						   "block %s for %s overlaps an existing block",
						   bip_prefix_fmt(cidr, bs), as);
			if (rc == BIP_OK)
				rc = new_blk(a, cidr, req->node, 0, &b);
			if (rc != BIP_OK)
				return rc;
			b->hostlocal = r != NULL;
		}
		o = (uint32_t)bip_prefix_ordinal(b->cidr, addr);
		if (b->handle[o])
			return bip__seterr(a->ip, BIP_ETAKEN,
					   "requested address %s is already in use by '%s'", as,
					   b->handle[o]);
		if (cooling(a, b, o))
			return bip__seterr(
			    a->ip, BIP_ETAKEN,
			    "requested address %s was released %llds ago and cools down "
			    "for ipCooldownSeconds (%u s): try again in %llds",
			    as, (long long)(a->now - b->freed_at[o]), a->rec.cfg.ip_cooldown_s,
			    (long long)(b->freed_at[o] + a->rec.cfg.ip_cooldown_s - a->now));
		if (!r && req->subnet[addr.family == 6].no_borrow &&
		    (!b->node || strcmp(b->node, req->node) != 0))
			return bip__seterr(
			    a->ip, BIP_ETAKEN,
			    "requested address %s is in block %s of %s%s%s, not in a subnet "
			    "of node '%s' (the main plugin's subnets are per node)",
			    as, bip_prefix_fmt(b->cidr, bs), b->node ? "node '" : "no node",
			    b->node ? b->node : "", b->node ? "'" : "", req->node);
		if (!r && a->rec.cfg.strict_affinity && b->node && strcmp(b->node, req->node) != 0)
			return bip__seterr(a->ip, BIP_ETAKEN,
					   "requested address %s is in block %s of node '%s' and "
					   "strictAffinity forbids borrowing",
					   as, bip_prefix_fmt(b->cidr, bs), b->node);
		rc = bip__blk_take(a->ip, b, o, req->handle, req->node);
		if (rc == BIP_OK)
			rc = push_out(a, addr, b->cidr,
				      !r && (!b->node || strcmp(b->node, req->node) != 0),
				      range_index);
		if (rc != BIP_OK)
			return rc;
	}
	return BIP_OK;
}

/* --- commit ----------------------------------------------------------------------------- */

static int commit_alloc(struct attempt *a)
{
	struct bip_ipam *ip = a->ip;
	const struct bip_alloc_req *req = a->req;
	struct bip_handle_info h = {0};
	struct bip__txn t;
	char key[KEY_LEN];
	const char *k;
	char *v;
	size_t len, max = 2 + 2 * a->cache.nblks + a->rec.npools + a->pend.ndrop;
	int rc;

	rc = bip__txn_init(ip, &t, max);
	if (rc != BIP_OK)
		goto out;
	/* The handle record: what it held plus what it gets now. */
	h.addrs = bip__im_calloc(ip, a->rec.held.naddrs + a->pend.nout, sizeof(*h.addrs));
	rc = BIP_ENOMEM;
	if (!h.addrs)
		goto out;
	for (size_t i = 0; i < a->rec.held.naddrs; i++)
		h.addrs[h.naddrs++] = a->rec.held.addrs[i];
	for (size_t i = 0; i < a->pend.nout; i++)
		h.addrs[h.naddrs++] =
		    (struct bip_prefix){a->pend.out[i].addr, a->pend.out[i].block.len};
	h.id = (char *)req->handle;
	h.node = (char *)req->node;
	h.namespace = (char *)(req->attrs.namespace ? req->attrs.namespace : req->namespace);
	h.pod = (char *)req->attrs.pod;
	h.container = (char *)req->attrs.container;
	h.ifname = (char *)req->attrs.ifname;
	h.pod_uid = (char *)req->attrs.pod_uid;
	h.time = a->rec.have_handle ? a->rec.held.time : bip__now();
	v = bip__handle_encode(ip, &h, &len);
	free(h.addrs);
	if (!v)
		goto out;
	bip__key_handle(key, req->handle);
	k = bip__txn_key(ip, &t, key);
	if (!k) {
		free(v);
		goto out;
	}
	bip__txn_cmp(ip, &t, k, a->rec.have_handle ? a->rec.handle_rev : 0);
	bip__txn_put(ip, &t, k, v, len);
	for (size_t i = 0; i < a->cache.nblks; i++) {
		struct blk *b = a->cache.blks[i];

		if (!b->dirty)
			continue;
		bip__key_block(key, b->cidr);
		k = bip__txn_key(ip, &t, key);
		v = k ? bip__blk_encode(ip, b, &len) : NULL;
		if (!v)
			goto out;
		bip__txn_cmp(ip, &t, k, b->rev);
		bip__txn_put(ip, &t, k, v, len);
		if (!b->node)
			continue;
		/* The owner's affinity carries the block's free count; a new block's affinity
		 * must not exist yet (or be the one read, when its block was lost). */
		bip__key_affinity(key, b->node, b->cidr);
		k = bip__txn_key(ip, &t, key);
		v = k ? bip__affinity_encode(ip, b->size - b->used, b->used ? 0 : b->empty_since,
					     &len)
		      : NULL;
		if (!v)
			goto out;
		for (size_t j = 0; j < a->pend.nnew_aff; j++)
			if (strcmp(b->node, req->node) == 0 &&
			    bip_prefix_eq(a->pend.new_aff[j], b->cidr))
				bip__txn_cmp(ip, &t, k, a->pend.new_aff_rev[j]);
		bip__txn_put(ip, &t, k, v, len);
	}
	/* Blocks taken over from other nodes: the old owners' affinities go (the block's compare
	 * above is what makes this safe). */
	for (size_t i = 0; i < a->pend.ndrop; i++) {
		bip__key_affinity(key, a->pend.drop_node[i], a->pend.drop_aff[i]);
		k = bip__txn_key(ip, &t, key);
		if (!k)
			goto out;
		bip__txn_del(ip, &t, k);
	}
	/* New blocks only inside pools that are still as read (not deleted, disabled, resized). */
	for (size_t i = 0; i < a->rec.npools; i++) {
		if (!a->pend.pool_used[i])
			continue;
		snprintf(key, sizeof(key), PFX_POOLS "%s", a->rec.pools[i].name);
		k = bip__txn_key(ip, &t, key);
		if (!k)
			goto out;
		bip__txn_cmp(ip, &t, k, a->rec.pool_revs[i]);
	}
	rc = bip__txn_commit(ip, &t, NULL);
	if (rc != BIP_OK && rc != BIP_ECONFLICT)
		bip__seterr(ip, rc, "cannot commit the allocation for '%s'", req->handle);
out:
	bip__txn_clear(&t);
	return rc;
}

/* --- blocks a node gives back ------------------------------------------------------------ */

/* Whether a node should hold no empty block of pool p: p is disabled, or its nodeSelector no
 * longer selects the node (its labels changed, or the pool's selector did: Calico #8823). */
static bool pool_drops_node(const struct bip_pool *p, const struct bip_label_set *labels)
{
	return p->disabled || !selector_matches(p->node_selector, labels);
}

/*
 * After a committed allocation, give back this node's empty blocks that it should not keep:
 * those empty for emptyBlockReleaseSeconds (by the emptySince their affinities carry, so nothing
 * is read unless one is due), and those of a pool that no longer selects the node. Each goes in
 * its own transaction (block and affinity deleted) conditioned on both being as read, so a block
 * that took an address meanwhile stays: a wrong clock can make a release early or late, never
 * take a block that holds an address. Best effort: a failure leaves it for the next allocation,
 * gc or "ipam release --empty-blocks".
 */
static void tidy_own_blocks(struct attempt *a)
{
	struct bip_ipam *ip = a->ip;
	unsigned age = a->rec.cfg.empty_block_release_s;
	char saved[sizeof(ip->errmsg)];
	struct bip_prefix *cand = NULL;
	size_t *ci = NULL, nc = 0;
	bool *drop = NULL;

	if (!a->own.have_aff || !a->own.naff || !a->rec.have_pools)
		return;
	/* Most allocations find no empty block of their own to consider: nothing allocated. */
	for (size_t i = 0; i < a->own.naff && !nc; i++) {
		unsigned host = bip_addr_bits(a->own.aff[i].addr) - a->own.aff[i].len;
		struct blk *b = cached_blk(a, a->own.aff[i]);

		nc = host <= 16 && a->own.aff_free[i] == (long)(1u << host) && !(b && b->dirty);
	}
	if (!nc)
		return;
	nc = 0;
	if (!a->rec.node_labels.v &&
	    labels_with_name(ip, a->rec.have_node ? &a->rec.node.labels : NULL,
			     "kubernetes.io/hostname", a->req->node, &a->rec.node_labels) != BIP_OK)
		return;
	memcpy(saved, ip->errmsg, sizeof(saved));
	cand = bip__im_calloc(ip, a->own.naff, sizeof(*cand));
	ci = bip__im_calloc(ip, a->own.naff, sizeof(*ci));
	drop = bip__im_calloc(ip, a->own.naff, sizeof(*drop));
	if (!cand || !ci || !drop)
		goto out;
	for (size_t i = 0; i < a->own.naff; i++) {
		struct bip_prefix c = a->own.aff[i];
		unsigned host = bip_addr_bits(c.addr) - c.len;
		const struct bip_pool *p;
		struct blk *b;
		bool old;

		if (host > 16 || a->own.aff_free[i] != (long)(1u << host))
			continue; /* not empty by its affinity (or not known to be) */
		b = cached_blk(a, c);
		if ((b && b->dirty) || !(p = bip__pool_of(a->rec.pools, a->rec.npools, c)))
			continue;
		old = age && a->own.aff_empty[i] && a->now - a->own.aff_empty[i] >= (int64_t)age;
		drop[nc] = pool_drops_node(p, &a->rec.node_labels);
		if (!old && !drop[nc])
			continue;
		cand[nc] = c;
		ci[nc++] = i;
	}
	if (!nc || prefetch_blks(a, cand, nc) != BIP_OK)
		goto out;
	for (size_t k = 0; k < nc; k++) {
		char bkey[KEY_LEN], akey[KEY_LEN];
		struct bip_cmp cmps[2];
		struct bip_op ops[2];
		struct blk *b;

		if (get_blk(a, cand[k], &b) != BIP_OK || !b || b->used || b->dirty ||
		    b->hostlocal || !b->node || strcmp(b->node, a->req->node) != 0)
			continue;
		if (!drop[k] && (!b->empty_since || a->now - b->empty_since < (int64_t)age))
			continue;
		bip__key_block(bkey, b->cidr);
		bip__key_affinity(akey, b->node, b->cidr);
		cmps[0] = (struct bip_cmp){bkey, b->rev};
		cmps[1] = (struct bip_cmp){akey, a->own.aff_rev[ci[k]]};
		ops[0] = (struct bip_op){BIP_OP_DEL, bkey};
		ops[1] = (struct bip_op){BIP_OP_DEL, akey};
		(void)bip_store_txn(ip->store, cmps, 2, ops, 2, NULL);
	}
out:
	free(cand);
	free(ci);
	free(drop);
	memcpy(ip->errmsg, saved, sizeof(saved));
}

/*
 * In a release: whether b, owned and now empty, goes back to the pool at once because its pool
 * is disabled or no longer selects its node. The pools are read once per attempt and the owner's
 * node record per block, only for blocks that became empty.
 */
static int empty_block_unwanted(struct attempt *a, const struct blk *b, bool *out)
{
	const struct bip_pool *p;
	struct bip_label_set labels = {0};
	struct bip_node node = {0};
	struct bip_kv kv = {0};
	char key[KEY_LEN];
	bool have = false;
	int rc;

	*out = false;
	if (!b->node || b->used || b->hostlocal)
		return BIP_OK;
	if (!a->rec.have_pools) {
		rc = bip__load_pools(a->ip, &a->rec.pools, &a->rec.pool_revs, &a->rec.npools);
		if (rc != BIP_OK)
			return rc;
		a->rec.have_pools = true;
	}
	p = bip__pool_of(a->rec.pools, a->rec.npools, b->cidr);
	if (!p)
		return BIP_OK;
	if (p->disabled || !p->node_selector || !*p->node_selector) {
		*out = p->disabled;
		return BIP_OK;
	}
	snprintf(key, sizeof(key), PFX_NODES "%s", b->node);
	rc = bip_store_get(a->ip->store, key, &kv);
	if (rc == BIP_OK) {
		rc = bip__node_decode(a->ip, b->node, kv.value, kv.len, &node);
		have = rc == BIP_OK;
		if (rc == BIP_ECORRUPT)
			rc = BIP_OK; /* the check reports it; keep the block */
	} else if (rc == BIP_ENOTFOUND) {
		rc = BIP_OK;
	} else {
		bip__seterr(a->ip, rc, "cannot read %s", key);
	}
	if (rc == BIP_OK)
		rc = labels_with_name(a->ip, have ? &node.labels : NULL, "kubernetes.io/hostname",
				      b->node, &labels);
	if (rc == BIP_OK)
		*out = pool_drops_node(p, &labels);
	bip__label_set_clear(&labels);
	bip_node_clear(&node);
	bip_kv_clear(&kv);
	return rc;
}

/* --- the request ------------------------------------------------------------------------ */

static int validate_req(struct bip_ipam *ip, const struct bip_alloc_req *req)
{
	if (!req || !bip__valid_handle(req->handle))
		return bip__seterr(ip, BIP_EINVAL, "invalid handle '%s'",
				   req && req->handle ? req->handle : "");
	if (!bip__valid_name(req->node))
		return bip__seterr(ip, BIP_EINVAL, "invalid node name '%s'",
				   req->node ? req->node : "");
	if (req->namespace && !bip__valid_name(req->namespace))
		return bip__seterr(ip, BIP_EINVAL, "invalid namespace '%s'", req->namespace);
	if (!bip__valid_attr(req->attrs.namespace) || !bip__valid_attr(req->attrs.pod) ||
	    !bip__valid_attr(req->attrs.container) || !bip__valid_attr(req->attrs.ifname) ||
	    !bip__valid_attr(req->attrs.pod_uid))
		return bip__seterr(ip, BIP_EINVAL,
				   "invalid attribute (control characters or too long)");
	if (req->num4 + req->num6 + req->nips > MAX_PER_REQUEST || req->num4 > MAX_PER_REQUEST ||
	    req->num6 > MAX_PER_REQUEST)
		return bip__seterr(ip, BIP_EINVAL, "too many addresses in one request (at most %d)",
				   MAX_PER_REQUEST);
	for (size_t i = 0; i < req->nips; i++)
		for (size_t j = 0; j < i; j++)
			if (bip_addr_eq(req->ips[i], req->ips[j])) {
				char buf[BIP_ADDR_STRLEN];

				return bip__seterr(ip, BIP_EINVAL, "address %s requested twice",
						   bip_addr_fmt(req->ips[i], buf));
			}
	for (size_t i = 0; i < req->nranges; i++) {
		const struct bip_range *r = &req->ranges[i];
		char buf[BIP_PREFIX_STRLEN];

		if ((r->start.family && !bip_prefix_contains(r->subnet, r->start)) ||
		    (r->end.family && !bip_prefix_contains(r->subnet, r->end)) ||
		    (r->start.family && r->end.family && bip_addr_cmp(r->start, r->end) > 0))
			return bip__seterr(ip, BIP_EINVAL, "invalid range start/end in subnet %s",
					   bip_prefix_fmt(r->subnet, buf));
	}
	return BIP_OK;
}

void bip_pod_cidr_range(struct bip_prefix s, int set, struct bip_range *r)
{
	*r = (struct bip_range){.subnet = s, .set = set};
	if (bip_prefix_last_ordinal(s) >= 3) {
		r->gateway = bip_addr_next(bip_prefix_first(s));
		r->start = r->gateway;
		r->end = bip_prefix_last(s);
		if (s.addr.family == 4)
			r->end = bip_addr_prev(r->end);
	}
}

/* Pod CIDRs of the node as host-local ranges (gateway and first address skipped as host-local
 * does: the first address is the node's bridge, the last IPv4 one the broadcast). */
static int podcidr_ranges(struct attempt *a)
{
	a->own_ranges = bip__im_calloc(a->ip, a->rec.node.npod_cidrs + 1, sizeof(*a->own_ranges));
	if (!a->own_ranges)
		return BIP_ENOMEM;
	for (size_t i = 0; i < a->rec.node.npod_cidrs; i++)
		bip_pod_cidr_range(a->rec.node.pod_cidrs[i], (int)i, &a->own_ranges[i]);
	a->ranges = a->own_ranges;
	a->nranges = a->rec.node.npod_cidrs;
	return BIP_OK;
}

static int result_from(struct attempt *a, struct bip_alloc_result *out);

static int try_allocate(struct attempt *a)
{
	const struct bip_alloc_req *req = a->req;
	unsigned want[2] = {req->num4, req->num6};
	int fams[2] = {4, 6};
	bool podcidr = false;
	int rc;

	a->now = bip__now();
	rc = read_context(a);
	if (rc == BIP_OK)
		rc = use_handle(a, a->rec.kvs[RD_HANDLE].n ? &a->rec.kvs[RD_HANDLE].v[0] : NULL);
	if (rc == BIP_OK)
		rc = verify_held(a);
	if (rc == BIP_OK)
		rc = use_context(a);
	if (rc != BIP_OK)
		return rc;
	a->ranges = req->ranges;
	a->nranges = req->nranges;
	if (!req->nranges && a->rec.have_node && a->rec.node.npod_cidrs && !req->ignore_pod_cidrs) {
		rc = podcidr_ranges(a);
		if (rc != BIP_OK)
			return rc;
		podcidr = true;
	}
	rc = alloc_specific(a);
	if (rc == BIP_OK)
		rc = prefetch_own(a, want, podcidr);
	if (rc != BIP_OK)
		return rc;
	for (int f = 0; f < 2; f++) {
		int fam = fams[f];
		unsigned have = held_of(a, fam) + out_of(a, fam);
		bool fam_ranges = false;
		bool specific = false;

		for (size_t i = 0; i < req->nips; i++)
			specific |= req->ips[i].family == fam;
		for (size_t i = 0; i < a->nranges; i++)
			fam_ranges |= a->ranges[i].subnet.addr.family == fam;
		if (specific)
			continue;
		if (req->nranges) {
			if (fam_ranges)
				rc = alloc_ranges(a, fam, 0);
		} else if (want[f] > have) {
			if (podcidr && fam_ranges)
				rc = alloc_ranges(a, fam, want[f] - have);
			else
				rc = alloc_family(a, fam, want[f] - have);
		}
		if (rc != BIP_OK)
			return rc;
	}
	if (a->rec.held.naddrs + a->pend.nout > HANDLE_MAX_ADDRS)
		return bip__seterr(a->ip, BIP_EINVAL,
				   "handle '%s' would hold %zu addresses (at most %d)", req->handle,
				   a->rec.held.naddrs + a->pend.nout, HANDLE_MAX_ADDRS);
	rc = result_from(a, a->result);
	if (rc != BIP_OK || a->pend.nout == 0)
		return rc; /* nothing new: the handle holds it all */
	return commit_alloc(a);
}

static int result_from(struct attempt *a, struct bip_alloc_result *out)
{
	size_t n = a->rec.held.naddrs + a->pend.nout, k = 0;
	struct bip_assigned *v = bip__im_calloc(a->ip, n, sizeof(*v));

	if (!v)
		return BIP_ENOMEM;
	/* IPv4 first, then IPv6; within a family, in the order held then new. */
	for (int fam = 4; fam <= 6; fam += 2) {
		for (size_t i = 0; i < a->rec.held.naddrs; i++) {
			struct bip_prefix p = a->rec.held.addrs[i];
			int ri = -1;

			if (p.addr.family != fam)
				continue;
			for (size_t j = 0; j < a->nranges && ri < 0; j++)
				if (bip_prefix_contains(a->ranges[j].subnet, p.addr))
					ri = (int)j;
			p.addr.v &= bip_mask(fam, p.len);
			v[k] = (struct bip_assigned){a->rec.held.addrs[i].addr, p, false, ri};
			if (ri >= 0) {
				v[k].range = a->ranges[ri].subnet;
			} else {
				struct bip_addr keep[3];
				struct bip_prefix sub;

				if (subnet_of(a, p, &sub, keep)) {
					v[k].subnet = sub;
					v[k].gateway = keep[1];
				}
			}
			k++;
		}
		for (size_t i = 0; i < a->pend.nout; i++)
			if (a->pend.out[i].addr.family == fam)
				v[k++] = a->pend.out[i];
	}
	out->v = v;
	out->n = k;
	out->existing = a->pend.nout == 0 && a->rec.have_handle;
	return BIP_OK;
}

struct allocate_ctx {
	const struct bip_alloc_req *req;
	struct bip_alloc_result *out;
};

/* One attempt under the store's writer lock. The result is built before the commit, so nothing
 * can fail after it. */
static int allocate_once(struct bip_ipam *ip, void *ctx)
{
	struct allocate_ctx *c = ctx;
	struct attempt a = {.ip = ip, .req = c->req};
	struct bip_alloc_result res = {0};
	int rc;

	a.result = &res;
	rc = store_lock(ip, true);
	if (rc != BIP_OK)
		return rc;
	rc = try_allocate(&a);
	if (rc == BIP_OK)
		tidy_own_blocks(&a);
	store_lock(ip, false);
	if (rc == BIP_OK)
		*c->out = res;
	else
		bip_alloc_result_free(&res);
	attempt_clear(&a);
	return rc;
}

int bip_ipam_allocate(struct bip_ipam *ip, const struct bip_alloc_req *req,
		      struct bip_alloc_result *out)
{
	struct allocate_ctx c = {req, out};
	char what[BIP_HANDLE_MAX + 8];
	int rc;

	ip->errmsg[0] = '\0';
	rc = validate_req(ip, req);
	if (rc != BIP_OK)
		return rc;
	snprintf(what, sizeof(what), "'%s'", req->handle);
	return bip__retry(ip, allocate_once, &c, what);
}

void bip_alloc_result_free(struct bip_alloc_result *res)
{
	if (!res)
		return;
	free(res->v);
	res->v = NULL;
	res->n = 0;
}

/* The owner's affinity of a changed block carries its new free count. */
static int put_free_count(struct bip_ipam *ip, struct bip__txn *t, const struct blk *b)
{
	char key[KEY_LEN];
	const char *k;
	size_t len;
	char *v;

	if (!b->node)
		return BIP_OK;
	bip__key_affinity(key, b->node, b->cidr);
	k = bip__txn_key(ip, t, key);
	v = k ? bip__affinity_encode(ip, b->size - b->used, b->used ? 0 : b->empty_since, &len)
	      : NULL;
	if (!v)
		return BIP_ENOMEM;
	bip__txn_put(ip, t, k, v, len);
	return BIP_OK;
}

/* --- release ---------------------------------------------------------------------------- */

static int release_handle_once(struct bip_ipam *ip, const char *id)
{
	struct attempt a = {.ip = ip};
	struct bip_alloc_req req = {.handle = id};
	struct bip__txn t = {0};
	char key[KEY_LEN];
	const char *k;
	int rc;

	a.req = &req;
	rc = read_handle(&a);
	if (rc != BIP_OK)
		goto out;
	if (!a.rec.have_handle) {
		rc = bip__seterr(ip, BIP_ENOTFOUND, "handle '%s' holds no address", id);
		goto out;
	}
	rc = prefetch_held(&a);
	if (rc != BIP_OK)
		goto out;
	for (size_t i = 0; i < a.rec.held.naddrs; i++) {
		struct bip_prefix cidr = a.rec.held.addrs[i];
		struct blk *b;
		uint32_t o;

		cidr.addr.v &= bip_mask(cidr.addr.family, cidr.len);
		rc = get_blk(&a, cidr, &b);
		if (rc != BIP_OK)
			goto out;
		if (!b)
			continue;
		o = (uint32_t)bip_prefix_ordinal(b->cidr, a.rec.held.addrs[i].addr);
		if (b->handle[o] && strcmp(b->handle[o], id) == 0)
			bip__blk_release(b, o);
	}
	rc = bip__txn_init(ip, &t, 2 + 2 * a.cache.nblks);
	if (rc != BIP_OK)
		goto out;
	rc = BIP_ENOMEM;
	bip__key_handle(key, id);
	k = bip__txn_key(ip, &t, key);
	if (!k)
		goto out;
	bip__txn_cmp(ip, &t, k, a.rec.handle_rev);
	bip__txn_del(ip, &t, k);
	for (size_t i = 0; i < a.cache.nblks; i++) {
		struct blk *b = a.cache.blks[i];
		bool drop;
		size_t len;
		char *v;

		if (!b->dirty)
			continue;
		bip__key_block(key, b->cidr);
		k = bip__txn_key(ip, &t, key);
		if (!k)
			goto out;
		bip__txn_cmp(ip, &t, k, b->rev);
		if (!b->node && b->used == 0) { /* an unowned block goes with its last address */
			bip__txn_del(ip, &t, k);
			continue;
		}
		rc = empty_block_unwanted(&a, b, &drop);
		if (rc != BIP_OK)
			goto out;
		rc = BIP_ENOMEM;
		if (drop) { /* its pool no longer wants it on its node: block and affinity go */
			bip__txn_del(ip, &t, k);
			bip__key_affinity(key, b->node, b->cidr);
			k = bip__txn_key(ip, &t, key);
			if (!k)
				goto out;
			bip__txn_del(ip, &t, k);
			continue;
		}
		v = bip__blk_encode(ip, b, &len);
		if (!v)
			goto out;
		bip__txn_put(ip, &t, k, v, len);
		rc = put_free_count(ip, &t, b);
		if (rc != BIP_OK)
			goto out;
		rc = BIP_ENOMEM;
	}
	rc = bip__txn_commit(ip, &t, NULL);
	if (rc != BIP_OK && rc != BIP_ECONFLICT)
		bip__seterr(ip, rc, "cannot commit the release of '%s'", id);
out:
	bip__txn_clear(&t);
	attempt_clear(&a);
	return rc;
}

/* One attempt under the store's writer lock. */
static int release_handle_locked(struct bip_ipam *ip, void *ctx)
{
	int rc = store_lock(ip, true);

	if (rc != BIP_OK)
		return rc;
	rc = release_handle_once(ip, ctx);
	store_lock(ip, false);
	return rc;
}

int bip_ipam_release_handle(struct bip_ipam *ip, const char *handle)
{
	char what[BIP_HANDLE_MAX + 24];

	ip->errmsg[0] = '\0';
	if (!bip__valid_handle(handle))
		return bip__seterr(ip, BIP_EINVAL, "invalid handle '%s'", handle ? handle : "");
	snprintf(what, sizeof(what), "the release of '%s'", handle);
	return bip__retry(ip, release_handle_locked, (void *)handle, what);
}

/* The block holding addr: by the pools' block size, else by scanning block keys. */
static int find_block_of(struct attempt *a, struct bip_addr addr, struct blk **out)
{
	struct bip_prefix one = {addr, (uint8_t)bip_addr_bits(addr)};
	const struct bip_pool *p;
	int rc;

	*out = NULL;
	rc = bip__load_pools(a->ip, &a->rec.pools, &a->rec.pool_revs, &a->rec.npools);
	if (rc != BIP_OK)
		return rc;
	a->rec.have_pools = true;
	p = bip__pool_of(a->rec.pools, a->rec.npools, one);
	if (p) {
		struct bip_prefix cidr;

		bip_prefix_sub_of(p->cidr, p->block_len, addr, &cidr, NULL);
		rc = get_blk(a, cidr, out);
		if (rc != BIP_OK || *out)
			return rc;
	}
	rc = need_existing(a);
	if (rc != BIP_OK)
		return rc;
	for (size_t i = 0; i < a->cache.nexisting; i++)
		if (bip_prefix_contains(a->cache.existing[i], addr))
			return get_blk(a, a->cache.existing[i], out);
	return BIP_OK;
}

static int release_addr_once(struct bip_ipam *ip, struct bip_addr addr, const char *expect)
{
	struct attempt a = {.ip = ip};
	struct bip_alloc_req req = {0};
	struct bip__txn t = {0};
	char key[KEY_LEN], as[BIP_ADDR_STRLEN];
	const char *k;
	struct blk *b;
	uint32_t o;
	size_t len;
	char *v;
	bool drop;
	int rc;

	a.req = &req;
	bip_addr_fmt(addr, as);
	rc = find_block_of(&a, addr, &b);
	if (rc != BIP_OK)
		goto out;
	o = b ? (uint32_t)bip_prefix_ordinal(b->cidr, addr) : 0;
	if (!b || !b->handle[o]) {
		rc = bip__seterr(ip, BIP_ENOTFOUND, "address %s is not allocated", as);
		goto out;
	}
	if (expect && strcmp(b->handle[o], expect) != 0) {
		rc = bip__seterr(ip, BIP_EOWNER, "address %s is now held by '%s', not '%s'", as,
				 b->handle[o], expect);
		goto out;
	}
	req.handle = b->handle[o];
	rc = read_handle(&a);
	if (rc != BIP_OK)
		goto out;
	rc = bip__txn_init(ip, &t, 4);
	if (rc != BIP_OK)
		goto out;
	rc = BIP_ENOMEM;
	bip__key_handle(key, b->handle[o]);
	k = bip__txn_key(ip, &t, key);
	if (!k)
		goto out;
	bip__txn_cmp(ip, &t, k, a.rec.have_handle ? a.rec.handle_rev : 0);
	if (a.rec.have_handle) {
		/* Drop this address from the handle; delete the handle when it was the last. */
		size_t j = 0;
		bool listed;

		for (size_t i = 0; i < a.rec.held.naddrs; i++)
			if (!bip_addr_eq(a.rec.held.addrs[i].addr, addr))
				a.rec.held.addrs[j++] = a.rec.held.addrs[i];
		listed = j < a.rec.held.naddrs;
		a.rec.held.naddrs = j;
		if (!listed) {
			/* a leak (the record does not list it): the record stays as it is */
		} else if (j == 0) {
			bip__txn_del(ip, &t, k);
		} else {
			v = bip__handle_encode(ip, &a.rec.held, &len);
			if (!v)
				goto out;
			bip__txn_put(ip, &t, k, v, len);
		}
	}
	bip__blk_release(b, o);
	rc = empty_block_unwanted(&a, b, &drop);
	if (rc != BIP_OK)
		goto out;
	rc = BIP_ENOMEM;
	bip__key_block(key, b->cidr);
	k = bip__txn_key(ip, &t, key);
	if (!k)
		goto out;
	bip__txn_cmp(ip, &t, k, b->rev);
	if (!b->node && b->used == 0) {
		bip__txn_del(ip, &t, k);
	} else if (drop) { /* its pool no longer wants it on its node: block and affinity go */
		bip__txn_del(ip, &t, k);
		bip__key_affinity(key, b->node, b->cidr);
		k = bip__txn_key(ip, &t, key);
		if (!k)
			goto out;
		bip__txn_del(ip, &t, k);
	} else {
		v = bip__blk_encode(ip, b, &len);
		if (!v)
			goto out;
		bip__txn_put(ip, &t, k, v, len);
		rc = put_free_count(ip, &t, b);
		if (rc != BIP_OK)
			goto out;
	}
	rc = bip__txn_commit(ip, &t, NULL);
	if (rc != BIP_OK && rc != BIP_ECONFLICT)
		bip__seterr(ip, rc, "cannot commit the release of %s", as);
out:
	bip__txn_clear(&t);
	attempt_clear(&a);
	return rc;
}

struct release_addr_ctx {
	struct bip_addr addr;
	const char *expect;
};

/* One attempt under the store's writer lock. */
static int release_addr_locked(struct bip_ipam *ip, void *ctx)
{
	const struct release_addr_ctx *c = ctx;
	int rc = store_lock(ip, true);

	if (rc != BIP_OK)
		return rc;
	rc = release_addr_once(ip, c->addr, c->expect);
	store_lock(ip, false);
	return rc;
}

int bip_ipam_release_addr(struct bip_ipam *ip, struct bip_addr addr, const char *expect_handle)
{
	struct release_addr_ctx c = {addr, expect_handle};
	char what[BIP_ADDR_STRLEN + 16] = "the release of ";

	ip->errmsg[0] = '\0';
	if (expect_handle && !bip__valid_handle(expect_handle))
		return bip__seterr(ip, BIP_EINVAL, "invalid handle '%s'", expect_handle);
	bip_addr_fmt(addr, what + strlen(what));
	return bip__retry(ip, release_addr_locked, &c, what);
}

/* --- lifecycle of the handle object ----------------------------------------------------- */

int bip_ipam_new(struct bip_store *store, struct bip_ipam **out)
{
	struct bip_ipam *ip;
	struct timespec ts;

	if (!store)
		return BIP_EINVAL;
	ip = calloc(1, sizeof(*ip));
	if (!ip)
		return BIP_ENOMEM;
	ip->store = store;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ip->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
		  0x9e3779b97f4a7c15ull;
	*out = ip;
	return BIP_OK;
}

void bip_ipam_free(struct bip_ipam *ip)
{
	free(ip);
}

const char *bip_ipam_errmsg(const struct bip_ipam *ip)
{
	return ip ? ip->errmsg : "";
}

uint64_t bip_ipam_retries(const struct bip_ipam *ip)
{
	return ip->retries;
}

void bip_ipam_fail_alloc_after(struct bip_ipam *ip, long n)
{
	ip->fail_after = n;
	ip->nallocs = 0;
	ip->fail_once = false;
}

int bip_ipam_handle_get(struct bip_ipam *ip, const char *handle, struct bip_handle_info *out)
{
	struct attempt a = {.ip = ip};
	struct bip_alloc_req req = {.handle = handle};
	int rc;

	ip->errmsg[0] = '\0';
	if (!bip__valid_handle(handle))
		return bip__seterr(ip, BIP_EINVAL, "invalid handle '%s'", handle ? handle : "");
	a.req = &req;
	rc = read_handle(&a);
	if (rc == BIP_OK && !a.rec.have_handle)
		rc = bip__seterr(ip, BIP_ENOTFOUND, "handle '%s' holds no address", handle);
	if (rc == BIP_OK) {
		*out = a.rec.held;
		out->rev = a.rec.handle_rev;
		memset(&a.rec.held, 0, sizeof(a.rec.held));
	}
	attempt_clear(&a);
	return rc;
}
