/*
 * Manifest documents <-> library structs for the five resource kinds (resource.h). The strict
 * typed reader every converter uses is res_read.c (res_kind.h).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "res_kind.h"

static const struct kind_info {
	const char *name;	    /* our manifest kind */
	const char *word;	    /* singular CLI word */
	const char *const words[8]; /* every CLI spelling, compared without case */
} kinds[BIP_RES__COUNT] = {
    [BIP_RES_POOL] = {"Pool", "pool", {"pool", "pools", "ippool", "ippools", "ipp", "ipps"}},
    [BIP_RES_RESERVATION] = {"Reservation",
			     "reservation",
			     {"reservation", "reservations", "ipreservation", "ipreservations"}},
    [BIP_RES_CONFIG] = {"IPAMConfig",
			"ipamconfig",
			{"ipamconfig", "ipamconfigs", "ipamconfiguration", "ipamconfigurations"}},
    [BIP_RES_NODE] = {"Node", "node", {"node", "nodes"}},
    [BIP_RES_NAMESPACE] = {"Namespace", "namespace", {"namespace", "namespaces", "ns"}},
};

/* (apiVersion, kind) of the documents we read. */
static const struct doc_form {
	const char *api;
	const char *kind;
	enum bip_res_kind res;
	enum bip_rd_form form;
} doc_forms[] = {
    {BIP_API_VERSION, "Pool", BIP_RES_POOL, BIP_RD_OURS},
    {BIP_API_VERSION, "Reservation", BIP_RES_RESERVATION, BIP_RD_OURS},
    {BIP_API_VERSION, "IPAMConfig", BIP_RES_CONFIG, BIP_RD_OURS},
    {BIP_API_VERSION, "Node", BIP_RES_NODE, BIP_RD_OURS},
    {BIP_API_VERSION, "Namespace", BIP_RES_NAMESPACE, BIP_RD_OURS},
    {"projectcalico.org/v3", "IPPool", BIP_RES_POOL, BIP_RD_CALICO},
    {"projectcalico.org/v3", "IPReservation", BIP_RES_RESERVATION, BIP_RD_CALICO},
    {"projectcalico.org/v3", "IPAMConfiguration", BIP_RES_CONFIG, BIP_RD_CALICO},
    {"crd.projectcalico.org/v1", "IPPool", BIP_RES_POOL, BIP_RD_CALICO},
    {"crd.projectcalico.org/v1", "IPReservation", BIP_RES_RESERVATION, BIP_RD_CALICO},
    {"crd.projectcalico.org/v1", "IPAMConfig", BIP_RES_CONFIG, BIP_RD_CALICO},
};

int bip_res_kind_parse(const char *word, enum bip_res_kind *out)
{
	for (int k = 0; k < BIP_RES__COUNT; k++)
		for (const char *const *w = kinds[k].words; *w; w++)
			if (strcasecmp(word, *w) == 0) {
				*out = (enum bip_res_kind)k;
				return BIP_OK;
			}
	return BIP_EINVAL;
}

const char *bip_res_kind_name(enum bip_res_kind k)
{
	return kinds[k].name;
}

const char *bip_res_kind_word(enum bip_res_kind k)
{
	return kinds[k].word;
}

const char *bip_res_name(const struct bip_res *r)
{
	switch (r->kind) {
	case BIP_RES_POOL:
		return r->u.pool.name;
	case BIP_RES_RESERVATION:
		return r->u.res.name;
	case BIP_RES_NODE:
		return r->u.node.name;
	case BIP_RES_NAMESPACE:
		return r->u.ns.name;
	default:
		return BIP_CONFIG_NAME;
	}
}

/* Whether metadata.annotations holds any a user wrote: not only the ones Calico's datastore and
 * kubectl apply add for themselves. */
static bool user_annotations(const json_t *meta)
{
	const char *key;
	json_t *v;

	json_object_foreach(json_object_get(meta, "annotations"), key, v)
	{
		if (strncmp(key, "projectcalico.org/", 18) != 0 &&
		    strcmp(key, "kubectl.kubernetes.io/last-applied-configuration") != 0)
			return true;
	}
	return false;
}

