/*
 * The resources operators manage besides pools: the IPAM config, reservations, nodes and
 * namespaces, each a named record under its own prefix. Every write validates the whole
 * resource first and is one conditional transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* --- config ----------------------------------------------------------------------------- */

void bip_config_default(struct bip_config *c)
{
	c->strict_affinity = false;
	c->auto_allocate_blocks = true;
	c->max_blocks_per_host = 0;
	c->empty_block_release_s = BIP_EMPTY_BLOCK_RELEASE_DEFAULT;
	c->ip_cooldown_s = 0;
}

int bip_ipam_config_get(struct bip_ipam *ip, struct bip_config *out)
{
	struct bip_kv kv = {0};
	int rc;

	ip->errmsg[0] = '\0';
	rc = bip_store_get(ip->store, KEY_CONFIG, &kv);
	if (rc == BIP_ENOTFOUND) {
		bip_config_default(out);
		return BIP_OK;
	}
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot read the IPAM config");
	rc = bip__config_decode(ip, kv.value, kv.len, out);
	bip_kv_clear(&kv);
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "store record %s does not decode", KEY_CONFIG);
	return BIP_OK;
}

int bip_ipam_config_set(struct bip_ipam *ip, const struct bip_config *cfg)
{
	struct bip_op op = {BIP_OP_PUT, KEY_CONFIG, NULL, 0};
	char *v;
	int rc;

	ip->errmsg[0] = '\0';
	if (cfg->max_blocks_per_host > 1000000)
		return bip__seterr(ip, BIP_EINVAL, "maxBlocksPerHost %u out of range 0-1000000",
				   cfg->max_blocks_per_host);
	if (cfg->ip_cooldown_s > BIP_COOLDOWN_MAX)
		return bip__seterr(ip, BIP_EINVAL, "ipCooldownSeconds %u out of range 0-%d",
				   cfg->ip_cooldown_s, BIP_COOLDOWN_MAX);
	if (cfg->empty_block_release_s > 365u * 86400)
		return bip__seterr(ip, BIP_EINVAL, "emptyBlockReleaseSeconds %u out of range 0-%u",
				   cfg->empty_block_release_s, 365u * 86400);
	/* strictAffinity off with autoAllocateBlocks off is allowed (Calico refuses it): nodes
	 * then only borrow, which is what such a setting asks for. */
	v = bip__config_encode(ip, cfg, &op.len);
	if (!v)
		return BIP_ENOMEM;
	op.value = v;
	rc = bip_store_txn(ip->store, NULL, 0, &op, 1, NULL);
	free(v);
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot write the IPAM config");
	return BIP_OK;
}

/* --- generic named records ---------------------------------------------------------------- */

static int put_named(struct bip_ipam *ip, const char *pfx, const char *name, char *v, size_t len)
{
	char key[KEY_LEN];
	struct bip_op op;
	int rc;

	if (!v)
		return BIP_ENOMEM;
	snprintf(key, sizeof(key), "%s%s", pfx, name);
	op = (struct bip_op){BIP_OP_PUT, key, v, len};
	rc = bip_store_txn(ip->store, NULL, 0, &op, 1, NULL);
	free(v);
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot write %s", key);
	return BIP_OK;
}

static int get_named(struct bip_ipam *ip, const char *pfx, const char *what, const char *name,
		     struct bip_kv *kv)
{
	char key[KEY_LEN];
	int rc;

	if (!bip__valid_name(name))
		return bip__seterr(ip, BIP_EINVAL, "invalid %s name '%s'", what, name ? name : "");
	snprintf(key, sizeof(key), "%s%s", pfx, name);
	rc = bip_store_get(ip->store, key, kv);
	if (rc == BIP_ENOTFOUND)
		return bip__seterr(ip, rc, "%s '%s' does not exist", what, name);
	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot read %s", key);
	return BIP_OK;
}

