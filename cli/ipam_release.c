/*
 * ipam release: one address (optionally only while a given handle holds it), everything a handle
 * holds, what a check report found (each problem acted on only if its record is as the report
 * saw it), or the blocks that have been empty long enough.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "manifest.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "ipam release",
    "--ip ADDR [--handle ID | --force] | --handle ID | --from-report FILE [--dry-run]\n"
    "       | --empty-blocks [--older-than SECONDS] [--dry-run]",
    "Release addresses.\n"
    "\n"
    "Options:\n"
    "  --ip ADDR           release this address; with --handle, only while ID holds it.\n"
    "                      An address whose holder has a handle record (a pod that may be\n"
    "                      running) is refused, naming the holder, unless --handle names it\n"
    "                      or --force is given\n"
    "  --force             with --ip: release it whoever holds it\n"
    "  --handle ID         alone: release everything handle ID holds\n"
    "  --from-report FILE  act on every problem of an 'ipam check -o json' report that is\n"
    "                      still there, its record unchanged since: release leaked addresses\n"
    "                      (held by a handle whose record does not list them), drop dangling\n"
    "                      handle entries (a handle left with none goes), delete stray and\n"
    "                      pending affinities and empty blocks outside every pool; name what\n"
    "                      has no safe repair (corrupt records, overlapping blocks)\n"
    "  --empty-blocks      give every block that has been empty for emptyBlockReleaseSeconds\n"
    "                      (or --older-than) back to its pool, whichever node owns it: its\n"
    "                      affinity goes and its record is deleted, each conditioned on the\n"
    "                      block being as read (one that took an address meanwhile stays)\n"
    "  --older-than SECS   with --empty-blocks: this age instead of emptyBlockReleaseSeconds\n"
    "  --dry-run           with --from-report or --empty-blocks: say what would be released\n"};

/* --empty-blocks: the library's bip_ipam_release_empty_blocks, or what it would release. */
static int empty_blocks(struct ctl_session *s, long older_than, bool dry_run)
{
	struct bip_block_info *v = NULL;
	struct bip_config cfg;
	size_t n = 0, deleted = 0;
	int64_t now = (int64_t)time(NULL);
	int rc;

	if (older_than < 0) {
		if ((rc = bip_ipam_config_get(s->ipam, &cfg)) != BIP_OK) {
			ctl_lib_err(s->ipam, rc, "cannot read the IPAM configuration");
			return CTL_EXIT_ERR;
		}
		if (!cfg.empty_block_release_s) {
			ctl_err(
			    "emptyBlockReleaseSeconds is 0 (never): give --older-than SECONDS to "
			    "release empty blocks anyway");
			return CTL_EXIT_ERR;
		}
		older_than = cfg.empty_block_release_s;
	}
	if (!dry_run) {
		if ((rc = bip_ipam_release_empty_blocks(s->ipam, (unsigned)older_than, &deleted)) !=
		    BIP_OK) {
			ctl_lib_err(s->ipam, rc, "cannot release the empty blocks");
			return CTL_EXIT_ERR;
		}
		printf("%zu empty blocks released (empty for %lds or more)\n", deleted, older_than);
		return CTL_EXIT_OK;
	}
	if ((rc = bip_ipam_block_list(s->ipam, &v, &n)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot list the blocks");
		return CTL_EXIT_ERR;
	}
	for (size_t i = 0; i < n; i++) {
		char cidr[BIP_PREFIX_STRLEN];

		if (v[i].used || !v[i].pool || !v[i].empty_since ||
		    now - v[i].empty_since < older_than)
			continue;
		printf("would release %s (node %s, empty for %llds)\n",
		       bip_prefix_fmt(v[i].cidr, cidr), v[i].node ? v[i].node : "(none)",
		       (long long)(now - v[i].empty_since));
		deleted++;
	}
	printf("%zu empty blocks would be released (empty for %lds or more)\n", deleted,
	       older_than);
	bip_block_infos_free(v, n);
	return CTL_EXIT_OK;
}

/* The report's problem that is p (same kind, record and subject), or NULL. */
static const json_t *in_report(const json_t *problems, const struct bip_problem *p)
{
	const json_t *rp;
	size_t i;

	json_array_foreach(problems, i, rp)
	{
		const char *kind = json_string_value(json_object_get(rp, "kind"));
		const char *key = json_string_value(json_object_get(rp, "key"));
		const char *subject = json_string_value(json_object_get(rp, "subject"));

		if (kind && key && subject && strcmp(kind, bip_problem_name(p->kind)) == 0 &&
		    strcmp(key, p->key) == 0 && strcmp(subject, p->subject) == 0)
			return rp;
	}
	return NULL;
}

/* The problem of a fresh check that is rp, or NULL. */
static const struct bip_problem *in_check(const struct bip_check_report *r, const json_t *rp)
{
	const char *kind = json_string_value(json_object_get(rp, "kind"));
	const char *key = json_string_value(json_object_get(rp, "key"));
	const char *subject = json_string_value(json_object_get(rp, "subject"));

	for (size_t i = 0; kind && key && subject && i < r->n; i++)
		if (strcmp(kind, bip_problem_name(r->v[i].kind)) == 0 &&
		    strcmp(key, r->v[i].key) == 0 && strcmp(subject, r->v[i].subject) == 0)
			return &r->v[i];
	return NULL;
}

static bool unchanged(const json_t *rp, const struct bip_problem *p)
{
	const json_t *rev = json_object_get(rp, "revision");

	return json_is_integer(rev) && json_integer_value(rev) == p->rev &&
	       !json_is_true(json_object_get(rp, "repaired"));
}

/* For the library's repair: a problem the report saw, unchanged since. Leaked addresses are
 * released, not adopted into their handle records, so a record that still has one waits. */
static bool want_unchanged(void *ctx, const struct bip_problem *p)
{
	const json_t *rp = in_report(ctx, p);

	return p->kind != BIP_PROB_ADDR_NO_HANDLE && rp && unchanged(rp, p);
}

/*
 * --from-report: act on every problem of an "ipam check -o json" report that is still there
 * with its record unchanged (the same revision): a leaked address (held in its block by a handle
 * whose record does not list it) is released; a dangling handle entry, a stray or pending
 * affinity, an empty block outside every pool are repaired as "ipam check --repair" would, each
 * conditioned on the record being as the report saw it. A corrupt record and overlapping blocks
 * have no safe repair: they are named, with what to look at. Whatever changed or went since the
 * report is skipped, saying so.
 */
/* What --from-report did, problem by problem. */
struct tally {
	size_t released, repaired, skipped, failed;
	size_t todo; /* repairs other than releases, collected in pending */
};

/* Read the report in file: a version 2 "ipam check -o json" document. *docs holds *problems. */
static int read_report(const char *file, json_t **docs, json_t **problems)
{
	const char *fname = strcmp(file, "-") == 0 ? "stdin" : file;
	char *buf = NULL, err[512];
	json_t *doc;
	size_t len;
	int ret = CTL_EXIT_ERR;

	if (ctl_read_file(file, &buf, &len) != CTL_EXIT_OK)
		goto out;
	if (bip_manifest_parse(buf, len, docs, err, sizeof(err)) != BIP_OK) {
		ctl_err("%s: %s", fname, err);
		goto out;
	}
	doc = json_array_get(*docs, 0);
	*problems = json_object_get(doc, "problems");
	if (json_array_size(*docs) != 1 || !json_is_array(*problems)) {
		ctl_err("%s: not an 'ipam check -o json' report (no list of problems)", fname);
		goto out;
	}
	if (json_integer_value(json_object_get(doc, "version")) < 2) {
		ctl_err("%s: a version 1 report carries no record revisions, so what changed since "
			"cannot be told: run 'ipam check -o json' again",
			fname);
		goto out;
	}
	ret = CTL_EXIT_OK;
out:
	free(buf);
	return ret;
}

/* A leaked address: release it, only while the handle it was leaked by holds it. */
static void release_leak(struct ctl_session *s, const struct bip_problem *q, const char *subject,
			 bool dry_run, struct tally *t)
{
	const char *handle = q->key + strlen("handles/");
	struct bip_addr addr;
	int rc;

	if (bip_addr_parse(subject, &addr) != BIP_OK)
		return;
	if (dry_run) {
		printf("would release %s (handle %s)\n", subject, handle);
		t->released++;
		return;
	}
	rc = bip_ipam_release_addr(s->ipam, addr, handle);
	if (rc == BIP_OK) {
		printf("released %s (handle %s)\n", subject, handle);
		t->released++;
	} else if (rc == BIP_EOWNER || rc == BIP_ENOTFOUND) {
		printf("skipped %s: %s since the report\n", subject,
		       rc == BIP_EOWNER ? "another handle holds it" : "it was released");
		t->skipped++;
	} else {
		ctl_lib_err(s->ipam, rc, "cannot release %s", subject);
		t->failed++;
	}
}

/* One problem p of the report, against the check of now: skip it, release it, or add it to
 * pending for the repair. */
static void on_problem(struct ctl_session *s, const struct bip_check_report *now, json_t *p,
		       bool dry_run, json_t *pending, struct tally *t)
{
	const char *kind = json_string_value(json_object_get(p, "kind"));
	const char *subject = json_string_value(json_object_get(p, "subject"));
	const struct bip_problem *q = in_check(now, p);

	if (!kind || !subject || json_is_true(json_object_get(p, "repaired")))
		return;
	if (!q || !unchanged(p, q)) {
		printf("skipped %s %s: %s since the report\n", kind, subject,
		       q ? "its record changed" : "gone");
		t->skipped++;
	} else if (!q->fixable) {
		printf("skipped %s %s: no safe repair (%s): look at %s\n", kind, subject, q->detail,
		       q->key);
		t->skipped++;
	} else if (q->kind != BIP_PROB_ADDR_NO_HANDLE) {
		t->todo++;
		json_array_append(pending, p);
		if (dry_run)
			printf("would repair %s %s\n", kind, subject);
	} else {
		release_leak(s, q, subject, dry_run, t);
	}
}

/* Repair the problems in pending, each only while its record is as the report saw it. */
static void repair_pending(struct ctl_session *s, json_t *pending, struct bip_check_report *after,
			   struct tally *t)
{
	size_t i;
	json_t *p;
	int rc;

	if ((rc = bip_ipam_check_repair_if(s->ipam, want_unchanged, pending, after)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot repair");
		t->failed += t->todo;
		return;
	}
	json_array_foreach(pending, i, p)
	{
		const char *kind = json_string_value(json_object_get(p, "kind"));
		const char *subject = json_string_value(json_object_get(p, "subject"));
		const struct bip_problem *q = in_check(after, p);

		if (!q) { /* repaired along with another problem of its record */
			printf("repaired %s %s\n", kind, subject);
			t->repaired++;
		} else if (q->repaired) {
			printf("repaired %s %s\n", kind, subject);
			t->repaired++;
		} else {
			printf("skipped %s %s: its record changed, or has a "
			       "problem the report did not list\n",
			       kind, subject);
			t->skipped++;
		}
	}
}

static int from_report(struct ctl_session *s, const char *file, bool dry_run)
{
	struct bip_check_report now = {0}, after = {0};
	json_t *docs = NULL, *problems = NULL, *p, *pending = NULL;
	struct tally t = {0};
	int ret = CTL_EXIT_ERR, rc;
	size_t i;

	if (read_report(file, &docs, &problems) != CTL_EXIT_OK)
		goto out;
	if (!(pending = json_array())) {
		ctl_err("out of memory");
		goto out;
	}
	if ((rc = bip_ipam_check(s->ipam, false, &now)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot check the store");
		goto out;
	}
	json_array_foreach(problems, i, p) on_problem(s, &now, p, dry_run, pending, &t);
	if (t.todo && !dry_run)
		repair_pending(s, pending, &after, &t);
	if (dry_run)
		printf("%zu would be released, %zu repaired, %zu skipped\n", t.released, t.todo,
		       t.skipped);
	else
		printf("%zu released, %zu repaired, %zu skipped, %zu failed\n", t.released,
		       t.repaired, t.skipped, t.failed);
	ret = t.failed ? CTL_EXIT_ERR : CTL_EXIT_OK;
out:
	bip_check_report_free(&now);
	bip_check_report_free(&after);
	json_decref(pending);
	json_decref(docs);
	return ret;
}

/*
 * --ip without --handle or --force: an address whose handle has its record is a pod's, which
 * may be running; releasing one of its addresses half-releases it and lets the address go to
 * another pod. Refused, naming the holder. An address without a handle record (a leak) goes.
 */
static int refuse_held(struct ctl_session *s, struct bip_addr addr, const char *ip)
{
	struct bip_addr_info ai = {0};
	struct bip_handle_info h = {0};
	int rc = bip_ipam_addr_info(s->ipam, addr, &ai), ret = CTL_EXIT_OK;

	if (rc == BIP_OK && ai.holder.id &&
	    bip_ipam_handle_get(s->ipam, ai.holder.id, &h) == BIP_OK) {
		char who[BIP_ATTR_MAX * 2 + 2] = "";

		if (h.pod)
			snprintf(who, sizeof(who), "%s%s%s ", h.namespace ? h.namespace : "",
				 h.namespace ? "/" : "", h.pod);
		ctl_err("%s is held by %s(handle '%s', node %s, %zu address%s): releasing it would "
			"leave that pod half-released and give the address to another pod while it "
			"may still use it. Once the pod is gone release all it holds with 'ipam "
			"release --handle %s'; or release this address anyway with --handle %s or "
			"--force; nothing was released",
			ip, who, h.id, h.node ? h.node : "?", h.naddrs, h.naddrs == 1 ? "" : "es",
			h.id, h.id);
		ret = CTL_EXIT_ERR;
	}
	bip_handle_info_clear(&h);
	bip_addr_info_clear(&ai);
	return ret;
}

/* What the command line asks for. */
struct release_args {
	const char *ip, *handle, *report;
	struct bip_addr addr; /* ip parsed */
	bool dry_run, empty, force;
	long older_than; /* -1: not given */
};

/* CTL_CONTINUE with a filled in and checked, or the exit status. */
static int parse_args(int argc, char **argv, struct release_args *a)
{
	static const struct option longopts[] = {{"ip", required_argument, NULL, 'i'},
						 {"handle", required_argument, NULL, 'H'},
						 {"from-report", required_argument, NULL, 'r'},
						 {"dry-run", no_argument, NULL, 'n'},
						 {"empty-blocks", no_argument, NULL, 'E'},
						 {"older-than", required_argument, NULL, 'O'},
						 {"force", no_argument, NULL, 'F'},
						 CTL_LONGOPTS};
	unsigned long ul;
	int c, rc;

	a->older_than = -1;
	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		if (c == 'i')
			a->ip = optarg;
		else if (c == 'H')
			a->handle = optarg;
		else if (c == 'r')
			a->report = optarg;
		else if (c == 'n')
			a->dry_run = true;
		else if (c == 'E')
			a->empty = true;
		else if (c == 'O') {
			if (ctl_parse_uint(optarg, 365 * 86400, &ul) != BIP_OK)
				return ctl_usage_err(&usage,
						     "invalid value '%s' for --older-than (want "
						     "seconds, 0 to 31536000)",
						     optarg);
			a->older_than = (long)ul;
		} else if (c == 'F')
			a->force = true;
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE)
		return rc;
	if (a->older_than >= 0 && !a->empty)
		return ctl_usage_err(&usage, "--older-than goes with --empty-blocks");
	if (a->empty	? a->ip || a->handle || a->report
	    : a->report ? a->ip || a->handle
			: !a->ip && !a->handle)
		return ctl_usage_err(&usage, "give --ip ADDR [--handle ID], --handle ID, "
					     "--from-report FILE, or --empty-blocks");
	if (a->dry_run && !a->report && !a->empty)
		return ctl_usage_err(&usage, "--dry-run goes with --from-report or --empty-blocks");
	if (a->force && (!a->ip || a->handle))
		return ctl_usage_err(&usage, "--force goes with --ip (without --handle)");
	if (a->ip && bip_addr_parse(a->ip, &a->addr) != BIP_OK)
		return ctl_usage_err(&usage, "invalid address '%s'", a->ip);
	return CTL_CONTINUE;
}

/* --ip [--handle | --force], or --handle alone. */
static int release(struct ctl_session *s, const struct release_args *a)
{
	int rc;

	if (a->ip) {
		if (!a->handle && !a->force && refuse_held(s, a->addr, a->ip) != CTL_EXIT_OK)
			return CTL_EXIT_ERR;
		rc = bip_ipam_release_addr(s->ipam, a->addr, a->handle);
		if (rc == BIP_ENOTFOUND)
			ctl_err("%s is not assigned", a->ip);
		else if (rc == BIP_EOWNER)
			ctl_err("%s is not held by handle '%s'; nothing was released", a->ip,
				a->handle);
		else if (rc != BIP_OK)
			ctl_lib_err(s->ipam, rc, "cannot release %s", a->ip);
		else
			printf("released %s\n", a->ip);
	} else {
		rc = bip_ipam_release_handle(s->ipam, a->handle);
		if (rc == BIP_ENOTFOUND)
			ctl_err("handle '%s' holds no addresses", a->handle);
		else if (rc != BIP_OK)
			ctl_lib_err(s->ipam, rc, "cannot release handle '%s'", a->handle);
		else
			printf("released handle %s\n", a->handle);
	}
	return rc == BIP_OK ? CTL_EXIT_OK : CTL_EXIT_ERR;
}

int ipam_release_main(int argc, char **argv)
{
	struct release_args a = {0};
	struct ctl_session s = {0};
	int ret = CTL_EXIT_ERR, rc;

	if ((rc = parse_args(argc, argv, &a)) != CTL_CONTINUE)
		ret = rc;
	else if (ctl_open(&s, a.dry_run) != CTL_EXIT_OK)
		ret = CTL_EXIT_ERR;
	else if (a.report)
		ret = from_report(&s, a.report, a.dry_run);
	else if (a.empty)
		ret = empty_blocks(&s, a.older_than, a.dry_run);
	else
		ret = release(&s, &a);
	ctl_close(&s);
	return ret;
}
