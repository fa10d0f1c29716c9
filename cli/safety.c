/*
 * What an operator's change would hurt, said before it is made (ctl.h): the holders of the
 * addresses of a pool or a node, and names that the store does not have, with the nearest one
 * it does have ("did you mean 'worker-1'?", by edit distance).
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Levenshtein distance, capped: anything above cap is cap + 1. */
static size_t distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b), *row, best = cap + 1;

	if ((la > lb ? la - lb : lb - la) > cap || lb > BIP_NAME_MAX)
		return cap + 1;
	if (!(row = malloc((lb + 1) * sizeof(*row))))
		return cap + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0], lo;

		row[0] = i;
		lo = row[0];
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], v = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < v)
				v = up + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			diag = up;
			row[j] = v;
			lo = v < lo ? v : lo;
		}
		if (lo > cap) /* every path through this row is already too long */
			goto out;
	}
	best = row[lb] <= cap ? row[lb] : cap + 1;
out:
	free(row);
	return best;
}

const char *ctl_nearest(const char *word, const char *const *names, size_t n)
{
	size_t len = strlen(word), cap = len < 3 ? 1 : len < 9 ? 2 : 3, best = cap + 1;
	const char *pick = NULL;

	for (size_t i = 0; i < n; i++) {
		size_t d;

		if (!names[i] || strcmp(names[i], word) == 0)
			continue;
		d = distance(word, names[i], cap);
		if (d < best) {
			best = d;
			pick = names[i];
		}
	}
	return pick;
}

static int push_name(const char ***v, size_t *n, const char *name)
{
	const char **nv;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], name) == 0)
			return BIP_OK;
	if (!(nv = realloc(*v, (*n + 1) * sizeof(*nv))))
		return BIP_ENOMEM;
	nv[(*n)++] = name;
	*v = nv;
	return BIP_OK;
}

#define STOP (-1) /* a callback's "found it": not one of the library's codes */

struct handle_nodes {
	const char *want;
	bool found;
	char **names; /* owned copies: a handle's strings die with the callback */
	size_t n;
};

static int on_handle_node(void *ctx, const struct bip_handle_info *h)
{
	struct handle_nodes *hn = ctx;
	char **v;

	if (!h->node)
		return 0;
	if (strcmp(h->node, hn->want) == 0) {
		hn->found = true;
		return STOP;
	}
	for (size_t i = 0; i < hn->n; i++)
		if (strcmp(hn->names[i], h->node) == 0)
			return 0;
	if (hn->n >= 1024) /* enough to suggest from */
		return 0;
	if (!(v = realloc(hn->names, (hn->n + 1) * sizeof(*v))) || !(v[hn->n] = strdup(h->node))) {
		if (v)
			hn->names = v;
		return BIP_ENOMEM;
	}
	hn->names = v;
	hn->n++;
	return 0;
}