static int delete_named(struct bip_ipam *ip, const char *pfx, const char *what, const char *name)
{
	struct bip_kv kv = {0};
	struct bip_cmp cmp;
	struct bip_op op;
	char key[KEY_LEN];
	int rc = get_named(ip, pfx, what, name, &kv);

	if (rc != BIP_OK)
		return rc;
	snprintf(key, sizeof(key), "%s%s", pfx, name);
	cmp = (struct bip_cmp){key, kv.rev};
	op = (struct bip_op){BIP_OP_DEL, key};
	bip_kv_clear(&kv);
	rc = bip_store_txn(ip->store, &cmp, 1, &op, 1, NULL);
	if (rc == BIP_ECONFLICT)
		return bip__seterr(ip, BIP_EAGAIN, "%s '%s' changed while deleting it", what, name);
	return rc;
}

typedef int (*decode_fn)(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
			 void *out);

/* get_named, then decode into out. */
static int get_decoded(struct bip_ipam *ip, const char *pfx, const char *what, const char *name,
		       decode_fn dec, void *out)
{
	struct bip_kv kv = {0};
	int rc;

	ip->errmsg[0] = '\0';
	rc = get_named(ip, pfx, what, name, &kv);
	if (rc == BIP_OK) {
		rc = dec(ip, name, kv.value, kv.len, out);
		if (rc != BIP_OK)
			bip__seterr(ip, rc, "store record %s%s does not decode", pfx, name);
	}
	bip_kv_clear(&kv);
	return rc;
}

static int list_named(struct bip_ipam *ip, const char *pfx, size_t elem, decode_fn dec,
		      void (*clear)(void *), void **out, size_t *n)
{
	struct bip_kvs kvs = {0};
	char *v;
	size_t k = 0;
	int rc = bip_store_list(ip->store, pfx, 0, &kvs);

	if (rc != BIP_OK)
		return bip__seterr(ip, rc, "cannot list %s", pfx);
	v = bip__im_calloc(ip, kvs.n, elem);
	rc = BIP_ENOMEM;
	if (!v)
		goto out;
	for (; k < kvs.n; k++) {
		rc =
		    dec(ip, kvs.v[k].key + strlen(pfx), kvs.v[k].value, kvs.v[k].len, v + k * elem);
		if (rc != BIP_OK) {
			bip__seterr(ip, rc, "store record %s does not decode", kvs.v[k].key);
			goto out;
		}
	}
	*out = v;
	*n = kvs.n;
	v = NULL;
	k = 0;
	rc = BIP_OK;
out:
	for (size_t i = 0; i < k; i++)
		clear(v + i * elem);
	free(v);
	bip_kvs_free(&kvs);
	return rc;
}

/* --- reservations --------------------------------------------------------------------------- */

void bip_reservation_clear(struct bip_reservation *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->cidrs);
	memset(r, 0, sizeof(*r));
}

void bip_reservations_free(struct bip_reservation *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		bip_reservation_clear(&v[i]);
	free(v);
}

int bip_ipam_reservation_put(struct bip_ipam *ip, const struct bip_reservation *r)
{
	size_t len = 0;
	char *v;

	ip->errmsg[0] = '\0';
	if (!bip__valid_name(r->name))
		return bip__seterr(ip, BIP_EINVAL, "invalid reservation name '%s'",
				   r->name ? r->name : "");
	if (r->ncidrs > 4096)
		return bip__seterr(ip, BIP_EINVAL,
				   "reservation '%s': too many CIDRs (at most 4096)", r->name);
	for (size_t i = 0; i < r->ncidrs; i++) {
		struct bip_prefix c = r->cidrs[i];

		if ((c.addr.family != 4 && c.addr.family != 6) ||
		    (c.addr.v & ~bip_mask(c.addr.family, c.len)) != 0) {
			char buf[BIP_PREFIX_STRLEN];

			return bip__seterr(ip, BIP_EHOSTBITS,
					   "reservation '%s': host bits set in '%s'", r->name,
					   bip_prefix_fmt(c, buf));
		}
	}
	v = bip__reservation_encode(ip, r, &len);
	return put_named(ip, PFX_RESERVATIONS, r->name, v, len);
}

static int dec_res(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
		   void *out)
{
	return bip__reservation_decode(ip, name, v, len, out);
}

static void clr_res(void *p)
{
	bip_reservation_clear(p);
}

int bip_ipam_reservation_get(struct bip_ipam *ip, const char *name, struct bip_reservation *out)
{
	return get_decoded(ip, PFX_RESERVATIONS, "reservation", name, dec_res, out);
}

