/*
 * ipam check [--repair]: the library's consistency check, as a readable report or a JSON/YAML one.
 * For each problem about an address the report also records the handle that holds it now, so that
 * "ipam release --from-report" can release exactly that (and nothing re-allocated since).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allocs.h"
#include "ctl.h"
#include "output.h"
#include "progress.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "ipam check", "[--repair] [--show-all-ips | --show-problem-ips] [--report FILE] [-o FMT]",
    "Check that blocks, handles and affinities agree: every allocated address has its handle,\n"
    "every handle's addresses are in their blocks, every block is in a pool and has at most\n"
    "one owner, no affinity is left pending or points at a missing block. -o json (or yaml)\n"
    "writes a machine-readable report, which 'ipam release --from-report' takes.\n"
    "Exit status 3 when problems were found (and --repair did not fix them all).\n"
    "\n"
    "Options:\n"
    "  --repair            fix what is safe to fix (each fix conditioned on the record not\n"
    "                      having changed since the check read it)\n"
    "  --show-all-ips      also list every allocated address, with its problem if any\n"
    "  --show-problem-ips  also list the addresses that have a problem\n"
    "  --report FILE       also write the JSON report to FILE (calicoctl's 'ipam check -o\n"
    "                      FILE': here -o is the output format); 'ipam release\n"
    "                      --from-report FILE' takes it. '-o json > FILE' works too.\n"};

/* calicoctl habit: "-o report.json" names a file. Here -o is the format; say what to use. */
static int calicoctl_o(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *v = NULL;

		if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) &&
		    i + 1 < argc)
			v = argv[i + 1];
		else if (strncmp(argv[i], "--output=", 9) == 0)
			v = argv[i] + 9;
		else if (strncmp(argv[i], "-o", 2) == 0 && argv[i][2])
			v = argv[i] + 2;
		if (v && (strchr(v, '.') || strchr(v, '/')))
			return ctl_usage_err(&usage,
					     "'-o %s' is a file name: -o is the output format "
					     "here; write the report with --report %s",
					     v, v);
	}
	return CTL_CONTINUE;
}

/* Mark the allocations that a problem names (v sorted by address); problem addresses that no
 * block gives out are added as rows of their own. */
static int mark_problems(const struct bip_check_report *r, struct ctl_alloc **v, size_t *n)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct bip_problem *p = &r->v[i];
		struct bip_addr addr;
		bool found = false;
		struct ctl_alloc *nv;

		if (!p->subject || bip_addr_parse(p->subject, &addr) != BIP_OK)
			continue;
		for (size_t k = 0; k < *n; k++) {
			if (bip_addr_eq((*v)[k].addr, addr)) {
				(*v)[k].problem = bip_problem_name(p->kind);
				found = true;
			}
		}
		if (found)
			continue;
		if (!(nv = realloc(*v, (*n + 1) * sizeof(*nv))))
			return BIP_ENOMEM;
		*v = nv;
		nv[*n] = (struct ctl_alloc){.addr = addr, .problem = bip_problem_name(p->kind)};
		nv[*n].block = (struct bip_prefix){addr, (uint8_t)bip_addr_bits(addr)};
		if (p->key && strncmp(p->key, "handles/", 8) == 0 &&
		    !(nv[*n].handle = strdup(p->key + 8)))
			return BIP_ENOMEM;
		(*n)++;
	}
	return BIP_OK;
}

/* Keep only the rows with a problem. */
static void only_problems(struct ctl_alloc *v, size_t *n)
{
	size_t k = 0;

	for (size_t i = 0; i < *n; i++) {
		if (v[i].problem) {
			v[k++] = v[i];
			continue;
		}
		free(v[i].handle);
		free(v[i].node);
		free(v[i].block_node);
		free(v[i].pool);
		free(v[i].namespace);
		free(v[i].pod);
		free(v[i].container);
		free(v[i].ifname);
	}
	*n = k;
}

