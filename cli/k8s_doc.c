/*
 * Kubernetes documents -> struct k8s_input (k8s.h). Strict where blockipam relies on a field
 * (names, labels, pod CIDRs, InternalIPs, pool annotations), silent about every other field:
 * kubectl prints a great deal that blockipam has no use for. Label syntax is Kubernetes' own (a
 * name of at most 63 characters with an optional DNS-subdomain prefix; values of at most 63), so a
 * label the API server would refuse is refused here too.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/err.h"
#include "k8s.h"
#include "resource.h"

#define NODE_MAX_ADDRS 64 /* as the library */
#define NS_MAX_POOLS 64

struct pctx {
	struct k8s_input *in;
	char *err;
	size_t errlen;
	char where[320]; /* "document 3 (Node n1)" */
};

static int bad(struct pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct pctx *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->errlen)
		return BIP_EINVAL;
	n = snprintf(c->err, c->errlen, "%s: ", c->where);
	if (n < 0 || (size_t)n >= c->errlen)
		return BIP_EINVAL;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return BIP_EINVAL;
}

static bool alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* A label name or value: empty (value only), or at most 63 of [A-Za-z0-9_.-] starting and
 * ending alphanumeric. */
static bool k8s_label_part_ok(const char *s, size_t n, bool empty_ok)
{
	if (n == 0)
		return empty_ok;
	if (n > 63 || !alnum(s[0]) || !alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* A DNS subdomain (label key prefix): at most 253 of [a-z0-9.-], alphanumeric at both ends. */
static bool dns_subdomain_ok(const char *s, size_t n)
{
	if (n == 0 || n > 253 || !alnum(s[0]) || !alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

static bool label_key_ok(const char *k)
{
	const char *slash = strchr(k, '/');

	if (!slash)
		return k8s_label_part_ok(k, strlen(k), false);
	return dns_subdomain_ok(k, (size_t)(slash - k)) &&
	       k8s_label_part_ok(slash + 1, strlen(slash + 1), false);
}

/* A field that must be absent or of one type. */
static int opt_field(struct pctx *c, const json_t *o, const char *path, const char *k,
		     json_type type, const json_t **out)
{
	const json_t *v = json_object_get(o, k);

	*out = NULL;
	if (!v || json_is_null(v))
		return BIP_OK;
	if (json_typeof(v) != type)
		return bad(c, "%s%s: must be %s", path, k,
			   type == JSON_OBJECT	? "an object"
			   : type == JSON_ARRAY ? "a list"
						: "a string");
	*out = v;
	return BIP_OK;
}

static int dup(const char *s, char **out)
{
	*out = strdup(s);
	return *out ? BIP_OK : BIP_ENOMEM;
}

/* metadata.labels -> ls, with the sync's mark added when mark. */
static int labels_of(struct pctx *c, const json_t *meta, bool mark, struct bip_label_set *ls)
{
	const json_t *labels, *v;
	const char *k;
	int rc = opt_field(c, meta, "metadata.", "labels", JSON_OBJECT, &labels);
	size_t n = labels ? json_object_size(labels) : 0;

	if (rc != BIP_OK)
		return rc;
	if (n > K8S_MAX_LABELS)
		return bad(c, "metadata.labels: %zu labels (at most %d)", n, K8S_MAX_LABELS);
	ls->v = calloc(n + 1, sizeof(*ls->v));
	if (!ls->v)
		return BIP_ENOMEM;
	json_object_foreach((json_t *)labels, k, v)
	{
		const char *s = json_string_value(v);

		if (!label_key_ok(k))
			return bad(c, "metadata.labels: invalid label key '%.300s'", k);
		if (!s)
			return bad(c, "metadata.labels[\"%s\"]: must be a string", k);
		if (!k8s_label_part_ok(s, strlen(s), true))
			return bad(c, "metadata.labels[\"%s\"]: invalid value '%.100s%s'", k, s,
				   strlen(s) > 100 ? "..." : "");
		if (mark && strcmp(k, K8S_MARK_KEY) == 0)
			continue;
		ls->v[ls->n].key = strdup(k);
		ls->v[ls->n].value = strdup(s);
		if (!ls->v[ls->n].key || !ls->v[ls->n].value) {
			ls->n++;
			return BIP_ENOMEM;
		}
		ls->n++;
	}
	if (mark) {
		ls->v[ls->n].key = strdup(K8S_MARK_KEY);
		ls->v[ls->n].value = strdup(K8S_MARK_VALUE);
		ls->n++;
		if (!ls->v[ls->n - 1].key || !ls->v[ls->n - 1].value)
			return BIP_ENOMEM;
	}
	return BIP_OK;
}

static int name_of(struct pctx *c, const json_t *meta, const char *field, bool required,
		   const char **out)
{
	const json_t *v;
	int rc = opt_field(c, meta, "metadata.", field, JSON_STRING, &v);

	*out = NULL;
	if (rc != BIP_OK)
		return rc;
	if (!v)
		return required ? bad(c, "metadata.%s: missing", field) : BIP_OK;
	if (!bip_res_name_ok(json_string_value(v)))
		return bad(c, "metadata.%s: invalid name '%.300s'", field, json_string_value(v));
	*out = json_string_value(v);
	return BIP_OK;
}

static int pod_cidr_add(struct pctx *c, struct bip_node *n, const char *field, const json_t *v)
{
	struct bip_prefix p;
	const char *s = json_string_value(v);
	int rc;

	if (!s)
		return bad(c, "%s: must be a string", field);
	rc = bip_prefix_parse_net(s, &p);
	if (rc != BIP_OK)
		return bad(c, "%s: %s '%.100s'", field,
			   rc == BIP_EHOSTBITS ? "host bits set in CIDR" : "invalid CIDR", s);
	if (bip_addr_bits(p.addr) - p.len < 2)
		return bad(c, "%s: pod CIDR '%s' is too small (at least 4 addresses)", field, s);
	for (size_t i = 0; i < n->npod_cidrs; i++)
		if (n->pod_cidrs[i].addr.family == p.addr.family)
			return bad(c, "%s: a second IPv%d pod CIDR '%s'", field, p.addr.family, s);
	n->pod_cidrs[n->npod_cidrs++] = p;
	return BIP_OK;
}

static int node_of(struct pctx *c, const json_t *obj, const char *name, struct bip_node *n)
{
	const json_t *meta = json_object_get(obj, "metadata"), *spec, *status, *cidrs, *one, *addrs;
	const json_t *e;
	size_t i;
	int rc;

	if ((rc = dup(name, &n->name)) != BIP_OK ||
	    (rc = labels_of(c, meta, true, &n->labels)) != BIP_OK ||
	    (rc = opt_field(c, obj, "", "spec", JSON_OBJECT, &spec)) != BIP_OK ||
	    (rc = opt_field(c, obj, "", "status", JSON_OBJECT, &status)) != BIP_OK ||
	    (rc = opt_field(c, spec, "spec.", "podCIDRs", JSON_ARRAY, &cidrs)) != BIP_OK ||
	    (rc = opt_field(c, spec, "spec.", "podCIDR", JSON_STRING, &one)) != BIP_OK ||
	    (rc = opt_field(c, status, "status.", "addresses", JSON_ARRAY, &addrs)) != BIP_OK)
		return rc;
	if (json_array_size(cidrs) > 2)
		return bad(c, "spec.podCIDRs: %zu CIDRs (at most one per family)",
			   json_array_size(cidrs));
	n->pod_cidrs = calloc(2, sizeof(*n->pod_cidrs));
	if (!n->pod_cidrs)
		return BIP_ENOMEM;
	json_array_foreach(cidrs, i, e)
	{
		char field[48];

		snprintf(field, sizeof(field), "spec.podCIDRs[%zu]", i);
		if ((rc = pod_cidr_add(c, n, field, e)) != BIP_OK)
			return rc;
	}
	/* podCIDR is podCIDRs[0] in every API server since 1.16; alone it is an older one's */
	if (one && !json_array_size(cidrs) && (rc = pod_cidr_add(c, n, "spec.podCIDR", one)))
		return rc;
	n->addrs = calloc(NODE_MAX_ADDRS, sizeof(*n->addrs));
	if (!n->addrs)
		return BIP_ENOMEM;
	json_array_foreach(addrs, i, e)
	{
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *s = json_string_value(json_object_get(e, "address"));
		struct bip_addr a;
		bool seen = false;

		if (!json_is_object(e) || !type || !s)
			return bad(c, "status.addresses[%zu]: want {type, address} strings", i);
		if (strcmp(type, "InternalIP") != 0)
			continue;
		if (bip_addr_parse(s, &a) != BIP_OK)
			return bad(c, "status.addresses[%zu].address: invalid IP address '%.100s'",
				   i, s);
		for (size_t j = 0; j < n->naddrs; j++)
			seen |= bip_addr_eq(n->addrs[j], a);
		if (seen)
			continue;
		if (n->naddrs == NODE_MAX_ADDRS)
			return bad(c, "status.addresses: more than %d InternalIPs", NODE_MAX_ADDRS);
		n->addrs[n->naddrs++] = a;
	}
	return BIP_OK;
}

/* One pool annotation: a JSON list of pool names or CIDRs, as Calico reads it. */
static int pools_of(struct pctx *c, const json_t *anns, const char *key, struct bip_namespace *ns)
{
	const char *text = json_string_value(json_object_get(anns, key));
	json_t *l, *e;
	size_t i;
	int rc = BIP_OK;

	if (!json_object_get(anns, key))
		return BIP_OK;
	if (!text)
		return bad(c, "metadata.annotations[\"%s\"]: must be a string", key);
	l = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_array(l)) {
		rc = bad(c,
			 "metadata.annotations[\"%s\"]: want a JSON list of pool names or CIDRs, "
			 "got '%.100s'",
			 key, text);
		goto out;
	}
	json_array_foreach(l, i, e)
	{
		const char *s = json_string_value(e);
		struct bip_prefix p;

		if (!s || (!bip_res_name_ok(s) && bip_prefix_parse_net(s, &p) != BIP_OK)) {
			rc = bad(
			    c, "metadata.annotations[\"%s\"][%zu]: neither a pool name nor a CIDR",
			    key, i);
			goto out;
		}
		if (ns->npools == NS_MAX_POOLS) {
			rc = bad(c, "metadata.annotations: more than %d pools", NS_MAX_POOLS);
			goto out;
		}
		if ((rc = dup(s, &ns->pools[ns->npools])) != BIP_OK)
			goto out;
		ns->npools++;
	}
out:
	json_decref(l);
	return rc;
}

static int namespace_of(struct pctx *c, const json_t *obj, const char *name,
			struct bip_namespace *ns)
{
	/* blockipam's own annotation wins over Calico's for its family (as on pods) */
	static const char *const keys[2][2] = {
	    {"blockipam.io/ipv4pools", "cni.projectcalico.org/ipv4pools"},
	    {"blockipam.io/ipv6pools", "cni.projectcalico.org/ipv6pools"},
	};
	const json_t *meta = json_object_get(obj, "metadata"), *anns;
	int rc;

	if ((rc = dup(name, &ns->name)) != BIP_OK ||
	    (rc = labels_of(c, meta, true, &ns->labels)) != BIP_OK ||
	    (rc = opt_field(c, meta, "metadata.", "annotations", JSON_OBJECT, &anns)) != BIP_OK)
		return rc;
	ns->pools = calloc(NS_MAX_POOLS, sizeof(*ns->pools));
	if (!ns->pools)
		return BIP_ENOMEM;
	for (int f = 0; f < 2; f++) {
		/* both are checked: a broken annotation is an error even when the other wins */
		size_t before = ns->npools;

		if ((rc = pools_of(c, anns, keys[f][0], ns)) != BIP_OK)
			return rc;
		if (ns->npools > before) {
			struct bip_namespace scratch = {0};

			scratch.pools = calloc(NS_MAX_POOLS, sizeof(*scratch.pools));
			if (!scratch.pools)
				return BIP_ENOMEM;
			rc = pools_of(c, anns, keys[f][1], &scratch);
			bip_namespace_clear(&scratch);
		} else {
			rc = pools_of(c, anns, keys[f][1], ns);
		}
		if (rc != BIP_OK)
			return rc;
	}
	return BIP_OK;
}

static int pod_of(struct pctx *c, const json_t *obj, const char *name, struct k8s_pod *p)
{
	const json_t *meta = json_object_get(obj, "metadata"), *spec, *status, *v;
	const char *ns, *phase;
	int rc;

	if ((rc = name_of(c, meta, "namespace", false, &ns)) != BIP_OK ||
	    (rc = opt_field(c, obj, "", "spec", JSON_OBJECT, &spec)) != BIP_OK ||
	    (rc = opt_field(c, obj, "", "status", JSON_OBJECT, &status)) != BIP_OK ||
	    (rc = opt_field(c, meta, "metadata.", "uid", JSON_STRING, &v)) != BIP_OK)
		return rc;
	if (v && (!*json_string_value(v) || strlen(json_string_value(v)) > BIP_ATTR_MAX))
		return bad(c, "metadata.uid: invalid '%.100s'", json_string_value(v));
	if ((rc = dup(ns ? ns : "default", &p->ns)) != BIP_OK || (rc = dup(name, &p->name)) ||
	    (v && (rc = dup(json_string_value(v), &p->uid))))
		return rc;
	if ((rc = opt_field(c, spec, "spec.", "nodeName", JSON_STRING, &v)) != BIP_OK)
		return rc;
	if (v && (rc = dup(json_string_value(v), &p->node)))
		return rc;
	if ((rc = opt_field(c, status, "status.", "phase", JSON_STRING, &v)) != BIP_OK)
		return rc;
	phase = json_string_value(v);
	p->finished = phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
	return BIP_OK;
}

static bool kind_of(const char *kind, enum k8s_kind *out)
{
	static const char *const names[K8S_NKINDS] = {"Node", "Namespace", "Pod"};

	for (int k = 0; kind && k < K8S_NKINDS; k++)
		if (strcmp(kind, names[k]) == 0) {
			*out = (enum k8s_kind)k;
			return true;
		}
	return false;
}

/* One object; item_kind is the kind of a typed list's items, which the API does not repeat. */
static int add_object_strict(struct pctx *c, const json_t *obj, const char *item_kind, bool deleted)
{
	struct k8s_input *in = c->in;
	const char *kind, *api, *name;
	const json_t *meta;
	struct k8s_obj *o;
	enum k8s_kind k;
	char where[sizeof(c->where)];
	int rc;

	if (!json_is_object(obj))
		return bad(c, "not an object");
	kind = json_string_value(json_object_get(obj, "kind"));
	api = json_string_value(json_object_get(obj, "apiVersion"));
	if (!kind)
		kind = item_kind;
	if (!kind)
		return bad(c, "kind: missing");
	/* only the core group's (another group may have a kind called Node) */
	if (!kind_of(kind, &k) || (api && strcmp(api, "v1") != 0)) {
		in->skipped++;
		return BIP_OK;
	}
	memcpy(where, c->where, sizeof(where));
	meta = json_object_get(obj, "metadata");
	if (!json_is_object(meta))
		return bad(c, "metadata: missing or not an object");
	if ((rc = name_of(c, meta, "name", true, &name)) != BIP_OK)
		return rc;
	snprintf(c->where + strlen(c->where), sizeof(c->where) - strlen(c->where), " (%s %s)", kind,
		 name);
	if (in->n == in->cap) {
		size_t cap = in->cap ? 2 * in->cap : 64;
		struct k8s_obj *v = realloc(in->v, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		in->v = v;
		in->cap = cap;
	}
	o = &in->v[in->n++];
	memset(o, 0, sizeof(*o));
	o->kind = k;
	o->deleted = deleted;
	o->seq = in->n;
	rc = k == K8S_NODE	  ? node_of(c, obj, name, &o->u.node)
	     : k == K8S_NAMESPACE ? namespace_of(c, obj, name, &o->u.ns)
				  : pod_of(c, obj, name, &o->u.pod);
	memcpy(c->where, where, sizeof(where));
	return rc;
}

/* add_object_strict; in a lenient input an object that fails is kept as a placeholder (its
 * kind and name: present, never written) and the failure becomes a warning. */
static int add_object(struct pctx *c, const json_t *obj, const char *item_kind, bool deleted)
{
	struct k8s_input *in = c->in;
	size_t n = in->n;
	const json_t *meta = json_object_get(obj, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	struct k8s_obj *o;
	char where[1200];
	int rc = add_object_strict(c, obj, item_kind, deleted);

	if (rc != BIP_EINVAL || !in->lenient)
		return rc;
	in->refused++;
	snprintf(where, sizeof(where), "%s (ignored: its record stays as it is)", c->err);
	if (json_array_append_new(in->warnings, json_string(where)) != 0)
		return BIP_ENOMEM;
	if (in->n == n)
		return BIP_OK; /* not even a name: nothing to hold a place for */
	o = &in->v[n];
	k8s_obj_clear(o);
	o->refused = true;
	if (o->kind == K8S_POD) {
		o->deleted = false; /* its UID is not known: a deletion might hit its successor */
		if (!ns)
			ns = "default";
		if (!bip_res_name_ok(ns)) {
			in->n = n;
			return BIP_OK;
		}
		rc = dup(ns, &o->u.pod.ns) || dup(name, &o->u.pod.name) ? BIP_ENOMEM : BIP_OK;
	} else {
		rc = dup(name, o->kind == K8S_NODE ? &o->u.node.name : &o->u.ns.name);
	}
	return rc;
}

static void supersede(struct k8s_input *in, enum k8s_kind k)
{
	for (size_t i = 0; i < in->n; i++)
		if (in->v[i].kind == k)
			in->v[i].superseded = true;
}

static int add_list(struct pctx *c, const json_t *doc, const char *kind, unsigned full_mask)
{
	struct k8s_input *in = c->in;
	const json_t *items = json_object_get(doc, "items"), *e;
	const char *rv =
	    json_string_value(json_object_get(json_object_get(doc, "metadata"), "resourceVersion"));
	char item_kind[64] = "";
	bool kinds[K8S_NKINDS] = {false};
	enum k8s_kind k;
	size_t i;
	char where[sizeof(c->where)];
	int rc;

	if (!json_is_array(items))
		return bad(c, "items: missing or not a list");
	if (strcmp(kind, "List") != 0) { /* "NodeList": its items are Nodes */
		snprintf(item_kind, sizeof(item_kind), "%.*s", (int)(strlen(kind) - 4), kind);
		if (!kind_of(item_kind, &k)) {
			in->skipped += json_array_size(items);
			return BIP_OK;
		}
		kinds[k] = true;
	}
	for (int j = 0; j < K8S_NKINDS; j++)
		kinds[j] |= !*item_kind && (full_mask & K8S_BIT(j));
	json_array_foreach(items, i, e)
	{
		const char *a = json_string_value(json_object_get(e, "apiVersion"));

		if (!*item_kind && kind_of(json_string_value(json_object_get(e, "kind")), &k) &&
		    (!a || strcmp(a, "v1") == 0))
			kinds[k] = true;
	}
	for (int j = 0; j < K8S_NKINDS; j++)
		if (kinds[j]) {
			supersede(in, (enum k8s_kind)j);
			in->full[j] = true;
			if (rv && *item_kind) {
				free(in->rv[j]);
				if (!(in->rv[j] = strdup(rv)))
					return BIP_ENOMEM;
			}
		}
	memcpy(where, c->where, sizeof(where));
	json_array_foreach(items, i, e)
	{
		snprintf(c->where, sizeof(c->where), "%s items[%zu]", where, i);
		if ((rc = add_object(c, e, *item_kind ? item_kind : NULL, false)) != BIP_OK)
			return rc;
	}
	memcpy(c->where, where, sizeof(where));
	return BIP_OK;
}

static int add_event(struct pctx *c, const json_t *doc)
{
	const char *type = json_string_value(json_object_get(doc, "type"));
	const json_t *obj = json_object_get(doc, "object");

	if (!type)
		return bad(c, "type: must be a string");
	if (strcmp(type, "BOOKMARK") == 0) {
		c->in->bookmarks++;
		return BIP_OK;
	}
	if (strcmp(type, "ERROR") == 0) {
		/* a Status: {"code": 410, "reason": "Expired", "message": "..."} */
		const char *msg = json_string_value(json_object_get(obj, "message"));
		json_int_t code = json_integer_value(json_object_get(obj, "code"));
		char w[400];

		c->in->error_events++;
		snprintf(w, sizeof(w), "%s: watch ERROR %lld: %.300s", c->where, (long long)code,
			 msg ? msg : "(no message)");
		return json_array_append_new(c->in->warnings, json_string(w)) ? BIP_ENOMEM : BIP_OK;
	}
	if (strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0 &&
	    strcmp(type, "DELETED") != 0)
		return bad(c, "type: unknown watch event type '%.40s'", type);
	if (!json_is_object(obj))
		return bad(c, "object: missing or not an object");
	return add_object(c, obj, NULL, strcmp(type, "DELETED") == 0);
}

/* Whether v nests deeper than max (JSON input is limited only by jansson's 2048 levels). */
static bool too_deep(const json_t *v, int max)
{
	const json_t *e;
	const char *k;
	size_t i;

	if (!json_is_object(v) && !json_is_array(v))
		return false;
	if (max == 0)
		return true;
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			if (too_deep(e, max - 1))
				return true;
		}
		return false;
	}
	json_object_foreach((json_t *)v, k, e)
	{
		if (too_deep(e, max - 1))
			return true;
	}
	return false;
}

int k8s_input_add(struct k8s_input *in, const json_t *docs, unsigned full_mask, char *err,
		  size_t errlen)
{
	struct pctx c = {in, err, errlen, ""};
	const json_t *d;
	size_t i;
	int rc = BIP_OK;

	if (!in->warnings && !(in->warnings = json_array()))
		return BIP_ENOMEM;
	json_array_foreach(docs, i, d)
	{
		const char *kind = json_string_value(json_object_get(d, "kind"));
		size_t n;

		snprintf(c.where, sizeof(c.where), "document %zu", in->docs + 1);
		in->docs++;
		if (!json_is_object(d))
			rc = bad(&c, "not an object");
		else if (too_deep(d, K8S_MAX_DEPTH))
			rc = bad(&c, "nested more than %d levels deep", K8S_MAX_DEPTH);
		else if (!kind && json_object_get(d, "type") && json_object_get(d, "object"))
			rc = add_event(&c, d);
		else if (kind && (n = strlen(kind)) >= 4 && strcmp(kind + n - 4, "List") == 0)
			rc = add_list(&c, d, kind, full_mask);
		else
			rc = add_object(&c, d, NULL, false);
		if (rc != BIP_OK) {
			if (rc == BIP_ENOMEM)
				snprintf(err, errlen, "%s: out of memory", c.where);
			return rc;
		}
	}
	return BIP_OK;
}

/* Copy src[key] into dst[key] when it is there. */
static int keep(json_t *dst, const json_t *src, const char *key)
{
	json_t *v = json_object_get(src, key);

	return !v || !json_object_set(dst, key, v) ? BIP_OK : BIP_ENOMEM;
}

json_t *k8s_slim(const json_t *obj)
{
	static const char *const anns[] = {"blockipam.io/ipv4pools", "blockipam.io/ipv6pools",
					   "cni.projectcalico.org/ipv4pools",
					   "cni.projectcalico.org/ipv6pools"};
	const json_t *meta = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec");
	const json_t *status = json_object_get(obj, "status"),
		     *a = json_object_get(meta, "annotations");
	json_t *o = json_object(), *m = json_object(), *sp = json_object(), *st = json_object();
	json_t *an = json_object();
	int rc = o && m && sp && st && an ? BIP_OK : BIP_ENOMEM;

	if (!json_is_object(obj)) { /* let the parser say what is wrong with it */
		json_decref(o);
		o = json_incref((json_t *)obj);
		goto out;
	}
	if (rc == BIP_OK)
		rc = keep(o, obj, "kind") || keep(o, obj, "apiVersion") || keep(m, meta, "name") ||
		     keep(m, meta, "namespace") || keep(m, meta, "uid") ||
		     keep(m, meta, "labels") || keep(sp, spec, "podCIDR") ||
		     keep(sp, spec, "podCIDRs") || keep(sp, spec, "nodeName") ||
		     keep(st, status, "phase") || keep(st, status, "addresses");
	for (size_t i = 0; rc == BIP_OK && json_is_object(a) && i < sizeof(anns) / sizeof(anns[0]);
	     i++)
		rc = keep(an, a, anns[i]);
	if (rc == BIP_OK && json_is_object(a))
		rc = json_object_set(m, "annotations", an) ? BIP_ENOMEM : BIP_OK;
	if (rc == BIP_OK && json_is_object(meta))
		rc = json_object_set(o, "metadata", m) ? BIP_ENOMEM : BIP_OK;
	else if (rc == BIP_OK && meta)
		rc = keep(o, obj, "metadata");
	if (rc == BIP_OK && json_is_object(spec))
		rc = json_object_set(o, "spec", sp) ? BIP_ENOMEM : BIP_OK;
	else if (rc == BIP_OK && spec)
		rc = keep(o, obj, "spec");
	if (rc == BIP_OK && json_is_object(status))
		rc = json_object_set(o, "status", st) ? BIP_ENOMEM : BIP_OK;
	else if (rc == BIP_OK && status)
		rc = keep(o, obj, "status");
	if (rc != BIP_OK) {
		json_decref(o);
		o = NULL;
	}
out:
	json_decref(m);
	json_decref(sp);
	json_decref(st);
	json_decref(an);
	return o;
}
