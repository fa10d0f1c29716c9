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
/* Calico fields with no meaning to IPAM, checked by Calico's rules and kept for the dataplane. */
const char *const bip_res_pool_kept[] = {"ipipMode",	     "vxlanMode",   "natOutgoing",
					 "disableBGPExport", "awsSubnetID", NULL};
/* Calico's v1 spellings: projectcalico.org/v3 refuses ipip (mustBeNil) and takes nat-outgoing
 * only as false (mustBeFalse), which says nothing and is not kept. */
static const char *const pool_v1[] = {"ipip", "nat-outgoing", NULL};

/* The kept fields, by Calico's validator (libcalico-go's validator/v3): the modes, the booleans,
 * AWS's subnet id, no IPIP on IPv6 and never IPIP and VXLAN at once. */
static int check_calico(struct bip_rd *c, const json_t *spec, bool v6)
{
	static const char *const modes[] = {"Never", "Always", "CrossSubnet", NULL};
	const char *ipip = "Never", *vxlan = "Never", *aws = NULL;
	const json_t *v1;
	bool b = false;
	size_t n;
	int rc;

	if ((rc = bip_rd_enum(c, spec, "spec", "ipipMode", modes, &ipip)) != BIP_OK ||
	    (rc = bip_rd_enum(c, spec, "spec", "vxlanMode", modes, &vxlan)) != BIP_OK ||
	    (rc = bip_rd_bool(c, spec, "spec", "natOutgoing", &b)) != BIP_OK ||
	    (rc = bip_rd_bool(c, spec, "spec", "disableBGPExport", &b)) != BIP_OK ||
	    (rc = bip_rd_string(c, spec, "spec", "awsSubnetID", &aws)) != BIP_OK)
		return rc;
	if (bip_rd_field(spec, "ipip"))
		return bip_rd_bad(c, "spec.ipip: Calico's v1 field, which projectcalico.org/v3 "
				     "refuses (write ipipMode: Always, CrossSubnet or Never)");
	if ((v1 = bip_rd_field(spec, "nat-outgoing")) && !json_is_false(v1))
		return bip_rd_want(c, "spec", "nat-outgoing",
				   "false (Calico's v1 field; projectcalico.org/v3 refuses it: "
				   "write natOutgoing)",
				   v1);
	n = aws ? strlen(aws) : 0;
	if (aws && (strncmp(aws, "subnet-", 7) != 0 || n < 15 || n > 24 ||
		    strspn(aws + 7, "0123456789abcdef") != n - 7))
		return bip_rd_bad(c,
				  "spec.awsSubnetID: invalid subnet id '%s' (want subnet- and 8 "
				  "to 17 of 0-9 a-f)",
				  aws);
	if (v6 && strcmp(ipip, "Never") != 0)
		return bip_rd_bad(c,
				  "spec.ipipMode: %s on an IPv6 pool: Calico has no IPIP for IPv6 "
				  "(use vxlanMode)",
				  ipip);
	if (strcmp(ipip, "Never") != 0 && strcmp(vxlan, "Never") != 0)
		return bip_rd_bad(c,
				  "spec.ipipMode %s and spec.vxlanMode %s: Calico enables one "
				  "encapsulation per pool, not both",
				  ipip, vxlan);
	return BIP_OK;
}

static int conv_pool(struct bip_rd *c, const char *name, const json_t *meta, const json_t *spec,
		     struct bip_res *r)
{
	struct bip_pool *p = &r->u.pool;
	const struct bip_rd_fields fs = {c->form == BIP_RD_OURS ? pool_known_ours
								: pool_known_calico,
					 bip_res_pool_kept, pool_v1, NULL, NULL};
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
	if ((rc = bip_rd_cidr(c, "spec.cidr", cidr, false, &p->cidr)) != BIP_OK ||
	    (rc = check_calico(c, spec, p->cidr.addr.family == 6)) != BIP_OK)
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

/* priority is blockipam's own, which Calico's IPPool has no field for: a pool that has one stays
 * in our form (an IPPoolList item may be a blockipam.io/v1 Pool). */
static bool pool_calico_spec(json_t *spec)
{
	if (json_integer_value(json_object_get(spec, "priority")) != 0)
		return false;
	json_object_del(spec, "priority");
	return true;
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
    .calico_kind = "IPPool",
    .calico_words = {"ippool", "ippools", "ipp", "ipps"},
    .calico_spec = pool_calico_spec,
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