/* The report as JSON; handles of address problems looked up now. */
static json_t *report_json(struct ctl_session *s, const struct bip_check_report *r, bool repair)
{
	char now[32];
	json_t *problems = json_array(), *o;
	size_t repaired = 0;

	for (size_t i = 0; problems && i < r->n; i++) {
		const struct bip_problem *p = &r->v[i];
		struct bip_addr addr;
		struct bip_addr_info ai = {0};

		o = json_pack("{s:s, s:s?, s:s?, s:s?, s:I, s:b, s:b}", "kind",
			      bip_problem_name(p->kind), "key", p->key, "subject", p->subject,
			      "detail", p->detail, "revision", (json_int_t)p->rev, "fixable",
			      p->fixable, "repaired", p->repaired);
		if (!o || json_array_append_new(problems, o) != 0) {
			json_decref(problems);
			return NULL;
		}
		repaired += p->repaired;
		if (!p->subject || bip_addr_parse(p->subject, &addr) != BIP_OK)
			continue;
		json_object_set_new(o, "address", json_string(p->subject));
		if (bip_ipam_addr_info(s->ipam, addr, &ai) == BIP_OK && ai.holder.id)
			json_object_set_new(o, "handle", json_string(ai.holder.id));
		bip_addr_info_clear(&ai);
	}
	if (!problems)
		return NULL;
	return json_pack("{s:s, s:i, s:s, s:s, s:b, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:o}", "kind",
			 "IPAMCheckReport", "version", 2, "time",
			 bip_fmt_time((int64_t)time(NULL), now, sizeof(now)), "store",
			 ctl_store_addr(), "repair", repair, "examined", "blocks",
			 (json_int_t)r->blocks, "handles", (json_int_t)r->handles, "affinities",
			 (json_int_t)r->affinities, "addresses", (json_int_t)r->addresses,
			 "problemCount", (json_int_t)r->n, "repairedCount", (json_int_t)repaired,
			 "problems", problems);
}

static int print_readable(const struct bip_check_report *r, size_t repaired)
{
	static const char *const headers[] = {"PROBLEM", "SUBJECT", "REPAIRED", "DETAIL"};
	struct bip_table t;

	printf("Checked %zu blocks, %zu handles, %zu affinities, %zu addresses.\n", r->blocks,
	       r->handles, r->affinities, r->addresses);
	if (!r->n) {
		printf("No problems found.\n");
		return BIP_OK;
	}
	if (bip_table_init(&t, 4, headers) != BIP_OK)
		return BIP_ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		const struct bip_problem *p = &r->v[i];
		const char *row[] = {bip_problem_name(p->kind), p->subject ? p->subject : p->key,
				     p->repaired ? "yes" : "no", p->detail};

		if (bip_table_add(&t, row) != BIP_OK) {
			bip_table_free(&t);
			return BIP_ENOMEM;
		}
	}
	bip_table_print(&t, stdout);
	bip_table_free(&t);
	printf("Found %zu problem%s (%zu repaired).\n", r->n, r->n == 1 ? "" : "s", repaired);
	return BIP_OK;
}

/* What the command line asks for. */
struct check_args {
	bool repair, show_all, show_problems;
	const char *report_file; /* --report, NULL if not given */
};

/* CTL_CONTINUE with a filled in, or the exit status. */
static int parse_args(int argc, char **argv, struct check_args *a)
{
	static const struct option longopts[] = {{"repair", no_argument, NULL, 'r'},
						 {"show-all-ips", no_argument, NULL, 'A'},
						 {"show-problem-ips", no_argument, NULL, 'P'},
						 {"report", required_argument, NULL, 'R'},
						 CTL_LONGOPTS};
	int c, rc;

	if ((rc = calicoctl_o(argc, argv)) != CTL_CONTINUE)
		return rc;
	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		if (c == 'r')
			a->repair = true;
		else if (c == 'A')
			a->show_all = true;
		else if (c == 'P')
			a->show_problems = true;
		else if (c == 'R')
			a->report_file = optarg;
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE)
		return rc;
	if (a->show_all && a->show_problems)
		return ctl_usage_err(&usage,
				     "--show-all-ips and --show-problem-ips exclude each other");
	if (a->report_file && !*a->report_file)
		return ctl_usage_err(&usage, "--report needs a file name");
	return CTL_CONTINUE;
}

