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

/* What the command line asks for. */
struct split {
	const char *name; /* the pool */
	unsigned long n;  /* into this many parts */
	unsigned log2n;
};

/* CTL_CONTINUE with sp filled in, or the exit status. */
static int parse_args(int argc, char **argv, struct split *sp)
{
	static const struct option longopts[] = {CTL_LONGOPTS};
	int c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0)
		;
	if ((rc = ctl_args(&usage, c, argc, argv, 2, 2)) != CTL_CONTINUE)
		return rc;
	sp->name = argv[optind];
	if (ctl_parse_uint(argv[optind + 1], 1ul << 16, &sp->n) != BIP_OK || sp->n < 2 ||
	    (sp->n & (sp->n - 1)))
		return ctl_usage_err(&usage, "N must be a power of two from 2 to 65536, not '%s'",
				     argv[optind + 1]);
	while ((1ul << sp->log2n) < sp->n)
		sp->log2n++;
	return CTL_CONTINUE;
}

/* Read the pool into parent and check that it may be split: disabled, large enough, unused. */
static int check_parent(struct ctl_session *s, const struct split *sp, struct bip_pool *parent)
{
	struct bip_pool_usage *use = NULL;
	char cidr[BIP_PREFIX_STRLEN];
	size_t nuse = 0;
	int ret = CTL_EXIT_ERR, rc;

	rc = bip_ipam_pool_get(s->ipam, sp->name, parent);
	if (rc != BIP_OK) {
		if (rc == BIP_ENOTFOUND)
			ctl_not_found(s->ipam, BIP_RES_POOL, sp->name, "");
		else
			ctl_lib_err(s->ipam, rc, "cannot read pool '%s'", sp->name);
		return CTL_EXIT_ERR;
	}
	bip_prefix_fmt(parent->cidr, cidr);
	if (!parent->disabled) {
		ctl_err("pool '%s' is enabled; disable it first: %s patch pool %s --patch "
			"'{\"spec\":{\"disabled\":true}}'",
			sp->name, ctl.prog, sp->name);
		return CTL_EXIT_ERR;
	}
	if (parent->cidr.len + sp->log2n > parent->block_len) {
		ctl_err(
		    "pool '%s' (%s, blockSize %u) cannot be split into %lu: each part would be a "
		    "/%u, smaller than one block",
		    sp->name, cidr, parent->block_len, sp->n, parent->cidr.len + sp->log2n);
		return CTL_EXIT_ERR;
	}
	if ((rc = bip_ipam_usage(s->ipam, &use, &nuse)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot compute the utilization");
		return CTL_EXIT_ERR;
	}
	for (size_t i = 0; i < nuse; i++) {
		if (use[i].name && strcmp(use[i].name, sp->name) == 0 && use[i].used) {
			char used[BIP_U128_STRLEN];

			ctl_err("pool '%s' holds %s addresses in use; split only an unused pool",
				sp->name, bip_fmt_u128(use[i].used, used));
			goto out;
		}
	}
	ret = CTL_EXIT_OK;
out:
	bip_pool_usages_free(use, nuse);
	return ret;
}

/* Each part has a valid name, is a valid pool and does not exist yet. */
static int check_parts(struct ctl_session *s, const struct bip_res *parts, unsigned long n)
{
	char err[512];
	bool exists;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (!bip_res_k8s_name_ok(bip_res_name(&parts[i]), false)) {
			ctl_err("the part name '%s' is not a valid pool name (want %s)",
				bip_res_name(&parts[i]), BIP_RES_K8S_NAME_RULE);
			return CTL_EXIT_ERR;
		}
		if (bip_res_validate(&parts[i], err, sizeof(err)) != BIP_OK) {
			ctl_err("%s; nothing was changed", err);
			return CTL_EXIT_ERR;
		}
		exists = false;
		rc = bip_res_exists(s->ipam, BIP_RES_POOL, bip_res_name(&parts[i]), &exists);
		if (rc != BIP_OK || exists) {
			if (exists)
				ctl_err("pool '%s' already exists; nothing was changed",
					bip_res_name(&parts[i]));
			else
				ctl_lib_err(s->ipam, rc, "cannot read pool '%s'",
					    bip_res_name(&parts[i]));
			return CTL_EXIT_ERR;
		}
	}
	return CTL_EXIT_OK;
}

/* Replace the parent by its parts; when a part cannot be created, put the parent back. */
static int split(struct ctl_session *s, const struct split *sp, struct bip_pool *parent,
		 struct bip_res *parts)
{
	char cidr[BIP_PREFIX_STRLEN];
	size_t made;
	int rc;

	if ((rc = bip_ipam_pool_delete(s->ipam, sp->name)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot delete pool '%s'; nothing was changed", sp->name);
		return CTL_EXIT_ERR;
	}
	for (made = 0; made < sp->n; made++) {
		if ((rc = bip_res_put(s->ipam, &parts[made], true)) != BIP_OK)
			break;
	}
	if (made == sp->n)
		return CTL_EXIT_OK;
	ctl_lib_err(s->ipam, rc, "cannot create pool '%s'", bip_res_name(&parts[made]));
	while (made-- > 0)
		bip_ipam_pool_delete(s->ipam, bip_res_name(&parts[made]));
	if ((rc = bip_ipam_pool_put(s->ipam, parent, true)) != BIP_OK)
		ctl_lib_err(s->ipam, rc,
			    "the parts were deleted, but pool '%s' (%s) could "
			    "not be put back; recreate it from 'get -o yaml' output",
			    sp->name, bip_prefix_fmt(parent->cidr, cidr));
	else
		ctl_err("undone: pool '%s' is back as it was", sp->name);
	return CTL_EXIT_ERR;
}

static void report(const struct split *sp, const struct bip_pool *parent,
		   const struct bip_res *parts)
{
	char cidr[BIP_PREFIX_STRLEN];

	for (size_t i = 0; i < sp->n; i++) {
		char part[BIP_PREFIX_STRLEN];

		printf("pool/%s created (%s)\n", bip_res_name(&parts[i]),
		       bip_prefix_fmt(parts[i].u.pool.cidr, part));
	}
	printf("pool/%s (%s) split into %lu pools, disabled as it was; enable each with: %s patch "
	       "pool NAME --patch '{\"spec\":{\"disabled\":false}}'\n",
	       sp->name, bip_prefix_fmt(parent->cidr, cidr), sp->n, ctl.prog);
}

int ipam_split_main(int argc, char **argv)
{
	struct split sp = {0};
	struct ctl_session s = {0};
	struct bip_pool parent = {0};
	struct bip_res *parts = NULL;
	int ret = CTL_EXIT_ERR, rc;

	if ((rc = parse_args(argc, argv, &sp)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (ctl_open(&s, false) != CTL_EXIT_OK || check_parent(&s, &sp, &parent) != CTL_EXIT_OK)
		goto out;
	if (!(parts = calloc(sp.n, sizeof(*parts))) ||
	    make_parts(&parent, (unsigned)sp.n, sp.log2n, parts) == BIP_ENOMEM) {
		ctl_err("out of memory");
		goto out;
	}
	if (check_parts(&s, parts, sp.n) != CTL_EXIT_OK ||
	    split(&s, &sp, &parent, parts) != CTL_EXIT_OK)
		goto out;
	report(&sp, &parent, parts);
	ret = CTL_EXIT_OK;
out:
	bip_res_free(parts, sp.n);
	bip_pool_clear(&parent);
	ctl_close(&s);
	return ret;
}
