/*
 * Nodes (resource.h): metadata.labels (what pool node selectors match), spec.addresses and
 * spec.podCIDRs (at most one per family).
 */
#include <stdlib.h>
#include <string.h>

#include "res_kind.h"

static int conv_node(struct bip_rd *c, const char *name, const json_t *meta, const json_t *spec,
		     struct bip_res *r)
{
	struct bip_node *n = &r->u.node;
	static const char *const known[] = {"addresses", "podCIDRs", NULL};
	const struct bip_rd_fields fs = {known, NULL, NULL, NULL, NULL};
	const json_t *addrs = NULL, *cidrs = NULL, *e;
	size_t i;
	int rc;

	if ((rc = bip_rd_check(c, spec, "spec", &fs)) != BIP_OK ||
	    (rc = bip_rd_strings(c, spec, "spec", "addresses", &addrs)) != BIP_OK ||
	    (rc = bip_rd_strings(c, spec, "spec", "podCIDRs", &cidrs)) != BIP_OK ||
	    (rc = bip_rd_labels(c, meta, &n->labels)) != BIP_OK)
		return rc;
	if (addrs && json_array_size(addrs)) {
		n->addrs = calloc(json_array_size(addrs), sizeof(*n->addrs));
		if (!n->addrs)
			return BIP_ENOMEM;
	}
	json_array_foreach(addrs, i, e)
	{
		if (bip_addr_parse(json_string_value(e), &n->addrs[i]) != BIP_OK)
			return bip_rd_bad(c, "spec.addresses[%zu]: invalid address '%s'", i,
					  json_string_value(e));
		n->naddrs = i + 1;
	}
	if (cidrs && json_array_size(cidrs)) {
		n->pod_cidrs = calloc(json_array_size(cidrs), sizeof(*n->pod_cidrs));
		if (!n->pod_cidrs)
			return BIP_ENOMEM;
	}
	json_array_foreach(cidrs, i, e)
	{
		char path[64];

		snprintf(path, sizeof(path), "spec.podCIDRs[%zu]", i);
		if ((rc = bip_rd_cidr(c, path, json_string_value(e), false, &n->pod_cidrs[i])))
			return rc;
		for (size_t j = 0; j < i; j++)
			if (n->pod_cidrs[j].addr.family == n->pod_cidrs[i].addr.family)
				return bip_rd_bad(
				    c,
				    "spec.podCIDRs: two IPv%d CIDRs ('%s' and '%s'); a node "
				    "has at most one per family",
				    n->pod_cidrs[i].addr.family,
				    json_string_value(json_array_get(cidrs, j)),
				    json_string_value(e));
		n->npod_cidrs = i + 1;
	}
	return bip_rd_dup(name, &n->name);
}

json_t *bip_res_node_json(const struct bip_node *n)
{
	char buf[BIP_ADDR_STRLEN];
	json_t *spec = json_object(), *addrs = json_array(), *cidrs;

	for (size_t i = 0; addrs && i < n->naddrs; i++)
		if (json_array_append_new(addrs, json_string(bip_addr_fmt(n->addrs[i], buf))) !=
		    0) {
			json_decref(addrs);
			addrs = NULL;
		}
	cidrs = bip_res_prefixes_json(n->pod_cidrs, n->npod_cidrs);
	if (!spec || !addrs || !cidrs ||
	    (n->naddrs && json_object_set(spec, "addresses", addrs) != 0) ||
	    (n->npod_cidrs && json_object_set(spec, "podCIDRs", cidrs) != 0)) {
		json_decref(spec);
		spec = NULL;
	}
	json_decref(addrs);
	json_decref(cidrs);
	return bip_res_doc_new(BIP_RES_NODE, n->name, bip_res_labels_json(&n->labels), spec);
}

static json_t *node_to_json(const struct bip_res *r)
{
	return bip_res_node_json(&r->u.node);
}

static const char *node_name(const struct bip_res *r)
{
	return r->u.node.name;
}

static void node_clear(struct bip_res *r)
{
	free(r->u.node.name);
	bip_res_labels_clear(&r->u.node.labels);
	free(r->u.node.addrs);
	free(r->u.node.pod_cidrs);
}

static int node_get(struct bip_ipam *ipam, const char *name, json_t **doc)
{
	struct bip_node n = {0};
	int rc;

	if ((rc = bip_ipam_node_get(ipam, name, &n)) == BIP_OK)
		*doc = bip_res_node_json(&n);
	bip_node_clear(&n);
	return rc;
}

static int node_list(struct bip_ipam *ipam, json_t *docs)
{
	struct bip_node *v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = bip_ipam_node_list(ipam, &v, &n)) == BIP_OK)
		for (size_t i = 0; i < n && rc == BIP_OK; i++)
			rc = bip_res_add(docs, bip_res_node_json(&v[i]));
	bip_nodes_free(v, n);
	return rc;
}

static int node_put(struct bip_ipam *ipam, struct bip_res *r, bool create_only)
{
	(void)create_only;
	return bip_ipam_node_put(ipam, &r->u.node);
}

static const struct bip_res_col node_cols[] = {{"NAME", "metadata.name", false},
					       {"ADDRESSES", "spec.addresses", false},
					       {"PODCIDRS", "spec.podCIDRs", false},
					       {"LABELS", "metadata.labels", true},
					       {NULL, NULL, false}};

const struct bip_res_kind_ops bip_res_node_ops = {
    .name = "Node",
    .word = "node",
    .words = {"node", "nodes"},
    .labelled = true,
    .columns = node_cols,
    .name_of = node_name,
    .convert = conv_node,
    .to_json = node_to_json,
    .clear = node_clear,
    .get = node_get,
    .list = node_list,
    .put = node_put,
    .del = bip_ipam_node_delete,
};