/* --report FILE: the JSON report, indented, with a final newline. */
static int write_report(const char *file, const json_t *report)
{
	char *text = json_dumps(report, JSON_INDENT(2) | JSON_ENCODE_ANY), *nl = NULL;
	int w;

	if (!text || asprintf(&nl, "%s\n", text) < 0) {
		free(text);
		ctl_err("out of memory");
		return CTL_EXIT_ERR;
	}
	w = ctl_write_out(file, nl, strlen(nl));
	free(text);
	free(nl);
	return w;
}

/* The tabular output: the problems, then the addresses asked for. */
static int print_tables(const struct check_args *a, const struct bip_check_report *r,
			size_t repaired, const struct ctl_alloc *ips, size_t nips)
{
	bool show = a->show_all || a->show_problems;
	struct bip_table t = {0};

	if (print_readable(r, repaired) != BIP_OK ||
	    (show && ctl_allocs_table(ips, nips, ctl.output == CTL_OUT_WIDE, true, &t) != BIP_OK)) {
		bip_table_free(&t);
		ctl_err("out of memory");
		return CTL_EXIT_ERR;
	}
	if (show) {
		printf("\n%s (%zu):\n",
		       a->show_all ? "Allocated addresses" : "Addresses with problems", nips);
		if (nips)
			bip_table_print(&t, stdout);
	}
	bip_table_free(&t);
	if (a->report_file)
		printf("Report written to %s.\n", a->report_file);
	return CTL_EXIT_OK;
}

int ipam_check_main(int argc, char **argv)
{
	static const struct ctl_alloc_filter all = {0};
	struct check_args a = {0};
	struct ctl_session s = {0};
	struct bip_check_report r = {0};
	struct ctl_alloc *ips = NULL;
	size_t nips = 0, repaired = 0;
	struct ctl_progress *pr;
	json_t *report = NULL;
	bool show;
	int ret = CTL_EXIT_ERR, rc;

	if ((rc = parse_args(argc, argv, &a)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	show = a.show_all || a.show_problems;
	if (ctl_open(&s, !a.repair) != CTL_EXIT_OK)
		goto out;
	pr = ctl_progress_start(a.repair ? "checking and repairing the store"
					 : "checking the store");
	rc = bip_ipam_check(s.ipam, a.repair, &r);
	ctl_progress_stop(pr);
	if (rc != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "the check could not complete");
		goto out;
	}
	for (size_t i = 0; i < r.n; i++)
		repaired += r.v[i].repaired;
	if (show) {
		if (ctl_allocs_load(&s, &all, &ips, &nips) != BIP_OK)
			goto out;
		if (mark_problems(&r, &ips, &nips) != BIP_OK) {
			ctl_err("out of memory");
			goto out;
		}
		if (a.show_problems)
			only_problems(ips, &nips);
	}
	if (!ctl_tabular() || a.report_file) {
		json_t *addrs = NULL;

		if (!(report = report_json(&s, &r, a.repair)) ||
		    (show && (!(addrs = ctl_allocs_json(ips, nips, true)) ||
			      json_object_set_new(report, "addresses", addrs) != 0))) {
			ctl_err("out of memory");
			goto out;
		}
	}
	if (a.report_file && write_report(a.report_file, report) != CTL_EXIT_OK)
		goto out;
	if (!ctl_tabular() ? ctl_print(report) != CTL_EXIT_OK
			   : print_tables(&a, &r, repaired, ips, nips) != CTL_EXIT_OK)
		goto out;
	ret = repaired < r.n ? CTL_EXIT_PROBLEMS : CTL_EXIT_OK;
out:
	ctl_allocs_free(ips, nips);
	json_decref(report);
	bip_check_report_free(&r);
	ctl_close(&s);
	return ret;
}
