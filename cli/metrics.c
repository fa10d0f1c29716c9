/*
 * metrics: the store's figures in the Prometheus text format (version 0.0.4), for
 * node_exporter's textfile collector or any scrape wrapper. Where Calico's kube-controllers
 * export a metric of the same meaning, it has Calico's name and labels (ipam_ippool_size,
 * ipam_allocations_in_use, ipam_allocations_borrowed, ipam_blocks with ippool and node, and the
 * older per-node ipam_blocks_per_node, ipam_allocations_per_node,
 * ipam_allocations_borrowed_per_node), so dashboards and alerts written for Calico keep working;
 * the rest are named blockipam_*.
 *
 * Allocations count on the node that holds them (Calico's meaning); blocks on their affine node.
 * A block outside every pool has ippool="(none)", an unowned block node="(none)".
 * With -f FILE the text goes to FILE.tmp and is renamed over FILE, so a collector never reads
 * half a file.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "output.h"
#include "subcommands.h"

#define NONE "(none)"

static const struct ctl_usage usage = {
    "metrics", "[--no-check] [-f FILE]",
    "Print the store's figures in the Prometheus text format: per pool its size, addresses in\n"
    "use, free and reserved, blocks, whether it is disabled; per pool and node (and per node)\n"
    "the blocks, the addresses in use and those borrowed from another node's block; and the\n"
    "problems 'ipam check' finds, per kind. Metric names follow Calico's kube-controllers\n"
    "where one exists (ipam_ippool_size, ipam_allocations_in_use, ipam_allocations_borrowed,\n"
    "ipam_blocks, ipam_blocks_per_node, ...); the others start with blockipam_.\n"
    "\n"
    "Options:\n"
    "  --no-check        leave out the consistency check (it reads every record)\n"
    "  -f, --file FILE   write FILE atomically (FILE.tmp, then renamed), e.g. for\n"
    "                    node_exporter's --collector.textfile.directory\n"};

/* The counts of one (pool, node) pair. */
struct pair {
	char *pool, *node;
	uint64_t in_use, borrowed, blocks;
};

struct agg {
	struct pair *v;
	size_t n, cap;
	json_t *index;			 /* "pool\x1fnode" -> position in v */
	struct bip_block_info **by_cidr; /* the blocks sorted by CIDR, for the pool of an address */
	size_t nblocks;
	int rc;
};

static struct pair *pair_get(struct agg *a, const char *pool, const char *node)
{
	char *key = NULL;
	json_t *i;
	struct pair *p = NULL;

	pool = pool ? pool : NONE;
	node = node ? node : NONE;
	if (asprintf(&key, "%s\x1f%s", pool, node) < 0)
		return NULL;
	if ((i = json_object_get(a->index, key))) {
		p = &a->v[json_integer_value(i)];
		goto out;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 64;
		struct pair *v = realloc(a->v, cap * sizeof(*v));

		if (!v)
			goto out;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n] = (struct pair){.pool = strdup(pool), .node = strdup(node)};
	if (!a->v[a->n].pool || !a->v[a->n].node ||
	    json_object_set_new(a->index, key, json_integer((json_int_t)a->n)) != 0) {
		free(a->v[a->n].pool);
		free(a->v[a->n].node);
		goto out;
	}
	p = &a->v[a->n++];
out:
	free(key);
	return p;
}

static int cmp_block(const void *x, const void *y)
{
	return bip_prefix_cmp((*(struct bip_block_info *const *)x)->cidr,
			      (*(struct bip_block_info *const *)y)->cidr);
}

static int one_alloc(void *ctx, const struct bip_alloc_entry *e)
{
	struct agg *a = ctx;
	struct bip_block_info key = {.cidr = e->block}, *kp = &key, **b;
	struct pair *p;

	b = bsearch(&kp, a->by_cidr, a->nblocks, sizeof(*a->by_cidr), cmp_block);
	if (!(p = pair_get(a, b ? (*b)->pool : NULL, e->node)))
		return BIP_ENOMEM;
	p->in_use++;
	if (!e->node || !e->block_node || strcmp(e->node, e->block_node) != 0)
		p->borrowed++;
	return BIP_OK;
}

