/*
 * ipam list: every allocation (address, handle, pod, node, block, since), filtered by node, pool,
 * namespace and pod; and the loader that 'ipam check --show-all-ips' shares (allocs.h).
 *
 * Why 'ipam list' and not 'get allocations': get, apply and delete handle resources that a
 * manifest declares and a round trip restores; allocations are state the IPAM keeps (made by the
 * plugin, freed by release and gc), beside 'ipam show' and 'ipam release', where calicoctl keeps
 * them too.
 *
 * The blocks say who holds each address; the handle records add the pod's names and the time.
 * Both are read in one pass each: the allocations are sorted by handle to attach the records,
 * then by address for the output.
 */
#include <stdlib.h>
#include <string.h>

#include "allocs.h"
#include "progress.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "ipam list", "[--node NODE] [--pool POOL] [--namespace NS] [--pod [NS/]POD]",
    "List the allocated addresses, sorted by address: who holds each (handle, pod, node), its\n"
    "block and since when. Filters combine (all must match). -o wide adds the pool, the\n"
    "block's owner, whether the address is borrowed, the container and the interface.\n"
    "\n"
    "Options:\n"
    "  --node NODE       addresses held by NODE\n"
    "  --pool POOL       addresses inside POOL's CIDR\n"
    "  --namespace NS    addresses of pods in namespace NS\n"
    "  --pod [NS/]POD    addresses of pod POD (in namespace NS)\n"};

