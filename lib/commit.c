/*
 * The commit: the handle record, every changed block, every new affinity, the affinities of
 * blocks taken over and the pools used, in ONE store transaction conditioned on each of them
 * being as read. Then the blocks a node gives back: empty blocks it should not hold any more
 * (pool disabled, its nodeSelector no longer matching).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc_int.h"

/* The handle record: what it held plus what it gets now, compared with the one read. */
static void put_handle(struct attempt *a, struct bip__txn *t)
{
	struct bip_ipam *ip = a->ip;
	const struct bip_alloc_req *req = a->req;
	struct bip_handle_info h = {0};
	char key[KEY_LEN];
	const char *k;
	char *v = NULL;
	size_t len = 0;

	h.addrs = bip__im_calloc(ip, a->rec.held.naddrs + a->pend.nout, sizeof(*h.addrs));
	if (h.addrs) {
		for (size_t i = 0; i < a->rec.held.naddrs; i++)
			h.addrs[h.naddrs++] = a->rec.held.addrs[i];
		for (size_t i = 0; i < a->pend.nout; i++)
			h.addrs[h.naddrs++] =
			    (struct bip_prefix){a->pend.out[i].addr, a->pend.out[i].block.len};
		h.id = (char *)req->handle;
		h.node = (char *)req->node;
		h.namespace =
		    (char *)(req->attrs.namespace ? req->attrs.namespace : req->namespace);
		h.pod = (char *)req->attrs.pod;
		h.container = (char *)req->attrs.container;
		h.ifname = (char *)req->attrs.ifname;
		h.pod_uid = (char *)req->attrs.pod_uid;
		h.time = a->rec.have_handle ? a->rec.held.time : bip__now();
		v = bip__handle_encode(ip, &h, &len);
		free(h.addrs);
	}
	bip__key_handle(key, req->handle);
	k = bip__txn_key(ip, t, key);
	bip__txn_cmp(ip, t, k, a->rec.have_handle ? a->rec.handle_rev : 0);
	bip__txn_put(ip, t, k, v, len); /* a NULL v or k fails the commit: out of memory */
}

/* A changed block, compared with the one read, and its owner's affinity, which carries the
 * block's free count; a new block's affinity must not exist yet (or be the one read, when its
 * block was lost). */
static void put_block(struct attempt *a, struct bip__txn *t, const struct blk *b)
{
	struct bip_ipam *ip = a->ip;
	char key[KEY_LEN];
	const char *k;
	char *v;
	size_t len = 0;

	bip__key_block(key, b->cidr);
	k = bip__txn_key(ip, t, key);
	v = k ? bip__blk_encode(ip, b, &len) : NULL;
	bip__txn_cmp(ip, t, k, b->rev);
	bip__txn_put(ip, t, k, v, len);
	if (!b->node)
		return;
	bip__key_affinity(key, b->node, b->cidr);
	k = bip__txn_key(ip, t, key);
	len = 0;
	v = k ? bip__affinity_encode(ip, b->size - b->used, b->used ? 0 : b->empty_since, &len)
	      : NULL;
	for (size_t j = 0; k && j < a->pend.nnew_aff; j++)
		if (strcmp(b->node, a->req->node) == 0 &&
		    bip_prefix_eq(a->pend.new_aff[j], b->cidr))
			bip__txn_cmp(ip, t, k, a->pend.new_aff_rev[j]);
	bip__txn_put(ip, t, k, v, len);
}

int bip__commit_alloc(struct attempt *a)
{
	struct bip_ipam *ip = a->ip;
	size_t max = 2 + 2 * a->cache.nblks + a->rec.npools + a->pend.ndrop;
	struct bip__txn t;
	char key[KEY_LEN];
	int rc;

	rc = bip__txn_init(ip, &t, max);
	if (rc != BIP_OK)
		goto out;
	put_handle(a, &t);
	for (size_t i = 0; i < a->cache.nblks; i++)
		if (a->cache.blks[i]->dirty)
			put_block(a, &t, a->cache.blks[i]);
	/* Blocks taken over from other nodes: the old owners' affinities go (the block's compare
	 * above is what makes this safe). */
	for (size_t i = 0; i < a->pend.ndrop; i++) {
		bip__key_affinity(key, a->pend.drop_node[i], a->pend.drop_aff[i]);
		bip__txn_del(ip, &t, bip__txn_key(ip, &t, key));
	}
	/* New blocks only inside pools that are still as read (not deleted, disabled, resized). */
	for (size_t i = 0; i < a->rec.npools; i++) {
		if (!a->pend.pool_used[i])
			continue;
		snprintf(key, sizeof(key), PFX_POOLS "%s", a->rec.pools[i].name);
		bip__txn_cmp(ip, &t, bip__txn_key(ip, &t, key), a->rec.pool_revs[i]);
	}
	rc = bip__txn_commit(ip, &t, NULL);
	if (rc != BIP_OK && rc != BIP_ECONFLICT && rc != BIP_ENOMEM)
		bip__store_fail(ip, rc, "cannot commit the allocation for '%s'", a->req->handle);
out:
	bip__txn_clear(&t);
	return rc;
}

/* --- blocks a node gives back ------------------------------------------------------------ */

/* Whether a node should hold no empty block of pool p: p is disabled, or its nodeSelector no
 * longer selects the node (its labels changed, or the pool's selector did: Calico #8823). */
static bool pool_drops_node(const struct bip_pool *p, const struct bip_label_set *labels)
{
	return p->disabled || !bip__selector_matches(p->node_selector, labels);
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
void bip__tidy_own_blocks(struct attempt *a)
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
		struct blk *b = bip__cached_blk(a, a->own.aff[i]);

		nc = host <= 16 && a->own.aff_free[i] == (long)(1u << host) && !(b && b->dirty);
	}
	if (!nc)
		return;
	nc = 0;
	if (!a->rec.node_labels.v &&
	    bip__labels_with_name(ip, a->rec.have_node ? &a->rec.node.labels : NULL,
				  "kubernetes.io/hostname", a->req->node,
				  &a->rec.node_labels) != BIP_OK)
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
		b = bip__cached_blk(a, c);
		if ((b && b->dirty) || !(p = bip__pool_of(a->rec.pools, a->rec.npools, c)))
			continue;
		old = age && a->own.aff_empty[i] && a->now - a->own.aff_empty[i] >= (int64_t)age;
		drop[nc] = pool_drops_node(p, &a->rec.node_labels);
		if (!old && !drop[nc])
			continue;
		cand[nc] = c;
		ci[nc++] = i;
	}
	if (!nc || bip__prefetch_blks(a, cand, nc) != BIP_OK)
		goto out;
	for (size_t k = 0; k < nc; k++) {
		char bkey[KEY_LEN], akey[KEY_LEN];
		struct bip_cmp cmps[2];
		struct bip_op ops[2];
		struct blk *b;

		if (bip__get_blk(a, cand[k], &b) != BIP_OK || !b || b->used || b->dirty ||
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
int bip__empty_block_unwanted(struct attempt *a, const struct blk *b, bool *out)
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
		bip__store_fail(a->ip, rc, "cannot read %s", key);
	}
	if (rc == BIP_OK)
		rc = bip__labels_with_name(a->ip, have ? &node.labels : NULL,
					   "kubernetes.io/hostname", b->node, &labels);
	if (rc == BIP_OK)
		*out = pool_drops_node(p, &labels);
	bip__label_set_clear(&labels);
	bip_node_clear(&node);
	bip_kv_clear(&kv);
	return rc;
}