static int cmp_pair(const void *x, const void *y)
{
	const struct pair *p = x, *q = y;
	int c = strcmp(p->pool, q->pool);

	return c ? c : strcmp(p->node, q->node);
}

static int cmp_pair_node(const void *x, const void *y)
{
	const struct pair *p = *(const struct pair *const *)x, *q = *(const struct pair *const *)y;

	return strcmp(p->node, q->node);
}

/* A label value, escaped as the text format wants (backslash, double quote, newline). */
static void label(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
	fputc('"', f);
}

static void family(FILE *f, const char *name, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void sample_u128(FILE *f, bip_u128 v)
{
	char num[BIP_U128_STRLEN];

	fprintf(f, " %s\n", bip_fmt_u128(v, num));
}

enum pool_fig { FIG_SIZE, FIG_RESERVED, FIG_IN_USE, FIG_FREE, FIG_BLOCKS, FIG_DISABLED };

static void pool_family(FILE *f, const struct bip_pool_usage *u, size_t nu,
			const struct bip_pool *pools, size_t np, enum pool_fig fig,
			const char *name, const char *help)
{
	family(f, name, help);
	for (size_t i = 0; i < nu; i++) {
		bip_u128 v = 0;
		bool disabled = false;

		for (size_t j = 0; u[i].name && j < np; j++)
			if (strcmp(pools[j].name, u[i].name) == 0)
				disabled = pools[j].disabled;
		switch (fig) {
		case FIG_SIZE:
			v = u[i].capacity;
			break;
		case FIG_RESERVED:
			v = u[i].reserved;
			break;
		case FIG_IN_USE:
			v = u[i].used;
			break;
		case FIG_FREE:
			v = u[i].used + u[i].reserved >= u[i].capacity
				? 0
				: u[i].capacity - u[i].used - u[i].reserved;
			break;
		case FIG_BLOCKS:
			v = u[i].blocks;
			break;
		case FIG_DISABLED:
			v = disabled;
			break;
		}
		/* a block outside every pool has no size of its own to report */
		if (!u[i].name && fig != FIG_IN_USE && fig != FIG_BLOCKS)
			continue;
		fprintf(f, "%s{ippool=", name);
		label(f, u[i].name ? u[i].name : NONE);
		fputc('}', f);
		sample_u128(f, v);
	}
}

enum pair_fig { PAIR_IN_USE, PAIR_BORROWED, PAIR_BLOCKS };

static uint64_t pair_value(const struct pair *p, enum pair_fig fig)
{
	return fig == PAIR_IN_USE ? p->in_use : fig == PAIR_BORROWED ? p->borrowed : p->blocks;
}

static void pair_family(FILE *f, const struct agg *a, enum pair_fig fig, const char *name,
			const char *help)
{
	family(f, name, help);
	for (size_t i = 0; i < a->n; i++) {
		fprintf(f, "%s{ippool=", name);
		label(f, a->v[i].pool);
		fputs(",node=", f);
		label(f, a->v[i].node);
		fprintf(f, "} %llu\n", (unsigned long long)pair_value(&a->v[i], fig));
	}
}

/* Per node: the pairs summed over pools (by_node: the pairs sorted by node). */
static void node_family(FILE *f, struct pair **by_node, size_t n, enum pair_fig fig,
			const char *name, const char *help)
{
	family(f, name, help);
	for (size_t i = 0; i < n;) {
		uint64_t sum = 0;
		size_t j = i;

		for (; j < n && strcmp(by_node[j]->node, by_node[i]->node) == 0; j++)
			sum += pair_value(by_node[j], fig);
		fputs(name, f);
		fputs("{node=", f);
		label(f, by_node[i]->node);
		fprintf(f, "} %llu\n", (unsigned long long)sum);
		i = j;
	}
}

/* Count the blocks of each (pool, node) and index them by CIDR. BIP_ENOMEM or BIP_OK. */
static int count_blocks(struct agg *a, struct bip_block_info *blocks, size_t nb)
{
	if (!a->index || !(a->by_cidr = malloc((nb ? nb : 1) * sizeof(*a->by_cidr))))
		return BIP_ENOMEM;
	for (size_t i = 0; i < nb; i++) {
		struct pair *p = pair_get(a, blocks[i].pool, blocks[i].node);

		if (!p)
			return BIP_ENOMEM;
		p->blocks++;
		a->by_cidr[i] = &blocks[i];
	}
	a->nblocks = nb;
	if (nb) /* qsort wants a non-NULL array even when empty */
		qsort(a->by_cidr, nb, sizeof(*a->by_cidr), cmp_block);
	return BIP_OK;
}

/* The pool, pool-and-node and node families. */
static void print_families(FILE *f, const struct bip_pool_usage *u, size_t nu,
			   const struct bip_pool *pools, size_t np, const struct agg *a,
			   struct pair **by_node)
{
	pool_family(f, u, nu, pools, np, FIG_SIZE, "ipam_ippool_size",
		    "Number of IP addresses in the IP pool's CIDR.");
	pool_family(f, u, nu, pools, np, FIG_RESERVED, "ipam_ippool_reserved",
		    "Number of IP addresses of the pool that reservations keep out of allocation.");
	pool_family(f, u, nu, pools, np, FIG_IN_USE, "blockipam_ippool_in_use",
		    "Number of IP addresses of the pool allocated.");
	pool_family(f, u, nu, pools, np, FIG_FREE, "blockipam_ippool_free",
		    "Number of IP addresses of the pool neither allocated nor reserved.");
	pool_family(f, u, nu, pools, np, FIG_BLOCKS, "blockipam_ippool_blocks",
		    "Number of blocks of the pool that exist (claimed by a node, or unowned).");
	pool_family(f, u, nu, pools, np, FIG_DISABLED, "blockipam_ippool_disabled",
		    "1 when the pool is disabled (no new allocations), else 0.");
	pair_family(f, a, PAIR_IN_USE, "ipam_allocations_in_use",
		    "Number of IP allocations in use, by pool and by the node holding them.");
	pair_family(f, a, PAIR_BORROWED, "ipam_allocations_borrowed",
		    "Number of IP allocations in use from a block affine to another node.");
	pair_family(f, a, PAIR_BLOCKS, "ipam_blocks",
		    "Number of IPAM blocks, by pool and affine node.");
	node_family(f, by_node, a->n, PAIR_BLOCKS, "ipam_blocks_per_node",
		    "Number of IPAM blocks, by the node to which they have affinity.");
	node_family(f, by_node, a->n, PAIR_IN_USE, "ipam_allocations_per_node",
		    "Number of IP allocations, by the node holding them.");
	node_family(f, by_node, a->n, PAIR_BORROWED, "ipam_allocations_borrowed_per_node",
		    "Number of IP allocations borrowed from a non-affine block, by node.");
}

/* What 'ipam check' found, by kind. */
static void print_check(FILE *f, const struct bip_check_report *r)
{
	family(f, "blockipam_check_problems",
	       "Problems 'blockipamctl ipam check' finds, by kind (0 when healthy).");
	for (int k = 0; k <= BIP_PROB_LAST; k++) {
		size_t n = 0;

		for (size_t i = 0; i < r->n; i++)
			n += r->v[i].kind == (enum bip_problem_kind)k;
		fprintf(f, "blockipam_check_problems{kind=\"%s\"} %zu\n",
			bip_problem_name((enum bip_problem_kind)k), n);
	}
	family(f, "blockipam_check_addresses", "Allocated addresses the last check examined.");
	fprintf(f, "blockipam_check_addresses %zu\n", r->addresses);
}

/* How long this took (from t0) and when. */
static void print_timing(FILE *f, const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	family(f, "blockipam_metrics_duration_seconds",
	       "Time taken to read the store and compute these metrics.");
	fprintf(f, "blockipam_metrics_duration_seconds %.6f\n",
		(double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9);
	family(f, "blockipam_metrics_timestamp_seconds",
	       "Unix time at which these metrics were computed.");
	fprintf(f, "blockipam_metrics_timestamp_seconds %lld\n", (long long)time(NULL));
}

static int write_metrics(FILE *f, struct ctl_session *s, bool check)
{
	struct bip_pool *pools = NULL;
	struct bip_block_info *blocks = NULL;
	struct bip_pool_usage *u = NULL;
	struct bip_check_report r = {0};
	struct pair **by_node = NULL;
	size_t np = 0, nb = 0, nu = 0;
	struct agg a = {.index = json_object()};
	struct timespec t0;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((rc = bip_ipam_pool_list(s->ipam, &pools, &np)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot list the pools");
		goto out;
	}
	if ((rc = bip_ipam_block_list(s->ipam, &blocks, &nb)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot list the blocks");
		goto out;
	}
	if ((rc = bip_ipam_usage(s->ipam, &u, &nu)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot compute the utilization");
		goto out;
	}
	if ((rc = count_blocks(&a, blocks, nb)) != BIP_OK)
		goto nomem;
	if ((rc = bip_ipam_alloc_foreach(s->ipam, one_alloc, &a)) != BIP_OK) {
		if (rc == BIP_ENOMEM)
			goto nomem;
		ctl_lib_err(s->ipam, rc, "cannot read the allocations");
		goto out;
	}
	if (check && (rc = bip_ipam_check(s->ipam, false, &r)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "the check could not complete");
		goto out;
	}
	rc = BIP_ENOMEM;
	if (a.n) /* qsort wants a non-NULL array even when empty */
		qsort(a.v, a.n, sizeof(*a.v), cmp_pair);
	if (!(by_node = malloc((a.n ? a.n : 1) * sizeof(*by_node))))
		goto nomem;
	for (size_t i = 0; i < a.n; i++)
		by_node[i] = &a.v[i];
	if (a.n) /* qsort wants a non-NULL array even when empty */
		qsort(by_node, a.n, sizeof(*by_node), cmp_pair_node);

	print_families(f, u, nu, pools, np, &a, by_node);
	if (check)
		print_check(f, &r);
	print_timing(f, &t0);
	rc = BIP_OK;
	goto out;
nomem:
	ctl_err("out of memory");
out:
	for (size_t i = 0; i < a.n; i++) {
		free(a.v[i].pool);
		free(a.v[i].node);
	}
	free(a.v);
	free(a.by_cidr);
	free(by_node);
	json_decref(a.index);
	bip_check_report_free(&r);
	bip_pools_free(pools, np);
	bip_block_infos_free(blocks, nb);
	bip_pool_usages_free(u, nu);
	return rc;
}

int metrics_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"no-check", no_argument, NULL, 'n'},
						 {"file", required_argument, NULL, 'f'},
						 CTL_LONGOPTS};
	struct ctl_session s = {0};
	const char *file = NULL;
	char *text = NULL;
	size_t len = 0;
	bool check = true;
	FILE *f;
	int ret = CTL_EXIT_ERR, c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS "f:", longopts)) > 0) {
		if (c == 'n')
			check = false;
		else if (c == 'f')
			file = optarg;
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (ctl_open(&s, true) != CTL_EXIT_OK)
		goto out;
	if (!(f = open_memstream(&text, &len))) {
		ctl_err("out of memory");
		goto out;
	}
	rc = write_metrics(f, &s, check);
	if (fclose(f) != 0 && rc == BIP_OK) {
		ctl_err("out of memory");
		goto out;
	}
	if (rc != BIP_OK)
		goto out;
	if (ctl_write_out(file, text, len) != CTL_EXIT_OK)
		goto out;
	ret = CTL_EXIT_OK;
out:
	free(text);
	ctl_close(&s);
	return ret;
}