int bip_ipam_reservation_list(struct bip_ipam *ip, struct bip_reservation **out, size_t *n)
{
	ip->errmsg[0] = '\0';
	return list_named(ip, PFX_RESERVATIONS, sizeof(**out), dec_res, clr_res, (void **)out, n);
}

int bip_ipam_reservation_delete(struct bip_ipam *ip, const char *name)
{
	ip->errmsg[0] = '\0';
	return delete_named(ip, PFX_RESERVATIONS, "reservation", name);
}

/* --- nodes ------------------------------------------------------------------------------ */

void bip_node_clear(struct bip_node *n)
{
	if (!n)
		return;
	free(n->name);
	bip__label_set_clear(&n->labels);
	free(n->addrs);
	free(n->pod_cidrs);
	memset(n, 0, sizeof(*n));
}

void bip_nodes_free(struct bip_node *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		bip_node_clear(&v[i]);
	free(v);
}

static int check_labels(struct bip_ipam *ip, const char *what, const char *name,
			const struct bip_label_set *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		const char *k = ls->v[i].key;
		bool ok = k && *k && strlen(k) <= 253;

		for (const char *p = k; ok && *p; p++)
			ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_' ||
			     *p == '/';
		if (!ok)
			return bip__seterr(ip, BIP_EINVAL, "%s '%s': invalid label key '%s'", what,
					   name, k ? k : "");
		if (!bip__valid_attr(ls->v[i].value))
			return bip__seterr(ip, BIP_EINVAL, "%s '%s': invalid value of label '%s'",
					   what, name, k);
	}
	return BIP_OK;
}

