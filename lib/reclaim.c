/*
 * Blocks a node gives back: every block empty for at least min_age_s goes, with its owner's
 * affinity, each in one transaction conditioned on the block being as read (a block that
 * changed since is in use again and stays).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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
	rc = bip__foreach_block(ip, on_empty, &e);
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
			rc = bip__store_fail(ip, trc, "cannot delete %s", e.v[i].key);
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
