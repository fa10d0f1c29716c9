/*
 * Pools (resource.h): spec.cidr, blockSize, disabled, the two selectors, allowedUses,
 * assignmentMode and priority; Calico's dataplane fields (bip_res_pool_kept) go verbatim into
 * bip_pool.extra and come back out in spec.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "res_kind.h"

static const char *const pool_known_ours[] = {"cidr",		"blockSize",	     "disabled",
					      "nodeSelector",	"namespaceSelector", "allowedUses",
					      "assignmentMode", "priority",	     NULL};
static const char *const pool_known_calico[] = {
    "cidr",	   "blockSize",	     "disabled", "nodeSelector", "namespaceSelector",
    "allowedUses", "assignmentMode", NULL};
/* Calico fields with no meaning to IPAM, kept for the dataplane that reads the pool. */
const char *const bip_res_pool_kept[] = {"ipipMode",	     "vxlanMode",   "natOutgoing",
					 "disableBGPExport", "awsSubnetID", "ipip",
					 "nat-outgoing",     NULL};

static int conv_pool(struct bip_rd *c, const char *name, const json_t *meta, const json_t *spec,
		     struct bip_res *r)
{
	struct bip_pool *p = &r->u.pool;
	const struct bip_rd_fields fs = {c->form == BIP_RD_OURS ? pool_known_ours
								: pool_known_calico,
					 bip_res_pool_kept, NULL, NULL, NULL};
	const char *cidr = NULL, *nodesel = NULL, *nssel = NULL, *mode = NULL;
	json_int_t block = 0, prio = 0;
	const json_t *uses = NULL, *e;
	json_t *extra = NULL, *v;
	const char *key;
	size_t i;
	int rc;

	(void)meta;
	if (!spec)
		return bip_rd_bad(c, "spec is missing (a pool needs at least spec.cidr)");
	if ((rc = bip_rd_check(c, spec, "spec", &fs)) != BIP_OK ||
	    (rc = bip_rd_string(c, spec, "spec", "cidr", &cidr)) != BIP_OK ||
	    (rc = bip_rd_int(c, spec, "spec", "blockSize", 0, 128, &block)) != BIP_OK ||
	    (rc = bip_rd_bool(c, spec, "spec", "disabled", &p->disabled)) != BIP_OK ||
	    (rc = bip_rd_string(c, spec, "spec", "nodeSelector", &nodesel)) != BIP_OK ||
	    (rc = bip_rd_string(c, spec, "spec", "namespaceSelector", &nssel)) != BIP_OK ||
	    (rc = bip_rd_strings(c, spec, "spec", "allowedUses", &uses)) != BIP_OK ||
	    (rc = bip_rd_string(c, spec, "spec", "assignmentMode", &mode)) != BIP_OK ||
	    (rc = bip_rd_int(c, spec, "spec", "priority", INT_MIN, INT_MAX, &prio)) != BIP_OK)
		return rc;
	if (!cidr)
		return bip_rd_bad(c, "spec.cidr is missing");
	if ((rc = bip_rd_cidr(c, "spec.cidr", cidr, false, &p->cidr)) != BIP_OK)
		return rc;
	p->block_len = (unsigned)block;
	p->priority = (int)prio;
	json_array_foreach(uses, i, e)
	{
		const char *u = json_string_value(e);

		if (strcmp(u, "Workload") == 0)
			p->allowed_uses |= BIP_USE_WORKLOAD;
		else if (strcmp(u, "Tunnel") == 0)
			p->allowed_uses |= BIP_USE_TUNNEL;
		else if (strcmp(u, "LoadBalancer") == 0)
			p->allowed_uses |= BIP_USE_LOADBALANCER;
		else
			return bip_rd_bad(
			    c,
			    "spec.allowedUses[%zu]: unknown use '%s' (want Workload, Tunnel "
			    "or LoadBalancer)",
			    i, u);
	}
	if (!mode || strcmp(mode, "Automatic") == 0)
		p->mode = BIP_ASSIGN_AUTOMATIC;
	else if (strcmp(mode, "Manual") == 0)
		p->mode = BIP_ASSIGN_MANUAL;
	else
		return bip_rd_bad(
		    c, "spec.assignmentMode: unknown mode '%s' (want Automatic or Manual)", mode);
	json_object_foreach((json_t *)spec, key, v)
	{
		if (!bip_rd_in(bip_res_pool_kept, key))
			continue;
		if ((!extra && !(extra = json_object())) || json_object_set(extra, key, v) != 0) {
			json_decref(extra);
			return BIP_ENOMEM;
		}
	}
	if (extra) {
		p->extra = json_dumps(extra, JSON_COMPACT);
		json_decref(extra);
		if (!p->extra)
			return BIP_ENOMEM;
	}
	if ((rc = bip_rd_dup(name, &p->name)) != BIP_OK ||
	    (rc = bip_rd_dup(nodesel, &p->node_selector)) ||
	    (rc = bip_rd_dup(nssel, &p->ns_selector)))
		return rc;
	return BIP_OK;
}

