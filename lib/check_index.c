/*
 * The block index against the blocks (lib/blockidx.c): every block has its entry and every
 * entry its block. A block without an entry is invisible to claims that walk the index: a node
 * whose walk reaches its position tries to create it, loses its compare every time, and its
 * ADDs fail; an entry without a block keeps a free position from ever being claimed. Neither
 * can hand out an address twice (a claim's compare on the block key decides), so both are
 * repairable: the entry made or deleted, conditioned on the block and the entry as read.
 *
 * The entries are listed after the blocks, so a block claimed or released in between looks
 * like a mismatch: each one is read again, block and entry at one revision, and judged on that.
 * A store still in format 1 has no index yet (the first allocation builds it): nothing to judge.
 */
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "internal.h"

struct entries {
	struct bip_ipam *ip;
	struct bip_prefix *v;
	size_t n, cap;
	struct checker *c;
};

static int on_entry(void *ctx, const struct bip_kv *kv)
{
	struct entries *e = ctx;
	struct bip_prefix cidr;

	if (bip__blockidx_parse(kv->key, &cidr) != BIP_OK) {
		int rc = bip__ck_problem(e->c, BIP_PROB_BLOCK_CORRUPT, kv->key,
					 kv->key + strlen(PFX_BLOCKIDX),
					 "the block index key does not name a block");
		bip__ck_last(e->c, kv->rev, false);
		return rc;
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 256;
		struct bip_prefix *v = bip__im_realloc(e->ip, e->v, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = cidr;
	return BIP_OK;
}

static int cmp_prefix(const void *x, const void *y)
{
	return bip_prefix_cmp(*(const struct bip_prefix *)x, *(const struct bip_prefix *)y);
}

static int format_version(struct checker *c, unsigned *version)
{
	struct bip_kv kv = {0};
	int rc = bip_store_get(c->ip->store, KEY_FORMAT, &kv);

	if (rc == BIP_ENOTFOUND)
		return bip__format_decode(NULL, version);
	if (rc != BIP_OK)
		return bip__store_fail(c->ip, rc, "cannot read the store's %s record", KEY_FORMAT);
	rc = bip__format_decode(&kv, version);
	bip_kv_clear(&kv);
	if (rc != BIP_OK)
		return bip__seterr(c->ip, rc, "store record %s does not decode", KEY_FORMAT);
	return BIP_OK;
}

/* Judge cidr again, its block and its entry read at one revision; report and repair. */
static int judge(struct checker *c, struct bip_prefix cidr)
{
	char bkey[KEY_LEN], ikey[KEY_LEN], cs[BIP_PREFIX_STRLEN];
	struct bip_read reads[2] = {{bkey, false, BIP_LIST_KEYS_ONLY},
				    {ikey, false, BIP_LIST_KEYS_ONLY}};
	struct bip_kvs got[2] = {{0}};
	int64_t brev, irev;
	int rc;

	bip__key_block(bkey, cidr);
	bip__key_blockidx(ikey, cidr);
	rc = bip_store_read(c->ip->store, reads, 2, got, NULL);
	if (rc != BIP_OK)
		return bip__store_fail(c->ip, rc, "cannot read %s and %s", bkey, ikey);
	brev = got[0].n ? got[0].v[0].rev : 0;
	irev = got[1].n ? got[1].v[0].rev : 0;
	bip_kvs_free(&got[0]);
	bip_kvs_free(&got[1]);
	if ((brev > 0) == (irev > 0))
		return BIP_OK; /* it changed under the scan, and agrees now */
	bip_prefix_fmt(cidr, cs);
	rc = brev > 0
		 ? bip__ck_problem(c, BIP_PROB_BLOCK_INDEX, ikey, cs,
				   "block %s has no block index entry: claims cannot see it", cs)
		 : bip__ck_problem(c, BIP_PROB_BLOCK_INDEX, ikey, cs,
				   "the block index names %s, which is not a block: its "
				   "position cannot be claimed",
				   cs);
	if (rc != BIP_OK)
		return rc;
	bip__ck_last(c, irev, true);
	if (!bip__ck_may_repair(c, c->rep->n - 1, c->rep->n))
		return BIP_OK;
	rc = bip__blockidx_fix(c->ip, cidr, brev, irev);
	if (rc == BIP_OK)
		c->rep->v[c->rep->n - 1].repaired = true;
	else if (rc != BIP_ECONFLICT) /* it moved: the next check sees it again */
		return bip__store_fail(c->ip, rc, "cannot repair %s", ikey);
	return BIP_OK;
}

int bip__ck_index(struct checker *c)
{
	struct entries e = {.ip = c->ip, .c = c};
	unsigned version;
	size_t i = 0, j = 0;
	int rc = format_version(c, &version);

	if (rc != BIP_OK || version < BIP__FORMAT)
		return rc;
	rc = bip_store_list_cb(c->ip->store, PFX_BLOCKIDX, BIP_LIST_KEYS_ONLY, on_entry, &e, NULL);
	if (rc != BIP_OK && rc != BIP_ENOMEM)
		bip__store_fail(c->ip, rc, "cannot list the block index");
	if (rc == BIP_OK && e.n)
		qsort(e.v, e.n, sizeof(*e.v), cmp_prefix);
	/* both sorted: walk them side by side */
	while (rc == BIP_OK && (i < c->nblocks || j < e.n)) {
		int k = i == c->nblocks ? 1
			: j == e.n	? -1
					: bip_prefix_cmp(c->blocks[i].cidr, e.v[j]);

		if (k == 0) {
			i++;
			j++;
			continue;
		}
		rc = judge(c, k < 0 ? c->blocks[i].cidr : e.v[j]);
		if (k < 0)
			i++;
		else
			j++;
	}
	free(e.v);
	return rc;
}
