/*
 * The resources operators manage besides pools: the IPAM config, reservations, nodes and
 * namespaces, each a named record under its own prefix. Every write validates the whole
 * resource first and is one conditional transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "txn.h"

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
		return bip__store_fail(ip, rc, "cannot read the IPAM config");
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
		return bip__store_fail(ip, rc, "cannot write the IPAM config");
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
		return bip__store_fail(ip, rc, "cannot write %s", key);
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
		return bip__store_fail(ip, rc, "cannot read %s", key);
	return BIP_OK;
}

struct named {
	const char *pfx, *what, *name;
};

/* Delete the record as read (a lost race reads it again). */
static int delete_named_once(struct bip_ipam *ip, void *ctx)
{
	const struct named *n = ctx;
	struct bip_kv kv = {0};
	struct bip_cmp cmp;
	struct bip_op op;
	char key[KEY_LEN];
	int rc = get_named(ip, n->pfx, n->what, n->name, &kv);

	if (rc != BIP_OK)
		return rc;
	snprintf(key, sizeof(key), "%s%s", n->pfx, n->name);
	cmp = (struct bip_cmp){key, kv.rev};
	op = (struct bip_op){BIP_OP_DEL, key};
	bip_kv_clear(&kv);
	rc = bip_store_txn(ip->store, &cmp, 1, &op, 1, NULL);
	if (rc != BIP_OK && rc != BIP_ECONFLICT)
		rc = bip__store_fail(ip, rc, "cannot delete %s", key);
	return rc;
}

