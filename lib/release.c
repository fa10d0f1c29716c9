/*
 * Release, by handle or by address: the addresses leave their blocks and the handle record
 * goes (or lists what is left), in one transaction conditioned on every record as read; a
 * block left empty records when, for emptyBlockReleaseSeconds.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc_int.h"

/* A block changed by a release, compared with the one read: an unowned block goes with its
 * last address; an empty one its pool no longer wants on its node goes with its affinity; any
 * other is written back, its owner's affinity carrying the new free count. */
static int put_block_back(struct attempt *a, struct bip__txn *t, const struct blk *b)
{
	char key[KEY_LEN];
	const char *k;
	char *v;
	size_t len = 0;
	bool drop;
	int rc;

	bip__key_block(key, b->cidr);
	k = bip__txn_key(a->ip, t, key);
	bip__txn_cmp(a->ip, t, k, b->rev);
	if (!b->node && b->used == 0) {
		bip__txn_del(a->ip, t, k);
		return BIP_OK;
	}
	rc = bip__empty_block_unwanted(a, b, &drop);
	if (rc != BIP_OK)
		return rc;
	if (drop) {
		bip__txn_del(a->ip, t, k);
		bip__key_affinity(key, b->node, b->cidr);
		bip__txn_del(a->ip, t, bip__txn_key(a->ip, t, key));
		return BIP_OK;
	}
	v = bip__blk_encode(a->ip, b, &len);
	bip__txn_put(a->ip, t, k, v, len);
	return bip__put_free_count(a->ip, t, b);
}

static int release_handle_once(struct bip_ipam *ip, const char *id)
{
	struct attempt a = {.ip = ip};
	struct bip_alloc_req req = {.handle = id};
	struct bip__txn t = {0};
	char key[KEY_LEN];
	const char *k;
	int rc;

	a.req = &req;
	rc = bip__read_handle(&a);
	if (rc != BIP_OK)
		goto out;
	if (!a.rec.have_handle) {
		rc = bip__seterr(ip, BIP_ENOTFOUND, "handle '%s' holds no address", id);
		goto out;
	}
	rc = bip__prefetch_held(&a);
	if (rc != BIP_OK)
		goto out;
	for (size_t i = 0; i < a.rec.held.naddrs; i++) {
		struct bip_prefix cidr = a.rec.held.addrs[i];
		struct blk *b;
		uint32_t o;

		cidr.addr.v &= bip_mask(cidr.addr.family, cidr.len);
		rc = bip__get_blk(&a, cidr, &b);
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
	bip__key_handle(key, id);
	k = bip__txn_key(ip, &t, key);
	bip__txn_cmp(ip, &t, k, a.rec.handle_rev);
	bip__txn_del(ip, &t, k);
	for (size_t i = 0; i < a.cache.nblks && rc == BIP_OK; i++)
		if (a.cache.blks[i]->dirty)
			rc = put_block_back(&a, &t, a.cache.blks[i]);
	if (rc != BIP_OK)
		goto out;
	rc = bip__txn_commit(ip, &t, NULL);
	if (rc != BIP_OK && rc != BIP_ECONFLICT && rc != BIP_ENOMEM)
		bip__store_fail(ip, rc, "cannot commit the release of '%s'", id);
out:
	bip__txn_clear(&t);
	bip__attempt_clear(&a);
	return rc;
}

/* One attempt under the store's writer lock. */
static int release_handle_locked(struct bip_ipam *ip, void *ctx)
{
	int rc = bip__store_lock(ip, true);

	if (rc != BIP_OK)
		return rc;
	rc = release_handle_once(ip, ctx);
	bip__store_lock(ip, false);
	return rc;
}

int bip_ipam_release_handle(struct bip_ipam *ip, const char *handle)
{
	char what[BIP_HANDLE_MAX + 24];
	int rc;

	ip->errmsg[0] = '\0';
	if (!bip__valid_handle(handle))
		return bip__seterr(ip, BIP_EINVAL, "invalid handle '%s'", handle ? handle : "");
	snprintf(what, sizeof(what), "the release of '%s'", handle);
	rc = bip__retry(ip, release_handle_locked, (void *)handle, what);
	bip__name_handle(ip, rc, "releasing", handle);
	return rc;
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
		rc = bip__get_blk(a, cidr, out);
		if (rc != BIP_OK || *out)
			return rc;
	}
	rc = bip__need_existing(a);
	if (rc != BIP_OK)
		return rc;
	for (size_t i = 0; i < a->cache.nexisting; i++)
		if (bip_prefix_contains(a->cache.existing[i], addr))
			return bip__get_blk(a, a->cache.existing[i], out);
	return BIP_OK;
}

/* The handle record of id, compared with the one read: without addr (deleted when it was
 * the last); a record that does not list addr (a leak) stays as it is. */
static void drop_from_handle(struct attempt *a, struct bip__txn *t, const char *id,
			     struct bip_addr addr)
{
	struct bip_handle_info *h = &a->rec.held;
	char key[KEY_LEN];
	const char *k;
	size_t j = 0, len = 0;
	bool listed;

	bip__key_handle(key, id);
	k = bip__txn_key(a->ip, t, key);
	bip__txn_cmp(a->ip, t, k, a->rec.have_handle ? a->rec.handle_rev : 0);
	if (!a->rec.have_handle)
		return;
	for (size_t i = 0; i < h->naddrs; i++)
		if (!bip_addr_eq(h->addrs[i].addr, addr))
			h->addrs[j++] = h->addrs[i];
	listed = j < h->naddrs;
	h->naddrs = j;
	if (listed && j == 0)
		bip__txn_del(a->ip, t, k);
	else if (listed) {
		char *v = bip__handle_encode(a->ip, h, &len);

		bip__txn_put(a->ip, t, k, v, len);
	}
}

static int release_addr_once(struct bip_ipam *ip, struct bip_addr addr, const char *expect)
{
	struct attempt a = {.ip = ip};
	struct bip_alloc_req req = {0};
	struct bip__txn t = {0};
	char as[BIP_ADDR_STRLEN];
	struct blk *b;
	uint32_t o;
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
	rc = bip__read_handle(&a);
	if (rc != BIP_OK)
		goto out;
	rc = bip__txn_init(ip, &t, 4);
	if (rc != BIP_OK)
		goto out;
	drop_from_handle(&a, &t, b->handle[o], addr);
	bip__blk_release(b, o);
	rc = put_block_back(&a, &t, b);
	if (rc != BIP_OK)
		goto out;
	rc = bip__txn_commit(ip, &t, NULL);
	if (rc != BIP_OK && rc != BIP_ECONFLICT && rc != BIP_ENOMEM)
		bip__store_fail(ip, rc, "cannot commit the release of %s", as);
out:
	bip__txn_clear(&t);
	bip__attempt_clear(&a);
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
	int rc = bip__store_lock(ip, true);

	if (rc != BIP_OK)
		return rc;
	rc = release_addr_once(ip, c->addr, c->expect);
	bip__store_lock(ip, false);
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
