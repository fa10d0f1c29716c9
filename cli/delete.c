/*
 * delete KIND NAME... | delete -f FILE: every named resource must exist before any is deleted;
 * a manifest's resources are deleted in reverse order (namespaces before the pools they name).
 */
#include <stdlib.h>

#include "ctl.h"
#include "resource.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "delete", "KIND NAME... | -f FILE",
    "Delete resources, named on the command line or by the documents of a manifest.\n"
    "Nothing is deleted unless every one of them exists. Deleting a pool disables it,\n"
    "releases its blocks' affinities and deletes its empty blocks; blocks that still hold\n"
    "addresses stay until those are released. Deleting the ipamconfig resets it to the\n"
    "defaults.\n"
    "\n"
    "Options:\n"
    "  -f, --file FILE   delete the resources of this manifest ('-' = stdin)\n"};

struct target {
	enum bip_res_kind kind;
	const char *name;
};

int delete_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"file", required_argument, NULL, 'f'},
						 CTL_LONGOPTS};
	struct ctl_session s = {0};
	struct bip_res *res = NULL;
	struct target *t = NULL;
	const char *file = NULL;
	size_t nres = 0, n = 0, i;
	enum bip_res_kind kind;
	int ret = CTL_EXIT_ERR, c, rc;
	bool exists;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS "f:", longopts)) > 0)
		if (c == 'f')
			file = optarg;
	if ((rc = ctl_args(&usage, c, argc, argv, file ? 0 : 2, file ? 0 : -1)) != CTL_CONTINUE ||
	    (!file && (rc = ctl_kind_arg(&usage, argv[optind], &kind)) != CTL_EXIT_OK)) {
		ret = rc;
		goto out;
	}
	if (file && ctl_load_manifest(file, &res, &nres, false) != CTL_EXIT_OK)
		goto out;
	n = file ? nres : (size_t)(argc - optind - 1);
	if (!n) {
		ctl_warn("%s: an empty list: nothing to do", file);
		ret = CTL_EXIT_OK;
		goto out;
	}
	if (!(t = calloc(n, sizeof(*t)))) {
		ctl_err("out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		t[i] = file ? (struct target){res[n - 1 - i].kind, bip_res_name(&res[n - 1 - i])}
			    : (struct target){kind, argv[optind + 1 + i]};
	if (ctl_open(&s, false) != CTL_EXIT_OK)
		goto out;
	for (i = 0; i < n; i++) {
		rc = bip_res_exists(s.ipam, t[i].kind, t[i].name, &exists);
		if (rc != BIP_OK) {
			ctl_lib_err(s.ipam, rc, "cannot read %s '%s'", bip_res_kind_word(t[i].kind),
				    t[i].name);
			goto out;
		}
		if (!exists) {
			ctl_err("%s '%s' not found; nothing was deleted",
				bip_res_kind_word(t[i].kind), t[i].name);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		rc = bip_res_delete(s.ipam, t[i].kind, t[i].name);
		if (rc != BIP_OK) {
			ctl_lib_err(s.ipam, rc, "cannot delete %s '%s'%s",
				    bip_res_kind_word(t[i].kind), t[i].name,
				    i ? " (those before it were deleted)" : "");
			goto out;
		}
		printf("%s/%s %s\n", bip_res_kind_word(t[i].kind), t[i].name,
		       t[i].kind == BIP_RES_CONFIG ? "reset to defaults" : "deleted");
	}
	ret = CTL_EXIT_OK;
out:
	ctl_close(&s);
	free(t);
	bip_res_free(res, nres);
	return ret;
}