int ctl_node_known(struct bip_ipam *ipam, const char *node, const char *what)
{
	struct bip_node *nodes = NULL;
	struct bip_block_info *blocks = NULL;
	struct handle_nodes hn = {.want = node};
	const char **names = NULL, *near;
	size_t nn = 0, nb = 0, n = 0;
	int ret = CTL_EXIT_ERR, rc;

	if (!bip_res_name_ok(node)) {
		ctl_err("%s: invalid node name '%s'", what, node);
		goto out;
	}
	rc = bip_ipam_node_list(ipam, &nodes, &nn);
	if (rc == BIP_OK)
		rc = bip_ipam_block_list(ipam, &blocks, &nb);
	if (rc != BIP_OK) {
		ctl_lib_err(ipam, rc, "cannot list the nodes");
		goto out;
	}
	for (size_t i = 0; i < nn; i++)
		if (strcmp(nodes[i].name, node) == 0)
			goto known;
	for (size_t i = 0; i < nb; i++)
		if (blocks[i].node && strcmp(blocks[i].node, node) == 0)
			goto known;
	/* A node of host-local mode may have neither record nor block: only its handles. */
	rc = bip_ipam_handle_foreach(ipam, "", on_handle_node, &hn);
	if (rc != BIP_OK && rc != STOP) {
		ctl_lib_err(ipam, rc, "cannot list the handles");
		goto out;
	}
	if (hn.found)
		goto known;
	for (size_t i = 0; i < nn; i++)
		if (push_name(&names, &n, nodes[i].name) != BIP_OK)
			goto oom;
	for (size_t i = 0; i < nb; i++)
		if (blocks[i].node && push_name(&names, &n, blocks[i].node) != BIP_OK)
			goto oom;
	for (size_t i = 0; i < hn.n; i++)
		if (push_name(&names, &n, hn.names[i]) != BIP_OK)
			goto oom;
	near = ctl_nearest(node, names, n);
	if (near)
		ctl_err(
		    "%s: unknown node '%s' (no node record, block or address names it); did you "
		    "mean '%s'?",
		    what, node, near);
	else
		ctl_err("%s: unknown node '%s' (no node record, block or address names it; the "
			"store knows %zu node%s: 'get nodes', 'ipam show --show-blocks')",
			what, node, n, n == 1 ? "" : "s");
	goto out;
oom:
	ctl_err("out of memory");
	goto out;
known:
	ret = CTL_EXIT_OK;
out:
	free(names);
	for (size_t i = 0; i < hn.n; i++)
		free(hn.names[i]);
	free(hn.names);
	bip_block_infos_free(blocks, nb);
	bip_nodes_free(nodes, nn);
	return ret;
}

struct holders_ctx {
	const struct bip_prefix *within;
	const char *node;
	struct ctl_holders *out;
	char (*first)[BIP_HANDLE_MAX + 64];
	size_t nfirst;
};

static int on_alloc(void *ctx, const struct bip_alloc_entry *e)
{
	struct holders_ctx *h = ctx;
	char as[BIP_ADDR_STRLEN];

	if (h->within && !bip_prefix_contains(*h->within, e->addr))
		return 0;
	if (h->node && (!e->node || strcmp(e->node, h->node) != 0))
		return 0;
	h->out->n++;
	if (h->nfirst < CTL_HOLDERS_NAMED)
		snprintf(h->first[h->nfirst++], sizeof(h->first[0]), "%s\t%s\t%s", e->handle,
			 bip_addr_fmt(e->addr, as), e->node ? e->node : "");
	return 0;
}

int ctl_holders(struct bip_ipam *ipam, const struct bip_prefix *within, const char *node,
		struct ctl_holders *out)
{
	char first[CTL_HOLDERS_NAMED][BIP_HANDLE_MAX + 64];
	struct holders_ctx h = {within, node, out, first, 0};
	size_t len = 0;
	int rc;

	out->n = 0;
	out->text[0] = '\0';
	rc = bip_ipam_alloc_foreach(ipam, on_alloc, &h);
	if (rc != BIP_OK) {
		ctl_lib_err(ipam, rc, "cannot list the allocations");
		return CTL_EXIT_ERR;
	}
	for (size_t i = 0; i < h.nfirst; i++) {
		char *handle = first[i], *addr = strchr(handle, '\t'), *hnode;
		struct bip_handle_info hi = {0};
		int w;

		*addr++ = '\0';
		hnode = strchr(addr, '\t');
		*hnode++ = '\0';
		/* name the pod where the handle record says which */
		if (bip_ipam_handle_get(ipam, handle, &hi) == BIP_OK && hi.pod)
			w = snprintf(out->text + len, sizeof(out->text) - len, "%s%s%s%s",
				     i ? ", " : "", hi.namespace ? hi.namespace : "",
				     hi.namespace ? "/" : "", hi.pod);
		else
			w = snprintf(out->text + len, sizeof(out->text) - len, "%s'%s'",
				     i ? ", " : "", handle);
		bip_handle_info_clear(&hi);
		if (w >= 0 && (size_t)w < sizeof(out->text) - len)
			len += (size_t)w;
		w = snprintf(out->text + len, sizeof(out->text) - len, " (%s%s%s)", addr,
			     *hnode ? " on node " : "", hnode);
		if (w < 0 || (size_t)w >= sizeof(out->text) - len)
			break;
		len += (size_t)w;
	}
	if (out->n > h.nfirst)
		snprintf(out->text + strlen(out->text), sizeof(out->text) - strlen(out->text),
			 " and %zu more", out->n - h.nfirst);
	return CTL_EXIT_OK;
}