/* Metadata a server sets. Annotations are here too: user_annotations() decides whether to warn. */
static const char *const server_set_meta[] = {"uid",
					      "resourceVersion",
					      "creationTimestamp",
					      "generation",
					      "managedFields",
					      "selfLink",
					      "finalizers",
					      "deletionTimestamp",
					      "deletionGracePeriodSeconds",
					      "ownerReferences",
					      "annotations",
					      NULL};

static const char *const pool_known_ours[] = {"cidr",		"blockSize",	     "disabled",
					      "nodeSelector",	"namespaceSelector", "allowedUses",
					      "assignmentMode", "priority",	     NULL};
static const char *const pool_known_calico[] = {
    "cidr",	   "blockSize",	     "disabled", "nodeSelector", "namespaceSelector",
    "allowedUses", "assignmentMode", NULL};
/* Calico fields with no meaning to IPAM, kept for the dataplane that reads the pool. */
static const char *const bip_res_pool_kept[] = {"ipipMode",	    "vxlanMode",   "natOutgoing",
						"disableBGPExport", "awsSubnetID", "ipip",
						"nat-outgoing",	    NULL};

/* --- one document ------------------------------------------------------------------------- */
static int conv_pool(struct bip_rd *c, const char *name, const json_t *spec, struct bip_pool *p)
{
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

static int conv_reservation(struct bip_rd *c, const char *name, const json_t *spec,
			    struct bip_reservation *r)
{
	static const char *const known[] = {"reservedCIDRs", NULL};
	const struct bip_rd_fields fs = {known, NULL, NULL, NULL, NULL};
	const json_t *cidrs = NULL, *e;
	size_t i;
	int rc;

	if ((rc = bip_rd_check(c, spec, "spec", &fs)) != BIP_OK ||
	    (rc = bip_rd_strings(c, spec, "spec", "reservedCIDRs", &cidrs)) != BIP_OK)
		return rc;
	if (!cidrs || !json_array_size(cidrs))
		return bip_rd_bad(c, "spec.reservedCIDRs is missing or empty");
	r->cidrs = calloc(json_array_size(cidrs), sizeof(*r->cidrs));
	if (!r->cidrs)
		return BIP_ENOMEM;
	json_array_foreach(cidrs, i, e)
	{
		char path[64];

		snprintf(path, sizeof(path), "spec.reservedCIDRs[%zu]", i);
		if ((rc = bip_rd_cidr(c, path, json_string_value(e), true, &r->cidrs[i])) != BIP_OK)
			return rc;
		r->ncidrs = i + 1;
	}
	return bip_rd_dup(name, &r->name);
}

static int conv_config(struct bip_rd *c, const json_t *spec, struct bip_config *cfg)
{
	static const char *const ours[] = {"strictAffinity",	"autoAllocateBlocks",
					   "maxBlocksPerHost",	"emptyBlockReleaseSeconds",
					   "ipCooldownSeconds", NULL};
	static const char *const calico[] = {"strictAffinity", "autoAllocateBlocks",
					     "maxBlocksPerHost", "ipCooldownSeconds", NULL};
	static const char *const calico_warned[] = {"kubeVirtVMAddressPersistence", NULL};
	const struct bip_rd_fields fs = {
	    c->form == BIP_RD_OURS ? ours : calico, NULL, NULL,
	    c->form == BIP_RD_OURS ? NULL : calico_warned,
	    "blockipam has no such setting (there is no KubeVirt support)"};
	json_int_t max = 0, empty = 0, cool = 0;
	int rc;

	/* apply sets the whole configuration: what the document leaves out takes its default */
	bip_config_default(cfg);
	max = cfg->max_blocks_per_host;
	empty = cfg->empty_block_release_s;
	cool = cfg->ip_cooldown_s;
	if ((rc = bip_rd_check(c, spec, "spec", &fs)) != BIP_OK ||
	    (rc = bip_rd_bool(c, spec, "spec", "strictAffinity", &cfg->strict_affinity)) !=
		BIP_OK ||
	    (rc = bip_rd_bool(c, spec, "spec", "autoAllocateBlocks", &cfg->auto_allocate_blocks)) ||
	    (rc = bip_rd_int(c, spec, "spec", "maxBlocksPerHost", 0, 1000000, &max)) != BIP_OK ||
	    (rc = bip_rd_int(c, spec, "spec", "emptyBlockReleaseSeconds", 0, 365 * 86400,
			     &empty)) != BIP_OK ||
	    (rc = bip_rd_int(c, spec, "spec", "ipCooldownSeconds", 0, BIP_COOLDOWN_MAX, &cool)))
		return rc;
	cfg->max_blocks_per_host = (unsigned)max;
	cfg->empty_block_release_s = (unsigned)empty;
	cfg->ip_cooldown_s = (unsigned)cool;
	return BIP_OK;
}

static int conv_node(struct bip_rd *c, const char *name, const json_t *meta, const json_t *spec,
		     struct bip_node *n)
{
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

static int conv_namespace(struct bip_rd *c, const char *name, const json_t *meta,
			  const json_t *spec, struct bip_namespace *ns)
{
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

static const struct doc_form *find_form(struct bip_rd *c, const char *api, const char *kind)
{
	char kinds_of_api[160] = "";
	bool api_known = false;

	for (size_t i = 0; i < sizeof(doc_forms) / sizeof(doc_forms[0]); i++) {
		if (strcmp(doc_forms[i].api, api) != 0)
			continue;
		if (strcmp(doc_forms[i].kind, kind) == 0)
			return &doc_forms[i];
		api_known = true;
		snprintf(kinds_of_api + strlen(kinds_of_api),
			 sizeof(kinds_of_api) - strlen(kinds_of_api), "%s%s",
			 *kinds_of_api ? ", " : "", doc_forms[i].kind);
	}
	if (api_known)
		bip_rd_bad(c, "unknown kind '%s' for %s (want %s)", kind, api, kinds_of_api);
	else
		bip_rd_bad(c,
			   "unsupported apiVersion '%s' (want " BIP_API_VERSION
			   ", projectcalico.org/v3 or crd.projectcalico.org/v1)",
			   api);
	return NULL;
}

/* Convert one document; api/kind fill in for a List item that leaves them out. */
static int convert(struct bip_rd *c, const json_t *doc, const char *api, const char *kind,
		   struct bip_res *out)
{
	static const char *const top_known[] = {"apiVersion", "kind", "metadata", "spec", NULL};
	static const char *const top_ignored[] = {"status", NULL};
	static const char *const meta_known[] = {"name", NULL};
	static const char *const meta_known_labels[] = {"name", "labels", NULL};
	static const char *const meta_warned[] = {"labels", "namespace", NULL};
	static const char *const meta_warned_labels[] = {"namespace", NULL};
	const struct bip_rd_fields top = {top_known, NULL, top_ignored, NULL, NULL};
	const struct doc_form *f;
	const json_t *meta, *spec;
	const char *name = NULL;
	struct bip_res r = {0};
	bool labelled;
	int rc;

	if (!json_is_object(doc))
		return bip_rd_bad(
		    c,
		    "want a mapping with apiVersion, kind, metadata and spec, got %s (not "
		    "shown; is this a manifest?)",
		    bip_rd_type_word(doc));
	if ((rc = bip_rd_check(c, doc, "", &top)) != BIP_OK ||
	    (rc = bip_rd_string(c, doc, "", "apiVersion", &api)) != BIP_OK ||
	    (rc = bip_rd_string(c, doc, "", "kind", &kind)) != BIP_OK)
		return rc;
	if (!api || !kind)
		return bip_rd_bad(c, "apiVersion and kind are required");
	if (!(f = find_form(c, api, kind)))
		return BIP_EINVAL;
	c->form = f->form;
	r.kind = f->res;
	labelled = r.kind == BIP_RES_NODE || r.kind == BIP_RES_NAMESPACE;
	meta = bip_rd_field(doc, "metadata");
	spec = bip_rd_field(doc, "spec");
	if (meta && !json_is_object(meta))
		return bip_rd_want(c, "", "metadata", "a mapping", meta);
	if (spec && !json_is_object(spec))
		return bip_rd_want(c, "", "spec", "a mapping", spec);
	if ((rc = bip_rd_string(c, meta, "metadata", "name", &name)) != BIP_OK)
		return rc;
	if (r.kind == BIP_RES_CONFIG) {
		if (name && strcmp(name, BIP_CONFIG_NAME) != 0)
			return bip_rd_bad(
			    c,
			    "metadata.name: the IPAM configuration is named '" BIP_CONFIG_NAME
			    "', not '%s'",
			    name);
		name = BIP_CONFIG_NAME;
	} else if (!name) {
		return bip_rd_bad(c, "metadata.name is missing");
	} else if (!bip_res_name_ok(name)) {
		return bip_rd_bad(
		    c,
		    "metadata.name: invalid name '%s' (want 1-253 of A-Z a-z 0-9 . _ -, "
		    "starting and ending with a letter or digit)",
		    name);
	}
	snprintf(c->src + strlen(c->src), sizeof(c->src) - strlen(c->src), " (%s %s)", kind, name);
	if (meta) {
		const struct bip_rd_fields mfs = {
		    labelled ? meta_known_labels : meta_known, NULL, server_set_meta,
		    labelled ? meta_warned_labels : meta_warned, "blockipam does not keep it"};

		if ((rc = bip_rd_check(c, meta, "metadata", &mfs)) != BIP_OK)
			return rc;
		if (user_annotations(meta))
			bip_rd_warn(c,
				    "metadata.annotations is ignored: blockipam does not keep it");
	}
	switch (r.kind) {
	case BIP_RES_POOL:
		rc = conv_pool(c, name, spec, &r.u.pool);
		break;
	case BIP_RES_RESERVATION:
		rc = conv_reservation(c, name, spec, &r.u.res);
		break;
	case BIP_RES_CONFIG:
		rc = conv_config(c, spec, &r.u.cfg);
		break;
	case BIP_RES_NODE:
		rc = conv_node(c, name, meta, spec, &r.u.node);
		break;
	case BIP_RES_NAMESPACE:
		rc = conv_namespace(c, name, meta, spec, &r.u.ns);
		break;
	default:
		rc = BIP_EINVAL;
	}
	if (rc == BIP_OK)
		rc = bip_rd_dup(c->src, &r.src);
	if (rc != BIP_OK) {
		if (rc == BIP_ENOMEM)
			bip_rd_bad(c, "out of memory");
		bip_res_clear(&r);
		return rc;
	}
	*out = r;
	return BIP_OK;
}

int bip_res_from_json(const json_t *doc, const char *what, struct bip_res *out, json_t *warnings,
		      char *err, size_t errlen)
{
	struct bip_rd c = {.err = err, .errlen = errlen, .warnings = warnings};

	snprintf(c.src, sizeof(c.src), "%s", what);
	return convert(&c, doc, NULL, NULL, out);
}

json_t *bip_res_merge_patch(const json_t *target, const json_t *patch)
{
	json_t *out, *v;
	const char *key;

	if (!json_is_object(patch))
		return json_deep_copy(patch);
	out = json_is_object(target) ? json_deep_copy(target) : json_object();
	json_object_foreach((json_t *)patch, key, v)
	{
		json_t *sub;

		if (!out)
			return NULL;
		if (json_is_null(v)) {
			json_object_del(out, key);
			continue;
		}
		sub = bip_res_merge_patch(json_object_get(out, key), v);
		if (!sub || json_object_set_new(out, key, sub) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* --- many documents ----------------------------------------------------------------------- */

static bool is_list(const json_t *doc)
{
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	size_t n = kind ? strlen(kind) : 0;

	return n >= 4 && strcmp(kind + n - 4, "List") == 0;
}

static int check_across(struct bip_rd *c, const struct bip_res *v, size_t n)
{
	char a[BIP_PREFIX_STRLEN], b[BIP_PREFIX_STRLEN];

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			snprintf(c->src, sizeof(c->src), "%s", v[i].src);
			if (v[i].kind == v[j].kind &&
			    strcmp(bip_res_name(&v[i]), bip_res_name(&v[j])) == 0)
				return bip_rd_bad(c, "%s '%s' is also defined in %s",
						  bip_res_kind_word(v[i].kind), bip_res_name(&v[i]),
						  v[j].src);
			if (v[i].kind == BIP_RES_POOL && v[j].kind == BIP_RES_POOL &&
			    bip_prefix_overlaps(v[i].u.pool.cidr, v[j].u.pool.cidr))
				return bip_rd_bad(
				    c, "cidr %s overlaps %s (cidr %s); pools never overlap",
				    bip_prefix_fmt(v[i].u.pool.cidr, a), v[j].src,
				    bip_prefix_fmt(v[j].u.pool.cidr, b));
		}
	}
	return BIP_OK;
}

int bip_res_from_docs(const json_t *docs, struct bip_res **out, size_t *n, json_t *warnings,
		      char *err, size_t errlen)
{
	static const char *const list_known[] = {"apiVersion", "kind", "items", "metadata", NULL};
	const struct bip_rd_fields lfs = {list_known, NULL, NULL, NULL, NULL};
	struct bip_rd c = {.err = err, .errlen = errlen, .warnings = warnings};
	struct bip_res *v = NULL;
	size_t nv = 0, cap = 0, i, j;
	const json_t *doc, *item;
	int rc = BIP_OK;

	json_array_foreach(docs, i, doc)
	{
		const json_t *items;
		char kind[128] = "";
		const char *api, *lkind;

		snprintf(c.src, sizeof(c.src), "document %zu", i + 1);
		if (!is_list(doc)) {
			items = NULL;
		} else {
			if ((rc = bip_rd_check(&c, doc, "", &lfs)) != BIP_OK)
				goto fail;
			items = bip_rd_field(doc, "items");
			if (items && !json_is_array(items)) {
				rc = bip_rd_want(&c, "", "items", "a list", items);
				goto fail;
			}
		}
		/* a List item may leave out apiVersion and kind: those of the list hold */
		api = json_string_value(json_object_get(doc, "apiVersion"));
		lkind = json_string_value(json_object_get(doc, "kind"));
		if (items && lkind && strcmp(lkind, "List") != 0)
			snprintf(kind, sizeof(kind), "%.*s", (int)strlen(lkind) - 4, lkind);
		for (j = 0; j < (items ? json_array_size(items) : 1); j++) {
			item = items ? json_array_get(items, j) : doc;
			if (nv == cap) {
				size_t ncap = cap ? 2 * cap : 8;
				struct bip_res *nvv = realloc(v, ncap * sizeof(*nvv));

				if (!nvv) {
					rc = bip_rd_bad(&c, "out of memory");
					rc = BIP_ENOMEM;
					goto fail;
				}
				v = nvv;
				cap = ncap;
			}
			if (items)
				snprintf(c.src, sizeof(c.src), "document %zu item %zu", i + 1,
					 j + 1);
			rc = convert(&c, item, items ? api : NULL, items && *kind ? kind : NULL,
				     &v[nv]);
			if (rc != BIP_OK)
				goto fail;
			nv++;
		}
	}
	if ((rc = check_across(&c, v, nv)) != BIP_OK)
		goto fail;
	*out = v;
	*n = nv;
	return BIP_OK;
fail:
	bip_res_free(v, nv);
	return rc;
}

int bip_res_validate(const struct bip_res *r, char *err, size_t errlen)
{
	char msg[512] = "";
	int rc;

	if (r->kind != BIP_RES_POOL)
		return BIP_OK;
	rc = bip_pool_validate(&r->u.pool, msg, sizeof(msg));
	if (rc != BIP_OK && err && errlen)
		snprintf(err, errlen, "%s: %s", r->src ? r->src : r->u.pool.name,
			 *msg ? msg : bip_strerror(rc));
	return rc;
}

static void bip_res_labels_clear(struct bip_label_set *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((char *)l->v[i].key);
		free((char *)l->v[i].value);
	}
	free(l->v);
	*l = (struct bip_label_set){0};
}

void bip_res_clear(struct bip_res *r)
{
	if (!r)
		return;
	switch (r->kind) {
	case BIP_RES_POOL:
		free(r->u.pool.name);
		free(r->u.pool.node_selector);
		free(r->u.pool.ns_selector);
		free(r->u.pool.extra);
		break;
	case BIP_RES_RESERVATION:
		free(r->u.res.name);
		free(r->u.res.cidrs);
		break;
	case BIP_RES_NODE:
		free(r->u.node.name);
		bip_res_labels_clear(&r->u.node.labels);
		free(r->u.node.addrs);
		free(r->u.node.pod_cidrs);
		break;
	case BIP_RES_NAMESPACE:
		free(r->u.ns.name);
		bip_res_labels_clear(&r->u.ns.labels);
		for (size_t i = 0; i < r->u.ns.npools; i++)
			free(r->u.ns.pools[i]);
		free(r->u.ns.pools);
		break;
	default:
		break;
	}
	free(r->src);
	memset(r, 0, sizeof(*r));
}

void bip_res_free(struct bip_res *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		bip_res_clear(&v[i]);
	free(v);
}

/* --- our form out ------------------------------------------------------------------------- */

static json_t *bip_res_labels_json(const struct bip_label_set *l)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < l->n; i++)
		if (json_object_set_new(o, l->v[i].key, json_string(l->v[i].value)) != 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

/* The document around spec (stolen); labels (stolen) may be NULL. */
static json_t *bip_res_doc_new(enum bip_res_kind k, const char *name, json_t *labels, json_t *spec)
{
	json_t *meta = json_pack("{s:s}", "name", name);

	if (meta && labels && json_object_size(labels))
		json_object_set(meta, "labels", labels);
	json_decref(labels);
	if (!meta || !spec) {
		json_decref(meta);
		json_decref(spec);
		return NULL;
	}
	return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", BIP_API_VERSION, "kind",
			 bip_res_kind_name(k), "metadata", meta, "spec", spec);
}

static json_t *bip_res_prefixes_json(const struct bip_prefix *v, size_t n)
{
	char buf[BIP_PREFIX_STRLEN];
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(bip_prefix_fmt(v[i], buf))) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
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

json_t *bip_res_reservation_json(const struct bip_reservation *r)
{
	json_t *cidrs = bip_res_prefixes_json(r->cidrs, r->ncidrs);

	if (!cidrs)
		return NULL;
	return bip_res_doc_new(BIP_RES_RESERVATION, r->name, NULL,
			       json_pack("{s:o}", "reservedCIDRs", cidrs));
}

json_t *bip_res_config_json(const struct bip_config *c)
{
	return bip_res_doc_new(
	    BIP_RES_CONFIG, BIP_CONFIG_NAME, NULL,
	    json_pack("{s:b, s:b, s:I, s:I, s:I}", "strictAffinity", c->strict_affinity,
		      "autoAllocateBlocks", c->auto_allocate_blocks, "maxBlocksPerHost",
		      (json_int_t)c->max_blocks_per_host, "emptyBlockReleaseSeconds",
		      (json_int_t)c->empty_block_release_s, "ipCooldownSeconds",
		      (json_int_t)c->ip_cooldown_s));
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

json_t *bip_res_to_json(const struct bip_res *r)
{
	switch (r->kind) {
	case BIP_RES_POOL:
		return bip_res_pool_json(&r->u.pool);
	case BIP_RES_RESERVATION:
		return bip_res_reservation_json(&r->u.res);
	case BIP_RES_CONFIG:
		return bip_res_config_json(&r->u.cfg);
	case BIP_RES_NODE:
		return bip_res_node_json(&r->u.node);
	case BIP_RES_NAMESPACE:
		return bip_res_namespace_json(&r->u.ns);
	default:
		return NULL;
	}
}

json_t *bip_res_list_json(json_t *items)
{
	return json_pack("{s:s, s:s, s:o}", "apiVersion", BIP_API_VERSION, "kind", "List", "items",
			 items);
}

/* --- tables ------------------------------------------------------------------------------- */

struct bip_res_col {
	const char *header;
	const char *path; /* "spec.cidr"; "@other" = the pool's kept Calico fields */
	bool wide;
};

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
static const struct bip_res_col reservation_cols[] = {
    {"NAME", "metadata.name", false}, {"CIDRS", "spec.reservedCIDRs", false}, {NULL, NULL, false}};
static const struct bip_res_col config_cols[] = {
    {"NAME", "metadata.name", false},
    {"STRICTAFFINITY", "spec.strictAffinity", false},
    {"AUTOALLOCATEBLOCKS", "spec.autoAllocateBlocks", false},
    {"MAXBLOCKSPERHOST", "spec.maxBlocksPerHost", false},
    {"EMPTYBLOCKRELEASE", "spec.emptyBlockReleaseSeconds", false},
    {"IPCOOLDOWN", "spec.ipCooldownSeconds", false},
    {NULL, NULL, false}};
static const struct bip_res_col node_cols[] = {{"NAME", "metadata.name", false},
					       {"ADDRESSES", "spec.addresses", false},
					       {"PODCIDRS", "spec.podCIDRs", false},
					       {"LABELS", "metadata.labels", true},
					       {NULL, NULL, false}};
static const struct bip_res_col namespace_cols[] = {{"NAME", "metadata.name", false},
						    {"POOLS", "spec.pools", false},
						    {"LABELS", "metadata.labels", true},
						    {NULL, NULL, false}};
static const struct bip_res_col *const cols_of[BIP_RES__COUNT] = {
    [BIP_RES_POOL] = pool_cols,
    [BIP_RES_RESERVATION] = reservation_cols,
    [BIP_RES_CONFIG] = config_cols,
    [BIP_RES_NODE] = node_cols,
    [BIP_RES_NAMESPACE] = namespace_cols};

static const json_t *at_path(const json_t *doc, const char *path)
{
	char part[64];
	const char *dot;

	while (doc && (dot = strchr(path, '.'))) {
		snprintf(part, sizeof(part), "%.*s", (int)(dot - path), path);
		doc = json_object_get(doc, part);
		path = dot + 1;
	}
	return doc ? json_object_get(doc, path) : NULL;
}

static char *cell(const json_t *doc, const char *path)
{
	const json_t *spec = json_object_get(doc, "spec"), *v;
	json_t *other;
	const char *key;
	char *s;

	if (strcmp(path, "@other") != 0)
		return bip_cell_text(at_path(doc, path));
	other = json_object();
	json_object_foreach((json_t *)spec, key, v)
	{
		if (other && bip_rd_in(bip_res_pool_kept, key))
			json_object_set(other, key, (json_t *)v);
	}
	s = other ? bip_cell_text(other) : NULL;
	json_decref(other);
	return s;
}

int bip_res_table(enum bip_res_kind k, const json_t *docs, bool wide, bool kind_prefix,
		  struct bip_table *t)
{
	const struct bip_res_col *cols = cols_of[k];
	const char *headers[16];
	char *cells[16] = {0};
	size_t n = 0, i;
	const json_t *doc;
	int rc;

	for (const struct bip_res_col *c = cols; c->header; c++)
		if (wide || !c->wide)
			headers[n++] = c->header;
	if ((rc = bip_table_init(t, n, headers)) != BIP_OK)
		return rc;
	json_array_foreach(docs, i, doc)
	{
		size_t ci = 0;

		for (const struct bip_res_col *c = cols; c->header && rc == BIP_OK; c++) {
			if (!wide && c->wide)
				continue;
			cells[ci] = cell(doc, c->path);
			if (cells[ci] && ci == 0 && kind_prefix) {
				char *s;

				if (asprintf(&s, "%s/%s", bip_res_kind_word(k), cells[0]) < 0)
					s = NULL;
				free(cells[0]);
				cells[0] = s;
			}
			if (!cells[ci++])
				rc = BIP_ENOMEM;
		}
		if (rc == BIP_OK)
			rc = bip_table_add(t, (const char *const *)cells);
		for (size_t j = 0; j < n; j++) {
			free(cells[j]);
			cells[j] = NULL;
		}
		if (rc != BIP_OK) {
			bip_table_free(t);
			return rc;
		}
	}
	return BIP_OK;
}
