/*
 * cnibench: the benchmark behind `make bench` (issue #8). It execs CNI plugins exactly as a
 * runtime does: posix_spawn of the binary (no shell), an explicit environment (CNI_COMMAND,
 * CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH, CNI_ARGS as containerd sets it), the network
 * configuration written to a pipe on its stdin, its stdout read to the end, then wait4. Each
 * call is timed with CLOCK_MONOTONIC from just before the spawn to just after the wait; wait4's
 * rusage gives each child's peak memory.
 *
 * Every comparison runs the peer (/usr/lib/cni/host-local) in the same run, right next to the
 * blockipam measurement it is compared with, and the report gives absolute numbers and ratios.
 *
 * Rows (see bench/RESULTS.md): 1 floor, 2 ADD/DEL at 0 / 5,000 / 50,000 held, 3 concurrency,
 * 4 burst, 5 scale (5,000 nodes x 110 pods), 6 etcd (BIP_BENCH_ETCD=etcd://...; 6b the same
 * on three members, BIP_BENCH_ETCD3), 7 the in-process library benchmark (build/bench/bench_lib),
 * 8 block claims against store size (build/bench/bench_claim).
 *
 *   cnibench --build DIR --json FILE --md FILE [--commit TEXT] [--hyperfine-json FILE]
 *
 * Environment: BIP_BENCH_QUICK=1 shrinks every size (for trying the harness, not for results);
 * BIP_BENCH_ETCD=etcd://host:port runs row 6 and BIP_BENCH_ETCD3=etcd://h:p,h:p,h:p row 6b
 * (scripts/bench.sh starts both through tests/etcd-harness.sh when etcd is installed and
 * BIP_BENCH_ETCD is unset); BIP_BENCH_TMP=DIR holds the stores (default /tmp,
 * the same file system as /var/lib here); BIP_BENCH_BUILD_TMP=DIR is where the scale store is
 * built before it is copied there (default /dev/shm); BIP_BENCH_SCALE_WORKERS=N processes build
 * it (default 1: two contend on the write lock and were slower here); BIP_BENCH_PEER_VERSION
 * names the host-local package version.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cnibench.h"
#include "../../tests/util.h"

static const struct params full_params = {
    .floor_runs = 1000,
    .held = {0, 5000, 50000},
    .pairs_max = 300,
    .cell_budget_s = 15,
    .conc_ops = 2000,
    .conc_callers = {1, 8, 32},
    .burst_pods = 110,
    .burst_reps = 5,
    .scale_nodes = 5000,
    .scale_pods = 110,
    .scale_workers = 1,
    .lib_n = 100000,
    .lib_total = 500000,
    .claim_blocks = 10000,
    .etcd_held = 5000,
    .new_nodes = 20,
};

static void quick_params(struct params *p)
{
	p->quick = true;
	p->floor_runs = 200;
	p->held[1] = 500;
	p->held[2] = 2000;
	p->pairs_max = 60;
	p->cell_budget_s = 3;
	p->conc_ops = 200;
	p->burst_reps = 2;
	p->scale_nodes = 100;
	p->lib_n = 5000;
	p->lib_total = 10000;
	p->claim_blocks = 1000;
	p->etcd_held = 500;
	p->new_nodes = 5;
}

/* What a row needs to run at all (a row that can run without its peer says so itself). */
enum row_needs { NEEDS_NOTHING, NEEDS_ETCD3 };

struct row {
	const char *name;
	int (*run)(struct bench *b);	 /* measure; non-zero stops the whole run */
	void (*report)(struct bench *b); /* its section of RESULTS.md */
	enum row_needs needs;
};

/* In the order they run and are reported; the goals follow all of them. */
static const struct row rows[] = {
    {"1 floor", run_row_floor, report_row_floor, NEEDS_NOTHING},
    {"2 add/del", run_row_pairs, report_row_pairs, NEEDS_NOTHING},
    {"3 concurrency", run_row_conc, report_row_conc, NEEDS_NOTHING},
    {"4 burst", run_row_burst, report_row_burst, NEEDS_NOTHING},
    {"5 scale", run_row_scale, report_row_scale, NEEDS_NOTHING},
    {"6 etcd", run_row_etcd, report_row_etcd, NEEDS_NOTHING},
    {"6b etcd3", run_row_etcd3, report_row_etcd3, NEEDS_ETCD3},
    {"7 library", run_row_lib, report_row_lib, NEEDS_NOTHING},
    {"8 claims", run_row_claim, report_row_claim, NEEDS_NOTHING},
};

