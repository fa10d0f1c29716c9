/*
 * ipam release: one address (optionally only while a given handle holds it), everything a handle
 * holds, or the leaked addresses of a check report. From a report, an address is released only if
 * the handle the report saw still holds it: one re-allocated since the check is left alone.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "manifest.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "ipam release",
    "--ip ADDR [--handle ID | --force] | --handle ID | --from-report FILE [--dry-run]",
    "Release addresses.\n"
    "\n"
    "Options:\n"
    "  --ip ADDR           release this address; with --handle, only while ID holds it.\n"
    "                      An address whose holder has a handle record (a pod that may be\n"
    "                      running) is refused, naming the holder, unless --handle names it\n"
    "                      or --force is given\n"
    "  --force             with --ip: release it whoever holds it\n"
    "  --handle ID         alone: release everything handle ID holds\n"
    "  --from-report FILE  release the leaked addresses (ADDR_NO_HANDLE) of an\n"
    "                      'ipam check -o json' report, each only if the handle the report\n"
    "                      names still holds it\n"
    "  --dry-run           with --from-report: say what would be released\n"};

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

int ipam_release_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"ip", required_argument, NULL, 'i'},
						 {"handle", required_argument, NULL, 'H'},
						 {"from-report", required_argument, NULL, 'r'},
						 {"dry-run", no_argument, NULL, 'n'},
						 {"force", no_argument, NULL, 'F'},
						 CTL_LONGOPTS};
	struct ctl_session s = {0};
	const char *ip = NULL, *handle = NULL, *report = NULL;
	struct bip_addr addr;
	bool dry_run = false, force = false;
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
		else if (c == 'F')
			force = true;
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (report ? ip || handle : !ip && !handle) {
		ret = ctl_usage_err(&usage, "give --ip ADDR [--handle ID], --handle ID, or "
					    "--from-report FILE");
		goto out;
	}
	if (dry_run && !report) {
		ret = ctl_usage_err(&usage, "--dry-run goes with --from-report");
		goto out;
	}
	if (force && (!ip || handle)) {
		ret = ctl_usage_err(&usage, "--force goes with --ip (without --handle)");
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
	if (ip) {
		if (!handle && !force && refuse_held(&s, addr, ip) != CTL_EXIT_OK)
			goto out;
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
