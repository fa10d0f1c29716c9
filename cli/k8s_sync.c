/*
 * k8s sync: make the store say what Kubernetes says (k8s.h), from kubectl's JSON or YAML.
 *
 * Records: a node or namespace the input has is written (with the sync's mark label) when it
 * differs from the stored one. A DELETED event deletes the record, whoever made it: Kubernetes knew
 * the object. A complete list of a kind deletes the records that carry the mark and are not
 * listed, never a record made by hand (blockipamctl apply, node set) and never a pool. A deleted
 * node's block affinities are released (its empty blocks go, the others become unowned and go with
 * their last address).
 *
 * Leaks: an allocation recorded with a pod (namespace and name, from K8S_POD_* in CNI_ARGS) is
 * leaked when its node is gone, or, with a complete pod list, when the pod is not listed, is listed
 * with another UID (recreated under the same name), has finished (Succeeded, Failed) or runs on
 * another node; without a complete pod list, when a DELETED event names its pod. It is released
 * once at least --grace old (an ADD in flight has no pod in the list yet), and counted either way.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "k8s.h"
#include "manifest.h"
#include "subcommands.h"

static void say(const struct k8s_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(const struct k8s_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (!o->log)
		return;
	fputs(o->prefix ? o->prefix : "", o->log);
	va_start(ap, fmt);
	vfprintf(o->log, fmt, ap);
	va_end(ap);
	fputc('\n', o->log);
	fflush(o->log);
}

static bool marked(const struct bip_label_set *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		if (strcmp(ls->v[i].key, K8S_MARK_KEY) == 0 &&
		    strcmp(ls->v[i].value, K8S_MARK_VALUE) == 0)
			return true;
	return false;
}

static const struct bip_node *stored_node(const struct bip_node *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

static const struct bip_namespace *stored_ns(const struct bip_namespace *v, size_t n,
					     const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

/* Names of nodes that are gone in this sync. */
struct names {
	char **v;
	size_t n;
};

static int names_add(struct names *g, const char *s)
{
	char **v = realloc(g->v, (g->n + 1) * sizeof(*v));

	if (!v)
		return BIP_ENOMEM;
	g->v = v;
	if (!(g->v[g->n] = strdup(s)))
		return BIP_ENOMEM;
	g->n++;
	return BIP_OK;
}

static bool names_has(const struct names *g, const char *s)
{
	for (size_t i = 0; s && i < g->n; i++)
		if (strcmp(g->v[i], s) == 0)
			return true;
	return false;
}

static void names_clear(struct names *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->v[i]);
	free(g->v);
}

static bool same(json_t *a, json_t *b)
{
	bool eq = a && b && json_equal(a, b);

	json_decref(a);
	json_decref(b);
	return eq;
}

static void node_write(struct bip_ipam *ip, const struct bip_node *want,
		       const struct bip_node *have, const struct k8s_opts *o, struct k8s_stats *st)
{
	int rc;

	if (have && same(bip_res_node_json(want), bip_res_node_json(have))) {
		st->nodes_unchanged++;
		return;
	}
	if (!o->dry_run && (rc = bip_ipam_node_put(ip, want)) != BIP_OK) {
		say(o, "node/%s: not written: %s", want->name,
		    *bip_ipam_errmsg(ip) ? bip_ipam_errmsg(ip) : bip_strerror(rc));
		st->failures++;
		return;
	}
	st->nodes_written++;
	say(o, "node/%s %s%s", want->name, have ? "configured" : "created",
	    o->dry_run ? " (dry run)" : "");
}

static void node_gone(struct bip_ipam *ip, const char *name, bool have, const struct k8s_opts *o,
		      struct k8s_stats *st)
{
	size_t rel = 0, del = 0;
	int rc = BIP_OK;

	if (!o->dry_run) {
		rc = bip_ipam_node_release(ip, name, &rel, &del);
		if (rc == BIP_OK && have) {
			rc = bip_ipam_node_delete(ip, name);
			if (rc == BIP_ENOTFOUND)
				rc = BIP_OK;
		}
	}
	if (rc != BIP_OK) {
		say(o, "node/%s: not deleted: %s", name,
		    *bip_ipam_errmsg(ip) ? bip_ipam_errmsg(ip) : bip_strerror(rc));
		st->failures++;
		return;
	}
	st->nodes_deleted += have;
	st->blocks_released += rel;
	st->blocks_deleted += del;
	say(o, "node/%s %s: %zu block affinities released, %zu empty blocks deleted%s", name,
	    have ? "deleted" : "gone", rel, del, o->dry_run ? " (dry run)" : "");
}