static bool row_can_run(const struct bench *b, const struct row *r)
{
	switch (r->needs) {
	case NEEDS_ETCD3:
		return b->e6b.store && *b->e6b.store;
	case NEEDS_NOTHING:
		break;
	}
	return true;
}

/* ---- parse ------------------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr, "usage: cnibench --build DIR --json FILE --md FILE [--commit TEXT] "
			"[--hyperfine-json FILE]\n");
	exit(2);
}

static int parse_args(struct bench *b, int argc, char **argv, const char **json_path,
		      const char **md_path)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		if (strcmp(a, "--build") == 0) {
			if (!realpath(v, b->build)) {
				note("build dir %s: %s", v, strerror(errno));
				return 1;
			}
		} else if (strcmp(a, "--json") == 0) {
			*json_path = v;
		} else if (strcmp(a, "--md") == 0) {
			*md_path = v;
		} else if (strcmp(a, "--commit") == 0) {
			b->commit = v;
		} else if (strcmp(a, "--hyperfine-json") == 0) {
			b->hf_path = v;
		} else {
			usage();
		}
		i++;
	}
	if (!b->build[0] || !*json_path || !*md_path)
		usage();
	return 0;
}

/* The sizes and directories the environment chooses (the file's header lists them). */
static void read_env(struct bench *b)
{
	const char *q = getenv("BIP_BENCH_QUICK"), *tmp = getenv("BIP_BENCH_TMP");
	const char *build_tmp = getenv("BIP_BENCH_BUILD_TMP");

	b->p = full_params;
	if (q && strcmp(q, "0") != 0)
		quick_params(&b->p);
	if (getenv("BIP_BENCH_SCALE_WORKERS"))
		b->p.scale_workers = atoi(getenv("BIP_BENCH_SCALE_WORKERS"));
	if (b->p.scale_workers < 1)
		b->p.scale_workers = 1;
	snprintf(b->tmp, sizeof(b->tmp), "%s", tmp ? tmp : "/tmp");
	snprintf(b->env.cni_path, sizeof(b->env.cni_path), "CNI_PATH=/usr/lib/cni:%s", b->build);
	if (build_tmp)
		snprintf(b->build_tmp, sizeof(b->build_tmp), "%s", build_tmp);
	else
		snprintf(b->build_tmp, sizeof(b->build_tmp), "%s",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : b->tmp);
	b->peer_ver = getenv("BIP_BENCH_PEER_VERSION");
	b->e6 = (struct etcd_row){
	    .store = getenv("BIP_BENCH_ETCD"), .key = "6_etcd", .var = "BIP_BENCH_ETCD"};
	b->e6b = (struct etcd_row){
	    .store = getenv("BIP_BENCH_ETCD3"), .key = "6b_etcd3", .var = "BIP_BENCH_ETCD3"};
}

/* The binaries it execs, the output buffers; the machine into results.json and RESULTS.md. */
static int setup(struct bench *b)
{
	b->nop = (struct plug){.label = "floor", .env = &b->env};
	b->bip = (struct plug){.label = "blockipam", .env = &b->env};
	b->hl = (struct plug){.label = "host-local", .env = &b->env};
	signal(SIGPIPE, SIG_IGN);
	b->env.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	b->md = open_memstream(&b->md_buf, &b->md_len);
	b->root = json_object();
	b->rows = json_object();
	if (b->env.devnull < 0 || !b->md)
		return 1;
	snprintf(b->nop.path, sizeof(b->nop.path), "%s/bench/nop", b->build);
	snprintf(b->bip.path, sizeof(b->bip.path), "%s/blockipam", b->build);
	snprintf(b->hl.path, sizeof(b->hl.path), HOST_LOCAL);
	snprintf(b->ctl, sizeof(b->ctl), "%s/blockipamctl", b->build);
	if (!is_exec(b->nop.path) || !is_exec(b->bip.path)) {
		note("%s and %s must be built (make bench)", b->nop.path, b->bip.path);
		return 1;
	}
	b->have_hl = is_exec(b->hl.path);
	b->have_ctl = is_exec(b->ctl);
	if (!b->have_hl)
		note("%s is missing (scripts/deps.sh bench installs it): its cells are n/a",
		     HOST_LOCAL);
	return 0;
}

