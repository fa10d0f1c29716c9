/*
 * cnibench rows 1-4, the exec'd plugin on small stores: the floor (a static no-op exec'd like
 * a plugin), ADD/DEL pairs at three store sizes, N callers at once, and a burst of one node's
 * pods; each next to host-local in the same run.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cnibench.h"
#include "../../tests/util.h"

struct stats run_floor(const struct plug *nop, size_t runs, struct samples *s, struct samples *cpu)
{
	struct execres *r = xcalloc(1, sizeof(*r));

	for (size_t i = 0; i < runs + 20; i++) {
		char *argv[] = {(char *)nop->path, NULL};
		struct cnienv e;

		cni_env(&e, nop->env, "ADD", 0xf1, i);
		run_exec(nop->env, nop->path, argv, e.envp, nop->conf, nop->conflen,
			 CALL_TIMEOUT_MS, r);
		if (i >= 20 && r->status == 0) {
			samples_add(s, r->ms);
			if (cpu)
				samples_add(cpu, r->cpu_ms);
		}
	}
	free(r);
	return stats_of(s->v, s->n);
}

/*
 * ADD then DEL of a fresh container, repeated: the pool keeps exactly the count it held before.
 * warm pairs are not counted; then up to max pairs, stopping after budget_s (at least min).
 */
void run_pairs(const struct plug *p, unsigned tag, size_t warm, size_t max, size_t min,
	       double budget_s, struct pairs_out *o)
{
	struct execres *r = xcalloc(1, sizeof(*r));
	char addr[64];
	double t0 = 0;

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < warm + max; i++) {
		bool count = i >= warm;

		if (i == warm)
			t0 = now_s();
		if (count && i - warm >= min && now_s() - t0 > budget_s)
			break;
		if (!cni_call(p, "ADD", tag, i, r, addr, sizeof(addr))) {
			call_failed(p, "ADD", r);
			o->fails += count;
		} else if (count) {
			samples_add(&o->add, r->ms);
			samples_add(&o->add_cpu, r->cpu_ms);
		}
		if (r->maxrss_kb > o->maxrss_kb)
			o->maxrss_kb = r->maxrss_kb;
		if (!cni_call(p, "DEL", tag, i, r, NULL, 0)) {
			call_failed(p, "DEL", r);
			o->fails += count;
		} else if (count) {
			samples_add(&o->del, r->ms);
			samples_add(&o->del_cpu, r->cpu_ms);
		}
	}
	o->sa = stats_of(o->add.v, o->add.n);
	o->sd = stats_of(o->del.v, o->del.n);
	o->sa_cpu = stats_of(o->add_cpu.v, o->add_cpu.n);
	o->sd_cpu = stats_of(o->del_cpu.v, o->del_cpu.n);
	free(r);
}

void pairs_free(struct pairs_out *o)
{
	samples_free(&o->add);
	samples_free(&o->del);
	samples_free(&o->add_cpu);
	samples_free(&o->del_cpu);
}

json_t *pairs_json(const struct pairs_out *o)
{
	json_t *j = json_object();

	json_object_set_new(j, "add", stats_json(&o->sa, &o->add));
	json_object_set_new(j, "del", stats_json(&o->sd, &o->del));
	json_object_set_new(j, "add_cpu", stats_json(&o->sa_cpu, &o->add_cpu));
	json_object_set_new(j, "del_cpu", stats_json(&o->sd_cpu, &o->del_cpu));
	json_object_set_new(j, "failures", json_integer((json_int_t)o->fails));
	json_object_set_new(j, "plugin_maxrss_kb", json_integer(o->maxrss_kb));
	return j;
}

/* ---- callers at once (rows 3, 4 and 6) ------------------------------------------------ */

struct conc {
	const struct plug *p;
	unsigned tag;
	size_t nops;
	atomic_size_t next;
	pthread_barrier_t bar;
	double *ms;
	char (*addr)[48];
	int *status;
};

static void *conc_caller(void *arg)
{
	struct conc *c = arg;
	struct execres *r = xcalloc(1, sizeof(*r));

	pthread_barrier_wait(&c->bar);
	for (;;) {
		size_t i = atomic_fetch_add(&c->next, 1);

		if (i >= c->nops)
			break;
		cni_call(c->p, "ADD", c->tag, i, r, c->addr[i], sizeof(c->addr[i]));
		c->ms[i] = r->ms;
		c->status[i] = r->status;
		if (r->status != 0)
			call_failed(c->p, "ADD", r);
	}
	free(r);
	return NULL;
}

