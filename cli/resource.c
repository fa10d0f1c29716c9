/*
 * Manifest documents <-> library structs for the five resource kinds (resource.h): the table of
 * kinds (res_kind.h) and what every kind shares: the document's envelope (apiVersion, kind,
 * metadata), Lists, checks across documents, clearing, our form's envelope and the tables. What
 * a kind's spec holds is its own file's (res_pool.c, ...); the strict reader is res_read.c.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "res_kind.h"

static const struct bip_res_kind_ops *const kinds[BIP_RES__COUNT] = {
    [BIP_RES_POOL] = &bip_res_pool_ops,		  [BIP_RES_RESERVATION] = &bip_res_reservation_ops,
    [BIP_RES_CONFIG] = &bip_res_config_ops,	  [BIP_RES_NODE] = &bip_res_node_ops,
    [BIP_RES_NAMESPACE] = &bip_res_namespace_ops,
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
    {BIP_CALICO_API, "IPPool", BIP_RES_POOL, BIP_RD_CALICO},
    {BIP_CALICO_API, "IPReservation", BIP_RES_RESERVATION, BIP_RD_CALICO},
    {BIP_CALICO_API, "IPAMConfiguration", BIP_RES_CONFIG, BIP_RD_CALICO},
    {"crd.projectcalico.org/v1", "IPPool", BIP_RES_POOL, BIP_RD_CALICO},
    {"crd.projectcalico.org/v1", "IPReservation", BIP_RES_RESERVATION, BIP_RD_CALICO},
    {"crd.projectcalico.org/v1", "IPAMConfig", BIP_RES_CONFIG, BIP_RD_CALICO},
};

const struct bip_res_kind_ops *bip_res_ops(enum bip_res_kind k)
{
	return (unsigned)k < BIP_RES__COUNT ? kinds[k] : NULL;
}

int bip_res_kind_parse(const char *word, enum bip_res_kind *out)
{
	for (int k = 0; k < BIP_RES__COUNT; k++)
		for (const char *const *w = kinds[k]->words; *w; w++)
			if (strcasecmp(word, *w) == 0) {
				*out = (enum bip_res_kind)k;
				return BIP_OK;
			}
	return BIP_EINVAL;
}

size_t bip_res_kind_words(enum bip_res_kind k, const char **out, size_t max)
{
	size_t n = 0;

	for (const char *const *w = kinds[k]->words; *w && n < max; w++)
		out[n++] = *w;
	return n;
}

const char *bip_res_kind_name(enum bip_res_kind k)
{
	return kinds[k]->name;
}

const char *bip_res_kind_word(enum bip_res_kind k)
{
	return kinds[k]->word;
}

const char *bip_res_name(const struct bip_res *r)
{
	const struct bip_res_kind_ops *ops = bip_res_ops(r->kind);

	return ops ? ops->name_of(r) : BIP_CONFIG_NAME;
}

/* --- one document ------------------------------------------------------------------------- */

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

/* metadata.name (*name, NULL when not given) checked; a kind with one resource names it itself. */
static int doc_name(struct bip_rd *c, const struct bip_res_kind_ops *ops, const char **name)
{
	if (ops->fixed_name) {
		if (*name && strcmp(*name, ops->fixed_name) != 0)
			return bip_rd_bad(
			    c, "metadata.name: the IPAM configuration is named '%s', not '%s'",
			    ops->fixed_name, *name);
		*name = ops->fixed_name;
		return BIP_OK;
	}
	if (!*name)
		return bip_rd_bad(c, "metadata.name is missing");
	if (!bip_res_k8s_name_ok(*name, ops == &bip_res_namespace_ops))
		return bip_rd_bad(c, "metadata.name: invalid name '%.300s' (want %s)", *name,
				  ops == &bip_res_namespace_ops ? BIP_RES_K8S_LABEL_RULE
								: BIP_RES_K8S_NAME_RULE);
	return BIP_OK;
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
	const struct bip_res_kind_ops *ops;
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
	ops = kinds[r.kind];
	labelled = ops->labelled;
	meta = bip_rd_field(doc, "metadata");
	spec = bip_rd_field(doc, "spec");
	if (meta && !json_is_object(meta))
		return bip_rd_want(c, "", "metadata", "a mapping", meta);
	if (spec && !json_is_object(spec))
		return bip_rd_want(c, "", "spec", "a mapping", spec);
	if ((rc = bip_rd_string(c, meta, "metadata", "name", &name)) != BIP_OK)
		return rc;
	if ((rc = doc_name(c, ops, &name)) != BIP_OK)
		return rc;
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
	rc = ops->convert(c, name, meta, spec, &r);
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
	const struct bip_res_kind_ops *ops = bip_res_ops(r->kind);
	char msg[512] = "";
	int rc;

	if (!ops || !ops->validate)
		return BIP_OK;
	rc = ops->validate(r, msg, sizeof(msg));
	if (rc != BIP_OK && err && errlen)
		snprintf(err, errlen, "%s: %s", r->src ? r->src : bip_res_name(r),
			 *msg ? msg : bip_strerror(rc));
	return rc;
}

void bip_res_labels_clear(struct bip_label_set *l)
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
	const struct bip_res_kind_ops *ops;

	if (!r)
		return;
	ops = bip_res_ops(r->kind);
	if (ops && ops->clear)
		ops->clear(r);
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

json_t *bip_res_labels_json(const struct bip_label_set *l)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < l->n; i++)
		if (json_object_set_new(o, l->v[i].key, json_string(l->v[i].value)) != 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

json_t *bip_res_doc_new(enum bip_res_kind k, const char *name, json_t *labels, json_t *spec)
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

json_t *bip_res_prefixes_json(const struct bip_prefix *v, size_t n)
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

json_t *bip_res_to_json(const struct bip_res *r)
{
	const struct bip_res_kind_ops *ops = bip_res_ops(r->kind);

	return ops ? ops->to_json(r) : NULL;
}

json_t *bip_res_list_json(json_t *items)
{
	return json_pack("{s:s, s:s, s:o}", "apiVersion", BIP_API_VERSION, "kind", "List", "items",
			 items);
}

bool bip_res_calico_word(const char *word)
{
	for (int k = 0; k < BIP_RES__COUNT; k++)
		for (const char *const *w = kinds[k]->calico_words; *w; w++)
			if (strcasecmp(word, *w) == 0)
				return true;
	return false;
}

int bip_res_to_calico(enum bip_res_kind k, json_t *doc)
{
	json_t *spec = json_object_get(doc, "spec");

	if (!kinds[k]->calico_kind ||
	    (kinds[k]->calico_spec && spec && !kinds[k]->calico_spec(spec)))
		return BIP_OK;
	if (json_object_set_new(doc, "apiVersion", json_string(BIP_CALICO_API)) != 0 ||
	    json_object_set_new(doc, "kind", json_string(kinds[k]->calico_kind)) != 0)
		return BIP_ENOMEM;
	return BIP_OK;
}

json_t *bip_res_calico_list_json(enum bip_res_kind k, json_t *items)
{
	char kind[64];

	if (!kinds[k]->calico_kind)
		return bip_res_list_json(items);
	snprintf(kind, sizeof(kind), "%sList", kinds[k]->calico_kind);
	return json_pack("{s:s, s:s, s:o}", "apiVersion", BIP_CALICO_API, "kind", kind, "items",
			 items);
}

/* --- tables ------------------------------------------------------------------------------- */

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
	const struct bip_res_col *cols = kinds[k]->columns;
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
