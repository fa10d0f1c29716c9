/*
 * delete KIND NAME... | delete -f FILE: every named resource must exist before any is deleted;
 * a manifest's resources are deleted in reverse order (namespaces before the pools they name).
 * A pool or node that running pods depend on is refused, naming them, unless --force.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "resource.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "delete", "KIND NAME... | -f FILE",
    "Delete resources, named on the command line or by the documents of a manifest.\n"
    "Nothing is deleted unless every one of them exists and none is in use. Deleting a pool\n"
    "disables it, releases its blocks' affinities and deletes its blocks. A pool whose\n"
    "addresses pods hold, or that a namespace names, is refused: migrate first (create the\n"
    "new pool; disable this one: patch pool NAME --patch '{\"spec\":{\"disabled\":true}}';\n"
    "restart its pods; then delete it). A node whose pods hold addresses is refused too\n"
    "(their routes would lose their next hop): drain it, 'node release NAME', then delete.\n"
    "Deleting the ipamconfig resets it to the defaults.\n"
    "\n"
    "Options:\n"
    "  -f, --file FILE   delete the resources of this manifest ('-' = stdin)\n"
    "  --force           delete pools and nodes in use anyway: a pool's addresses still held\n"
    "                    are released (their pods keep them until restarted, and they may be\n"
    "                    handed out again once a pool covers them); a node's blocks keep\n"
    "                    their affinity until 'node release NAME'\n"};

#define OPT_FORCE 0x200

struct target {
	enum bip_res_kind kind;
	const char *name;
};

static bool deleted_too(const struct target *t, size_t n, enum bip_res_kind k, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].kind == k && strcmp(t[i].name, name) == 0)
			return true;
	return false;
}

/* The namespaces whose pools name pool p (by name or CIDR), as "'a', 'b'" into buf, except
 * those deleted along with it (all, n). */
static int naming_namespaces(struct bip_ipam *ipam, const struct bip_pool *p,
			     const struct target *all, size_t n_all, char *buf, size_t len,
			     size_t *count)
{
	struct bip_namespace *ns = NULL;
	char cidr[BIP_PREFIX_STRLEN];
	size_t n = 0, used = 0;
	int rc;

	*count = 0;
	buf[0] = '\0';
	rc = bip_ipam_namespace_list(ipam, &ns, &n);
	if (rc != BIP_OK) {
		ctl_lib_err(ipam, rc, "cannot list namespaces");
		return CTL_EXIT_ERR;
	}
	bip_prefix_fmt(p->cidr, cidr);
	for (size_t i = 0; i < n; i++) {
		if (deleted_too(all, n_all, BIP_RES_NAMESPACE, ns[i].name))
			continue;
		for (size_t j = 0; j < ns[i].npools; j++) {
			if (strcmp(ns[i].pools[j], p->name) != 0 &&
			    strcmp(ns[i].pools[j], cidr) != 0)
				continue;
			if (used < len) {
				int w = snprintf(buf + used, len - used, "%s'%s'",
						 *count ? ", " : "", ns[i].name);
				used += w > 0 ? (size_t)w : 0;
			}
			(*count)++;
			break;
		}
	}
	bip_namespaces_free(ns, n);
	return CTL_EXIT_OK;
}

/*
 * Whether deleting t hurts running pods: the pool's held addresses and the namespaces naming
 * it, or the node's held addresses. Without force, a refusal naming them and the way on; with
 * force, a warning.
 */