/* The stored name of kind nearest to name, copied into buf ("" when none). */
static const char *nearest_stored(struct bip_ipam *ipam, enum bip_res_kind kind, const char *name,
				  char *buf, size_t len)
{
	json_t *docs = NULL, *d;
	const char **names = NULL, *near = NULL;
	size_t n = 0, i;

	buf[0] = '\0';
	if (bip_res_list(ipam, kind, &docs) == BIP_OK && json_is_array(docs) &&
	    (names = calloc(json_array_size(docs) + 1, sizeof(*names)))) {
		json_array_foreach(docs, i, d)
		{
			const char *nm = json_string_value(
			    json_object_get(json_object_get(d, "metadata"), "name"));

			if (nm)
				names[n++] = nm;
		}
		near = ctl_nearest(name, names, n);
		if (near)
			snprintf(buf, len, "%s", near);
	}
	free(names);
	json_decref(docs);
	return *buf ? buf : NULL;
}

/* Whether a and b differ only in their digits: worker-2 and worker-1 are a series, no typo. */
static bool same_but_digits(const char *a, const char *b)
{
	for (;;) {
		while (*a >= '0' && *a <= '9')
			a++;
		while (*b >= '0' && *b <= '9')
			b++;
		if (*a != *b)
			return false;
		if (!*a)
			return true;
		a++;
		b++;
	}
}

void ctl_warn_new_name(struct bip_ipam *ipam, enum bip_res_kind kind, const char *name)
{
	char buf[BIP_NAME_MAX + 1];
	const char *near = nearest_stored(ipam, kind, name, buf, sizeof(buf));

	if (near && !same_but_digits(near, name))
		ctl_warn("creating %s '%s' next to the existing '%s': a typo?",
			 bip_res_kind_word(kind), name, near);
}

void ctl_not_found(struct bip_ipam *ipam, enum bip_res_kind kind, const char *name,
		   const char *suffix)
{
	char buf[BIP_NAME_MAX + 1];
	const char *near = nearest_stored(ipam, kind, name, buf, sizeof(buf));

	if (near)
		ctl_err("%s '%s' not found (did you mean '%s'?)%s", bip_res_kind_word(kind), name,
			near, suffix);
	else
		ctl_err("%s '%s' not found%s", bip_res_kind_word(kind), name, suffix);
}

/* The label sets selectors are judged against: stored ones, overridden by the manifest's. */
struct labelled {
	const char *name;
	const struct bip_label_set *labels;
};

static bool has_key(const struct labelled *v, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < v[i].labels->n; j++)
			if (strcmp(v[i].labels->v[j].key, key) == 0)
				return true;
	return false;
}

/* Whether sel selects one of v, with the implicit name label (key implicit = the name). */
static bool selects_any(const struct bip_selector *sel, const struct labelled *v, size_t n,
			const char *implicit)
{
	for (size_t i = 0; i < n; i++) {
		size_t nl = v[i].labels->n;
		struct bip_label *ls = calloc(nl + 1, sizeof(*ls));
		bool m;

		if (!ls)
			return true; /* out of memory: no warning rather than a wrong one */
		memcpy(ls, v[i].labels->v, nl * sizeof(*ls));
		ls[nl] = (struct bip_label){implicit, v[i].name};
		m = bip_selector_match(sel, ls, nl + 1);
		free(ls);
		if (m)
			return true;
	}
	return false;
}

