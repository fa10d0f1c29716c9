/*
 * cnibench's private header: the shared state of one run (struct bench), passed to every row,
 * and the helpers the rows share. main.c parses the arguments and drives the rows[] table;
 * each row measures (run) and then writes its section of RESULTS.md (report); goals.c judges
 * the goals from what the rows kept.
 *
 *   exec.c        posix_spawn of a plugin, the CNI environment, small helpers
 *   stores.c      blockipam stores through the library, host-local's on-disk format
 *   report.c      results.json, RESULTS.md, the goals list, machine and load
 *   rows_exec.c   rows 1-4: floor, ADD/DEL pairs at three sizes, concurrency, burst
 *   rows_scale.c  row 5: the scale store, exec'd calls on it, the CLI and library on it
 *   rows_etcd.c   row 6 (and 6b): etcd; row 7: the in-process library bench
 *   goals.c       the goals table
 */
#ifndef BIP_CNIBENCH_H
#define BIP_CNIBENCH_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "blockipam/ipam.h"
#include "../common/stats.h"

#define HOST_LOCAL "/usr/lib/cni/host-local"
#define NETWORK "bench"
#define NODE "node-bench"
#define POOL_CIDR "10.0.0.0/8"
#define HL_SUBNET "10.88.0.0/16"
#define FILL_BASE "10.1.0.0"
#define OUT_MAX 8192
#define CALL_TIMEOUT_MS 120000
#define SAFE_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- sizes ---------------------------------------------------------------------------- */

struct params {
	bool quick;
	size_t floor_runs;
	size_t held[3];	      /* row 2 store sizes */
	size_t pairs_max;     /* ADD+DEL pairs per cell */
	double cell_budget_s; /* per cell: stop adding pairs after this long */
	size_t conc_ops;      /* row 3 */
	size_t conc_callers[3];
	size_t burst_pods, burst_reps;
	int scale_nodes, scale_pods, scale_workers;
	long lib_n, lib_total; /* row 7 */
	long claim_blocks;     /* row 8: blocks in the store the claims are measured on */
	size_t etcd_held;
	size_t new_nodes; /* row 5: first ADDs of new nodes */
};

/* ---- exec (exec.c) -------------------------------------------------------------------- */

/* What every exec needs: stderr's sink and the CNI_PATH entry. */
struct execenv {
	int devnull;
	char cni_path[2 * PATH_MAX + 8];
	unsigned errors_printed;
};

struct execres {
	int status; /* exit code; -1 killed by a signal, -2 timed out, -3 could not spawn */
	double ms;
	double cpu_ms; /* the child's user + system time */
	long maxrss_kb;
	char out[OUT_MAX]; /* the first OUT_MAX - 1 bytes of stdout, NUL-terminated */
	size_t outlen;	   /* every byte read */
};

struct plug {
	const char *label; /* "blockipam", "host-local", "floor" */
	char path[PATH_MAX + 64];
	char *conf;
	size_t conflen;
	struct execenv *env;
};

struct cnienv {
	char cmd[48], cid[96], args[320];
	char *envp[9];
};

void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xcalloc(size_t n, size_t sz);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *mkdir_in(const char *base, const char *what);
int copy_file(const char *from, const char *to);
long long path_size(const char *p);
bool is_exec(const char *p);

void run_exec_ex(const struct execenv *env, const char *path, char *const argv[],
		 char *const envp[], const char *in, size_t inlen, int timeout_ms, bool merge_err,
		 struct execres *r);
void run_exec(const struct execenv *env, const char *path, char *const argv[], char *const envp[],
	      const char *in, size_t inlen, int timeout_ms, struct execres *r);
void plug_conf(struct plug *p, char *conf);
char *bip_conf(const char *store, const char *prefix, const char *node);
char *hl_conf(const char *datadir);
void cid_of(char *buf, size_t n, unsigned tag, size_t seq);
void cni_env(struct cnienv *e, const struct execenv *env, const char *cmd, unsigned tag,
	     size_t seq);
bool cni_call(const struct plug *p, const char *cmd, unsigned tag, size_t seq, struct execres *r,
	      char *addr, size_t addrlen);
void call_failed(const struct plug *p, const char *cmd, const struct execres *r);

/* ---- measurements shared by rows (rows_exec.c) ---------------------------------------- */

struct pairs_out {
	struct samples add, del, add_cpu, del_cpu;
	struct stats sa, sd, sa_cpu, sd_cpu;
	size_t fails;
	long maxrss_kb;
};

struct conc_out {
	size_t callers, ops, ok, fails, distinct, dups;
	double wall_s, rate;
	struct samples s;
	struct stats st;
};

struct stats run_floor(const struct plug *nop, size_t runs, struct samples *s, struct samples *cpu);
void run_pairs(const struct plug *p, unsigned tag, size_t warm, size_t max, size_t min,
	       double budget_s, struct pairs_out *o);
void pairs_free(struct pairs_out *o);
json_t *pairs_json(const struct pairs_out *o);
void run_conc(const struct plug *p, unsigned tag, size_t nops, size_t callers, struct conc_out *o);
json_t *conc_json(const struct conc_out *o, bool samples);

/* ---- stores (stores.c) ---------------------------------------------------------------- */

struct bip_store *open_store(const char *addr, const char *prefix);
char *new_bip_store_in(const char *base, const char *what, char **dir);
int lib_alloc(struct bip_ipam *ip, const char *node, unsigned tag, size_t seq,
	      const struct bip_addr *want);
