/*
 * patch KIND NAME --patch JSON: the stored resource in our form, merged with the patch (RFC 7386:
 * objects merge, null deletes, anything else replaces), converted and validated exactly as apply
 * would, then stored.
 */
#include <string.h>

#include "ctl.h"
#include "manifest.h"
#include "resource.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "patch", "KIND NAME --patch JSON",
    "Change fields of a stored resource with a JSON merge patch (RFC 7386) on its manifest\n"
    "form, as 'get KIND NAME -o json' shows it: objects merge, null deletes a field, lists\n"
    "and values replace. The patch may be written in YAML too. Examples:\n"
    "  patch pool p1 --patch '{\"spec\":{\"disabled\":true}}'\n"
    "  patch node n1 --patch '{\"metadata\":{\"labels\":{\"zone\":\"a\"}}}'\n"
    "  patch ipamconfig default --patch '{\"spec\":{\"strictAffinity\":true}}'\n"
    "\n"
    "Options:\n"
    "  -p, --patch JSON  the merge patch\n"};

int patch_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"patch", required_argument, NULL, 'p'},
						 CTL_LONGOPTS};
	struct ctl_session s = {0};
	struct bip_res r = {0};
	json_t *docs = NULL, *cur = NULL, *merged = NULL, *warnings = json_array(), *w;
	const char *text = NULL, *name;
	enum bip_res_kind kind;
	char err[1024];
	int ret = CTL_EXIT_ERR, c, rc;
	size_t i;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS "p:", longopts)) > 0)
		if (c == 'p')
			text = optarg;
	if ((rc = ctl_args(&usage, c, argc, argv, 2, 2)) != CTL_CONTINUE ||
	    (rc = ctl_kind_arg(&usage, argv[optind], &kind)) != CTL_EXIT_OK) {
		ret = rc;
		goto out;
	}
	name = argv[optind + 1];
	if (!text) {
		ret = ctl_usage_err(&usage, "--patch JSON is required");
		goto out;
	}
	if (!warnings)
		goto nomem;
	if (bip_manifest_parse(text, strlen(text), &docs, err, sizeof(err)) != BIP_OK) {
		ctl_err("--patch: %s", err);
		goto out;
	}
	if (json_array_size(docs) != 1 || !json_is_object(json_array_get(docs, 0))) {
		ctl_err("--patch: want one JSON object, such as '{\"spec\":{\"disabled\":true}}'");
		goto out;
	}
	if (ctl_open(&s, false) != CTL_EXIT_OK)
		goto out;
	rc = bip_res_get(s.ipam, kind, name, &cur);
	if (rc == BIP_ENOTFOUND) {
		ctl_not_found(s.ipam, kind, name, "");
		goto out;
	}
	if (rc != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot read %s '%s'", bip_res_kind_word(kind), name);
		goto out;
	}
	if (!(merged = bip_res_merge_patch(cur, json_array_get(docs, 0))))
		goto nomem;
	if (bip_res_from_json(merged, "patch", &r, warnings, err, sizeof(err)) != BIP_OK) {
		ctl_err("%s; nothing was written", err);
		goto out;
	}
	json_array_foreach(warnings, i, w)
	{
		ctl_warn("%s", json_string_value(w));
	}
	if (r.kind != kind || strcmp(bip_res_name(&r), name) != 0) {
		ctl_err("a patch cannot change the kind or name of a resource (%s '%s' became %s "
			"'%s'); nothing was written",
			bip_res_kind_word(kind), name, bip_res_kind_word(r.kind), bip_res_name(&r));
		goto out;
	}
	if (bip_res_validate(&r, err, sizeof(err)) != BIP_OK ||
	    (rc = bip_res_precheck(s.ipam, &r, 1, false, NULL, err, sizeof(err))) != BIP_OK) {
		ctl_err("%s; nothing was written", err);
		goto out;
	}
	if ((rc = bip_res_put(s.ipam, &r, false)) != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot store %s '%s'", bip_res_kind_word(kind), name);
		goto out;
	}
	printf("%s/%s patched\n", bip_res_kind_word(kind), name);
	ret = CTL_EXIT_OK;
	goto out;
nomem:
	ctl_err("out of memory");
out:
	bip_res_clear(&r);
	json_decref(docs);
	json_decref(cur);
	json_decref(merged);
	json_decref(warnings);
	ctl_close(&s);
	return ret;
}
