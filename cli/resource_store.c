/*
 * Resources in the store: one switch per operation over the five kinds, each a call into the
 * library (resource.h). Library objects are converted to our form and freed here; callers see
 * only JSON documents and their own struct bip_res.
 */
#include <stdlib.h>
#include <string.h>

#include "resource.h"

int bip_res_get(struct bip_ipam *ipam, enum bip_res_kind k, const char *name, json_t **doc)
{
	json_t *d = NULL;
	int rc;

	switch (k) {
	case BIP_RES_POOL: {
		struct bip_pool p = {0};

		if ((rc = bip_ipam_pool_get(ipam, name, &p)) == BIP_OK)
			d = bip_res_pool_json(&p);
		bip_pool_clear(&p);
		break;
	}
	case BIP_RES_RESERVATION: {
		struct bip_reservation r = {0};

		if ((rc = bip_ipam_reservation_get(ipam, name, &r)) == BIP_OK)
			d = bip_res_reservation_json(&r);
		bip_reservation_clear(&r);
		break;
	}
	case BIP_RES_CONFIG: {
		struct bip_config c;

		if (strcmp(name, BIP_CONFIG_NAME) != 0)
			return BIP_ENOTFOUND;
		if ((rc = bip_ipam_config_get(ipam, &c)) == BIP_OK)
			d = bip_res_config_json(&c);
		break;
	}
	case BIP_RES_NODE: {
		struct bip_node n = {0};

		if ((rc = bip_ipam_node_get(ipam, name, &n)) == BIP_OK)
			d = bip_res_node_json(&n);
		bip_node_clear(&n);
		break;
	}
	case BIP_RES_NAMESPACE: {
		struct bip_namespace ns = {0};

		if ((rc = bip_ipam_namespace_get(ipam, name, &ns)) == BIP_OK)
			d = bip_res_namespace_json(&ns);
		bip_namespace_clear(&ns);
		break;
	}
	default:
		return BIP_EINVAL;
	}
	if (rc != BIP_OK)
		return rc;
	if (!d)
		return BIP_ENOMEM;
	*doc = d;
	return BIP_OK;
}

/* Append doc (stolen) to docs; ENOMEM when doc is NULL or the append fails. */
static int add(json_t *docs, json_t *doc)
{
	return doc && json_array_append_new(docs, doc) == 0 ? BIP_OK : BIP_ENOMEM;
}

int bip_res_list(struct bip_ipam *ipam, enum bip_res_kind k, json_t **out)
{
	json_t *docs = json_array();
	size_t n = 0;
	int rc = BIP_ENOMEM;

	if (!docs)
		return BIP_ENOMEM;
	switch (k) {
	case BIP_RES_POOL: {
		struct bip_pool *v = NULL;

		if ((rc = bip_ipam_pool_list(ipam, &v, &n)) == BIP_OK)
			for (size_t i = 0; i < n && rc == BIP_OK; i++)
				rc = add(docs, bip_res_pool_json(&v[i]));
		bip_pools_free(v, n);
		break;
	}
	case BIP_RES_RESERVATION: {
		struct bip_reservation *v = NULL;

		if ((rc = bip_ipam_reservation_list(ipam, &v, &n)) == BIP_OK)
			for (size_t i = 0; i < n && rc == BIP_OK; i++)
				rc = add(docs, bip_res_reservation_json(&v[i]));
		bip_reservations_free(v, n);
		break;
	}
	case BIP_RES_CONFIG: {
		struct bip_config c;

		if ((rc = bip_ipam_config_get(ipam, &c)) == BIP_OK)
			rc = add(docs, bip_res_config_json(&c));
		break;
	}
	case BIP_RES_NODE: {
		struct bip_node *v = NULL;

		if ((rc = bip_ipam_node_list(ipam, &v, &n)) == BIP_OK)
			for (size_t i = 0; i < n && rc == BIP_OK; i++)
				rc = add(docs, bip_res_node_json(&v[i]));
		bip_nodes_free(v, n);
		break;
	}
	case BIP_RES_NAMESPACE: {
		struct bip_namespace *v = NULL;

		if ((rc = bip_ipam_namespace_list(ipam, &v, &n)) == BIP_OK)
			for (size_t i = 0; i < n && rc == BIP_OK; i++)
				rc = add(docs, bip_res_namespace_json(&v[i]));
		bip_namespaces_free(v, n);
		break;
	}
	default:
		rc = BIP_EINVAL;
	}
	if (rc != BIP_OK) {
		json_decref(docs);
		return rc;
	}
	*out = docs;
	return BIP_OK;
}

int bip_res_put(struct bip_ipam *ipam, struct bip_res *r, bool create_only)
{
	switch (r->kind) {
	case BIP_RES_POOL:
		return bip_ipam_pool_put(ipam, &r->u.pool, create_only);
	case BIP_RES_RESERVATION:
		return bip_ipam_reservation_put(ipam, &r->u.res);
	case BIP_RES_CONFIG:
		return bip_ipam_config_set(ipam, &r->u.cfg);
	case BIP_RES_NODE:
		return bip_ipam_node_put(ipam, &r->u.node);
	case BIP_RES_NAMESPACE:
		return bip_ipam_namespace_put(ipam, &r->u.ns);
	default:
		return BIP_EINVAL;
	}
}

