/*
 * ipam split POOL N: a disabled pool with no address in use becomes N pools of equal size, named
 * POOL-0 .. POOL-(N-1), with the same settings (disabled too, until enabled one by one). Pools
 * never overlap, so the parent goes before its parts come; if a part cannot be created, the parts
 * made so far are deleted and the parent is put back.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "resource.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "ipam split", "POOL N",
    "Split POOL into N pools of equal size named POOL-0 .. POOL-<N-1>, with POOL's settings.\n"
    "N is a power of two (2, 4, 8, ...) and each part must hold at least one block. POOL must\n"
    "be disabled and hold no address; the parts are created disabled.\n"};

static int make_parts(const struct bip_pool *parent, unsigned n, unsigned log2n,
		      struct bip_res *parts)
{
	for (unsigned i = 0; i < n; i++) {
		struct bip_pool *p = &parts[i].u.pool;

		parts[i].kind = BIP_RES_POOL;
		*p = *parent;
		p->name = p->node_selector = p->ns_selector = p->extra = NULL;
		if (asprintf(&p->name, "%s-%u", parent->name, i) < 0) {
			p->name = NULL;
			return BIP_ENOMEM;
		}
		if (bip_prefix_sub(parent->cidr, parent->cidr.len + log2n, i, &p->cidr) != BIP_OK)
			return BIP_EINVAL;
		if (asprintf(&parts[i].src, "pool '%s'", p->name) < 0) {
			parts[i].src = NULL;
			return BIP_ENOMEM;
		}
		if ((parent->node_selector &&
		     !(p->node_selector = strdup(parent->node_selector))) ||
		    (parent->ns_selector && !(p->ns_selector = strdup(parent->ns_selector))) ||
		    (parent->extra && !(p->extra = strdup(parent->extra))))
			return BIP_ENOMEM;
	}
	return BIP_OK;
}

int ipam_split_main(int argc, char **argv)
{
	static const struct option longopts[] = {CTL_LONGOPTS};
	struct ctl_session s = {0};
	struct bip_pool parent = {0};
	struct bip_pool_usage *use = NULL;
	struct bip_res *parts = NULL;
	size_t nuse = 0, i, made = 0;
	unsigned long n = 0;
	unsigned log2n = 0;
	const char *name;
	char cidr[BIP_PREFIX_STRLEN], err[512];
	int ret = CTL_EXIT_ERR, c, rc;
	bool exists;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0)
		;
	if ((rc = ctl_args(&usage, c, argc, argv, 2, 2)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	name = argv[optind];
	if (ctl_parse_uint(argv[optind + 1], 1ul << 16, &n) != BIP_OK || n < 2 || (n & (n - 1))) {
		ret = ctl_usage_err(&usage, "N must be a power of two from 2 to 65536, not '%s'",
				    argv[optind + 1]);
		goto out;
	}
	while ((1ul << log2n) < n)
		log2n++;
	if (ctl_open(&s, false) != CTL_EXIT_OK)
		goto out;
	rc = bip_ipam_pool_get(s.ipam, name, &parent);
	if (rc != BIP_OK) {
		if (rc == BIP_ENOTFOUND)
			ctl_not_found(s.ipam, BIP_RES_POOL, name, "");
		else
			ctl_lib_err(s.ipam, rc, "cannot read pool '%s'", name);
		goto out;
	}
	bip_prefix_fmt(parent.cidr, cidr);
	if (!parent.disabled) {
		ctl_err("pool '%s' is enabled; disable it first: %s patch pool %s --patch "
			"'{\"spec\":{\"disabled\":true}}'",
			name, ctl.prog, name);
		goto out;
	}
	if (parent.cidr.len + log2n > parent.block_len) {
		ctl_err(
		    "pool '%s' (%s, blockSize %u) cannot be split into %lu: each part would be a "
		    "/%u, smaller than one block",
		    name, cidr, parent.block_len, n, parent.cidr.len + log2n);
		goto out;
	}
	if ((rc = bip_ipam_usage(s.ipam, &use, &nuse)) != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot compute the utilization");
		goto out;
	}
	for (i = 0; i < nuse; i++) {
		if (use[i].name && strcmp(use[i].name, name) == 0 && use[i].used) {
			char used[BIP_U128_STRLEN];

			ctl_err("pool '%s' holds %s addresses in use; split only an unused pool",
				name, bip_fmt_u128(use[i].used, used));
			goto out;
		}
	}
	if (!(parts = calloc(n, sizeof(*parts))) ||
	    (rc = make_parts(&parent, (unsigned)n, log2n, parts)) == BIP_ENOMEM) {
		ctl_err("out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!bip_res_name_ok(bip_res_name(&parts[i]))) {
			ctl_err("the part name '%s' is not a valid pool name",
				bip_res_name(&parts[i]));
			goto out;
		}
		if (bip_res_validate(&parts[i], err, sizeof(err)) != BIP_OK) {
			ctl_err("%s; nothing was changed", err);
			goto out;
		}
		exists = false;
		rc = bip_res_exists(s.ipam, BIP_RES_POOL, bip_res_name(&parts[i]), &exists);
		if (rc != BIP_OK || exists) {
			if (exists)
				ctl_err("pool '%s' already exists; nothing was changed",
					bip_res_name(&parts[i]));
			else
				ctl_lib_err(s.ipam, rc, "cannot read pool '%s'",
					    bip_res_name(&parts[i]));
			goto out;
		}
	}
	if ((rc = bip_ipam_pool_delete(s.ipam, name)) != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot delete pool '%s'; nothing was changed", name);
		goto out;
	}
	for (made = 0; made < n; made++) {
		if ((rc = bip_res_put(s.ipam, &parts[made], true)) != BIP_OK)
			break;
	}
	if (made < n) {
		ctl_lib_err(s.ipam, rc, "cannot create pool '%s'", bip_res_name(&parts[made]));
		while (made-- > 0)
			bip_ipam_pool_delete(s.ipam, bip_res_name(&parts[made]));
		if ((rc = bip_ipam_pool_put(s.ipam, &parent, true)) != BIP_OK)
			ctl_lib_err(s.ipam, rc,
				    "the parts were deleted, but pool '%s' (%s) could "
				    "not be put back; recreate it from 'get -o yaml' output",
				    name, cidr);
		else
			ctl_err("undone: pool '%s' is back as it was", name);
		goto out;
	}
	for (i = 0; i < n; i++) {
		char part[BIP_PREFIX_STRLEN];

		printf("pool/%s created (%s)\n", bip_res_name(&parts[i]),
		       bip_prefix_fmt(parts[i].u.pool.cidr, part));
	}
	printf("pool/%s (%s) split into %lu pools, disabled as it was; enable each with: %s patch "
	       "pool NAME --patch '{\"spec\":{\"disabled\":false}}'\n",
	       name, cidr, n, ctl.prog);
	ret = CTL_EXIT_OK;
out:
	bip_res_free(parts, n);
	bip_pool_usages_free(use, nuse);
	bip_pool_clear(&parent);
	ctl_close(&s);
	return ret;
}
