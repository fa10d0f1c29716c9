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

int bip__ck_affinities(struct checker *c)
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
			rc = bip__ck_problem(c, BIP_PROB_BLOCK_CORRUPT, kvs.v[i].key, rest,
					     "the affinity record does not decode");
			bip__ck_last(c, kvs.v[i].rev, false);
			continue;
		}
		memcpy(node, rest, (size_t)(slash - rest));
		node[slash - rest] = '\0';
		bip_prefix_fmt(cidr, cs);
		b = bip__ck_find_block(c, cidr);
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
			rc = bip__ck_problem(
			    c,
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
			rc = bip__ck_problem(
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
				rc = bip__ck_problem(
				    c, BIP_PROB_AFFINITY_PENDING, kvs.v[i].key, cs,
				    "node '%s' owns block %s but its affinity is left "
				    "%s",
				    node, cs, st == AFF_PENDING ? "pending" : "pendingDeletion");
				fix = true;
			}
		}
		if (rc == BIP_OK && (del || fix))
			bip__ck_last(c, cmps[0].rev, true);
		if (rc == BIP_OK && (del || fix) &&
		    bip__ck_may_repair(c, c->rep->n - 1, c->rep->n)) {
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
		rc = bip__ck_problem(c, BIP_PROB_AFFINITY_MISMATCH, key, cs,
				     "block %s names node '%s', which has no affinity for it", cs,
				     b->node);
		if (rc == BIP_OK)
			bip__ck_last(c, b->rev, true);
		if (rc == BIP_OK && bip__ck_may_repair(c, c->rep->n - 1, c->rep->n)) {
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