int lib_prefill(const char *addr, const char *prefix, const char *node, unsigned tag, size_t from,
		size_t to, double *secs);
void purge_prefix(const char *addr, const char *prefix);
bool dynamic_blocks_sort_last(const char *addr);
int hl_prefill(const char *datadir, size_t from, size_t to, double *secs);

/* ---- what the rows keep for the goals and the report ---------------------------------- */

struct row_floor {
	struct stats st, cpu;
	struct samples s, cpu_s;
	double ms, hf_median_ms;
};

struct row_pairs {
	struct pairs_out pb[3], ph[3];
	double pre_b[3], pre_h[3];
	bool have_ph[3], fill_order_ok;
	char *bdir, *bstore, *hdir;
};

struct row_conc {
	struct conc_out cb[3], ch[3];
	bool have_ch;
};

struct row_burst {
	struct samples bw, hw;
	struct stats bws, hws;
	size_t fail_b, fail_h, dup_b, dup_h;
};

struct cli_run {
	bool built, ran;
	int status;
	double ms;
	long rss_kb;
	size_t out_bytes;
	bool ok; /* exit 0 (ipam check: 0, or 3 = problems found) */
	char why[96];
	char err[200];
};

struct lib_run {
	double ms;
	long rss_kb;
	int status;
	char detail[160];
};

struct row_scale {
	long n; /* addresses */
	char *sdir, *sstore;
	double build_s;
	long build_rss;
	long long bytes;
	json_t *progress; /* [[allocations, seconds]...] of worker 0 (borrowed from the row JSON) */
	struct pairs_out ps, pe;
	struct samples floor2_s, nn_s, nn_cpu, ne_s, ne_cpu;
	struct stats floor2, nn, ne;
	size_t nn_fail;
	struct cli_run cli[3];
	struct lib_run libq[2];
};

/* The exec'd plugin against an etcd store: ADD/DEL pairs at 0 and etcd_held held, and
 * conc_ops ADDs from 32 callers. */
struct etcd_row {
	const char *store; /* etcd://... (NULL or "": not run) */
	const char *key;   /* in results.json */
	const char *var;   /* the environment variable that names the store */
	bool ran;
	char why[600];
	char prefix[128];
	double prefill_s;
	struct pairs_out pt[2];
	struct conc_out ct;
};

enum gstate { G_NA, G_MET, G_MISSED };

struct goal {
	char name[128], target[64], measured[256], verdict[96];
	enum gstate state;
};

/* ---- one run -------------------------------------------------------------------------- */

struct bench {
	struct params p;
	char build[PATH_MAX], tmp[PATH_MAX], build_tmp[PATH_MAX], ctl[PATH_MAX + 64];
	const char *commit, *hf_path, *peer_ver;
	struct execenv env;
	struct plug nop, bip, hl;
	bool have_hl, have_ctl;
	double t_start;
	time_t wall_start;
	json_t *root, *rows, *load;
	FILE *md;
	char *md_buf;
	size_t md_len;
	char loadbuf[64];
	struct goal goals[32];
	size_t ngoals;

	struct row_floor floor;
	struct row_pairs pairs;
	struct row_conc conc;
	struct row_burst burst;
	struct row_scale scale;
	struct etcd_row e6, e6b;
	json_t *lib;   /* row 7: bench_lib's JSON (owned by rows) */
	json_t *claim; /* row 8: bench_claim's JSON (owned by rows) */
};

char *mkdir_tmp(const struct bench *b, const char *what);
char *new_bip_store(const struct bench *b, const char *what, char **dir);

/* ---- report (report.c) ---------------------------------------------------------------- */

json_t *jr(double x, int decimals);
json_t *stats_json(const struct stats *st, const struct samples *s);
void jemit(FILE *f, json_t *j, int ind);
struct goal *goal_add(struct bench *b, const char *name, const char *target);
void goal_judge(struct goal *g, double value, double limit, bool upper);
void goal_measured(struct goal *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void goal_na(struct goal *g, const char *why);
void goal_missed(struct goal *g, const char *verdict);
json_t *goals_json(const struct bench *b);
void md(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *fms(char *buf, double ms);
const char *fcount(char *buf, double v);
void read_field(const char *file, const char *key, char *out, size_t n);
const char *row_load(struct bench *b, const char *row);
void md_header(struct bench *b, const char *date, const char *cpu, const char *os, const char *mem,
	       const char *release, const char *machine, long nproc);
void md_intro(struct bench *b, double total_s);
void md_goals(struct bench *b);
void md_load(struct bench *b);

/* ---- the rows: run measures (0, or the run stops), report writes its section --------- */

int run_row_floor(struct bench *b);
int run_row_pairs(struct bench *b);
int run_row_conc(struct bench *b);
int run_row_burst(struct bench *b);
int run_row_scale(struct bench *b);
int run_row_etcd(struct bench *b);
int run_row_etcd3(struct bench *b);
int run_row_lib(struct bench *b);
int run_row_claim(struct bench *b);
void report_row_floor(struct bench *b);
void report_row_pairs(struct bench *b);
void report_row_conc(struct bench *b);
void report_row_burst(struct bench *b);
void report_row_scale(struct bench *b);
void report_row_etcd(struct bench *b);
void report_row_etcd3(struct bench *b);
void report_row_lib(struct bench *b);
void report_row_claim(struct bench *b);
void goals_claim(struct bench *b); /* row 8's goals, from write_goals */
void write_goals(struct bench *b);

#endif
