/*
 * The check of affinities against blocks: every affinity names a block of its node, confirmed;
 * every block that names a node has that node's affinity. Disagreement is read again with the
 * block at one revision; repairs delete or confirm an affinity, or write a missing one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "internal.h"

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
	rc = bip__ck_reread(c, keys, 2, got);
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

/* Repair the last problem: delete the affinity at key, or confirm it, if the records cmps name
 * are still as read; a lost compare leaves it to the next check. */
static int repair_affinity(struct checker *c, const char *key, bool del, const struct bip_cmp *cmps,
			   size_t ncmp)
{
	const char *val = bip__affinity_value(AFF_CONFIRMED);
	struct bip_op op = del ? (struct bip_op){BIP_OP_DEL, key}
			       : (struct bip_op){BIP_OP_PUT, key, val, strlen(val)};
	int trc;

	if (!bip__ck_may_repair(c, c->rep->n - 1, c->rep->n))
		return BIP_OK;
	trc = bip_store_txn(c->ip->store, cmps, ncmp, &op, 1, NULL);
	if (trc == BIP_OK)
		c->rep->v[c->rep->n - 1].repaired = true;
	if (trc != BIP_OK && trc != BIP_ECONFLICT)
		bip__store_fail(c->ip, trc, "cannot %s %s", del ? "delete" : "write", key);
	return trc == BIP_ECONFLICT ? BIP_OK : trc;
}

/* An affinity as the scan saw it, or as read again with its block. */
struct aff_view {
	const struct bip_kv *kv;
	char node[BIP_NAME_MAX + 1];
	char cs[BIP_PREFIX_STRLEN];
	struct bip_prefix cidr;
	enum aff_state st;
	struct c_block *b; /* the scan's block, NULL for none */
	const char *bnode; /* the block's node as judged */
	bool exists;	   /* the block as judged */
	struct bip_cmp cmps[2];
	char bkey[KEY_LEN];
	char now_node[BIP_NAME_MAX + 1]; /* the block's node as read again */
};

/* Parse kv into v; false for a record that does not decode (reported). */
static bool aff_parse(struct checker *c, const struct bip_kv *kv, struct aff_view *v, int *rc)
{
	const char *rest = kv->key + strlen(PFX_AFFINITY);
	const char *slash = strchr(rest, '/');

	memset(v, 0, sizeof(*v));
	v->kv = kv;
	if (!slash || (size_t)(slash - rest) > BIP_NAME_MAX ||
	    bip__cidr_from_keypart(slash + 1, &v->cidr) != BIP_OK ||
	    bip__affinity_decode(kv->value, kv->len, &v->st, NULL, NULL) != BIP_OK) {
		*rc = bip__ck_problem(c, BIP_PROB_BLOCK_CORRUPT, kv->key, rest,
				      "the affinity record does not decode");
		bip__ck_last(c, kv->rev, false);
		return false;
	}
	memcpy(v->node, rest, (size_t)(slash - rest));
	v->node[slash - rest] = '\0';
	bip_prefix_fmt(v->cidr, v->cs);
	v->b = bip__ck_find_block(c, v->cidr);
	v->exists = v->b != NULL;
	v->bnode = v->b ? v->b->node : NULL;
	v->cmps[0] = (struct bip_cmp){kv->key, kv->rev};
	return true;
}

/* Count an affinity that agrees with the scan's block of its node. */
static void aff_agrees(struct aff_view *v)
{
	if (v->b && v->b->node && strcmp(v->b->node, v->node) == 0) {
		v->b->naff++;
		v->b->has_node_aff = true;
	}
}

/* Whether to judge v: as the scan saw it when that agrees; else as read again with its block,
 * unless it is gone or fine now (a claim or release in between). */
static bool aff_to_judge(struct checker *c, struct aff_view *v, int *rc)
{
	struct aff_now now;

	if (v->b && v->b->node && strcmp(v->b->node, v->node) == 0 && v->st == AFF_CONFIRMED)
		return true;
	*rc = reread_affinity(c, v->kv->key, v->cidr, &now);
	if (*rc != BIP_OK || !now.aff_rev)
		return false; /* an error, or gone meanwhile */
	if (now.blk_rev && now.blk_ok && strcmp(now.node, v->node) == 0 &&
	    now.st == AFF_CONFIRMED) {
		aff_agrees(v);
		return false;
	}
	v->st = now.st;
	v->exists = now.blk_rev && now.blk_ok;
	snprintf(v->now_node, sizeof(v->now_node), "%s", now.node);
	v->bnode = v->now_node[0] ? v->now_node : NULL;
	v->cmps[0].rev = now.aff_rev;
	bip__key_block(v->bkey, v->cidr);
	v->cmps[1] = (struct bip_cmp){v->bkey, now.blk_rev};
	return true;
}