static int check_in_use(struct bip_ipam *ipam, const struct target *t, const struct target *all,
			size_t n_all, bool force)
{
	struct ctl_holders h;
	struct bip_pool p = {0};
	char nsnames[512], cidr[BIP_PREFIX_STRLEN];
	size_t nns = 0;
	int ret = CTL_EXIT_ERR, rc;

	if (t->kind == BIP_RES_NODE) {
		if (ctl_holders(ipam, NULL, t->name, &h) != CTL_EXIT_OK)
			goto out;
		ret = CTL_EXIT_OK;
		if (!h.n)
			goto out;
		if (force) {
			ctl_warn(
			    "node '%s': %zu address%s still held by its pods (%s): their routes "
			    "lose their next hop; 'node release %s' frees its blocks",
			    t->name, h.n, h.n == 1 ? "" : "es", h.text, t->name);
			goto out;
		}
		ctl_err(
		    "node '%s' has %zu address%s in use by its pods (%s): deleting it would take "
		    "their routes' next hop. Drain the node, then 'blockipamctl node release %s' "
		    "and delete it; or delete it anyway with --force; nothing was deleted",
		    t->name, h.n, h.n == 1 ? "" : "es", h.text, t->name);
		ret = CTL_EXIT_ERR;
		goto out;
	}
	ret = CTL_EXIT_OK;
	if (t->kind != BIP_RES_POOL)
		goto out;
	ret = CTL_EXIT_ERR;
	rc = bip_ipam_pool_get(ipam, t->name, &p);
	if (rc != BIP_OK) {
		ctl_lib_err(ipam, rc, "cannot read pool '%s'", t->name);
		goto out;
	}
	bip_prefix_fmt(p.cidr, cidr);
	if (ctl_holders(ipam, &p.cidr, NULL, &h) != CTL_EXIT_OK ||
	    naming_namespaces(ipam, &p, all, n_all, nsnames, sizeof(nsnames), &nns) != CTL_EXIT_OK)
		goto out;
	ret = CTL_EXIT_OK;
	if (force) {
		if (nns)
			ctl_warn("pool '%s' is named by namespace%s %s: its pods' ADDs will fail "
				 "until the namespace names another pool",
				 t->name, nns == 1 ? "" : "s", nsnames);
		if (h.n)
			ctl_warn("pool '%s': releasing %zu address%s still in use (%s); those pods "
				 "keep them until restarted",
				 t->name, h.n, h.n == 1 ? "" : "es", h.text);
		goto out;
	}
	if (h.n) {
		ctl_err(
		    "pool '%s' has %zu address%s in use (%s): deleting it would leave them "
		    "outside every pool. Migrate first: create the new pool; disable this one with "
		    "blockipamctl patch pool %s --patch '{\"spec\":{\"disabled\":true}}'; "
		    "restart its pods so they move; then delete it. Or delete it anyway with "
		    "--force (releases those addresses); nothing was deleted",
		    t->name, h.n, h.n == 1 ? "" : "es", h.text, t->name);
		ret = CTL_EXIT_ERR;
	} else if (nns) {
		ctl_err("pool '%s' is named by namespace%s %s: their pods' ADDs would fail. Change "
			"the namespace's pools first (apply it without '%s' or %s), or delete it "
			"anyway with --force; nothing was deleted",
			t->name, nns == 1 ? "" : "s", nsnames, t->name, cidr);
		ret = CTL_EXIT_ERR;
	}
out:
	bip_pool_clear(&p);
	return ret;
}

int delete_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"file", required_argument, NULL, 'f'},
						 {"force", no_argument, NULL, OPT_FORCE},
						 CTL_LONGOPTS};
	struct ctl_session s = {0};
	struct bip_res *res = NULL;
	struct target *t = NULL;
	const char *file = NULL;
	size_t nres = 0, n = 0, i;
	enum bip_res_kind kind;
	int ret = CTL_EXIT_ERR, c, rc;
	bool exists, force = false;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS "f:", longopts)) > 0) {
		if (c == 'f')
			file = optarg;
		else if (c == OPT_FORCE)
			force = true;
	}
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
			ctl_not_found(s.ipam, t[i].kind, t[i].name, "; nothing was deleted");
			goto out;
		}
	}
	for (i = 0; i < n; i++)
		if (check_in_use(s.ipam, &t[i], t, n, force) != CTL_EXIT_OK)
			goto out;
	for (i = 0; i < n; i++) {
		size_t released = 0;

		if (t[i].kind == BIP_RES_POOL)
			rc = bip_ipam_pool_delete_force(s.ipam, t[i].name, force, &released);
		else
			rc = bip_res_delete(s.ipam, t[i].kind, t[i].name);
		if (rc != BIP_OK) {
			ctl_lib_err(s.ipam, rc, "cannot delete %s '%s'%s",
				    bip_res_kind_word(t[i].kind), t[i].name,
				    i ? " (those before it were deleted)" : "");
			goto out;
		}
		if (released)
			printf("%s/%s deleted (%zu address%s released)\n",
			       bip_res_kind_word(t[i].kind), t[i].name, released,
			       released == 1 ? "" : "es");
		else
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