struct loader {
	struct ctl_alloc *v;
	size_t n, cap;
	const struct ctl_alloc_filter *f;
	const struct bip_pool *pools;
	size_t npools;
	const struct bip_pool *only; /* --pool */
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void alloc_clear(struct ctl_alloc *a)
{
	free(a->handle);
	free(a->node);
	free(a->block_node);
	free(a->pool);
	free(a->namespace);
	free(a->pod);
	free(a->container);
	free(a->ifname);
}

void ctl_allocs_free(struct ctl_alloc *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		alloc_clear(&v[i]);
	free(v);
}

static int on_alloc(void *ctx, const struct bip_alloc_entry *e)
{
	struct loader *l = ctx;
	const struct bip_pool *pool = NULL;
	struct ctl_alloc *a;

	if (l->f->node && (!e->node || strcmp(e->node, l->f->node) != 0))
		return BIP_OK;
	for (size_t i = 0; i < l->npools && !pool; i++)
		if (bip_prefix_contains(l->pools[i].cidr, e->addr))
			pool = &l->pools[i];
	if (l->only && pool != l->only)
		return BIP_OK;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct ctl_alloc *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	a = &l->v[l->n];
	*a = (struct ctl_alloc){.addr = e->addr, .block = e->block};
	a->handle = dup_or_null(e->handle);
	a->node = dup_or_null(e->node);
	a->block_node = dup_or_null(e->block_node);
	a->pool = pool ? strdup(pool->name) : NULL;
	a->borrowed = !e->node || !e->block_node || strcmp(e->node, e->block_node) != 0;
	if ((e->handle && !a->handle) || (e->node && !a->node) ||
	    (e->block_node && !a->block_node) || (pool && !a->pool)) {
		alloc_clear(a);
		return BIP_ENOMEM;
	}
	l->n++;
	return BIP_OK;
}

static int cmp_handle(const void *x, const void *y)
{
	const struct ctl_alloc *a = x, *b = y;

	return strcmp(a->handle ? a->handle : "", b->handle ? b->handle : "");
}

static int cmp_addr(const void *x, const void *y)
{
	return bip_addr_cmp(((const struct ctl_alloc *)x)->addr,
			    ((const struct ctl_alloc *)y)->addr);
}

/* Attach a handle record to the allocations it names. */
static int on_handle(void *ctx, const struct bip_handle_info *h)
{
	struct loader *l = ctx;
	struct ctl_alloc key = {.handle = h->id}, *a;
	size_t i;

	if (!l->n || !(a = bsearch(&key, l->v, l->n, sizeof(key), cmp_handle)))
		return BIP_OK;
	i = (size_t)(a - l->v);
	while (i > 0 && cmp_handle(&l->v[i - 1], &key) == 0)
		i--;
	for (; i < l->n && cmp_handle(&l->v[i], &key) == 0; i++) {
		a = &l->v[i];
		a->has_record = true;
		a->time = h->time;
		if (!(a->namespace = dup_or_null(h->namespace)) && h->namespace)
			return BIP_ENOMEM;
		if (!(a->pod = dup_or_null(h->pod)) && h->pod)
			return BIP_ENOMEM;
		if (!(a->container = dup_or_null(h->container)) && h->container)
			return BIP_ENOMEM;
		if (!(a->ifname = dup_or_null(h->ifname)) && h->ifname)
			return BIP_ENOMEM;
	}
	return BIP_OK;
}

static bool same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* The attribute filters, applied once the records are attached. */
static bool keep(const struct ctl_alloc *a, const struct ctl_alloc_filter *f)
{
	const char *slash = f->pod ? strchr(f->pod, '/') : NULL;

	if (f->namespace && !same(a->namespace, f->namespace))
		return false;
	if (slash) {
		size_t nl = (size_t)(slash - f->pod);

		return a->namespace && strlen(a->namespace) == nl &&
		       strncmp(a->namespace, f->pod, nl) == 0 && same(a->pod, slash + 1);
	}
	return !f->pod || same(a->pod, f->pod);
}

int ctl_allocs_load(struct ctl_session *s, const struct ctl_alloc_filter *f, struct ctl_alloc **out,
		    size_t *n)
{
	struct bip_pool *pools = NULL;
	size_t npools = 0, k = 0;
	struct loader l = {.f = f};
	int rc;

	if ((rc = bip_ipam_pool_list(s->ipam, &pools, &npools)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot list the pools");
		goto out;
	}
	l.pools = pools;
	l.npools = npools;
	for (size_t i = 0; f->pool && i < npools; i++)
		if (strcmp(pools[i].name, f->pool) == 0)
			l.only = &pools[i];
	if (f->pool && !l.only) {
		rc = BIP_ENOTFOUND;
		ctl_err("pool '%s' not found (see 'blockipamctl get pools')", f->pool);
		goto out;
	}
	if ((rc = bip_ipam_alloc_foreach(s->ipam, on_alloc, &l)) != BIP_OK) {
		if (rc == BIP_ENOMEM)
			ctl_err("out of memory");
		else
			ctl_lib_err(s->ipam, rc, "cannot read the allocations");
		goto out;
	}
	if (l.n) /* qsort wants a non-NULL array even when empty */
		qsort(l.v, l.n, sizeof(*l.v), cmp_handle);
	if ((rc = bip_ipam_handle_foreach(s->ipam, "", on_handle, &l)) != BIP_OK) {
		if (rc == BIP_ENOMEM)
			ctl_err("out of memory");
		else
			ctl_lib_err(s->ipam, rc, "cannot read the handles");
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (keep(&l.v[i], f))
			l.v[k++] = l.v[i];
		else
			alloc_clear(&l.v[i]);
	}
	l.n = k;
	if (l.n) /* qsort wants a non-NULL array even when empty */
		qsort(l.v, l.n, sizeof(*l.v), cmp_addr);
	*out = l.v;
	*n = l.n;
	l.v = NULL;
	l.n = 0;
out:
	ctl_allocs_free(l.v, l.n);
	bip_pools_free(pools, npools);
	return rc;
}

int ctl_allocs_table(const struct ctl_alloc *v, size_t n, bool wide, bool problems,
		     struct bip_table *t)
{
	static const char *const headers[] = {"ADDRESS",  "HANDLE",    "POD",	    "NODE",
					      "BLOCK",	  "SINCE",     "POOL",	    "BLOCKOWNER",
					      "BORROWED", "CONTAINER", "INTERFACE", "PROBLEM"};
	const char *h[12];
	size_t nc = wide ? 11 : 6;
	int rc;

	memcpy(h, headers, sizeof(h));
	if (problems)
		h[nc++] = "PROBLEM";
	if ((rc = bip_table_init(t, nc, h)) != BIP_OK)
		return rc;
	for (size_t i = 0; i < n && rc == BIP_OK; i++) {
		const struct ctl_alloc *a = &v[i];
		char addr[BIP_ADDR_STRLEN], block[BIP_PREFIX_STRLEN], since[32], *pod = NULL;
		const char *row[12];

		if (a->pod &&
		    asprintf(&pod, "%s/%s", a->namespace ? a->namespace : "-", a->pod) < 0)
			return BIP_ENOMEM;
		row[0] = bip_addr_fmt(a->addr, addr);
		row[1] = a->handle;
		row[2] = pod ? pod : a->has_record ? "-" : "(no handle record)";
		row[3] = a->node;
		row[4] = bip_prefix_fmt(a->block, block);
		row[5] = bip_fmt_time(a->time, since, sizeof(since));
		row[6] = a->pool ? a->pool : "(none)";
		row[7] = a->block_node ? a->block_node : "(none)";
		row[8] = a->borrowed ? "yes" : "no";
		row[9] = a->container;
		row[10] = a->ifname;
		row[11] = a->problem;
		if (problems)
			row[nc - 1] = a->problem ? a->problem : "ok";
		rc = bip_table_add(t, row);
		free(pod);
	}
	return rc;
}

json_t *ctl_allocs_json(const struct ctl_alloc *v, size_t n, bool problems)
{
	json_t *out = json_array();

	for (size_t i = 0; out && i < n; i++) {
		const struct ctl_alloc *a = &v[i];
		char addr[BIP_ADDR_STRLEN], block[BIP_PREFIX_STRLEN], since[32];
		json_t *o = json_pack(
		    "{s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:s?, s:s?, s:b, s:s?, s:s?, s:s?}",
		    "address", bip_addr_fmt(a->addr, addr), "handle", a->handle, "namespace",
		    a->namespace, "pod", a->pod, "node", a->node, "block",
		    bip_prefix_fmt(a->block, block), "pool", a->pool, "blockOwner", a->block_node,
		    "borrowed", a->borrowed, "container", a->container, "interface", a->ifname,
		    "since", a->time ? bip_fmt_time(a->time, since, sizeof(since)) : NULL);

		if (o && problems)
			json_object_set_new(o, "problem",
					    a->problem ? json_string(a->problem) : json_null());
		if (!o || json_array_append_new(out, o) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

int ipam_list_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"node", required_argument, NULL, 'N'},
						 {"pool", required_argument, NULL, 'p'},
						 {"namespace", required_argument, NULL, 'n'},
						 {"pod", required_argument, NULL, 'P'},
						 CTL_LONGOPTS};
	struct ctl_alloc_filter f = {0};
	struct ctl_progress *pr;
	struct ctl_session s = {0};
	struct ctl_alloc *v = NULL;
	struct bip_table t = {0};
	json_t *out = NULL;
	size_t n = 0;
	int ret = CTL_EXIT_ERR, c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		switch (c) {
		case 'N':
			f.node = optarg;
			break;
		case 'p':
			f.pool = optarg;
			break;
		case 'n':
			f.namespace = optarg;
			break;
		case 'P':
			f.pod = optarg;
			break;
		}
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (ctl_open(&s, true) != CTL_EXIT_OK)
		goto out;
	pr = ctl_progress_start("reading the allocations");
	rc = ctl_allocs_load(&s, &f, &v, &n);
	ctl_progress_stop(pr);
	if (rc != BIP_OK)
		goto out;
	if (ctl_tabular()) {
		if (!n) {
			/* as kubectl does: the note on stderr, nothing for a script to parse */
			fprintf(stderr, "No allocations%s.\n",
				f.node || f.pool || f.namespace || f.pod ? " match"
									 : " in the store");
		} else if (ctl_allocs_table(v, n, ctl.output == CTL_OUT_WIDE, false, &t) !=
			   BIP_OK) {
			ctl_err("out of memory");
			goto out;
		} else {
			bip_table_print(&t, stdout);
		}
	} else if (!(out = ctl_allocs_json(v, n, false))) {
		ctl_err("out of memory");
		goto out;
	} else if (ctl_print(out) != CTL_EXIT_OK) {
		goto out;
	}
	ret = CTL_EXIT_OK;
out:
	json_decref(out);
	bip_table_free(&t);
	ctl_allocs_free(v, n);
	ctl_close(&s);
	return ret;
}