int bip_ipam_node_put(struct bip_ipam *ip, const struct bip_node *node)
{
	struct bip_node old = {0};
	struct bip_kv kv = {0};
	struct bip_pool *pools = NULL;
	int64_t *revs = NULL, oldrev = 0;
	size_t npools = 0, len;
	char key[KEY_LEN], buf[BIP_PREFIX_STRLEN], buf2[BIP_PREFIX_STRLEN];
	struct drop {
		char *key;
		int64_t rev; /* -1: no compare (an affinity) */
	} *drop = NULL;
	size_t ndrop = 0, ncmp, nop;
	struct bip_cmp *cmps = NULL;
	struct bip_op *ops = NULL;
	char *v = NULL;
	int rc;

	ip->errmsg[0] = '\0';
	if (!bip__valid_name(node->name))
		return bip__seterr(ip, BIP_EINVAL, "invalid node name '%s'",
				   node->name ? node->name : "");
	rc = check_labels(ip, "node", node->name, &node->labels);
	if (rc != BIP_OK)
		return rc;
	if (node->naddrs > NODE_MAX_ADDRS)
		return bip__seterr(ip, BIP_EINVAL, "node '%s': too many addresses (at most %d)",
				   node->name, NODE_MAX_ADDRS);
	for (size_t i = 0; i < node->npod_cidrs; i++) {
		struct bip_prefix c = node->pod_cidrs[i];

		bip_prefix_fmt(c, buf);
		if ((c.addr.v & ~bip_mask(c.addr.family, c.len)) != 0)
			return bip__seterr(ip, BIP_EHOSTBITS,
					   "node '%s': host bits set in pod CIDR '%s'", node->name,
					   buf);
		if (bip_addr_bits(c.addr) - c.len < 2)
			return bip__seterr(
			    ip, BIP_EINVAL,
			    "node '%s': pod CIDR %s is too small (at least 4 addresses)",
			    node->name, buf);
		for (size_t j = 0; j < i; j++)
			if (node->pod_cidrs[j].addr.family == c.addr.family)
				return bip__seterr(ip, BIP_EINVAL,
						   "node '%s': more than one IPv%d pod CIDR",
						   node->name, c.addr.family);
	}
	rc = bip__load_pools(ip, &pools, &revs, &npools);
	if (rc != BIP_OK)
		goto out;
	for (size_t i = 0; i < node->npod_cidrs; i++)
		for (size_t j = 0; j < npools; j++)
			if (bip_prefix_overlaps(node->pod_cidrs[i], pools[j].cidr)) {
				rc =
				    bip__seterr(ip, BIP_EOVERLAP,
						"node '%s': pod CIDR %s overlaps pool '%s' (%s)",
						node->name, bip_prefix_fmt(node->pod_cidrs[i], buf),
						pools[j].name, bip_prefix_fmt(pools[j].cidr, buf2));
				goto out;
			}
	snprintf(key, sizeof(key), PFX_NODES "%s", node->name);
	rc = bip_store_get(ip->store, key, &kv);
	if (rc == BIP_OK) {
		rc = bip__node_decode(ip, node->name, kv.value, kv.len, &old);
		oldrev = kv.rev;
		if (rc != BIP_OK) {
			rc = bip__seterr(ip, rc, "store record %s does not decode", key);
			goto out;
		}
	} else if (rc != BIP_ENOTFOUND) {
		rc = bip__seterr(ip, rc, "cannot read %s", key);
		goto out;
	}
	/* A pod CIDR that goes away or changes must not hold addresses (in any of its
	 * sub-blocks); its empty blocks and their affinities go with it. */
	for (size_t i = 0; i < old.npod_cidrs; i++) {
		struct bip_prefix c = old.pod_cidrs[i];
		struct bip_kvs blocks = {0};
		uint64_t held = 0;
		bool kept = false;

		for (size_t j = 0; j < node->npod_cidrs; j++)
			kept |= bip_prefix_eq(node->pod_cidrs[j], c);
		if (kept)
			continue;
		rc = bip_store_list(ip->store, PFX_BLOCKS, BIP_LIST_KEYS_ONLY, &blocks);
		for (size_t k = 0; rc == BIP_OK && k < blocks.n; k++) {
			struct bip_prefix bp;
			struct bip_kv bkv = {0};
			struct blk *b = NULL;

			if (bip__cidr_from_keypart(blocks.v[k].key + strlen(PFX_BLOCKS), &bp) !=
				BIP_OK ||
			    !bip_prefix_covers(c, bp))
				continue;
			rc = bip_store_get(ip->store, blocks.v[k].key, &bkv);
			if (rc == BIP_OK)
				rc = bip__blk_decode(ip, blocks.v[k].key, bkv.value, bkv.len,
						     bkv.rev, &b);
			else if (rc == BIP_ENOTFOUND)
				rc = BIP_OK;
			if (b) {
				held += b->used;
				if (!b->used) {
					/* a pod CIDR may be kept in many sub-blocks: all go */
					struct drop *d =
					    bip__im_realloc(ip, drop, (ndrop + 2) * sizeof(*d));
					char akey[KEY_LEN];

					if (!d) {
						rc = BIP_ENOMEM;
					} else {
						drop = d;
						drop[ndrop].rev = b->rev;
						drop[ndrop++].key =
						    bip__im_strdup(ip, blocks.v[k].key);
						bip__key_affinity(akey, node->name, bp);
						drop[ndrop].rev = -1;
						drop[ndrop++].key = bip__im_strdup(ip, akey);
					}
				}
			}
			bip__blk_free(b);
			bip_kv_clear(&bkv);
		}
		bip_kvs_free(&blocks);
		if (rc == BIP_OK && held)
			rc = bip__seterr(
			    ip, BIP_EBUSY,
			    "node '%s': pod CIDR %s cannot change while %llu addresses from "
			    "it are held",
			    node->name, bip_prefix_fmt(c, buf), (unsigned long long)held);
		if (rc != BIP_OK)
			goto out;
	}
	v = bip__node_encode(ip, node, &len);
	rc = BIP_ENOMEM;
	cmps = bip__im_calloc(ip, 1 + ndrop, sizeof(*cmps));
	ops = bip__im_calloc(ip, 1 + ndrop, sizeof(*ops));
	if (!v || !cmps || !ops)
		goto out;
	cmps[0] = (struct bip_cmp){key, oldrev};
	ops[0] = (struct bip_op){BIP_OP_PUT, key, v, len};
	ncmp = nop = 1;
	for (size_t i = 0; i < ndrop; i++) {
		if (!drop[i].key)
			goto out;
		if (drop[i].rev >= 0)
			cmps[ncmp++] = (struct bip_cmp){drop[i].key, drop[i].rev};
		ops[nop++] = (struct bip_op){BIP_OP_DEL, drop[i].key};
	}
	rc = bip_store_txn(ip->store, cmps, ncmp, ops, nop, NULL);
	if (rc == BIP_ECONFLICT)
		rc = bip__seterr(ip, BIP_EAGAIN, "node '%s' changed while writing it", node->name);
out:
	for (size_t i = 0; i < ndrop; i++)
		free(drop[i].key);
	free(drop);
	free(cmps);
	free(ops);
	free(v);
	bip_kv_clear(&kv);
	bip_node_clear(&old);
	bip_pools_free(pools, npools);
	free(revs);
	return rc;
}

