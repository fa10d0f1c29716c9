/*
 * apply -f FILE / create -f FILE: every document is converted and validated, then checked against
 * the store, and only then written, in file order. A bad document anywhere means nothing is
 * written.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "resource.h"
#include "subcommands.h"

static const struct ctl_usage apply_usage = {
    "apply", "-f FILE [--dry-run]",
    "Create or update the resources in FILE ('-' = stdin): YAML or JSON, one or many documents\n"
    "(YAML '---', a JSON array, or a List with items), in blockipam's form (apiVersion\n"
    "blockipam.io/v1: Pool, Reservation, IPAMConfig, Node, Namespace) or Calico's\n"
    "(projectcalico.org/v3: IPPool, IPReservation, IPAMConfiguration). Every document is\n"
    "validated, and checked against the store (pools never overlap; a pool's cidr and\n"
    "blockSize never change), before anything is written: one bad document, and nothing is.\n"
    "An IPPool's Calico fields (ipipMode, vxlanMode, natOutgoing, disableBGPExport,\n"
    "awsSubnetID) are checked by Calico's rules and kept for Calico's dataplane; a note\n"
    "says they have no effect in blockipam. A resource stored exactly as the manifest has it\n"
    "is 'unchanged' and not written again.\n"
    "\n"
    "Options:\n"
    "  -f, --file FILE   the manifest\n"
    "  --dry-run         validate and check, write nothing\n"};

static const struct ctl_usage create_usage = {
    "create", "-f FILE [--dry-run]",
    "Like apply, but fail (writing nothing) when any of the resources already exists.\n"
    "The IPAM configuration always exists: create sets it.\n"
    "\n"
    "Options:\n"
    "  -f, --file FILE   the manifest\n"
    "  --dry-run         validate and check, write nothing\n"};

/* The Calico fields a pool keeps say nothing to blockipam: say so, once per pool. */
static void note_kept(const struct bip_res *r)
{
	char keys[256] = "";
	json_t *extra, *v;
	const char *key;
	size_t n = 0;

	if (r->kind != BIP_RES_POOL || !r->u.pool.extra)
		return;
	extra = json_loads(r->u.pool.extra, 0, NULL);
	json_object_foreach(extra, key, v)
	{
		snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s%s", n++ ? ", " : "",
			 key);
	}
	json_decref(extra);
	if (n)
		ctl_note("%s: %s %s kept for Calico's dataplane and %s no effect in blockipam",
			 r->src, keys, n == 1 ? "is" : "are", n == 1 ? "has" : "have");
}

static int run(const struct ctl_usage *u, bool create_only, int argc, char **argv)
{
	static const struct option longopts[] = {{"file", required_argument, NULL, 'f'},
						 {"dry-run", no_argument, NULL, 'n'},
						 CTL_LONGOPTS};
	struct ctl_session s = {0};
	struct bip_res *res = NULL;
	const char *file = NULL, *fname;
	bool dry_run = false, *exists = NULL, *same = NULL;
	char err[1024];
	size_t n = 0, i;
	int ret = CTL_EXIT_ERR, c, rc;

	while ((c = ctl_getopt(u, argc, argv, CTL_SHORTOPTS "f:", longopts)) > 0) {
		if (c == 'f')
			file = optarg;
		else if (c == 'n')
			dry_run = true;
	}
	if ((rc = ctl_args(u, c, argc, argv, 0, 0)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (!file) {
		ret = ctl_usage_err(u, "-f FILE is required");
		goto out;
	}
	fname = strcmp(file, "-") == 0 ? "stdin" : file;
	if (ctl_load_manifest(file, &res, &n, true) != CTL_EXIT_OK)
		goto out;
	if (!n) {
		ctl_warn("%s: an empty list: nothing to do", fname);
		ret = CTL_EXIT_OK;
		goto out;
	}
	exists = calloc(n, sizeof(*exists));
	same = calloc(n, sizeof(*same));
	if (!exists || !same) {
		ctl_err("out of memory");
		goto out;
	}
	if (ctl_open(&s, dry_run) != CTL_EXIT_OK)
		goto out;
	rc = bip_res_precheck(s.ipam, res, n, create_only, exists, err, sizeof(err));
	if (rc != BIP_OK) {
		if (rc == BIP_EINVAL || rc == BIP_EEXIST || rc == BIP_EOVERLAP)
			ctl_err("%s: %s; nothing was written", fname, err);
		else
			ctl_lib_err(s.ipam, rc, "%s: %s; nothing was written", fname, err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (exists[i] && (rc = bip_res_unchanged(s.ipam, &res[i], &same[i])) != BIP_OK) {
			ctl_lib_err(s.ipam, rc,
				    "%s: cannot read the stored %s; nothing was written",
				    res[i].src, bip_res_kind_word(res[i].kind));
			goto out;
		}
	}
	ctl_warn_selectors(s.ipam, fname, res, n);
	for (i = 0; i < n; i++)
		note_kept(&res[i]);
	for (i = 0; i < n; i++) {
		const char *done = same[i] ? "unchanged" : exists[i] ? "configured" : "created";

		/* as kubectl: what is stored already is not written again */
		if (!dry_run && !same[i] &&
		    (rc = bip_res_put(s.ipam, &res[i], create_only)) != BIP_OK) {
			if (i == 0)
				ctl_lib_err(s.ipam, rc, "%s: cannot store it; nothing was written",
					    res[i].src);
			else
				ctl_lib_err(s.ipam, rc,
					    "%s: cannot store it; the %zu resource%s before it %s "
					    "stored, none after it",
					    res[i].src, i, i == 1 ? "" : "s",
					    i == 1 ? "was" : "were");
			goto out;
		}
		printf("%s/%s %s%s\n", bip_res_kind_word(res[i].kind), bip_res_name(&res[i]), done,
		       dry_run ? " (dry run)" : "");
	}
	ret = CTL_EXIT_OK;
out:
	ctl_close(&s);
	free(exists);
	free(same);
	bip_res_free(res, n);
	return ret;
}

int apply_main(int argc, char **argv)
{
	return run(&apply_usage, false, argc, argv);
}

int create_main(int argc, char **argv)
{
	return run(&create_usage, true, argc, argv);
}