static int delete_named(struct bip_ipam *ip, const char *pfx, const char *what, const char *name)
{
	char w[BIP_NAME_MAX + 32];

	snprintf(w, sizeof(w), "%s '%s'", what, name ? name : "");
	return bip__retry(ip, delete_named_once, &(struct named){pfx, what, name}, w);
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
		return bip__store_fail(ip, rc, "cannot list %s", pfx);
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

/* What node_put checks before reading the store: the name, labels, addresses, pod CIDRs. */
static int node_validate(struct bip_ipam *ip, const struct bip_node *node)
{
	char buf[BIP_PREFIX_STRLEN];
	int rc;

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
	return BIP_OK;
}

/* A pod CIDR may not overlap a pool. */
static int node_vs_pools(struct bip_ipam *ip, const struct bip_node *node)
{
	char buf[BIP_PREFIX_STRLEN], buf2[BIP_PREFIX_STRLEN];
	struct bip_pool *pools = NULL;
	int64_t *revs = NULL;
	size_t npools = 0;
	int rc = bip__load_pools(ip, &pools, &revs, &npools);

	for (size_t i = 0; rc == BIP_OK && i < node->npod_cidrs; i++)
		for (size_t j = 0; rc == BIP_OK && j < npools; j++)
			if (bip_prefix_overlaps(node->pod_cidrs[i], pools[j].cidr))
				rc =
				    bip__seterr(ip, BIP_EOVERLAP,
						"node '%s': pod CIDR %s overlaps pool '%s' (%s)",
						node->name, bip_prefix_fmt(node->pod_cidrs[i], buf),
						pools[j].name, bip_prefix_fmt(pools[j].cidr, buf2));
	bip_pools_free(pools, npools);
	free(revs);
	return rc;
}

/* A pod CIDR c that goes away or changes must not hold addresses (in any of its sub-blocks);
 * its empty blocks and their affinities go with it, in t. */
static int node_drop_cidr(struct bip_ipam *ip, const char *node, struct bip_prefix c,
			  struct bip__txn *t)
{
	char buf[BIP_PREFIX_STRLEN], akey[KEY_LEN];
	struct bip_kvs blocks = {0};
	uint64_t held = 0;
	int rc = bip_store_list(ip->store, PFX_BLOCKS, BIP_LIST_KEYS_ONLY, &blocks);

	if (rc != BIP_OK && rc != BIP_ENOMEM)
		bip__store_fail(ip, rc, "cannot list %s", PFX_BLOCKS);
	for (size_t k = 0; rc == BIP_OK && k < blocks.n; k++) {
		struct bip_prefix bp;
		struct bip_kv bkv = {0};
		struct blk *b = NULL;

		if (bip__cidr_from_keypart(blocks.v[k].key + strlen(PFX_BLOCKS), &bp) != BIP_OK ||
		    !bip_prefix_covers(c, bp))
			continue;
		rc = bip_store_get(ip->store, blocks.v[k].key, &bkv);
		if (rc == BIP_OK)
			rc = bip__blk_decode(ip, blocks.v[k].key, bkv.value, bkv.len, bkv.rev, &b);
		else if (rc == BIP_ENOTFOUND)
			rc = BIP_OK;
		else if (rc != BIP_ENOMEM)
			bip__store_fail(ip, rc, "cannot read %s", blocks.v[k].key);
		if (b) {
			held += b->used;
			if (!b->used) { /* a pod CIDR may be kept in many sub-blocks: all go */
				const char *bk = bip__txn_key(ip, t, blocks.v[k].key);

				bip__txn_cmp(ip, t, bk, b->rev);
				bip__txn_del(ip, t, bk);
				bip__key_affinity(akey, node, bp);
				bip__txn_del(ip, t, bip__txn_key(ip, t, akey));
			}
		}
		bip__blk_free(b);
		bip_kv_clear(&bkv);
	}
	bip_kvs_free(&blocks);
	if (rc == BIP_OK && held)
		rc = bip__seterr(ip, BIP_EBUSY,
				 "node '%s': pod CIDR %s cannot change while %llu addresses from "
				 "it are held",
				 node, bip_prefix_fmt(c, buf), (unsigned long long)held);
	return rc;
}

/* Read the node's record, check the pod CIDRs it gives up, write the new one: one transaction
 * conditioned on the record and every block it deletes as read. */
static int node_put_once(struct bip_ipam *ip, void *ctx)
{
	const struct bip_node *node = ctx;
	struct bip_node old = {0};
	struct bip_kv kv = {0};
	struct bip__txn t;
	char key[KEY_LEN];
	size_t len = 0;
	int rc;

	snprintf(key, sizeof(key), PFX_NODES "%s", node->name);
	rc = bip__txn_init(ip, &t, 4);
	if (rc == BIP_OK)
		rc = bip_store_get(ip->store, key, &kv);
	if (rc == BIP_OK) {
		rc = bip__node_decode(ip, node->name, kv.value, kv.len, &old);
		if (rc != BIP_OK)
			rc = bip__seterr(ip, rc, "store record %s does not decode", key);
	} else if (rc == BIP_ENOTFOUND)
		rc = BIP_OK;
	else if (rc != BIP_OK && rc != BIP_ENOMEM)
		rc = bip__store_fail(ip, rc, "cannot read %s", key);
	for (size_t i = 0; rc == BIP_OK && i < old.npod_cidrs; i++) {
		bool kept = false;

		for (size_t j = 0; j < node->npod_cidrs; j++)
			kept |= bip_prefix_eq(node->pod_cidrs[j], old.pod_cidrs[i]);
		if (!kept)
			rc = node_drop_cidr(ip, node->name, old.pod_cidrs[i], &t);
	}
	if (rc == BIP_OK) {
		char *v = bip__node_encode(ip, node, &len);

		bip__txn_cmp(ip, &t, key, kv.rev); /* rev 0 when there was none */
		bip__txn_put(ip, &t, key, v, len);
		rc = bip__txn_commit(ip, &t, NULL);
		if (rc != BIP_OK && rc != BIP_ECONFLICT && rc != BIP_ENOMEM)
			rc = bip__store_fail(ip, rc, "cannot write %s", key);
	}
	bip__txn_clear(&t);
	bip_kv_clear(&kv);
	bip_node_clear(&old);
	return rc;
}

int bip_ipam_node_put(struct bip_ipam *ip, const struct bip_node *node)
{
	char what[BIP_NAME_MAX + 8];
	int rc;

	ip->errmsg[0] = '\0';
	rc = node_validate(ip, node);
	if (rc == BIP_OK)
		rc = node_vs_pools(ip, node);
	if (rc != BIP_OK)
		return rc;
	snprintf(what, sizeof(what), "node '%s'", node->name);
	return bip__retry(ip, node_put_once, (void *)node, what);
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
