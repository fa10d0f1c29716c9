/*
 * Row 8: what a block claim costs as the store grows (issue 16), from build/bench/bench_claim:
 * a new node's first ADD, an existing node's ADD and a specific address in a new block, each
 * the median of 100 in-process calls on a store with no blocks and on one with
 * params.claim_blocks blocks, and the ratio. The goal: a claim costs ≤ 1.3× on the full store.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cnibench.h"
#include "../../tests/util.h"

int run_row_claim(struct bench *b)
{
	char path[PATH_MAX + 32], n1[32];
	char *dir = mkdir_tmp(b, "claim");
	char *av[] = {path, n1, "100", dir, NULL};
	char *envp[] = {NULL};
	struct execres *r = xcalloc(1, sizeof(*r));
	json_t *j = NULL;

	snprintf(path, sizeof(path), "%s/bench/bench_claim", b->build);
	snprintf(n1, sizeof(n1), "%ld", b->p.claim_blocks);
	note("row 8: bench_claim %s 100, load %s", n1, row_load(b, "8 claims"));
	run_exec(&b->env, path, av, envp, "", 0, 1800000, r);
	if (r->status == 0)
		j = json_loads(r->out, 0, NULL);
	if (!j) {
		j = json_object();
		json_object_set_new(j, "error", json_string(r->out));
		json_object_set_new(j, "exit_status", json_integer(r->status));
	}
	json_object_set_new(j, "wall_s", jr(r->ms / 1e3, 1));
	json_object_set_new(b->rows, "8_claims", j);
	b->claim = j;
	free(r);
	t_rmdir(dir); /* frees it */
	return 0;
}

static const struct {
	const char *key, *what;
	bool goal; /* issue 16's bound applies */
} kinds[] = {
    {"new_node_first_add", "a new node's first ADD (claims a block)", true},
    {"specific_ip_new_block", "a specific address in a new block (claims it)", true},
    {"existing_node_add", "an existing node's ADD (room in its block)", false},
};

void report_row_claim(struct bench *b)
{
	char b1[32];
	long blocks = (long)json_integer_value(json_object_get(b->claim, "blocks"));

	md(b, "\n## 8. Block claims against store size (build/bench/bench_claim %ld 100)\n\n",
	   b->p.claim_blocks);
	if (!json_object_get(b->claim, "blocks")) {
		md(b, "bench_claim failed: %s\n\n",
		   json_string_value(json_object_get(b->claim, "error")));
		return;
	}
	md(b,
	   "In process, SQLite, one pool 10.0.0.0/8 of /26 blocks; medians of 100 calls, each "
	   "released again. The store with blocks took %.1f s to build through the library.\n\n",
	   json_number_value(json_object_get(b->claim, "fill_s")));
	md(b, "| call | no blocks | %s blocks | ratio |\n|---|---|---|---|\n",
	   fcount(b1, (double)blocks));
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		json_t *k = json_object_get(b->claim, kinds[i].key);
		double e = json_number_value(json_object_get(k, "empty_us"));
		double f = json_number_value(json_object_get(k, "full_us"));
		double ratio = json_number_value(json_object_get(k, "ratio"));

		md(b, "| %s | %.0f µs | %.0f µs | %.2f× |\n", kinds[i].what, e, f, ratio);
	}
	md(b, "\n");
}

void goals_claim(struct bench *b)
{
	long blocks = (long)json_integer_value(json_object_get(b->claim, "blocks"));
	char b1[32];

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		json_t *k = json_object_get(b->claim, kinds[i].key);
		double ratio = json_number_value(json_object_get(k, "ratio"));
		struct goal *g;

		if (!kinds[i].goal)
			continue;
		g = goal_add(b, kinds[i].what, "≤ 1.30× the store without blocks");
		if (!k) {
			goal_na(g, "bench_claim did not run");
			continue;
		}
		goal_measured(g, "%.2f× (%.0f µs vs %.0f µs at %s blocks)", ratio,
			      json_number_value(json_object_get(k, "full_us")),
			      json_number_value(json_object_get(k, "empty_us")),
			      fcount(b1, (double)blocks));
		goal_judge(g, ratio, 1.30, true);
	}
}
