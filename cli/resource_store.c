/*
 * Resources in the store: each operation a lookup in the kinds' ops table (res_kind.h), whose
 * entries call into the library; plus the checks against the store that apply runs first. Library
 * objects are converted to our form and freed here; callers see only JSON documents and their own
 * struct bip_res.
 */
#include <stdlib.h>
#include <string.h>

#include "res_kind.h"

int bip_res_get(struct bip_ipam *ipam, enum bip_res_kind k, const char *name, json_t **doc)
{
	const struct bip_res_kind_ops *ops = bip_res_ops(k);
	json_t *d = NULL;
	int rc;

	if (!ops)
		return BIP_EINVAL;
	if ((rc = ops->get(ipam, name, &d)) != BIP_OK) {
		json_decref(d);
		return rc;
	}
	if (!d)
		return BIP_ENOMEM;
	*doc = d;
	return BIP_OK;
}

int bip_res_add(json_t *docs, json_t *doc)
{
	return doc && json_array_append_new(docs, doc) == 0 ? BIP_OK : BIP_ENOMEM;
}

int bip_res_list(struct bip_ipam *ipam, enum bip_res_kind k, json_t **out)
{
	const struct bip_res_kind_ops *ops = bip_res_ops(k);
	json_t *docs;
	int rc;

	if (!ops)
		return BIP_EINVAL;
	if (!(docs = json_array()))
		return BIP_ENOMEM;
	if ((rc = ops->list(ipam, docs)) != BIP_OK) {
		json_decref(docs);
		return rc;
	}
	*out = docs;
	return BIP_OK;
}

int bip_res_put(struct bip_ipam *ipam, struct bip_res *r, bool create_only)
{
	const struct bip_res_kind_ops *ops = bip_res_ops(r->kind);

	return ops ? ops->put(ipam, r, create_only) : BIP_EINVAL;
}

int bip_res_delete(struct bip_ipam *ipam, enum bip_res_kind k, const char *name)
{
	const struct bip_res_kind_ops *ops = bip_res_ops(k);

	return ops ? ops->del(ipam, name) : BIP_EINVAL;
}

int bip_res_exists(struct bip_ipam *ipam, enum bip_res_kind k, const char *name, bool *exists)
{
	const struct bip_res_kind_ops *ops = bip_res_ops(k);
	json_t *doc = NULL;
	int rc;

	if (ops && ops->fixed_name) {
		/* the configuration always exists (its defaults until one is set) */
		*exists = strcmp(name, ops->fixed_name) == 0;
		return BIP_OK;
	}
	rc = bip_res_get(ipam, k, name, &doc);
	json_decref(doc);
	if (rc != BIP_OK && rc != BIP_ENOTFOUND)
		return rc;
	*exists = rc == BIP_OK;
	return BIP_OK;
}

int bip_res_unchanged(struct bip_ipam *ipam, const struct bip_res *r, bool *same)
{
	struct bip_pool pool;
	json_t *stored = NULL, *mine;
	int rc;

	*same = false;
	if (r->kind == BIP_RES_POOL) {
		/* compared as it would be stored: a copy that shares the strings, never freed */
		pool = r->u.pool;
		bip_pool_defaults(&pool);
		mine = bip_res_pool_json(&pool);
	} else {
		mine = bip_res_to_json(r);
	}
	if (!mine)
		return BIP_ENOMEM;
	rc = bip_res_get(ipam, r->kind, bip_res_name(r), &stored);
	if (rc == BIP_OK)
		*same = json_equal(stored, mine);
	json_decref(stored);
	json_decref(mine);
	return rc == BIP_ENOTFOUND ? BIP_OK : rc;
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
		if (create_only && found && !bip_res_ops(r->kind)->fixed_name) {
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
