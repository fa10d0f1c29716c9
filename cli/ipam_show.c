/*
 * ipam show: utilization per pool (the default), per block, the borrowed addresses, the effective
 * configuration, or who holds one address. Each view is built as JSON (for -o json / yaml) and as
 * a table from the same numbers.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "output.h"
#include "progress.h"
#include "resource.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "ipam show", "[--ip ADDR | --show-blocks | --show-borrowed | --show-configuration]",
    "Without options: one row per pool with its capacity and the addresses in use, free and\n"
    "reserved (capacity counts the whole pool CIDR, not only the blocks claimed so far). Each\n"
    "address counts once: USED + RESERVED + FREE = CAPACITY (an allocated address that a\n"
    "reservation covers is USED; overlapping reservations count their addresses once).\n"
    "\n"
    "Options (at most one):\n"
    "  --show-blocks         one row per block: its node, pool, size, used and free\n"
    "  --show-borrowed       addresses held by a node other than their block's owner\n"
    "  --show-configuration  the effective IPAM configuration (defaults when none is set)\n"
    "  --ip ADDR             who holds ADDR, since when, in which block, on which node\n"};

enum view { VIEW_POOLS, VIEW_BLOCKS, VIEW_BORROWED, VIEW_CONFIG, VIEW_IP };

static bip_u128 free_of(bip_u128 capacity, bip_u128 used, bip_u128 reserved)
{
	/* used and reserved may overlap (an address reserved after it was allocated) */
	return used + reserved >= capacity ? 0 : capacity - used - reserved;
}

/* The blocks outside every pool, per family: the library's usage adds them up across families. */
struct orphans {
	bip_u128 capacity, used, reserved, blocks;
};

static int orphan_usage(struct ctl_session *s, struct orphans o[2])
{
	struct bip_block_info *v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = bip_ipam_block_list(s->ipam, &v, &n)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot list the blocks");
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		struct orphans *f = &o[v[i].cidr.addr.family == 6];

		if (v[i].pool)
			continue;
		f->capacity += v[i].size;
		f->used += v[i].used;
		f->reserved += v[i].reserved;
		f->blocks++;
	}
	bip_block_infos_free(v, n);
	return BIP_OK;
}

static int pool_row(json_t *out, struct bip_table *t, const char *name, const char *label,
		    const char *cidr, int family, bip_u128 capacity, bip_u128 used,
		    bip_u128 reserved, bip_u128 blocks, const struct bip_pool *p)
{
	char cap[BIP_U128_STRLEN], nb[BIP_U128_STRLEN], bl[8], u[64], fr[64], res[64];
	bip_u128 f = free_of(capacity, used, reserved);
	const char *row[] = {label,
			     cidr,
			     bip_fmt_count(capacity, cap, sizeof(cap)),
			     bip_fmt_count_pct(used, capacity, u, sizeof(u)),
			     bip_fmt_count_pct(f, capacity, fr, sizeof(fr)),
			     bip_fmt_count_pct(reserved, capacity, res, sizeof(res)),
			     bip_fmt_u128(blocks, nb),
			     p ? (snprintf(bl, sizeof(bl), "/%u", p->block_len), bl) : "-",
			     p ? (p->disabled ? "true" : "false") : "-",
			     p ? (p->mode == BIP_ASSIGN_MANUAL ? "Manual" : "Automatic") : "-",
			     p && p->node_selector && *p->node_selector ? p->node_selector
			     : p					? "all()"
									: "-"};
	json_t *o = json_pack("{s:s?, s:s?, s:i, s:o, s:o, s:o, s:o, s:o}", "name", name, "cidr",
			      cidr, "family", family, "capacity", bip_json_u128(capacity), "used",
			      bip_json_u128(used), "free", bip_json_u128(f), "reserved",
			      bip_json_u128(reserved), "blocks", bip_json_u128(blocks));

	if (o && p)
		json_object_set_new(o, "disabled", json_boolean(p->disabled));
	if (!o || json_array_append_new(out, o) != 0 || bip_table_add(t, row) != BIP_OK)
		return BIP_ENOMEM;
	return BIP_OK;
}