static bool pool_exists(const struct bip_pool *pools, size_t n, const char *s)
{
	struct bip_prefix p;
	bool cidr = bip_prefix_parse_net(s, &p) == BIP_OK;

	for (size_t i = 0; i < n; i++)
		if (strcmp(pools[i].name, s) == 0 || (cidr && bip_prefix_eq(pools[i].cidr, p)))
			return true;
	return false;
}

static void ns_write(struct bip_ipam *ip, const struct bip_namespace *want,
		     const struct bip_namespace *have, const struct bip_pool *pools, size_t npools,
		     const struct k8s_opts *o, struct k8s_stats *st)
{
	int rc;

	for (size_t i = 0; i < want->npools; i++)
		if (!pool_exists(pools, npools, want->pools[i])) {
			st->missing_pools++;
			say(o,
			    "namespace/%s: pool '%s' of its annotation does not exist: its pods "
			    "get no address until it does",
			    want->name, want->pools[i]);
		}
	if (have && same(bip_res_namespace_json(want), bip_res_namespace_json(have))) {
		st->ns_unchanged++;
		return;
	}
	if (!o->dry_run && (rc = bip_ipam_namespace_put(ip, want)) != BIP_OK) {
		say(o, "namespace/%s: not written: %s", want->name,
		    *bip_ipam_errmsg(ip) ? bip_ipam_errmsg(ip) : bip_strerror(rc));
		st->failures++;
		return;
	}
	st->ns_written++;
	say(o, "namespace/%s %s%s", want->name, have ? "configured" : "created",
	    o->dry_run ? " (dry run)" : "");
}

static void ns_gone(struct bip_ipam *ip, const char *name, const struct k8s_opts *o,
		    struct k8s_stats *st)
{
	int rc = o->dry_run ? BIP_OK : bip_ipam_namespace_delete(ip, name);

	if (rc != BIP_OK && rc != BIP_ENOTFOUND) {
		say(o, "namespace/%s: not deleted: %s", name,
		    *bip_ipam_errmsg(ip) ? bip_ipam_errmsg(ip) : bip_strerror(rc));
		st->failures++;
		return;
	}
	st->ns_deleted++;
	say(o, "namespace/%s deleted%s", name, o->dry_run ? " (dry run)" : "");
}

/* What the leak pass needs of a handle, copied out of the foreach. */
struct hrec {
	char *id, *node, *ns, *pod, *uid;
	int64_t time;
};