/* Judge one affinity record, and repair it when asked. */
static int check_affinity(struct checker *c, const struct bip_kv *kv)
{
	struct aff_view v;
	bool del = false, fix = false;
	int rc = BIP_OK;

	c->rep->affinities++;
	if (!aff_parse(c, kv, &v, &rc))
		return rc;
	if (!aff_to_judge(c, &v, &rc))
		return rc;
	if (!v.exists) {
		rc = bip__ck_problem(
		    c,
		    v.st == AFF_CONFIRMED ? BIP_PROB_AFFINITY_NO_BLOCK : BIP_PROB_AFFINITY_PENDING,
		    kv->key, v.cs, "node '%s' has a %s affinity for block %s, which does not exist",
		    v.node, v.st == AFF_CONFIRMED ? "confirmed" : "pending", v.cs);
		del = true;
	} else if (!v.bnode || strcmp(v.bnode, v.node) != 0) {
		if (v.b)
			v.b->naff++;
		rc = bip__ck_problem(
		    c,
		    v.b && v.b->naff > 1 ? BIP_PROB_BLOCK_TWO_OWNERS : BIP_PROB_AFFINITY_MISMATCH,
		    kv->key, v.cs, "node '%s' has an affinity for block %s, which belongs to %s",
		    v.node, v.cs, v.bnode ? v.bnode : "no node");
		del = true;
	} else {
		if (v.b) {
			v.b->naff++;
			v.b->has_node_aff = true;
		}
		if (v.st != AFF_CONFIRMED) {
			rc = bip__ck_problem(c, BIP_PROB_AFFINITY_PENDING, kv->key, v.cs,
					     "node '%s' owns block %s but its affinity is left %s",
					     v.node, v.cs,
					     v.st == AFF_PENDING ? "pending" : "pendingDeletion");
			fix = true;
		}
	}
	if (rc != BIP_OK || !(del || fix))
		return rc;
	bip__ck_last(c, v.cmps[0].rev, true);
	return repair_affinity(c, kv->key, del, v.cmps, v.cmps[1].key ? 2 : 1);
}

/* A block that names a node without that node's affinity. */
static int check_block_affinity(struct checker *c, struct c_block *b)
{
	char cs[BIP_PREFIX_STRLEN], key[KEY_LEN], bkey[KEY_LEN];
	struct bip_cmp cmps[2];
	struct aff_now now;
	int rc;

	bip_prefix_fmt(b->cidr, cs);
	bip__key_affinity(key, b->node, b->cidr);
	rc = reread_affinity(c, key, b->cidr, &now);
	if (rc != BIP_OK)
		return rc;
	if (now.aff_rev || !now.blk_rev || !now.blk_ok || strcmp(now.node, b->node) != 0)
		return BIP_OK; /* its affinity came, or the block went or moved, meanwhile */
	b->rev = now.blk_rev;
	rc = bip__ck_problem(c, BIP_PROB_AFFINITY_MISMATCH, key, cs,
			     "block %s names node '%s', which has no affinity for it", cs, b->node);
	if (rc != BIP_OK)
		return rc;
	bip__ck_last(c, b->rev, true);
	bip__key_block(bkey, b->cidr);
	cmps[0] = (struct bip_cmp){key, 0};
	cmps[1] = (struct bip_cmp){bkey, b->rev};
	return repair_affinity(c, key, false, cmps, 2);
}

int bip__ck_affinities(struct checker *c)
{
	struct bip_kvs kvs = {0};
	int rc = bip_store_list(c->ip->store, PFX_AFFINITY, 0, &kvs);

	if (rc != BIP_OK)
		return bip__store_fail(c->ip, rc, "cannot list affinities");
	for (size_t i = 0; i < kvs.n && rc == BIP_OK; i++)
		rc = check_affinity(c, &kvs.v[i]);
	for (size_t i = 0; i < c->nblocks && rc == BIP_OK; i++)
		if (c->blocks[i].node && !c->blocks[i].has_node_aff)
			rc = check_block_affinity(c, &c->blocks[i]);
	bip_kvs_free(&kvs);
	return rc;
}