static int dec_node(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
		    void *out)
{
	return bip__node_decode(ip, name, v, len, out);
}

static void clr_node(void *p)
{
	bip_node_clear(p);
}

int bip_ipam_node_get(struct bip_ipam *ip, const char *name, struct bip_node *out)
{
	return get_decoded(ip, PFX_NODES, "node", name, dec_node, out);
}

int bip_ipam_node_list(struct bip_ipam *ip, struct bip_node **out, size_t *n)
{
	ip->errmsg[0] = '\0';
	return list_named(ip, PFX_NODES, sizeof(**out), dec_node, clr_node, (void **)out, n);
}

int bip_ipam_node_delete(struct bip_ipam *ip, const char *name)
{
	ip->errmsg[0] = '\0';
	return delete_named(ip, PFX_NODES, "node", name);
}

/* --- namespaces ----------------------------------------------------------------------------- */

void bip_namespace_clear(struct bip_namespace *ns)
{
	if (!ns)
		return;
	free(ns->name);
	bip__label_set_clear(&ns->labels);
	for (size_t i = 0; i < ns->npools; i++)
		free(ns->pools[i]);
	free(ns->pools);
	memset(ns, 0, sizeof(*ns));
}

void bip_namespaces_free(struct bip_namespace *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		bip_namespace_clear(&v[i]);
	free(v);
}

int bip_ipam_namespace_put(struct bip_ipam *ip, const struct bip_namespace *ns)
{
	size_t len = 0;
	char *v;
	int rc;

	ip->errmsg[0] = '\0';
	if (!bip__valid_name(ns->name))
		return bip__seterr(ip, BIP_EINVAL, "invalid namespace name '%s'",
				   ns->name ? ns->name : "");
	rc = check_labels(ip, "namespace", ns->name, &ns->labels);
	if (rc != BIP_OK)
		return rc;
	if (ns->npools > NS_MAX_POOLS)
		return bip__seterr(ip, BIP_EINVAL, "namespace '%s': too many pools (at most %d)",
				   ns->name, NS_MAX_POOLS);
	for (size_t i = 0; i < ns->npools; i++) {
		struct bip_prefix p;

		if (!bip__valid_name(ns->pools[i]) &&
		    bip_prefix_parse_net(ns->pools[i], &p) != BIP_OK)
			return bip__seterr(ip, BIP_EINVAL,
					   "namespace '%s': pool '%s' is neither a name nor a CIDR",
					   ns->name, ns->pools[i] ? ns->pools[i] : "");
	}
	v = bip__namespace_encode(ip, ns, &len);
	return put_named(ip, PFX_NAMESPACES, ns->name, v, len);
}

static int dec_ns(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
		  void *out)
{
	return bip__namespace_decode(ip, name, v, len, out);
}

static void clr_ns(void *p)
{
	bip_namespace_clear(p);
}

int bip_ipam_namespace_get(struct bip_ipam *ip, const char *name, struct bip_namespace *out)
{
	return get_decoded(ip, PFX_NAMESPACES, "namespace", name, dec_ns, out);
}

int bip_ipam_namespace_list(struct bip_ipam *ip, struct bip_namespace **out, size_t *n)
{
	ip->errmsg[0] = '\0';
	return list_named(ip, PFX_NAMESPACES, sizeof(**out), dec_ns, clr_ns, (void **)out, n);
}

int bip_ipam_namespace_delete(struct bip_ipam *ip, const char *name)
{
	ip->errmsg[0] = '\0';
	return delete_named(ip, PFX_NAMESPACES, "namespace", name);
}
