/*
 * ipam check [--repair]: the library's consistency check, as a readable report or a JSON/YAML one.
 * For each problem about an address the report also records the handle that holds it now, so that
 * "ipam release --from-report" can release exactly that (and nothing re-allocated since).
 */
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "output.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "ipam check", "[--repair] [-o json|yaml]",
    "Check that blocks, handles and affinities agree: every allocated address has its handle,\n"
    "every handle's addresses are in their blocks, every block is in a pool and has at most\n"
    "one owner, no affinity is left pending or points at a missing block. -o json (or yaml)\n"
    "writes a machine-readable report, which 'ipam release --from-report' takes.\n"
    "Exit status 3 when problems were found (and --repair did not fix them all).\n"
    "\n"
    "Options:\n"
    "  --repair          fix what is safe to fix (each fix conditioned on the record not\n"
    "                    having changed since the check read it)\n"};

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
			 bip_store_addr_default(ctl.store), "repair", repair, "examined", "blocks",
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

int ipam_check_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"repair", no_argument, NULL, 'r'}, CTL_LONGOPTS};
	struct ctl_session s = {0};
	struct bip_check_report r = {0};
	bool repair = false;
	json_t *report = NULL;
	size_t repaired = 0;
	int ret = CTL_EXIT_ERR, c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0)
		if (c == 'r')
			repair = true;
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (ctl_open(&s, !repair) != CTL_EXIT_OK)
		goto out;
	if ((rc = bip_ipam_check(s.ipam, repair, &r)) != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "the check could not complete");
		goto out;
	}
	for (size_t i = 0; i < r.n; i++)
		repaired += r.v[i].repaired;
	if (!ctl_tabular()) {
		if (!(report = report_json(&s, &r, repair))) {
			ctl_err("out of memory");
			goto out;
		}
		if (ctl_print(report) != CTL_EXIT_OK)
			goto out;
	} else if (print_readable(&r, repaired) != BIP_OK) {
		ctl_err("out of memory");
		goto out;
	}
	ret = repaired < r.n ? CTL_EXIT_PROBLEMS : CTL_EXIT_OK;
out:
	json_decref(report);
	bip_check_report_free(&r);
	ctl_close(&s);
	return ret;
}