json_t *bip_res_pool_json(const struct bip_pool *p)
{
	char cidr[BIP_PREFIX_STRLEN];
	json_t *spec, *uses, *extra = NULL, *v;
	const char *key;
	bool ok;

	spec = json_pack("{s:s}", "cidr", bip_prefix_fmt(p->cidr, cidr));
	uses = json_array();
	if (!spec || !uses)
		goto fail;
	if (p->allowed_uses & BIP_USE_WORKLOAD)
		json_array_append_new(uses, json_string("Workload"));
	if (p->allowed_uses & BIP_USE_TUNNEL)
		json_array_append_new(uses, json_string("Tunnel"));
	if (p->allowed_uses & BIP_USE_LOADBALANCER)
		json_array_append_new(uses, json_string("LoadBalancer"));
	ok = (!p->block_len ||
	      json_object_set_new(spec, "blockSize", json_integer(p->block_len)) == 0) &&
	     json_object_set_new(spec, "disabled", json_boolean(p->disabled)) == 0 &&
	     json_object_set_new(
		 spec, "nodeSelector",
		 json_string(p->node_selector && *p->node_selector ? p->node_selector : "all()")) ==
		 0 &&
	     (!p->ns_selector || !*p->ns_selector ||
	      json_object_set_new(spec, "namespaceSelector", json_string(p->ns_selector)) == 0) &&
	     (!json_array_size(uses) || json_object_set(spec, "allowedUses", uses) == 0) &&
	     json_object_set_new(
		 spec, "assignmentMode",
		 json_string(p->mode == BIP_ASSIGN_MANUAL ? "Manual" : "Automatic")) == 0 &&
	     json_object_set_new(spec, "priority", json_integer(p->priority)) == 0;
	if (!ok)
		goto fail;
	if (p->extra && *p->extra) {
		extra = json_loads(p->extra, 0, NULL);
		if (!json_is_object(extra))
			goto fail;
		json_object_foreach(extra, key, v)
		{
			if (!json_object_get(spec, key) && json_object_set(spec, key, v) != 0)
				goto fail;
		}
		json_decref(extra);
	}
	json_decref(uses);
	return bip_res_doc_new(BIP_RES_POOL, p->name, NULL, spec);
fail:
	json_decref(extra);
	json_decref(uses);
	json_decref(spec);
	return NULL;
}

static json_t *pool_to_json(const struct bip_res *r)
{
	return bip_res_pool_json(&r->u.pool);
}

static const char *pool_name(const struct bip_res *r)
{
	return r->u.pool.name;
}

static void pool_clear(struct bip_res *r)
{
	free(r->u.pool.name);
	free(r->u.pool.node_selector);
	free(r->u.pool.ns_selector);
	free(r->u.pool.extra);
}

static int pool_validate(const struct bip_res *r, char *msg, size_t len)
{
	return bip_pool_validate(&r->u.pool, msg, len);
}

static int pool_get(struct bip_ipam *ipam, const char *name, json_t **doc)
{
	struct bip_pool p = {0};
	int rc;

	if ((rc = bip_ipam_pool_get(ipam, name, &p)) == BIP_OK)
		*doc = bip_res_pool_json(&p);
	bip_pool_clear(&p);
	return rc;
}

static int pool_list(struct bip_ipam *ipam, json_t *docs)
{
	struct bip_pool *v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = bip_ipam_pool_list(ipam, &v, &n)) == BIP_OK)
		for (size_t i = 0; i < n && rc == BIP_OK; i++)
			rc = bip_res_add(docs, bip_res_pool_json(&v[i]));
	bip_pools_free(v, n);
	return rc;
}

static int pool_put(struct bip_ipam *ipam, struct bip_res *r, bool create_only)
{
	return bip_ipam_pool_put(ipam, &r->u.pool, create_only);
}

static const struct bip_res_col pool_cols[] = {{"NAME", "metadata.name", false},
					       {"CIDR", "spec.cidr", false},
					       {"BLOCKSIZE", "spec.blockSize", false},
					       {"DISABLED", "spec.disabled", false},
					       {"MODE", "spec.assignmentMode", false},
					       {"USES", "spec.allowedUses", true},
					       {"PRIORITY", "spec.priority", true},
					       {"NODESELECTOR", "spec.nodeSelector", true},
					       {"NSSELECTOR", "spec.namespaceSelector", true},
					       {"OTHER", "@other", true},
					       {NULL, NULL, false}};

const struct bip_res_kind_ops bip_res_pool_ops = {
    .name = "Pool",
    .word = "pool",
    .words = {"pool", "pools", "ippool", "ippools", "ipp", "ipps"},
    .columns = pool_cols,
    .name_of = pool_name,
    .convert = conv_pool,
    .to_json = pool_to_json,
    .clear = pool_clear,
    .validate = pool_validate,
    .get = pool_get,
    .list = pool_list,
    .put = pool_put,
    .del = bip_ipam_pool_delete,
};