struct hvec {
	struct hrec *v;
	size_t n, cap;
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int collect(void *ctx, const struct bip_handle_info *h)
{
	struct hvec *hv = ctx;
	struct hrec *r;
	int64_t now, t;

	if (hv->n == hv->cap) {
		size_t cap = hv->cap ? 2 * hv->cap : 256;
		struct hrec *v = realloc(hv->v, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		hv->v = v;
		hv->cap = cap;
	}
	/* its time, made younger by CLOCK_BOOTTIME when it was written on this boot: a clock that
	 * was behind at its ADD cannot make a young pod's handle look old (bip_handle_age) */
	now = (int64_t)time(NULL);
	t = now - bip_handle_age(h, now);
	r = &hv->v[hv->n++];
	*r = (struct hrec){strdup(h->id),	dup_or_null(h->node),	 dup_or_null(h->namespace),
			   dup_or_null(h->pod), dup_or_null(h->pod_uid), t > h->time ? t : h->time};
	if (!r->id || (h->node && !r->node) || (h->namespace && !r->ns) || (h->pod && !r->pod) ||
	    (h->pod_uid && !r->uid))
		return BIP_ENOMEM;
	return BIP_OK;
}

static void hvec_clear(struct hvec *hv)
{
	for (size_t i = 0; i < hv->n; i++) {
		free(hv->v[i].id);
		free(hv->v[i].node);
		free(hv->v[i].ns);
		free(hv->v[i].pod);
		free(hv->v[i].uid);
	}
	free(hv->v);
}

/* Why the handle's owner is gone (into why), or false when it may be alive. */
static bool leaked(const struct hrec *h, const struct k8s_input *in, const struct names *gone,
		   const struct bip_node *nodes, size_t nnodes, char *why, size_t len)
{
	const struct k8s_obj *p;
	const struct bip_node *rec;

	if (names_has(gone, h->node)) {
		snprintf(why, len, "its node %s is gone", h->node);
		return true;
	}
	if (!h->pod || !h->ns)
		return false; /* not a pod's: only its node's going frees it */
	rec = h->node ? stored_node(nodes, nnodes, h->node) : NULL;
	if (in->full[K8S_NODE] && h->node && !k8s_input_find(in, K8S_NODE, NULL, h->node) &&
	    (!rec || marked(&rec->labels))) {
		snprintf(why, len, "its node %s is not in the node list", h->node);
		return true;
	}
	p = k8s_input_find(in, K8S_POD, h->ns, h->pod);
	if (!in->full[K8S_POD]) {
		if (p && p->deleted &&
		    (!h->uid || !p->u.pod.uid || strcmp(h->uid, p->u.pod.uid) == 0)) {
			snprintf(why, len, "pod %s/%s was deleted", h->ns, h->pod);
			return true;
		}
		return false;
	}
	if (!p || p->deleted)
		snprintf(why, len, "pod %s/%s does not exist", h->ns, h->pod);
	else if (h->uid && p->u.pod.uid && strcmp(h->uid, p->u.pod.uid) != 0)
		snprintf(why, len, "pod %s/%s was recreated (uid %s, recorded %s)", h->ns, h->pod,
			 p->u.pod.uid, h->uid);
	else if (p->u.pod.finished)
		snprintf(why, len, "pod %s/%s has finished", h->ns, h->pod);
	else if (p->u.pod.node && h->node && strcmp(p->u.pod.node, h->node) != 0)
		snprintf(why, len, "pod %s/%s runs on node %s", h->ns, h->pod, p->u.pod.node);
	else
		return false;
	return true;
}

static void leak_pass(struct bip_ipam *ip, const struct k8s_input *in, const struct names *gone,
		      const struct bip_node *nodes, size_t nnodes, const struct hvec *hv,
		      const struct k8s_opts *o, struct k8s_stats *st)
{
	for (size_t i = 0; i < hv->n; i++) {
		const struct hrec *h = &hv->v[i];
		int64_t age = o->now - h->time;
		char why[1024];
		int rc;

		if (!leaked(h, in, gone, nodes, nnodes, why, sizeof(why)))
			continue;
		st->leaks_found++;
		if (age < o->grace_s) {
			st->leaks_young++;
			say(o, "handle %s kept: %s, but it is %llds old (grace %llds)", h->id, why,
			    (long long)age, (long long)o->grace_s);
			continue;
		}
		rc = o->dry_run ? BIP_OK : bip_ipam_release_handle(ip, h->id);
		if (rc != BIP_OK && rc != BIP_ENOTFOUND) {
			say(o, "handle %s: not released: %s", h->id,
			    *bip_ipam_errmsg(ip) ? bip_ipam_errmsg(ip) : bip_strerror(rc));
			st->failures++;
			continue;
		}
		st->leaks_released++;
		say(o, "handle %s %s: %s (%llds old)", h->id,
		    o->dry_run ? "would be released" : "released", why, (long long)age);
	}
}

/* Refused before any write: the library would refuse it halfway through. */
static int check_overlaps(const struct k8s_input *in, const struct bip_pool *pools, size_t npools,
			  char *err, size_t errlen)
{
	char b1[BIP_PREFIX_STRLEN], b2[BIP_PREFIX_STRLEN];

	for (size_t i = 0; i < in->n; i++) {
		const struct bip_node *n = &in->v[i].u.node;

		if (in->v[i].kind != K8S_NODE || in->v[i].deleted || in->v[i].refused)
			continue;
		for (size_t j = 0; j < n->npod_cidrs; j++)
			for (size_t k = 0; k < npools; k++)
				if (bip_prefix_overlaps(n->pod_cidrs[j], pools[k].cidr)) {
					snprintf(err, errlen,
						 "node %s: pod CIDR %s overlaps pool '%s' (%s); "
						 "nothing was written",
						 n->name, bip_prefix_fmt(n->pod_cidrs[j], b1),
						 pools[k].name, bip_prefix_fmt(pools[k].cidr, b2));
					return BIP_EOVERLAP;
				}
	}
	return BIP_OK;
}

/* Write the nodes of the input, delete those that went (and, after a full list, the marked
 * records it does not hold); their names go to gone. BIP_ENOMEM or BIP_OK. */
static int sync_nodes(struct bip_ipam *ip, const struct k8s_input *in, const struct bip_node *nodes,
		      size_t nnodes, struct names *gone, const struct k8s_opts *o,
		      struct k8s_stats *st)
{
	int rc;

	for (size_t i = 0; i < in->n; i++) {
		const struct k8s_obj *e = &in->v[i];
		const struct bip_node *have;

		if (e->kind != K8S_NODE || (e->refused && !e->deleted))
			continue;
		have = stored_node(nodes, nnodes, e->u.node.name);
		if (!e->deleted) {
			node_write(ip, &e->u.node, have, o, st);
			continue;
		}
		if ((rc = names_add(gone, e->u.node.name)) != BIP_OK)
			return rc;
		node_gone(ip, e->u.node.name, have != NULL, o, st);
	}
	for (size_t i = 0; in->full[K8S_NODE] && i < nnodes; i++) {
		if (!marked(&nodes[i].labels) || k8s_input_find(in, K8S_NODE, NULL, nodes[i].name))
			continue;
		if ((rc = names_add(gone, nodes[i].name)) != BIP_OK)
			return rc;
		node_gone(ip, nodes[i].name, true, o, st);
	}
	return BIP_OK;
}

/* The same for namespaces, whose default pools are checked against pools. */
static void sync_namespaces(struct bip_ipam *ip, const struct k8s_input *in,
			    const struct bip_namespace *nss, size_t nns,
			    const struct bip_pool *pools, size_t npools, const struct k8s_opts *o,
			    struct k8s_stats *st)
{
	for (size_t i = 0; i < in->n; i++) {
		const struct k8s_obj *e = &in->v[i];
		const struct bip_namespace *have;

		if (e->kind != K8S_NAMESPACE || (e->refused && !e->deleted))
			continue;
		have = stored_ns(nss, nns, e->u.ns.name);
		if (!e->deleted)
			ns_write(ip, &e->u.ns, have, pools, npools, o, st);
		else if (have)
			ns_gone(ip, e->u.ns.name, o, st);
	}
	for (size_t i = 0; in->full[K8S_NAMESPACE] && i < nns; i++)
		if (marked(&nss[i].labels) && !k8s_input_find(in, K8S_NAMESPACE, NULL, nss[i].name))
			ns_gone(ip, nss[i].name, o, st);
}

int k8s_apply(struct bip_ipam *ip, const struct k8s_input *in, const struct k8s_opts *o,
	      struct k8s_stats *st, char *err, size_t errlen)
{
	struct bip_pool *pools = NULL;
	struct bip_node *nodes = NULL;
	struct bip_namespace *nss = NULL;
	size_t npools = 0, nnodes = 0, nns = 0;
	struct names gone = {0};
	struct hvec hv = {0};
	bool need_leaks;
	int rc;

	if ((rc = bip_ipam_pool_list(ip, &pools, &npools)) != BIP_OK ||
	    (rc = bip_ipam_node_list(ip, &nodes, &nnodes)) != BIP_OK ||
	    (rc = bip_ipam_namespace_list(ip, &nss, &nns)) != BIP_OK) {
		snprintf(err, errlen, "cannot read the store: %s",
			 *bip_ipam_errmsg(ip) ? bip_ipam_errmsg(ip) : bip_strerror(rc));
		goto out;
	}
	if ((rc = check_overlaps(in, pools, npools, err, errlen)) != BIP_OK)
		goto out;
	if ((rc = sync_nodes(ip, in, nodes, nnodes, &gone, o, st)) != BIP_OK)
		goto nomem;
	sync_namespaces(ip, in, nss, nns, pools, npools, o, st);
	/* leaks: only when something went that allocations may belong to (a watch event for a
	 * node's status must not read every handle) */
	need_leaks = gone.n || in->full[K8S_POD] || in->full[K8S_NODE];
	for (size_t i = 0; i < in->n; i++)
		need_leaks |= in->v[i].kind == K8S_POD && in->v[i].deleted;
	if (!need_leaks) {
		rc = BIP_OK;
		goto out;
	}
	rc = bip_ipam_handle_foreach(ip, "", collect, &hv);
	if (rc == BIP_ENOMEM)
		goto nomem;
	if (rc != BIP_OK) {
		snprintf(err, errlen, "cannot read the handles: %s",
			 *bip_ipam_errmsg(ip) ? bip_ipam_errmsg(ip) : bip_strerror(rc));
		goto out;
	}
	leak_pass(ip, in, &gone, nodes, nnodes, &hv, o, st);
	rc = BIP_OK;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
out:
	hvec_clear(&hv);
	names_clear(&gone);
	bip_pools_free(pools, npools);
	bip_nodes_free(nodes, nnodes);
	bip_namespaces_free(nss, nns);
	return rc;
}

json_t *k8s_stats_json(const struct k8s_stats *st, const struct k8s_input *in)
{
	return json_pack(
	    "{s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I, s:I}, "
	    "s:I, s:I, s:I, s:I, s:I, s:I}",
	    "nodes", "written", (json_int_t)st->nodes_written, "unchanged",
	    (json_int_t)st->nodes_unchanged, "deleted", (json_int_t)st->nodes_deleted, "namespaces",
	    "written", (json_int_t)st->ns_written, "unchanged", (json_int_t)st->ns_unchanged,
	    "deleted", (json_int_t)st->ns_deleted, "blocks", "affinitiesReleased",
	    (json_int_t)st->blocks_released, "deleted", (json_int_t)st->blocks_deleted, "leaks",
	    "found", (json_int_t)st->leaks_found, "released", (json_int_t)st->leaks_released,
	    "keptYoung", (json_int_t)st->leaks_young, "missingPools", (json_int_t)st->missing_pools,
	    "failures", (json_int_t)st->failures, "documents", (json_int_t)in->docs, "skipped",
	    (json_int_t)in->skipped, "errorEvents", (json_int_t)in->error_events, "refused",
	    (json_int_t)in->refused);
}

/* --- the command ------------------------------------------------------------------------- */

static const struct ctl_usage usage = {
    "k8s sync", "[-f FILE | -] [--grace DURATION] [--dry-run] [--complete KIND[,KIND]]",
    "Make the store say what Kubernetes says, from the JSON or YAML that kubectl prints:\n"
    "objects, lists (kubectl get nodes,namespaces,pods -A -o json) and watch events\n"
    "(kubectl get --watch --output-watch-events -o json). Nodes bring labels, pod CIDRs and\n"
    "InternalIPs; namespaces labels and the pools of their cni.projectcalico.org/ipv4pools,\n"
    "ipv6pools (or blockipam.io/...) annotations; pods drive leak collection. A list is the\n"
    "truth for its kind: node and namespace records the sync wrote that it does not hold are\n"
    "deleted (records made by hand never are; pools never are). A malformed document changes\n"
    "nothing.\n"
    "\n"
    "Options:\n"
    "  -f, --filename FILE  the documents ('-' = stdin, the default)\n"
    "  --grace DURATION     release a leaked allocation only once this old (default 15m;\n"
    "                       0s releases at once)\n"
    "  --dry-run            say what would change, change nothing\n"
    "  --complete KINDS     nodes, namespaces and/or pods: a List in the input holds every\n"
    "                       object of these kinds even when it holds none (kubectl prints\n"
    "                       'List' whatever it lists; the API's NodeList, PodList... say so)\n"
    "\n"
    "Output: one line per change, then a summary (-o json / yaml: the summary as an object,\n"
    "the lines on stderr). Exit status 1 when the input is refused or a write failed.\n"};

static int parse_kinds(const char *s, unsigned *mask)
{
	char buf[128], *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return BIP_EINVAL;
	strcpy(buf, s);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "nodes") == 0 || strcmp(t, "node") == 0)
			*mask |= K8S_BIT(K8S_NODE);
		else if (strcmp(t, "namespaces") == 0 || strcmp(t, "namespace") == 0 ||
			 strcmp(t, "ns") == 0)
			*mask |= K8S_BIT(K8S_NAMESPACE);
		else if (strcmp(t, "pods") == 0 || strcmp(t, "pod") == 0)
			*mask |= K8S_BIT(K8S_POD);
		else
			return BIP_EINVAL;
	}
	return *mask ? BIP_OK : BIP_EINVAL;
}