/* One selector of one pool: warn when it selects none of v and names a key none of v has. */
static void warn_selector(const char *fname, const struct bip_pool *p, const char *field,
			  const char *text, const struct labelled *v, size_t n, const char *what,
			  const char *implicit)
{
	struct bip_selector *sel = NULL;
	char key[BIP_SELECTOR_MAX + 1];
	const char *keys[64];
	size_t nkeys = 0;

	if (!text || !*text || !n || bip_selector_parse(text, &sel, NULL, 0) != BIP_OK)
		return;
	if (selects_any(sel, v, n, implicit))
		goto out;
	for (size_t j = 0; j < n && nkeys < 64; j++)
		for (size_t k = 0; k < v[j].labels->n && nkeys < 64; k++)
			keys[nkeys++] = v[j].labels->v[k].key;
	for (size_t i = 0; bip_selector_key(sel, i, key, sizeof(key)); i++) {
		const char *near;

		if (strcmp(key, implicit) == 0 || has_key(v, n, key))
			continue;
		near = ctl_nearest(key, keys, nkeys);
		ctl_warn("%s: pool '%s': %s \"%s\" names label '%s', which no %s has: it selects "
			 "no %s%s%s%s",
			 fname, p->name, field, text, key, what, what,
			 near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
		break;
	}
out:
	bip_selector_free(sel);
}

void ctl_warn_selectors(struct bip_ipam *ipam, const char *fname, const struct bip_res *res,
			size_t nres)
{
	struct bip_node *nodes = NULL;
	struct bip_namespace *nss = NULL;
	struct labelled *vn = NULL, *vs = NULL;
	size_t nn = 0, ns = 0, cn = 0, cs = 0;

	/* Without nodes (a fresh cluster, pools first) there is nothing to judge by. */
	if (bip_ipam_node_list(ipam, &nodes, &nn) != BIP_OK)
		nn = 0;
	if (bip_ipam_namespace_list(ipam, &nss, &ns) != BIP_OK)
		ns = 0;
	vn = calloc(nn + nres + 1, sizeof(*vn));
	vs = calloc(ns + nres + 1, sizeof(*vs));
	if (!vn || !vs)
		goto out;
	for (size_t i = 0; i < nres; i++) {
		if (res[i].kind == BIP_RES_NODE)
			vn[cn++] = (struct labelled){res[i].u.node.name, &res[i].u.node.labels};
		else if (res[i].kind == BIP_RES_NAMESPACE)
			vs[cs++] = (struct labelled){res[i].u.ns.name, &res[i].u.ns.labels};
	}
	for (size_t i = 0; i < nn; i++) {
		bool dup = false;

		for (size_t j = 0; j < cn && !dup; j++)
			dup = strcmp(vn[j].name, nodes[i].name) == 0;
		if (!dup)
			vn[cn++] = (struct labelled){nodes[i].name, &nodes[i].labels};
	}
	for (size_t i = 0; i < ns; i++) {
		bool dup = false;

		for (size_t j = 0; j < cs && !dup; j++)
			dup = strcmp(vs[j].name, nss[i].name) == 0;
		if (!dup)
			vs[cs++] = (struct labelled){nss[i].name, &nss[i].labels};
	}
	for (size_t i = 0; i < nres; i++) {
		const struct bip_pool *p = &res[i].u.pool;

		if (res[i].kind != BIP_RES_POOL)
			continue;
		warn_selector(fname, p, "nodeSelector", p->node_selector, vn, cn, "node",
			      "kubernetes.io/hostname");
		warn_selector(fname, p, "namespaceSelector", p->ns_selector, vs, cs, "namespace",
			      "kubernetes.io/metadata.name");
	}
out:
	free(vn);
	free(vs);
	bip_nodes_free(nodes, nn);
	bip_namespaces_free(nss, ns);
}
