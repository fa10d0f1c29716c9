/*
 * cnibench row 6, etcd: the exec'd plugin on an etcd store (6: one member, BIP_BENCH_ETCD; 6b:
 * three, BIP_BENCH_ETCD3), under a fresh prefix that is deleted afterwards; and row 7, the
 * in-process library benchmark (build/bench/bench_lib), whose JSON goes into the report.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnibench.h"
#include "../../tests/util.h"

static void run_etcd_row(struct bench *b, struct etcd_row *r)
{
	const char *etcd = r->store;
	json_t *r6 = json_object();
	char *pfx_conc;
	struct bip_store *s;
	struct bip_ipam *ip = NULL;

	if (!etcd || !*etcd) {
		snprintf(r->why, sizeof(r->why),
			 "not run: set %s=etcd://host:port (a running etcd v3), or install etcd "
			 "(make bench then starts its own)",
			 r->var);
		goto out;
	}
	snprintf(r->prefix, sizeof(r->prefix), "/blockipam-bench/%ld-%d/%s/", (long)b->wall_start,
		 (int)getpid(), r->key);
	s = open_store(etcd, r->prefix);
	if (!s) {
		char err[512] = "";
		struct bip_store_opts o = {.prefix = r->prefix};
		int rc = bip_store_open(etcd, &o, &s, err, sizeof(err));

		snprintf(r->why, sizeof(r->why), "n/a (store %s did not open: %s: %s)", etcd,
			 bip_errname(rc), err);
		bip_store_close(s);
		goto out;
	}
	if (bip_ipam_new(s, &ip) != BIP_OK ||
	    t_pool(ip, "default", POOL_CIDR, 26, NULL) != BIP_OK) {
		snprintf(r->why, sizeof(r->why), "n/a (could not create the pool on %s)", etcd);
		bip_ipam_free(ip);
		bip_store_close(s);
		goto out;
	}
	bip_ipam_free(ip);
	bip_store_close(s);
	r->ran = true;
	plug_conf(&b->bip, bip_conf(etcd, r->prefix, NODE));
	note("row %s: ADD/DEL pairs, 0 held", r->key);
	run_pairs(&b->bip, 0x6a, 5, b->p.pairs_max, 10, b->p.cell_budget_s, &r->pt[0]);
	note("row %s: filling %zu", r->key, b->p.etcd_held);
	if (lib_prefill(etcd, r->prefix, NODE, 0x6b, 0, b->p.etcd_held, &r->prefill_s) != BIP_OK)
		snprintf(r->why, sizeof(r->why), "prefill failed");
	run_pairs(&b->bip, 0x6c, 5, b->p.pairs_max, 10, b->p.cell_budget_s, &r->pt[1]);
	pfx_conc = xasprintf("%sc32/", r->prefix);
	s = open_store(etcd, pfx_conc);
	ip = NULL;
	if (s && bip_ipam_new(s, &ip) == BIP_OK)
		t_pool(ip, "default", POOL_CIDR, 26, NULL);
	bip_ipam_free(ip);
	bip_store_close(s);
	plug_conf(&b->bip, bip_conf(etcd, pfx_conc, NODE));
	note("row %s: %zu ADDs, 32 callers", r->key, b->p.conc_ops);
	run_conc(&b->bip, 0x6d, b->p.conc_ops, 32, &r->ct);
	json_object_set_new(r6, "store", json_string(etcd));
	json_object_set_new(r6, "prefix", json_string(r->prefix));
	json_object_set_new(r6, "held_0", pairs_json(&r->pt[0]));
	json_object_set_new(r6, "held_n", pairs_json(&r->pt[1]));
	json_object_set_new(r6, "held_n_count", json_integer((json_int_t)b->p.etcd_held));
	json_object_set_new(r6, "prefill_s", jr(r->prefill_s, 2));
	json_object_set_new(r6, "concurrency_32", conc_json(&r->ct, true));
	if (strncmp(etcd, "etcd", 4) == 0) {
		purge_prefix(etcd, pfx_conc);
		purge_prefix(etcd, r->prefix);
	}
	free(pfx_conc);
out:
	if (!r->ran)
		json_object_set_new(r6, "result", json_string(r->why));
	json_object_set_new(b->rows, r->key, r6);
}

/* Its table, with ratios against this run's host-local at the same sizes. */
static void md_etcd_row(struct bench *b, const struct etcd_row *r)
{
	const struct pairs_out *ph = b->pairs.ph;
	const bool *have_ph = b->pairs.have_ph;
	const struct conc_out *ch = b->conc.ch;
	bool have_ch = b->conc.have_ch;
	char b1[32], b2[32], b3[32], b5[32];

	if (!r->ran) {
		md(b,
		   "**Placeholder: %s.** With `%s=etcd://host:port` set (or etcd installed: `make "
		   "bench` then starts its own through tests/etcd-harness.sh), `make bench` runs "
		   "the same exec'd ADD/DEL pairs at 0 and %s held and the %zu-ADD, 32-caller row "
		   "against that store (config `\"store\": \"etcd://…\"`, a fresh `store_prefix` "
		   "per run), with ratios against this run's host-local.\n",
		   r->why, r->var, fcount(b1, (double)b->p.etcd_held), b->p.conc_ops);
		return;
	}
	md(b, "Store `%s`, prefix `%s`.\n\n", r->store, r->prefix);
	md(b, "| held | op | n | median | p99 | max | host-local ÷ blockipam-etcd (median) |\n"
	      "|---|---|---|---|---|---|---|\n");
	for (int k = 0; k < 2; k++) {
		int hk = k == 0 ? 0 : 1; /* host-local at 0 and 5,000 held */

		for (int op = 0; op < 2; op++) {
			const struct stats *se = op ? &r->pt[k].sd : &r->pt[k].sa;
			char rat[32] = "";

			if (have_ph[hk] && b->p.held[hk] == (k ? b->p.etcd_held : 0))
				snprintf(rat, sizeof(rat), "%.1f×",
					 (op ? ph[hk].sd.med : ph[hk].sa.med) / se->med);
			md(b, "| %s | %s | %zu | %s | %s | %s | %s |\n",
			   fcount(b5, k ? (double)b->p.etcd_held : 0), op ? "DEL" : "ADD", se->n,
			   fms(b1, se->med), fms(b2, se->p99), fms(b3, se->max), rat);
		}
	}
	md(b,
	   "\n32 callers, %zu ADDs: %.0f ADD/s (host-local %.0f), median %s, p99 %s, max %s, "
	   "%zu failed, %zu duplicates.\n",
	   r->ct.ops, r->ct.rate, have_ch ? ch[2].rate : 0.0, fms(b1, r->ct.st.med),
	   fms(b2, r->ct.st.p99), fms(b3, r->ct.st.max), r->ct.fails, r->ct.dups);
}