static int show_pools(struct ctl_session *s, json_t *out, struct bip_table *t, bool wide)
{
	static const char *const headers[] = {"NAME",	  "CIDR",	"CAPACITY",    "USED",
					      "FREE",	  "RESERVED",	"BLOCKS",      "BLOCKSIZE",
					      "DISABLED", "ASSIGNMENT", "NODESELECTOR"};
	struct bip_pool_usage *v = NULL;
	struct bip_pool *pools = NULL;
	struct orphans o[2] = {{0}};
	size_t n = 0, np = 0;
	int rc;

	if ((rc = bip_ipam_usage(s->ipam, &v, &n)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot compute the utilization");
		return rc;
	}
	if ((rc = bip_ipam_pool_list(s->ipam, &pools, &np)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot list the pools");
		goto out;
	}
	rc = bip_table_init(t, wide ? 11 : 7, headers);
	for (size_t i = 0; i < n && rc == BIP_OK; i++) {
		const struct bip_pool *p = NULL;
		char cidr[BIP_PREFIX_STRLEN];

		if (!v[i].name) {
			if ((rc = orphan_usage(s, o)) != BIP_OK)
				goto out;
			for (int k = 0; k < 2 && rc == BIP_OK; k++)
				if (o[k].blocks)
					rc = pool_row(out, t, NULL,
						      k ? "(no pool, IPv6)" : "(no pool, IPv4)",
						      NULL, k ? 6 : 4, o[k].capacity, o[k].used,
						      o[k].reserved, o[k].blocks, NULL);
			continue;
		}
		for (size_t j = 0; j < np && !p; j++)
			if (strcmp(pools[j].name, v[i].name) == 0)
				p = &pools[j];
		rc = pool_row(out, t, v[i].name, v[i].name, bip_prefix_fmt(v[i].cidr, cidr),
			      v[i].cidr.addr.family, v[i].capacity, v[i].used, v[i].reserved,
			      v[i].blocks, p);
	}
out:
	bip_pools_free(pools, np);
	bip_pool_usages_free(v, n);
	return rc;
}

static int cmp_block(const void *x, const void *y)
{
	return bip_prefix_cmp(((const struct bip_block_info *)x)->cidr,
			      ((const struct bip_block_info *)y)->cidr);
}

static int show_blocks(struct ctl_session *s, json_t *out, struct bip_table *t, bool wide)
{
	static const char *const headers[] = {"BLOCK",	 "NODE",      "POOL",	  "SIZE",
					      "USED",	 "FREE",      "BORROWED", "RESERVED",
					      "CLAIMED", "EMPTYSINCE"};
	struct bip_block_info *v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = bip_ipam_block_list(s->ipam, &v, &n)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot list the blocks");
		return rc;
	}
	/* the store lists them in key (text) order: 10.244.170.x before 10.244.55.x */
	if (n) /* qsort wants a non-NULL array even when empty */
		qsort(v, n, sizeof(*v), cmp_block);
	rc = bip_table_init(t, wide ? 10 : 7, headers);
	for (size_t i = 0; i < n && rc == BIP_OK; i++) {
		char cidr[BIP_PREFIX_STRLEN], size[BIP_U128_STRLEN], used[64], fr[64];
		char borrowed[BIP_U128_STRLEN], reserved[BIP_U128_STRLEN], claimed[32], empty[32];
		bip_u128 f = v[i].free;
		const char *row[] = {bip_prefix_fmt(v[i].cidr, cidr),
				     v[i].node,
				     v[i].pool,
				     bip_fmt_u128(v[i].size, size),
				     bip_fmt_count_pct(v[i].used, v[i].size, used, sizeof(used)),
				     bip_fmt_count_pct(f, v[i].size, fr, sizeof(fr)),
				     bip_fmt_u128(v[i].borrowed, borrowed),
				     bip_fmt_u128(v[i].reserved, reserved),
				     bip_fmt_time(v[i].claimed, claimed, sizeof(claimed)),
				     bip_fmt_time(v[i].empty_since, empty, sizeof(empty))};
		json_t *o = json_pack(
		    "{s:s, s:s?, s:s?, s:I, s:I, s:I, s:I, s:I, s:s?, s:s?}", "block", cidr, "node",
		    v[i].node, "pool", v[i].pool, "size", (json_int_t)v[i].size, "used",
		    (json_int_t)v[i].used, "free", (json_int_t)f, "borrowed",
		    (json_int_t)v[i].borrowed, "reserved", (json_int_t)v[i].reserved, "claimed",
		    v[i].claimed ? claimed : NULL, "emptySince", v[i].empty_since ? empty : NULL);

		if (!o || json_array_append_new(out, o) != 0 || bip_table_add(t, row) != BIP_OK)
			rc = BIP_ENOMEM;
	}
	bip_block_infos_free(v, n);
	return rc;
}

struct borrowed_one {
	struct bip_addr addr;
	struct bip_prefix block;
	char *handle, *block_node, *node;
};

struct borrowed {
	struct borrowed_one *v;
	size_t n, cap;
};

static bool same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static char *dup_or_null(const char *s, bool *fail)
{
	char *d = s ? strdup(s) : NULL;

	*fail |= s && !d;
	return d;
}

static int one_borrowed(void *ctx, const struct bip_alloc_entry *e)
{
	struct borrowed *b = ctx;
	struct borrowed_one *o;
	bool fail = false;

	if (same(e->node, e->block_node))
		return BIP_OK;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		struct borrowed_one *v = realloc(b->v, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		b->v = v;
		b->cap = cap;
	}
	o = &b->v[b->n++];
	*o = (struct borrowed_one){.addr = e->addr, .block = e->block};
	o->handle = dup_or_null(e->handle, &fail);
	o->block_node = dup_or_null(e->block_node, &fail);
	o->node = dup_or_null(e->node, &fail);
	return fail ? BIP_ENOMEM : BIP_OK;
}

static int cmp_borrowed(const void *x, const void *y)
{
	return bip_addr_cmp(((const struct borrowed_one *)x)->addr,
			    ((const struct borrowed_one *)y)->addr);
}

static int show_borrowed(struct ctl_session *s, json_t *out, struct bip_table *t)
{
	static const char *const headers[] = {"ADDRESS", "HANDLE", "BLOCK", "BLOCKOWNER", "NODE"};
	struct borrowed b = {0};
	int rc;

	if ((rc = bip_table_init(t, 5, headers)) != BIP_OK)
		return rc;
	if ((rc = bip_ipam_alloc_foreach(s->ipam, one_borrowed, &b)) != BIP_OK) {
		if (rc != BIP_ENOMEM)
			ctl_lib_err(s->ipam, rc, "cannot read the allocations");
		goto out;
	}
	if (b.n) /* qsort wants a non-NULL array even when empty */
		qsort(b.v, b.n, sizeof(*b.v), cmp_borrowed);
	for (size_t i = 0; i < b.n && rc == BIP_OK; i++) {
		const struct borrowed_one *e = &b.v[i];
		char addr[BIP_ADDR_STRLEN], block[BIP_PREFIX_STRLEN];
		const char *row[] = {bip_addr_fmt(e->addr, addr), e->handle,
				     bip_prefix_fmt(e->block, block),
				     e->block_node ? e->block_node : "(none)", e->node};
		json_t *o =
		    json_pack("{s:s, s:s?, s:s, s:s?, s:s?}", "address", addr, "handle", e->handle,
			      "block", block, "blockOwner", e->block_node, "node", e->node);

		if (!o || json_array_append_new(out, o) != 0 || bip_table_add(t, row) != BIP_OK)
			rc = BIP_ENOMEM;
	}
out:
	for (size_t i = 0; i < b.n; i++) {
		free(b.v[i].handle);
		free(b.v[i].block_node);
		free(b.v[i].node);
	}
	free(b.v);
	return rc;
}

/* Add a PROPERTY VALUE row. */
static int prop(struct bip_table *t, const char *k, const char *v)
{
	const char *row[] = {k, v};

	return bip_table_add(t, row);
}

static int show_config(struct ctl_session *s, json_t **out, struct bip_table *t)
{
	static const char *const headers[] = {"PROPERTY", "VALUE"};
	struct bip_config c;
	char max[64], empty[64], cool[64];
	json_t *doc;
	int rc;

	if ((rc = bip_ipam_config_get(s->ipam, &c)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot read the IPAM configuration");
		return rc;
	}
	snprintf(max, sizeof(max), "%u%s", c.max_blocks_per_host,
		 c.max_blocks_per_host ? "" : " (unlimited)");
	snprintf(empty, sizeof(empty), "%u%s", c.empty_block_release_s,
		 c.empty_block_release_s ? " s" : " (never)");
	snprintf(cool, sizeof(cool), "%u%s", c.ip_cooldown_s, c.ip_cooldown_s ? " s" : " (none)");
	if (!(doc = bip_res_config_json(&c)) || bip_table_init(t, 2, headers) != BIP_OK ||
	    prop(t, "StrictAffinity", c.strict_affinity ? "true" : "false") != BIP_OK ||
	    prop(t, "AutoAllocateBlocks", c.auto_allocate_blocks ? "true" : "false") != BIP_OK ||
	    prop(t, "MaxBlocksPerHost", max) != BIP_OK ||
	    prop(t, "EmptyBlockReleaseSeconds", empty) != BIP_OK ||
	    prop(t, "IPCooldownSeconds", cool) != BIP_OK) {
		json_decref(doc);
		return BIP_ENOMEM;
	}
	*out = doc;
	return BIP_OK;
}

/* For an address nobody holds: the pool it is in and the reservation that keeps it, if any. */
static int free_addr_context(struct ctl_session *s, struct bip_addr addr, char **pool, char **resv)
{
	struct bip_pool *pools = NULL;
	struct bip_reservation *res = NULL;
	size_t np = 0, nr = 0;
	int rc;

	if ((rc = bip_ipam_pool_list(s->ipam, &pools, &np)) != BIP_OK ||
	    (rc = bip_ipam_reservation_list(s->ipam, &res, &nr)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot read the pools and reservations");
		goto out;
	}
	for (size_t i = 0; i < np && !*pool; i++)
		if (bip_prefix_contains(pools[i].cidr, addr) && !(*pool = strdup(pools[i].name)))
			rc = BIP_ENOMEM;
	for (size_t i = 0; i < nr && !*resv && rc == BIP_OK; i++)
		for (size_t k = 0; k < res[i].ncidrs && !*resv; k++)
			if (bip_prefix_contains(res[i].cidrs[k], addr) &&
			    !(*resv = strdup(res[i].name)))
				rc = BIP_ENOMEM;
out:
	bip_pools_free(pools, np);
	bip_reservations_free(res, nr);
	return rc;
}

static int show_ip(struct ctl_session *s, struct bip_addr addr, json_t **out, struct bip_table *t)
{
	static const char *const headers[] = {"PROPERTY", "VALUE"};
	struct bip_addr_info ai = {0};
	char a[BIP_ADDR_STRLEN], block[BIP_PREFIX_STRLEN], since[32];
	const struct bip_handle_info *h = &ai.holder;
	json_t *o = NULL;
	int rc;

	bip_addr_fmt(addr, a);
	if ((rc = bip_table_init(t, 2, headers)) != BIP_OK)
		return rc;
	rc = bip_ipam_addr_info(s->ipam, addr, &ai);
	if (rc == BIP_ENOTFOUND) {
		char *pool = NULL, *resv = NULL;

		if ((rc = free_addr_context(s, addr, &pool, &resv)) != BIP_OK)
			goto out;
		if (!(o = json_pack("{s:s, s:b, s:s?, s:b, s:s?}", "address", a, "assigned", 0,
				    "pool", pool, "reserved", resv != NULL, "reservation", resv)) ||
		    prop(t, "Address", a) != BIP_OK || prop(t, "Assigned", "no") != BIP_OK ||
		    prop(t, "Pool", pool ? pool : "(none: outside every pool)") != BIP_OK ||
		    prop(t, "Reserved", resv ? "yes" : "no") != BIP_OK ||
		    (resv && prop(t, "Reservation", resv) != BIP_OK))
			rc = BIP_ENOMEM;
		else
			rc = BIP_OK;
		free(pool);
		free(resv);
		goto out;
	}
	if (rc != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot look up %s", a);
		goto out;
	}
	bip_prefix_fmt(ai.block, block);
	bip_fmt_time(h->time, since, sizeof(since));
	o = json_pack("{s:s, s:b, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s, s:s?, s:s?, "
		      "s:b, s:b}",
		      "address", a, "assigned", 1, "handle", h->id, "node", h->node, "namespace",
		      h->namespace, "pod", h->pod, "podUID", h->pod_uid, "container", h->container,
		      "interface", h->ifname, "since", h->time ? since : NULL, "block", block,
		      "blockOwner", ai.block_node, "pool", ai.pool, "borrowed", ai.borrowed,
		      "reserved", ai.reserved);
	rc = !o || prop(t, "Address", a) || prop(t, "Assigned", "yes") ||
		     prop(t, "Handle", h->id) || prop(t, "Node", h->node) ||
		     prop(t, "Namespace", h->namespace) || prop(t, "Pod", h->pod) ||
		     (h->pod_uid && prop(t, "PodUID", h->pod_uid)) ||
		     prop(t, "Container", h->container) || prop(t, "Interface", h->ifname) ||
		     prop(t, "Since", since) || prop(t, "Block", block) ||
		     prop(t, "BlockOwner", ai.block_node ? ai.block_node : "(none)") ||
		     prop(t, "Pool", ai.pool ? ai.pool : "(none)") ||
		     prop(t, "Borrowed", ai.borrowed ? "yes" : "no") ||
		     prop(t, "Reserved", ai.reserved ? "yes" : "no")
		 ? BIP_ENOMEM
		 : BIP_OK;
out:
	bip_addr_info_clear(&ai);
	if (rc == BIP_OK)
		*out = o;
	else
		json_decref(o);
	return rc;
}

/* CTL_CONTINUE with the view asked for (and its address, for --ip), or the exit status. */
static int parse_args(int argc, char **argv, enum view *view, struct bip_addr *addr)
{
	static const struct option longopts[] = {{"show-blocks", no_argument, NULL, 'B'},
						 {"show-borrowed", no_argument, NULL, 'b'},
						 {"show-configuration", no_argument, NULL, 'c'},
						 {"ip", required_argument, NULL, 'i'},
						 CTL_LONGOPTS};
	struct bip_prefix pfx;
	int c, rc, nviews = 0;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		nviews++;
		switch (c) {
		case 'B':
			*view = VIEW_BLOCKS;
			break;
		case 'b':
			*view = VIEW_BORROWED;
			break;
		case 'c':
			*view = VIEW_CONFIG;
			break;
		case 'i':
			*view = VIEW_IP;
			/* an interface address ("10.0.0.5/26", as 'ip addr' shows it) too */
			if (bip_addr_parse(optarg, addr) != BIP_OK &&
			    bip_prefix_parse(optarg, &pfx) == BIP_OK)
				*addr = pfx.addr;
			else if (bip_addr_parse(optarg, addr) != BIP_OK) {
				c = CTL_OPT_USAGE;
				ctl_usage_err(&usage, "invalid address '%s'", optarg);
				goto opts_done;
			}
			break;
		}
	}
opts_done:
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE)
		return rc;
	if (nviews > 1)
		return ctl_usage_err(&usage, "--ip, --show-blocks, --show-borrowed and "
					     "--show-configuration exclude each other");
	return CTL_CONTINUE;
}

/* Fill *out (an array, or replaced by an object for the single-object views) and t. */
static int show(struct ctl_session *s, enum view view, struct bip_addr addr, json_t **out,
		struct bip_table *t)
{
	switch (view) {
	case VIEW_POOLS:
		return show_pools(s, *out, t, ctl.output == CTL_OUT_WIDE);
	case VIEW_BLOCKS:
		return show_blocks(s, *out, t, ctl.output == CTL_OUT_WIDE);
	case VIEW_BORROWED:
		return show_borrowed(s, *out, t);
	case VIEW_CONFIG:
		json_decref(*out);
		*out = NULL;
		return show_config(s, out, t);
	default:
		json_decref(*out);
		*out = NULL;
		return show_ip(s, addr, out, t);
	}
}

int ipam_show_main(int argc, char **argv)
{
	struct ctl_session s = {0};
	struct bip_table t = {0};
	struct bip_addr addr = {0};
	struct ctl_progress *pr;
	enum view view = VIEW_POOLS;
	json_t *out = json_array();
	int ret = CTL_EXIT_ERR, rc;

	if ((rc = parse_args(argc, argv, &view, &addr)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (!out || ctl_open(&s, true) != CTL_EXIT_OK)
		goto out;
	pr = ctl_progress_start("reading the store");
	rc = show(&s, view, addr, &out, &t);
	ctl_progress_stop(pr);
	if (rc == BIP_ENOMEM)
		ctl_err("out of memory");
	if (rc != BIP_OK)
		goto out;
	if (ctl_tabular())
		bip_table_print_or(&t, stdout,
				   view == VIEW_POOLS	 ? "No pools."
				   : view == VIEW_BLOCKS ? "No blocks."
							 : "No borrowed addresses.");
	else if (ctl_print(out) != CTL_EXIT_OK)
		goto out;
	ret = CTL_EXIT_OK;
out:
	bip_table_free(&t);
	json_decref(out);
	ctl_close(&s);
	return ret;
}
