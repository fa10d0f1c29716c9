/*
 * Releasing affinities, for a pool deleted by force and for a node that leaves: each block
 * goes when empty and becomes unowned otherwise (each address keeps its holding node), one
 * transaction per affinity conditioned on the block and the affinity as read; a lost race lists
 * the affinities again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "txn.h"

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
		return bip__store_fail(ip, rc, "cannot read %s", key);
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
	if (rc != BIP_OK && rc != BIP_ECONFLICT && rc != BIP_ENOMEM)
		bip__store_fail(ip, rc, "cannot release %s", affkey);
	if (rc == BIP_OK && released)
		(*released)++;
out:
	free(v);
	bip__blk_free(b);
	bip_kv_clear(&kv);
	return rc;
}

struct aff_release {
	const struct bip_prefix *within;
	const char *pfx;
	size_t *released, *deleted;
};

/* One pass over the affinities: BIP_ECONFLICT when one of them lost a race (listed again). */
static int release_round(struct bip_ipam *ip, void *ctx)
{
	struct aff_release *ar = ctx;
	struct bip_kvs kvs = {0};
	bool conflict = false;
	int rc = bip_store_list(ip->store, ar->pfx, BIP_LIST_KEYS_ONLY, &kvs);

	if (rc != BIP_OK)
		return bip__store_fail(ip, rc, "cannot list affinities");
	for (size_t i = 0; i < kvs.n && rc == BIP_OK; i++) {
		const char *rest = kvs.v[i].key + strlen(PFX_AFFINITY);
		const char *slash = strchr(rest, '/');
		char node[BIP_NAME_MAX + 1];
		struct bip_prefix cidr;

		if (!slash || (size_t)(slash - rest) > BIP_NAME_MAX ||
		    bip__cidr_from_keypart(slash + 1, &cidr) != BIP_OK)
			continue;
		memcpy(node, rest, (size_t)(slash - rest));
		node[slash - rest] = '\0';
		if (ar->within && !bip_prefix_covers(*ar->within, cidr))
			continue;
		rc = release_one(ip, kvs.v[i].key, kvs.v[i].rev, node, cidr, ar->released,
				 ar->deleted);
		if (rc == BIP_ECONFLICT) {
			conflict = true;
			rc = BIP_OK;
		}
	}
	bip_kvs_free(&kvs);
	return rc == BIP_OK && conflict ? BIP_ECONFLICT : rc;
}

int bip__release_affinities(struct bip_ipam *ip, const struct bip_prefix *within,
			    const char *only_node, size_t *released, size_t *deleted)
{
	char pfx[KEY_LEN];
	struct aff_release ar = {within, pfx, released, deleted};

	if (only_node)
		snprintf(pfx, sizeof(pfx), PFX_AFFINITY "%s/", only_node);
	else
		snprintf(pfx, sizeof(pfx), PFX_AFFINITY);
	return bip__retry(ip, release_round, &ar, "the affinities");
}

int bip_ipam_node_release(struct bip_ipam *ip, const char *node, size_t *released_blocks,
			  size_t *deleted_blocks)
{
	size_t r = 0, d = 0;
	int rc;

	ip->errmsg[0] = '\0';
	if (!bip__valid_name(node))
		return bip__seterr(ip, BIP_EINVAL, "invalid node name '%s'", node ? node : "");
	rc = bip__release_affinities(ip, NULL, node, &r, &d);
	if (released_blocks)
		*released_blocks = r;
	if (deleted_blocks)
		*deleted_blocks = d;
	return rc;
}