static void machine(struct bench *b)
{
	struct utsname un;
	char cpu[256], os[256], mem[64], date[64];
	long nproc = sysconf(_SC_NPROCESSORS_ONLN);
	json_t *m = json_object();

	uname(&un);
	read_field("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
	read_field("/etc/os-release", "PRETTY_NAME", os, sizeof(os));
	read_field("/proc/meminfo", "MemTotal", mem, sizeof(mem));
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&b->wall_start));
	json_object_set_new(m, "nproc", json_integer(nproc));
	json_object_set_new(m, "cpu", json_string(cpu));
	json_object_set_new(m, "kernel", json_string(un.release));
	json_object_set_new(m, "arch", json_string(un.machine));
	json_object_set_new(m, "os", json_string(os));
	json_object_set_new(m, "mem_total", json_string(mem));
	json_object_set_new(m, "store_dir", json_string(b->tmp));
	json_object_set_new(b->root, "machine", m);
	json_object_set_new(b->root, "date", json_string(date));
	json_object_set_new(b->root, "commit", json_string(b->commit));
	json_object_set_new(b->root, "quick", json_boolean(b->p.quick));
	json_object_set_new(b->root, "host_local",
			    json_string(b->have_hl ? HOST_LOCAL : "missing"));
	json_object_set_new(b->root, "host_local_version",
			    json_string(b->peer_ver ? b->peer_ver : "unknown"));
	md_header(b, date, cpu, os, mem, un.release, un.machine, nproc);
}

/* ---- report ----------------------------------------------------------------------------- */

static json_t *params_json(const struct params *p)
{
	return json_pack("{s:I,s:[I,I,I],s:I,s:f,s:I,s:[I,I,I],s:I,s:I,s:i,s:i,s:i,s:I,s:I}",
			 "floor_runs", (json_int_t)p->floor_runs, "held", (json_int_t)p->held[0],
			 (json_int_t)p->held[1], (json_int_t)p->held[2], "pairs_max",
			 (json_int_t)p->pairs_max, "cell_budget_s", p->cell_budget_s, "conc_adds",
			 (json_int_t)p->conc_ops, "conc_callers", (json_int_t)p->conc_callers[0],
			 (json_int_t)p->conc_callers[1], (json_int_t)p->conc_callers[2],
			 "burst_pods", (json_int_t)p->burst_pods, "burst_runs",
			 (json_int_t)p->burst_reps, "scale_nodes", p->scale_nodes, "scale_pods",
			 p->scale_pods, "scale_processes", p->scale_workers, "lib_n",
			 (json_int_t)p->lib_n, "lib_total", (json_int_t)p->lib_total);
}

static int write_files(struct bench *b, const char *md_path, const char *json_path)
{
	FILE *f;

	fclose(b->md);
	b->md = NULL;
	f = fopen(md_path, "w");
	if (!f || fwrite(b->md_buf, 1, b->md_len, f) != b->md_len || fclose(f) != 0) {
		note("cannot write %s", md_path);
		return 1;
	}
	f = fopen(json_path, "w");
	if (!f) {
		note("cannot write %s", json_path);
		return 1;
	}
	jemit(f, b->root, 0);
	fputc('\n', f);
	return fclose(f) != 0;
}

static void bench_free(struct bench *b)
{
	for (int k = 0; k < 3; k++) {
		pairs_free(&b->pairs.pb[k]);
		pairs_free(&b->pairs.ph[k]);
		samples_free(&b->conc.cb[k].s);
		samples_free(&b->conc.ch[k].s);
	}
	if (b->pairs.bdir)
		t_rmdir(b->pairs.bdir);
	if (b->pairs.hdir)
		t_rmdir(b->pairs.hdir);
	json_decref(b->root);
	free(b->md_buf);
}

int main(int argc, char **argv)
{
	static struct bench bench = {.commit = "unknown"};
	struct bench *b = &bench;
	const char *json_path = NULL, *md_path = NULL;
	bool ran[sizeof(rows) / sizeof(rows[0])] = {false};
	double total_s;

	b->t_start = now_s();
	b->wall_start = time(NULL);
	if (parse_args(b, argc, argv, &json_path, &md_path) != 0)
		return 1;
	read_env(b);
	if (setup(b) != 0)
		return 1;
	machine(b);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (!row_can_run(b, &rows[i]))
			continue;
		if (rows[i].run(b) != 0)
			return 1;
		ran[i] = true;
	}
	row_load(b, "end");
	json_object_set_new(b->root, "loadavg", b->load);
	write_goals(b);
	total_s = now_s() - b->t_start;
	md_intro(b, total_s);
	md_goals(b);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (ran[i])
			rows[i].report(b);
	md_load(b);
	json_object_set_new(b->root, "run_s", jr(total_s, 1));
	json_object_set_new(b->root, "params", params_json(&b->p));
	json_object_set_new(b->root, "rows", b->rows);
	if (write_files(b, md_path, json_path) != 0)
		return 1;
	note("wrote %s and %s in %.0f s", md_path, json_path, total_s);
	bench_free(b);
	return 0;
}
