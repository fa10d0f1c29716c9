/*
 * ipam release: one address (optionally only while a given handle holds it), everything a handle
 * holds, or the leaked addresses of a check report. From a report, an address is released only if
 * the handle the report saw still holds it: one re-allocated since the check is left alone.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "manifest.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "ipam release",
    "--ip ADDR [--handle ID] | --handle ID | --from-report FILE [--dry-run]\n"
    "       | --empty-blocks [--older-than SECONDS] [--dry-run]",
    "Release addresses.\n"
    "\n"
    "Options:\n"
    "  --ip ADDR           release this address; with --handle, only while ID holds it\n"
    "  --handle ID         alone: release everything handle ID holds\n"
    "  --from-report FILE  release the leaked addresses (ADDR_NO_HANDLE) of an\n"
    "                      'ipam check -o json' report, each only if the handle the report\n"
    "                      names still holds it\n"
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
			ctl_err("emptyBlockReleaseSeconds is 0 (never): give --older-than SECONDS to "
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

/* Whether a report problem is a leaked address (not repaired since), its address and handle
 * (NULL when the report saw none: such an address is not released from a report). */
static bool leaked(const json_t *p, struct bip_addr *addr, const char **handle)
{
	const char *kind = json_string_value(json_object_get(p, "kind"));
	const char *a = json_string_value(json_object_get(p, "address"));

	*handle = json_string_value(json_object_get(p, "handle"));
	if (*handle && !**handle)
		*handle = NULL;
	return kind && strcmp(kind, bip_problem_name(BIP_PROB_ADDR_NO_HANDLE)) == 0 && a &&
	       !json_is_true(json_object_get(p, "repaired")) && bip_addr_parse(a, addr) == BIP_OK;
}

static int from_report(struct ctl_session *s, const char *file, bool dry_run)
{
	const char *fname = strcmp(file, "-") == 0 ? "stdin" : file;
	int ret = CTL_EXIT_ERR, rc;
	char *buf = NULL, err[512];
	size_t len, i, released = 0, skipped = 0, failed = 0;
	json_t *docs = NULL, *problems, *p;

	if (ctl_read_file(file, &buf, &len) != CTL_EXIT_OK)
		goto out;
	if (bip_manifest_parse(buf, len, &docs, err, sizeof(err)) != BIP_OK) {
		ctl_err("%s: %s", fname, err);
		goto out;
	}
	problems = json_object_get(json_array_get(docs, 0), "problems");
	if (json_array_size(docs) != 1 || !json_is_array(problems)) {
		ctl_err("%s: not an 'ipam check -o json' report (no list of problems)", fname);
		goto out;
	}
	json_array_foreach(problems, i, p)
	{
		char a[BIP_ADDR_STRLEN];
		struct bip_addr addr;
		const char *handle;

		if (!leaked(p, &addr, &handle))
			continue;
		bip_addr_fmt(addr, a);
		if (!handle) {
			printf("skipped %s: the report names no handle holding it (release it with "
			       "--ip if it is a leak)\n",
			       a);
			skipped++;
			continue;
		}
		if (dry_run) {
			printf("would release %s (handle %s)\n", a, handle);
			released++;
			continue;
		}
		rc = bip_ipam_release_addr(s->ipam, addr, handle);
		if (rc == BIP_OK) {
			printf("released %s (handle %s)\n", a, handle);
			released++;
		} else if (rc == BIP_EOWNER || rc == BIP_ENOTFOUND) {
			printf("skipped %s: %s since the report\n", a,
			       rc == BIP_EOWNER ? "another handle holds it" : "it was released");
			skipped++;
		} else {
			ctl_lib_err(s->ipam, rc, "cannot release %s", a);
			failed++;
		}
	}
	printf("%zu %sreleased, %zu skipped, %zu failed\n", released, dry_run ? "would be " : "",
	       skipped, failed);
	ret = failed ? CTL_EXIT_ERR : CTL_EXIT_OK;
out:
	json_decref(docs);
	free(buf);
	return ret;
}

int ipam_release_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"ip", required_argument, NULL, 'i'},
						 {"handle", required_argument, NULL, 'H'},
						 {"from-report", required_argument, NULL, 'r'},
						 {"dry-run", no_argument, NULL, 'n'},
						 {"empty-blocks", no_argument, NULL, 'E'},
						 {"older-than", required_argument, NULL, 'O'},
						 CTL_LONGOPTS};
	struct ctl_session s = {0};
	const char *ip = NULL, *handle = NULL, *report = NULL;
	struct bip_addr addr;
	bool dry_run = false, empty = false;
	long older_than = -1;
	unsigned long ul;
	int ret = CTL_EXIT_ERR, c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		if (c == 'i')
			ip = optarg;
		else if (c == 'H')
			handle = optarg;
		else if (c == 'r')
			report = optarg;
		else if (c == 'n')
			dry_run = true;
		else if (c == 'E')
			empty = true;
		else if (c == 'O') {
			if (ctl_parse_uint(optarg, 365 * 86400, &ul) != BIP_OK) {
				ret = ctl_usage_err(&usage,
						    "invalid value '%s' for --older-than (want "
						    "seconds, 0 to 31536000)",
						    optarg);
				goto out;
			}
			older_than = (long)ul;
		}
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (empty ? ip || handle || report : report ? ip || handle : !ip && !handle) {
		ret = ctl_usage_err(&usage, "give --ip ADDR [--handle ID], --handle ID, "
					    "--from-report FILE, or --empty-blocks");
		goto out;
	}
	if (dry_run && !report && !empty) {
		ret = ctl_usage_err(&usage, "--dry-run goes with --from-report or --empty-blocks");
		goto out;
	}
	if (older_than >= 0 && !empty) {
		ret = ctl_usage_err(&usage, "--older-than goes with --empty-blocks");
		goto out;
	}
	if (ip && bip_addr_parse(ip, &addr) != BIP_OK) {
		ret = ctl_usage_err(&usage, "invalid address '%s'", ip);
		goto out;
	}
	if (ctl_open(&s, dry_run) != CTL_EXIT_OK)
		goto out;
	if (report) {
		ret = from_report(&s, report, dry_run);
		goto out;
	}
	if (empty) {
		ret = empty_blocks(&s, older_than, dry_run);
		goto out;
	}
	if (ip) {
		rc = bip_ipam_release_addr(s.ipam, addr, handle);
		if (rc == BIP_ENOTFOUND)
			ctl_err("%s is not assigned", ip);
		else if (rc == BIP_EOWNER)
			ctl_err("%s is not held by handle '%s'; nothing was released", ip, handle);
		else if (rc != BIP_OK)
			ctl_lib_err(s.ipam, rc, "cannot release %s", ip);
		else
			printf("released %s\n", ip);
	} else {
		rc = bip_ipam_release_handle(s.ipam, handle);
		if (rc == BIP_ENOTFOUND)
			ctl_err("handle '%s' holds no addresses", handle);
		else if (rc != BIP_OK)
			ctl_lib_err(s.ipam, rc, "cannot release handle '%s'", handle);
		else
			printf("released handle %s\n", handle);
	}
	ret = rc == BIP_OK ? CTL_EXIT_OK : CTL_EXIT_ERR;
out:
	ctl_close(&s);
	return ret;
}