int run_row_etcd(struct bench *b)
{
	run_etcd_row(b, &b->e6);
	return 0;
}

int run_row_etcd3(struct bench *b)
{
	run_etcd_row(b, &b->e6b);
	return 0;
}

void report_row_etcd(struct bench *b)
{
	md(b, "\n## 6. etcd\n\n");
	md_etcd_row(b, &b->e6);
}

void report_row_etcd3(struct bench *b)
{
	if (!b->e6b.ran)
		return;
	md(b, "\n### 6b. etcd, three members\n\n");
	md_etcd_row(b, &b->e6b);
}

/* ---- row 7: the in-process library bench ---------------------------------------------- */

int run_row_lib(struct bench *b)
{
	char path[PATH_MAX + 32], n1[32], n2[32];
	char *ld = mkdir_tmp(b, "lib");
	char *av[] = {path, n1, n2, ld, NULL};
	char *envp[] = {NULL};
	struct execres *r = xcalloc(1, sizeof(*r));
	json_t *lib = NULL;

	snprintf(path, sizeof(path), "%s/bench/bench_lib", b->build);
	snprintf(n1, sizeof(n1), "%ld", b->p.lib_n);
	snprintf(n2, sizeof(n2), "%ld", b->p.lib_total);
	note("row 7: bench_lib %s %s, load %s", n1, n2, row_load(b, "7 library"));
	run_exec(&b->env, path, av, envp, "", 0, 1800000, r);
	if (r->status == 0)
		lib = json_loads(r->out, 0, NULL);
	if (!lib) {
		lib = json_object();
		json_object_set_new(lib, "error", json_string(r->out));
		json_object_set_new(lib, "exit_status", json_integer(r->status));
	}
	json_object_set_new(lib, "wall_s", jr(r->ms / 1e3, 1));
	json_object_set_new(lib, "maxrss_kb", json_integer(r->maxrss_kb));
	json_object_set_new(b->rows, "7_library", lib);
	b->lib = lib;
	free(r);
	t_rmdir(ld); /* frees it */
	return 0;
}

static double lib_num(const struct bench *b, const char *key)
{
	return json_number_value(json_object_get(b->lib, key));
}

void report_row_lib(struct bench *b)
{
	json_t *v, *c;
	char b1[32], b2[32], b3[32], *s;

	md(b, "\n## 7. In-process library (build/bench/bench_lib %ld %ld)\n\n", b->p.lib_n,
	   b->p.lib_total);
	if ((v = json_object_get(b->lib, "allocs_per_s")))
		md(b,
		   "%s allocations over %lld nodes: **%.0f allocations/s** (SQLite, one handle). "
		   "One allocation (median of 200): **%.1f µs** empty, **%.1f µs** at %s held. "
		   "Building %s took %.1f s; %.1f bytes of store per allocation.\n\n",
		   fcount(b1, lib_num(b, "allocations")),
		   (long long)json_integer_value(json_object_get(b->lib, "nodes")),
		   json_number_value(v), lib_num(b, "alloc_us_empty"),
		   lib_num(b, "alloc_us_at_total"), fcount(b2, lib_num(b, "total_held")),
		   fcount(b3, lib_num(b, "total_held")), lib_num(b, "build_s"),
		   lib_num(b, "bytes_per_alloc"));
	else
		md(b, "bench_lib failed: %s\n\n",
		   json_string_value(json_object_get(b->lib, "error")));
	md(b, "Its JSON:\n\n```json\n");
	c = json_deep_copy(b->lib);
	json_object_del(c, "wall_s");
	json_object_del(c, "maxrss_kb");
	s = json_dumps(c, JSON_COMPACT | JSON_REAL_PRECISION(10));
	md(b, "%s\n```\n", s ? s : "{}");
	free(s);
	json_decref(c);
}
