/*
 * Namespaces (resource.h): metadata.labels (what pool namespace selectors match) and spec.pools,
 * the pools (by name or CIDR) the namespace's workloads take addresses from.
 */
#include <stdlib.h>
#include <string.h>

#include "res_kind.h"

static int conv_namespace(struct bip_rd *c, const char *name, const json_t *meta,
			  const json_t *spec, struct bip_res *r)
{
	struct bip_namespace *ns = &r->u.ns;
	static const char *const known[] = {"pools", NULL};
	const struct bip_rd_fields fs = {known, NULL, NULL, NULL, NULL};
	const json_t *pools = NULL, *e;
	size_t i;
	int rc;

	if ((rc = bip_rd_check(c, spec, "spec", &fs)) != BIP_OK ||
	    (rc = bip_rd_strings(c, spec, "spec", "pools", &pools)) != BIP_OK ||
	    (rc = bip_rd_labels(c, meta, &ns->labels)) != BIP_OK)
		return rc;
	if (pools && json_array_size(pools)) {
		ns->pools = calloc(json_array_size(pools), sizeof(*ns->pools));
		if (!ns->pools)
			return BIP_ENOMEM;
	}
	json_array_foreach(pools, i, e)
	{
		const char *s = json_string_value(e);
		struct bip_prefix p;
		char path[64];

		snprintf(path, sizeof(path), "spec.pools[%zu]", i);
		if (strchr(s, '/')) {
			if ((rc = bip_rd_cidr(c, path, s, false, &p)) != BIP_OK)
				return rc;
		} else if (!bip_res_name_ok(s)) {
			return bip_rd_bad(c, "%s: '%s' is neither a pool name nor a CIDR", path, s);
		}
		if ((rc = bip_rd_dup(s, &ns->pools[i])) != BIP_OK)
			return rc;
		ns->npools = i + 1;
	}
	return bip_rd_dup(name, &ns->name);
}

json_t *bip_res_namespace_json(const struct bip_namespace *ns)
{
	json_t *spec = json_object(), *pools = json_array();

	for (size_t i = 0; pools && i < ns->npools; i++)
		if (json_array_append_new(pools, json_string(ns->pools[i])) != 0) {
			json_decref(pools);
			pools = NULL;
		}
	if (!spec || !pools || (ns->npools && json_object_set(spec, "pools", pools) != 0)) {
		json_decref(spec);
		spec = NULL;
	}
	json_decref(pools);
	return bip_res_doc_new(BIP_RES_NAMESPACE, ns->name, bip_res_labels_json(&ns->labels), spec);
}

static json_t *namespace_to_json(const struct bip_res *r)
{
	return bip_res_namespace_json(&r->u.ns);
}

static const char *namespace_name(const struct bip_res *r)
{
	return r->u.ns.name;
}

static void namespace_clear(struct bip_res *r)
{
	free(r->u.ns.name);
	bip_res_labels_clear(&r->u.ns.labels);
	for (size_t i = 0; i < r->u.ns.npools; i++)
		free(r->u.ns.pools[i]);
	free(r->u.ns.pools);
}

static int namespace_get(struct bip_ipam *ipam, const char *name, json_t **doc)
{
	struct bip_namespace ns = {0};
	int rc;

	if ((rc = bip_ipam_namespace_get(ipam, name, &ns)) == BIP_OK)
		*doc = bip_res_namespace_json(&ns);
	bip_namespace_clear(&ns);
	return rc;
}

static int namespace_list(struct bip_ipam *ipam, json_t *docs)
{
	struct bip_namespace *v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = bip_ipam_namespace_list(ipam, &v, &n)) == BIP_OK)
		for (size_t i = 0; i < n && rc == BIP_OK; i++)
			rc = bip_res_add(docs, bip_res_namespace_json(&v[i]));
	bip_namespaces_free(v, n);
	return rc;
}

static int namespace_put(struct bip_ipam *ipam, struct bip_res *r, bool create_only)
{
	(void)create_only;
	return bip_ipam_namespace_put(ipam, &r->u.ns);
}

static const struct bip_res_col namespace_cols[] = {{"NAME", "metadata.name", false},
						    {"POOLS", "spec.pools", false},
						    {"LABELS", "metadata.labels", true},
						    {NULL, NULL, false}};

const struct bip_res_kind_ops bip_res_namespace_ops = {
    .name = "Namespace",
    .word = "namespace",
    .words = {"namespace", "namespaces", "ns"},
    .labelled = true,
    .columns = namespace_cols,
    .name_of = namespace_name,
    .convert = conv_namespace,
    .to_json = namespace_to_json,
    .clear = namespace_clear,
    .get = namespace_get,
    .list = namespace_list,
    .put = namespace_put,
    .del = bip_ipam_namespace_delete,
};