static int cmp_str48(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* nops ADDs of distinct containers by `callers` threads at once, each a fresh exec. */
void run_conc(const struct plug *p, unsigned tag, size_t nops, size_t callers, struct conc_out *o)
{
	struct conc c = {.p = p, .tag = tag, .nops = nops};
	pthread_t *th = xcalloc(callers, sizeof(*th));
	double t0;

	memset(o, 0, sizeof(*o));
	o->callers = callers;
	o->ops = nops;
	atomic_init(&c.next, 0);
	c.ms = xcalloc(nops, sizeof(*c.ms));
	c.addr = xcalloc(nops, sizeof(*c.addr));
	c.status = xcalloc(nops, sizeof(*c.status));
	pthread_barrier_init(&c.bar, NULL, (unsigned)callers + 1);
	for (size_t i = 0; i < callers; i++)
		if (pthread_create(&th[i], NULL, conc_caller, &c) != 0) {
			note("pthread_create: %s", strerror(errno));
			exit(1);
		}
	pthread_barrier_wait(&c.bar);
	t0 = now_s();
	for (size_t i = 0; i < callers; i++)
		pthread_join(th[i], NULL);
	o->wall_s = now_s() - t0;
	pthread_barrier_destroy(&c.bar);
	for (size_t i = 0; i < nops; i++) {
		if (c.status[i] == 0 && c.addr[i][0]) {
			o->ok++;
			samples_add(&o->s, c.ms[i]);
		} else {
			o->fails++;
			c.addr[i][0] = '\0';
		}
	}
	qsort(c.addr, nops, sizeof(c.addr[0]), cmp_str48);
	for (size_t i = 0; i < nops; i++) {
		if (!c.addr[i][0])
			continue;
		if (i > 0 && strcmp(c.addr[i], c.addr[i - 1]) == 0)
			o->dups++;
		else
			o->distinct++;
	}
	o->rate = o->ok / o->wall_s;
	o->st = stats_of(o->s.v, o->s.n);
	free(c.ms);
	free(c.addr);
	free(c.status);
	free(th);
}

json_t *conc_json(const struct conc_out *o, bool samples)
{
	json_t *j = json_object();

	json_object_set_new(j, "callers", json_integer((json_int_t)o->callers));
	json_object_set_new(j, "adds", json_integer((json_int_t)o->ops));
	json_object_set_new(j, "succeeded", json_integer((json_int_t)o->ok));
	json_object_set_new(j, "failed", json_integer((json_int_t)o->fails));
	json_object_set_new(j, "distinct_addresses", json_integer((json_int_t)o->distinct));
	json_object_set_new(j, "duplicate_addresses", json_integer((json_int_t)o->dups));
	json_object_set_new(j, "wall_s", jr(o->wall_s, 4));
	json_object_set_new(j, "adds_per_s", jr(o->rate, 1));
	json_object_set_new(j, "latency", stats_json(&o->st, samples ? &o->s : NULL));
	return j;
}

/* ---- row 1: floor --------------------------------------------------------------------- */

/* hyperfine -N's median of the same binary, when scripts/bench.sh ran it; else -1. */
static double hyperfine_median_ms(const char *path)
{
	json_t *h = path ? json_load_file(path, 0, NULL) : NULL;
	json_t *res = h ? json_array_get(json_object_get(h, "results"), 0) : NULL;
	json_t *med = res ? json_object_get(res, "median") : NULL;
	double ms = -1;

	if (med && json_is_number(med))
		ms = json_number_value(med) * 1e3;
	json_decref(h);
	return ms;
}

int run_row_floor(struct bench *b)
{
	struct row_floor *r = &b->floor;
	json_t *j = json_object();

	note("row 1: floor (%zu execs of a static no-op), load %s", b->p.floor_runs,
	     row_load(b, "1 floor"));
	plug_conf(&b->nop, hl_conf("/nonexistent")); /* a config of the usual size on stdin */
	r->st = run_floor(&b->nop, b->p.floor_runs, &r->s, &r->cpu_s);
	r->cpu = stats_of(r->cpu_s.v, r->cpu_s.n);
	r->ms = r->st.med;
	json_object_set_new(j, "what",
			    json_string("posix_spawn + config on stdin + wait4 of "
					"build/bench/nop (static, reads stdin, "
					"exits 0)"));
	json_object_set_new(j, "exec", stats_json(&r->st, &r->s));
	json_object_set_new(j, "exec_cpu", stats_json(&r->cpu, &r->cpu_s));
	r->hf_median_ms = hyperfine_median_ms(b->hf_path);
	if (r->hf_median_ms > 0)
		json_object_set_new(j, "hyperfine_N_median_ms", jr(r->hf_median_ms, 3));
	json_object_set_new(b->rows, "1_floor", j);
	return 0;
}

void report_row_floor(struct bench *b)
{
	const struct row_floor *r = &b->floor;
	char b1[32], b2[32], b3[32], b4[32], b5[32];

	md(b, "\n## 1. Floor\n\nA static C program that reads its stdin and exits 0 "
	      "(`bench/floor/nop.c`), exec'd exactly like a plugin: what no exec'd plugin can "
	      "beat.\n\n");
	md(b, "| runs | median | p90 | p99 | max | CPU median |\n|---|---|---|---|---|---|\n");
	md(b, "| %zu | %s | %s | %s | %s | %s |\n", r->st.n, fms(b1, r->st.med), fms(b2, r->st.p90),
	   fms(b3, r->st.p99), fms(b4, r->st.max), fms(b5, r->cpu.med));
	if (r->hf_median_ms > 0)
		md(b,
		   "\nCross-check: `hyperfine -N` on the same binary (stdin /dev/null): median "
		   "%s.\n",
		   fms(b1, r->hf_median_ms));
}

/* ---- row 2: ADD/DEL at 0 / 5,000 / 50,000 held ---------------------------------------- */

static json_t *pairs_cell_json(const struct bench *b, int k)
{
	const struct row_pairs *r = &b->pairs;
	json_t *j = json_object();

	json_object_set_new(j, "held", json_integer((json_int_t)b->p.held[k]));
	json_object_set_new(j, "blockipam", pairs_json(&r->pb[k]));
	json_object_set_new(json_object_get(j, "blockipam"), "prefill_s", jr(r->pre_b[k], 2));
	if (r->have_ph[k]) {
		json_object_set_new(j, "host_local", pairs_json(&r->ph[k]));
		json_object_set_new(json_object_get(j, "host_local"), "prefill_s",
				    jr(r->pre_h[k], 2));
		json_object_set_new(j, "add_median_ratio_host_local_over_blockipam",
				    jr(r->ph[k].sa.med / r->pb[k].sa.med, 2));
		json_object_set_new(j, "del_median_ratio_host_local_over_blockipam",
				    jr(r->ph[k].sd.med / r->pb[k].sd.med, 2));
	}
	json_object_set_new(j, "add_median_ratio_blockipam_over_floor",
			    jr(r->pb[k].sa.med / b->floor.ms, 2));
	return j;
}

/* Fill both stores from the previous cell's size to this one's, then the pairs on each. */
static int pairs_cell(struct bench *b, int k)
{
	struct row_pairs *r = &b->pairs;
	size_t held = b->p.held[k], prev = k ? b->p.held[k - 1] : 0;
	char key[48];

	note("row 2: %zu held: filling", held);
	if (held > prev &&
	    lib_prefill(r->bstore, NULL, NODE, 0xb0, prev, held, &r->pre_b[k]) != BIP_OK)
		return 1;
	if (b->have_hl && held > prev && hl_prefill(r->hdir, prev, held, &r->pre_h[k]) != 0)
		return 1;
	snprintf(key, sizeof(key), "2 pairs, %zu held", held);
	note("row 2: %zu held: blockipam ADD/DEL pairs, load %s", held, row_load(b, key));
	run_pairs(&b->bip, 0xb1 + (unsigned)k, 5, b->p.pairs_max, 10, b->p.cell_budget_s,
		  &r->pb[k]);
	if (k == 0)
		r->fill_order_ok = dynamic_blocks_sort_last(r->bstore);
	if (b->have_hl) {
		note("row 2: %zu held: host-local ADD/DEL pairs", held);
		run_pairs(&b->hl, 0xc1 + (unsigned)k, held >= 20000 ? 2 : 5, b->p.pairs_max, 10,
			  b->p.cell_budget_s, &r->ph[k]);
		r->have_ph[k] = true;
	}
	return 0;
}

int run_row_pairs(struct bench *b)
{
	struct row_pairs *r = &b->pairs;
	json_t *r2 = json_array();
	long long db;
	char *wal;

	r->bstore = new_bip_store(b, "row2", &r->bdir);
	r->hdir = mkdir_tmp(b, "row2-hl");
	plug_conf(&b->bip, bip_conf(r->bstore, NULL, NODE));
	plug_conf(&b->hl, hl_conf(r->hdir));
	for (int k = 0; k < 3; k++) {
		if (pairs_cell(b, k) != 0) {
			json_decref(r2);
			return 1;
		}
		json_array_append_new(r2, pairs_cell_json(b, k));
	}
	json_object_set_new(b->rows, "2_add_del", r2);
	json_object_set_new(b->rows, "2_fill",
			    json_pack("{s:s,s:s,s:b}", "method",
				      "library allocations of " FILL_BASE " + k on node " NODE
				      " (specific-address path)",
				      "node", NODE, "node_dynamic_blocks_sort_after_filled",
				      r->fill_order_ok));
	wal = xasprintf("%s-wal", r->bstore + 9);
	db = path_size(r->bstore + 9) + path_size(wal);
	free(wal);
	json_object_set_new(json_array_get(r2, 2), "blockipam_db_bytes", json_integer(db));
	return 0;
}

static void md_pairs_cell(struct bench *b, int k, int op)
{
	const struct row_pairs *r = &b->pairs;
	const struct stats *sb = op ? &r->pb[k].sd : &r->pb[k].sa;
	const struct stats *cb = op ? &r->pb[k].sd_cpu : &r->pb[k].sa_cpu;
	const struct stats *sh = op ? &r->ph[k].sd : &r->ph[k].sa;
	const struct stats *ch = op ? &r->ph[k].sd_cpu : &r->ph[k].sa_cpu;
	char b1[32], b2[32], b3[32], b4[32], b5[32];

	md(b, "| %s | blockipam | %s | %zu | %s | %s | %s | %.2f× | | %s | |\n",
	   fcount(b5, (double)b->p.held[k]), op ? "DEL" : "ADD", sb->n, fms(b1, sb->med),
	   fms(b2, sb->p99), fms(b3, sb->max), sb->med / b->floor.ms, fms(b4, cb->med));
	if (!r->have_ph[k])
		return;
	md(b, "| %s | host-local | %s | %zu | %s | %s | %s | %.2f× | **%.1f×** | %s | %.1f× |\n",
	   fcount(b5, (double)b->p.held[k]), op ? "DEL" : "ADD", sh->n, fms(b1, sh->med),
	   fms(b2, sh->p99), fms(b3, sh->max), sh->med / b->floor.ms, sh->med / sb->med,
	   fms(b4, ch->med), ch->med / cb->med);
}

void report_row_pairs(struct bench *b)
{
	const struct row_pairs *r = &b->pairs;
	char b1[32], b2[32], b3[32];
	size_t f = 0;

	md(b,
	   "\n## 2. ADD and DEL, one exec each, with addresses already held\n\n"
	   "Each sample is an ADD of a new container followed by its DEL, so the pool holds "
	   "exactly the stated count during every call (a few warm-up pairs first, not counted; "
	   "each cell stops after %.0f s, at least 10 pairs). Like host-local's, every held "
	   "address is on the plugin's node (`" NODE "`), in the pool it uses. blockipam's store "
	   "is filled through the library, one real allocation per address with the plugin's "
	   "handle and attributes (`" NETWORK
	   ".<id>.eth0`), each for a specific address from " FILL_BASE
	   " up: a dynamic allocation walks every block the node owns, which made a "
	   "50,000 fill run at ~35 allocations/s; the specific-address path writes the same "
	   "records (block affine to the node, affinity, handle). The filled blocks sort before "
	   "the node's own dynamically claimed block (%s), so each exec'd ADD walks every full "
	   "block first, as after a dynamic fill. host-local's dataDir is filled with its own "
	   "on-disk format (one file per IP holding `<containerID>\\r\\neth0`, plus "
	   "`last_reserved_ip.0`).\n\n",
	   b->p.cell_budget_s, r->fill_order_ok ? "checked" : "**check failed: see results.json**");
	md(b, "| held | plugin | op | n | median | p99 | max | median ÷ floor | host-local ÷ "
	      "blockipam (median) | CPU median | host-local ÷ blockipam (CPU) |\n"
	      "|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (int k = 0; k < 3; k++)
		for (int op = 0; op < 2; op++)
			md_pairs_cell(b, k, op);
	for (int k = 0; k < 3; k++)
		f += r->pb[k].fails + (r->have_ph[k] ? r->ph[k].fails : 0);
	md(b,
	   "\nFailed calls: %zu. Filling blockipam through the library took %.1f s (0 → %s) "
	   "and %.1f s (→ %s); writing host-local's files %.1f s and %.1f s. Peak memory of "
	   "one exec at %s held: blockipam %.1f MB, host-local %.1f MB.\n",
	   f, r->pre_b[1], fcount(b1, (double)b->p.held[1]), r->pre_b[2],
	   fcount(b2, (double)b->p.held[2]), r->pre_h[1], r->pre_h[2],
	   fcount(b3, (double)b->p.held[2]), r->pb[2].maxrss_kb / 1024.0,
	   r->have_ph[2] ? r->ph[2].maxrss_kb / 1024.0 : 0.0);
}

/* ---- row 3: concurrency --------------------------------------------------------------- */

int run_row_conc(struct bench *b)
{
	struct row_conc *r = &b->conc;
	json_t *r3 = json_array();

	for (int k = 0; k < 3; k++) {
		size_t n = b->p.conc_callers[k];
		char *d, *st = new_bip_store(b, "row3", &d), *hd = mkdir_tmp(b, "row3-hl"), key[48];
		json_t *j = json_object();

		snprintf(key, sizeof(key), "3 concurrency, %zu callers", n);
		note("row 3: %zu ADDs, %zu callers: blockipam, load %s", b->p.conc_ops, n,
		     row_load(b, key));
		plug_conf(&b->bip, bip_conf(st, NULL, NODE));
		run_conc(&b->bip, 0xd0 + (unsigned)k, b->p.conc_ops, n, &r->cb[k]);
		json_object_set_new(j, "blockipam", conc_json(&r->cb[k], true));
		if (b->have_hl) {
			note("row 3: %zu ADDs, %zu callers: host-local", b->p.conc_ops, n);
			plug_conf(&b->hl, hl_conf(hd));
			run_conc(&b->hl, 0xe0 + (unsigned)k, b->p.conc_ops, n, &r->ch[k]);
			json_object_set_new(j, "host_local", conc_json(&r->ch[k], true));
			json_object_set_new(j, "rate_ratio_blockipam_over_host_local",
					    jr(r->cb[k].rate / r->ch[k].rate, 2));
			r->have_ch = true;
		}
		json_array_append_new(r3, j);
		t_rmdir(d);
		t_rmdir(hd);
		free(st);
	}
	json_object_set_new(b->rows, "3_concurrency", r3);
	return 0;
}

static void md_conc_line(struct bench *b, const char *label, const struct conc_out *o,
			 const char *ratio)
{
	char b1[32], b2[32], b3[32];

	md(b, "| %zu | %s | %.0f | %s | %s | %s | %zu / %zu | %zu | %zu | %s|\n", o->callers, label,
	   o->rate, fms(b1, o->st.med), fms(b2, o->st.p99), fms(b3, o->st.max), o->ok, o->fails,
	   o->distinct, o->dups, ratio);
}

void report_row_conc(struct bench *b)
{
	const struct row_conc *r = &b->conc;

	md(b,
	   "\n## 3. Concurrency: %zu ADDs by N callers at once\n\n"
	   "N threads in the harness, each exec'ing the plugin for the next container until %zu "
	   "ADDs are done; a fresh store (and dataDir) per cell. Every ADD's address is collected "
	   "and checked for duplicates.\n\n",
	   b->p.conc_ops, b->p.conc_ops);
	md(b,
	   "| callers | plugin | ADD/s | median | p99 | max | ok / failed | distinct | duplicates "
	   "| blockipam ÷ host-local (ADD/s) |\n|---|---|---|---|---|---|---|---|---|---|\n");
	for (int k = 0; k < 3; k++) {
		char ratio[32];

		md_conc_line(b, "blockipam", &r->cb[k], "");
		if (!r->have_ch)
			continue;
		snprintf(ratio, sizeof(ratio), "**%.1f×** ", r->cb[k].rate / r->ch[k].rate);
		md_conc_line(b, "host-local", &r->ch[k], ratio);
	}
}

/* ---- row 4: burst --------------------------------------------------------------------- */

/* One burst of p's pods at once on a fresh store; its wall time goes into wall. */
static void burst_once(struct bench *b, struct plug *p, unsigned tag, struct samples *wall,
		       size_t *fails, size_t *dups, json_t *runs)
{
	struct conc_out o;

	run_conc(p, tag, b->p.burst_pods, b->p.burst_pods, &o);
	samples_add(wall, o.wall_s * 1e3);
	*fails += o.fails;
	*dups += o.dups;
	json_array_append_new(runs, conc_json(&o, false));
	samples_free(&o.s);
}

int run_row_burst(struct bench *b)
{
	struct row_burst *r = &b->burst;
	json_t *r4 = json_object(), *r4b = json_array(), *r4h = json_array();

	note("row 4: load %s", row_load(b, "4 burst"));
	for (size_t rep = 0; rep < b->p.burst_reps; rep++) {
		char *d, *st = new_bip_store(b, "row4", &d), *hd = mkdir_tmp(b, "row4-hl");

		note("row 4: burst %zu/%zu: %zu pods at once", rep + 1, b->p.burst_reps,
		     b->p.burst_pods);
		plug_conf(&b->bip, bip_conf(st, NULL, NODE));
		burst_once(b, &b->bip, 0xa00 + (unsigned)rep, &r->bw, &r->fail_b, &r->dup_b, r4b);
		if (b->have_hl) {
			plug_conf(&b->hl, hl_conf(hd));
			burst_once(b, &b->hl, 0xa80 + (unsigned)rep, &r->hw, &r->fail_h, &r->dup_h,
				   r4h);
		}
		t_rmdir(d);
		t_rmdir(hd);
		free(st);
	}
	r->bws = stats_of(r->bw.v, r->bw.n);
	json_object_set_new(r4, "pods", json_integer((json_int_t)b->p.burst_pods));
	json_object_set_new(r4, "blockipam_wall", stats_json(&r->bws, &r->bw));
	json_object_set_new(r4, "blockipam_runs", r4b);
	if (b->have_hl) {
		r->hws = stats_of(r->hw.v, r->hw.n);
		json_object_set_new(r4, "host_local_wall", stats_json(&r->hws, &r->hw));
		json_object_set_new(r4, "host_local_runs", r4h);
	} else {
		json_decref(r4h);
	}
	json_object_set_new(b->rows, "4_burst", r4);
	return 0;
}

void report_row_burst(struct bench *b)
{
	const struct row_burst *r = &b->burst;
	char b1[32], b2[32];

	md(b,
	   "\n## 4. Burst: %zu pods started at once on one node\n\n"
	   "%zu ADDs exec'd at the same moment (one thread each, released by a barrier) on a "
	   "fresh store where the node holds no block yet (so the burst also claims its "
	   "blocks); wall time until every one has its address. %zu runs.\n\n",
	   b->p.burst_pods, b->p.burst_pods, b->p.burst_reps);
	md(b,
	   "| plugin | median wall | worst wall | failed | duplicates |\n|---|---|---|---|---|\n");
	md(b, "| blockipam | %s | %s | %zu | %zu |\n", fms(b1, r->bws.med), fms(b2, r->bws.max),
	   r->fail_b, r->dup_b);
	if (b->have_hl)
		md(b, "| host-local | %s | %s | %zu | %zu |\n", fms(b1, r->hws.med),
		   fms(b2, r->hws.max), r->fail_h, r->dup_h);
}