int bip_res_delete(struct bip_ipam *ipam, enum bip_res_kind k, const char *name)
{
	struct bip_config c;

	switch (k) {
	case BIP_RES_POOL:
		return bip_ipam_pool_delete(ipam, name);
	case BIP_RES_RESERVATION:
		return bip_ipam_reservation_delete(ipam, name);
	case BIP_RES_CONFIG:
		if (strcmp(name, BIP_CONFIG_NAME) != 0)
			return BIP_ENOTFOUND;
		bip_config_default(&c);
		return bip_ipam_config_set(ipam, &c);
	case BIP_RES_NODE:
		return bip_ipam_node_delete(ipam, name);
	case BIP_RES_NAMESPACE:
		return bip_ipam_namespace_delete(ipam, name);
	default:
		return BIP_EINVAL;
	}
}

int bip_res_exists(struct bip_ipam *ipam, enum bip_res_kind k, const char *name, bool *exists)
{
	json_t *doc = NULL;
	int rc;

	if (k == BIP_RES_CONFIG) {
		/* the configuration always exists (its defaults until one is set) */
		*exists = strcmp(name, BIP_CONFIG_NAME) == 0;
		return BIP_OK;
	}
	rc = bip_res_get(ipam, k, name, &doc);
	json_decref(doc);
	if (rc != BIP_OK && rc != BIP_ENOTFOUND)
		return rc;
	*exists = rc == BIP_OK;
	return BIP_OK;
}

static const struct bip_pool *find_pool(const struct bip_pool *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

static int check_pool(const struct bip_res *r, const struct bip_pool *stored, size_t nstored,
		      char *err, size_t errlen)
{
	const struct bip_pool *p = &r->u.pool, *old = find_pool(stored, nstored, p->name);
	char a[BIP_PREFIX_STRLEN], b[BIP_PREFIX_STRLEN];

	if (old && !bip_prefix_eq(old->cidr, p->cidr)) {
		snprintf(err, errlen,
			 "%s: the cidr of a pool cannot change in place (stored %s, manifest %s); "
			 "create a new pool and migrate to it",
			 r->src, bip_prefix_fmt(old->cidr, a), bip_prefix_fmt(p->cidr, b));
		return BIP_EINVAL;
	}
	/* blockSize 0 means "the default": the library decides whether that is a change */
	if (old && p->block_len && old->block_len != p->block_len) {
		snprintf(err, errlen,
			 "%s: the block size of a pool cannot change in place (stored %u, manifest "
			 "%u); create a new pool and migrate to it",
			 r->src, old->block_len, p->block_len);
		return BIP_EINVAL;
	}
	for (size_t i = 0; i < nstored; i++) {
		if (strcmp(stored[i].name, p->name) != 0 &&
		    bip_prefix_overlaps(stored[i].cidr, p->cidr)) {
			snprintf(err, errlen, "%s: cidr %s overlaps the stored pool '%s' (%s)",
				 r->src, bip_prefix_fmt(p->cidr, a), stored[i].name,
				 bip_prefix_fmt(stored[i].cidr, b));
			return BIP_EOVERLAP;
		}
	}
	return BIP_OK;
}

int bip_res_precheck(struct bip_ipam *ipam, const struct bip_res *v, size_t n, bool create_only,
		     bool *exists, char *err, size_t errlen)
{
	struct bip_pool *pools = NULL;
	size_t npools = 0, i;
	bool have_pools = false;
	int rc = BIP_OK;

	for (i = 0; i < n; i++)
		have_pools |= v[i].kind == BIP_RES_POOL;
	if (have_pools && (rc = bip_ipam_pool_list(ipam, &pools, &npools)) != BIP_OK) {
		snprintf(err, errlen, "cannot list the stored pools");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct bip_res *r = &v[i];
		bool found;

		if (r->kind == BIP_RES_POOL) {
			found = find_pool(pools, npools, r->u.pool.name) != NULL;
			if ((rc = check_pool(r, pools, npools, err, errlen)) != BIP_OK)
				goto out;
		} else if ((rc = bip_res_exists(ipam, r->kind, bip_res_name(r), &found)) !=
			   BIP_OK) {
			snprintf(err, errlen, "%s: cannot read the stored %s", r->src,
				 bip_res_kind_word(r->kind));
			goto out;
		}
		if (exists)
			exists[i] = found;
		if (create_only && found && r->kind != BIP_RES_CONFIG) {
			snprintf(err, errlen, "%s: %s '%s' already exists (use apply to update it)",
				 r->src, bip_res_kind_word(r->kind), bip_res_name(r));
			rc = BIP_EEXIST;
			goto out;
		}
	}
out:
	bip_pools_free(pools, npools);
	return rc;
}