static void summary(FILE *f, const struct k8s_stats *st, const struct k8s_input *in,
		    const struct k8s_opts *o)
{
	fprintf(f,
		"%snodes: %zu written, %zu unchanged, %zu deleted (%zu affinities released, %zu "
		"blocks deleted); namespaces: %zu written, %zu unchanged, %zu deleted; leaks: %zu "
		"found, %zu %s, %zu younger than the grace kept; %zu missing pools; %zu documents, "
		"%zu objects of other kinds skipped%s\n",
		o->dry_run ? "dry run: " : "", st->nodes_written, st->nodes_unchanged,
		st->nodes_deleted, st->blocks_released, st->blocks_deleted, st->ns_written,
		st->ns_unchanged, st->ns_deleted, st->leaks_found, st->leaks_released,
		o->dry_run ? "would be released" : "released", st->leaks_young, st->missing_pools,
		in->docs, in->skipped, st->failures ? "; SOME WRITES FAILED" : "");
}

int k8s_sync_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"filename", required_argument, NULL, 'f'},
						 {"grace", required_argument, NULL, 'g'},
						 {"dry-run", no_argument, NULL, 'd'},
						 {"complete", required_argument, NULL, 'c'},
						 CTL_LONGOPTS};
	struct k8s_opts o = {.grace_s = 15 * 60};
	struct k8s_input in = {0};
	struct k8s_stats st = {0};
	struct ctl_session s = {0};
	const char *file = "-";
	unsigned full = 0;
	json_t *docs = NULL, *js = NULL;
	char *buf = NULL, err[1024];
	size_t len = 0;
	int ret = CTL_EXIT_ERR, c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS "f:", longopts)) > 0) {
		if (c == 'f')
			file = optarg;
		else if (c == 'd')
			o.dry_run = true;
		else if (c == 'g' && k8s_parse_duration(optarg, &o.grace_s) != BIP_OK) {
			ret = ctl_usage_err(&usage, "invalid --grace '%s' (want e.g. 15m, 90s, 0s)",
					    optarg);
			goto out;
		} else if (c == 'c' && parse_kinds(optarg, &full) != BIP_OK) {
			ret = ctl_usage_err(
			    &usage, "invalid --complete '%s' (want nodes, namespaces, pods)",
			    optarg);
			goto out;
		}
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (ctl_read_file(file, &buf, &len) != CTL_EXIT_OK)
		goto out;
	/* the whole input is read and checked before the store is opened */
	if (bip_manifest_parse(buf, len, &docs, err, sizeof(err)) != BIP_OK) {
		ctl_err("%s: %s; nothing was written", strcmp(file, "-") ? file : "stdin", err);
		goto out;
	}
	if ((rc = k8s_input_add(&in, docs, full, err, sizeof(err))) != BIP_OK) {
		ctl_err("%s: %s; nothing was written", strcmp(file, "-") ? file : "stdin", err);
		goto out;
	}
	k8s_input_finish(&in);
	for (size_t i = 0; i < json_array_size(in.warnings); i++)
		ctl_warn("%s", json_string_value(json_array_get(in.warnings, i)));
	if (ctl_open(&s, false) != CTL_EXIT_OK)
		goto out;
	o.now = (int64_t)time(NULL);
	o.log = ctl_tabular() ? stdout : stderr;
	if (k8s_apply(s.ipam, &in, &o, &st, err, sizeof(err)) != BIP_OK) {
		ctl_err("%s", err);
		goto out;
	}
	if (ctl_tabular()) {
		summary(stdout, &st, &in, &o);
	} else {
		js = k8s_stats_json(&st, &in);
		if (!js || json_object_set_new(js, "dryRun", json_boolean(o.dry_run))) {
			ctl_err("out of memory");
			goto out;
		}
		if (ctl_print(js) != CTL_EXIT_OK)
			goto out;
	}
	ret = st.failures ? CTL_EXIT_ERR : CTL_EXIT_OK;
out:
	json_decref(js);
	json_decref(docs);
	free(buf);
	k8s_input_clear(&in);
	ctl_close(&s);
	return ret;
}
