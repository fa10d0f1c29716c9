/*
 * routes [--node N] [--format table|ip|bird] [--summary]: the aggregated routes of the cluster.
 * One route per block via the node that owns it, a host route (/32, /128) per address held by a
 * node other than its block's owner, and, on the node itself (--node), a blackhole for each of
 * its own blocks. A one-shot command with sorted output, cheap enough for a timer, that diffs
 * well.
 */
#include <string.h>

#include "ctl.h"
#include "output.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "routes", "[--node NAME] [--format table|ip|bird] [--summary]",
    "The routes the cluster needs: each node's blocks via that node's address, a host route\n"
    "for every address held by a node other than its block's owner (borrowed), and with\n"
    "--node, the routes that node installs: its own blocks as blackholes, the others via\n"
    "their nodes. Next hops are the nodes' addresses ('node set NAME --address ADDR').\n"
    "\n"
    "  --node NAME      the routes of this node\n"
    "  --format FMT     table (default); 'ip': lines for 'ip -batch -'; 'bird': a BIRD 2\n"
    "                   static protocol fragment (ip and bird need --node)\n"
    "  --summary        pods, routes with one route per pod, routes with blocks, the ratio\n"
    "  -o json|yaml     the routes and the summary as data\n"};

enum fmt { FMT_TABLE, FMT_IP, FMT_BIRD };

static const char *const kind_names[] = {"block", "host", "blackhole"};

/* A blackhole has no next hop, whatever the node's address. */
static const char *via_text(const struct bip_route *r, char *buf)
{
	if (!r->via.family || r->kind == BIP_ROUTE_BLACKHOLE)
		return "";
	return bip_addr_fmt(r->via, buf);
}

static void print_ip(const struct bip_routes *rs, const char *node)
{
	printf("# routes of node %s from blockipam (for: ip -batch -)\n", node);
	for (size_t i = 0; i < rs->n; i++) {
		const struct bip_route *r = &rs->v[i];
		char d[BIP_PREFIX_STRLEN], v[BIP_ADDR_STRLEN];

		bip_prefix_fmt(r->dst, d);
		/* A high metric: the node's own connected or per-pod routes stay in front;
		 * the blackhole only catches what nothing else claims. */
		if (r->kind == BIP_ROUTE_BLACKHOLE)
			printf("route replace blackhole %s metric 1024\n", d);
		else if (r->via.family)
			printf("route replace %s via %s\n", d, via_text(r, v));
		else
			printf("# %s: node %s has no IPv%d address\n", d, r->node,
			       r->dst.addr.family);
	}
}

static void print_bird(const struct bip_routes *rs, const char *node)
{
	printf("# routes of node %s from blockipam: a BIRD 2 static protocol per family\n", node);
	for (int fam = 4; fam <= 6; fam += 2) {
		printf("protocol static blockipam%d {\n\tipv%d;\n", fam, fam);
		for (size_t i = 0; i < rs->n; i++) {
			const struct bip_route *r = &rs->v[i];
			char d[BIP_PREFIX_STRLEN], v[BIP_ADDR_STRLEN];

			if (r->dst.addr.family != fam)
				continue;
			bip_prefix_fmt(r->dst, d);
			if (r->kind == BIP_ROUTE_BLACKHOLE)
				printf("\troute %s blackhole;\n", d);
			else if (r->via.family)
				printf("\troute %s via %s;\n", d, via_text(r, v));
			else
				printf("\t# %s: node %s has no IPv%d address\n", d, r->node, fam);
		}
		printf("}\n");
	}
}

static size_t count_kind(const struct bip_routes *rs, enum bip_route_kind k)
{
	size_t n = 0;

	for (size_t i = 0; i < rs->n; i++)
		n += rs->v[i].kind == k;
	return n;
}

static void print_summary(const struct bip_routes *rs)
{
	size_t blocks = count_kind(rs, BIP_ROUTE_BLOCK) + count_kind(rs, BIP_ROUTE_BLACKHOLE);
	size_t hosts = count_kind(rs, BIP_ROUTE_HOST);
	size_t total = blocks + hosts;

	printf("pods (addresses held):      %zu\n", rs->pods);
	printf("routes, one per pod:        %zu\n", rs->pods);
	printf("routes with blocks:         %zu (%zu block, %zu host routes for borrowed "
	       "addresses)\n",
	       total, blocks, hosts);
	if (total)
		printf("reduction:                  %.1fx fewer routes\n",
		       (double)rs->pods / (double)total);
}

static json_t *routes_json(const struct bip_routes *rs, const char *node)
{
	json_t *o = json_object(), *a = json_array();

	for (size_t i = 0; o && a && i < rs->n; i++) {
		const struct bip_route *r = &rs->v[i];
		char d[BIP_PREFIX_STRLEN], v[BIP_ADDR_STRLEN];
		json_t *e = json_pack("{s:s, s:s, s:s, s:s?}", "kind", kind_names[r->kind],
				      "destination", bip_prefix_fmt(r->dst, d), "node", r->node,
				      "via", *via_text(r, v) ? v : NULL);

		if (!e || json_array_append_new(a, e)) {
			json_decref(o);
			json_decref(a);
			return NULL;
		}
	}
	if (!o || !a) {
		json_decref(o);
		json_decref(a);
		return NULL;
	}
	if (node)
		json_object_set_new(o, "node", json_string(node));
	json_object_set_new(o, "routes", a);
	json_object_set_new(o, "summary",
			    json_pack("{sIsIsI}", "pods", (json_int_t)rs->pods, "routesWithBlocks",
				      (json_int_t)rs->n, "hostRoutes",
				      (json_int_t)count_kind(rs, BIP_ROUTE_HOST)));
	return o;
}

/* What the command line asks for. */
struct routes_args {
	const char *node; /* --node, NULL for every node */
	enum fmt fmt;
	bool summary;
};

/* CTL_CONTINUE with a filled in, or the exit status. */
static int parse_args(int argc, char **argv, struct routes_args *a)
{
	enum { OPT_NODE = 0x200, OPT_FORMAT, OPT_SUMMARY };
	static const struct option longopts[] = {{"node", required_argument, NULL, OPT_NODE},
						 {"format", required_argument, NULL, OPT_FORMAT},
						 {"summary", no_argument, NULL, OPT_SUMMARY},
						 CTL_LONGOPTS};
	int c, rc;

	a->fmt = FMT_TABLE;
	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		if (c == OPT_NODE) {
			a->node = optarg;
		} else if (c == OPT_SUMMARY) {
			a->summary = true;
		} else if (c == OPT_FORMAT) {
			if (strcmp(optarg, "table") == 0)
				a->fmt = FMT_TABLE;
			else if (strcmp(optarg, "ip") == 0)
				a->fmt = FMT_IP;
			else if (strcmp(optarg, "bird") == 0)
				a->fmt = FMT_BIRD;
			else
				return ctl_usage_err(
				    &usage, "invalid --format '%s': want table, ip or bird",
				    optarg);
		}
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE)
		return rc;
	if (a->fmt != FMT_TABLE && !a->node)
		return ctl_usage_err(&usage, "--format %s needs --node",
				     a->fmt == FMT_IP ? "ip" : "bird");
	return CTL_CONTINUE;
}

static int print_table(const struct bip_routes *rs)
{
	static const char *const hdr[] = {"NODE", "KIND", "DESTINATION", "VIA"};
	struct bip_table t;

	if (bip_table_init(&t, 4, hdr) != BIP_OK)
		return CTL_EXIT_ERR;
	for (size_t i = 0; i < rs->n; i++) {
		char d[BIP_PREFIX_STRLEN], v[BIP_ADDR_STRLEN];
		const char *row[4] = {rs->v[i].node, kind_names[rs->v[i].kind],
				      bip_prefix_fmt(rs->v[i].dst, d), via_text(&rs->v[i], v)};

		if (bip_table_add(&t, row) != BIP_OK) {
			bip_table_free(&t);
			ctl_err("out of memory");
			return CTL_EXIT_ERR;
		}
	}
	bip_table_print_or(&t, stdout, "No routes: no node owns a block or holds an address.");
	bip_table_free(&t);
	return CTL_EXIT_OK;
}

static int report(const struct routes_args *a, const struct bip_routes *rs)
{
	if (!ctl_tabular()) {
		json_t *j = routes_json(rs, a->node);
		int ret;

		if (!j)
			ctl_err("out of memory");
		ret = j ? ctl_print(j) : CTL_EXIT_ERR;
		json_decref(j);
		return ret;
	}
	if (a->summary)
		print_summary(rs);
	else if (a->fmt == FMT_IP)
		print_ip(rs, a->node);
	else if (a->fmt == FMT_BIRD)
		print_bird(rs, a->node);
	else
		return print_table(rs);
	return CTL_EXIT_OK;
}

int routes_main(int argc, char **argv)
{
	struct routes_args a = {0};
	struct ctl_session s = {0};
	struct bip_routes rs = {0};
	int ret = CTL_EXIT_ERR, rc;

	if ((rc = parse_args(argc, argv, &a)) != CTL_CONTINUE)
		return rc;
	if (ctl_open(&s, true) != CTL_EXIT_OK)
		goto out;
	/* a typo would route the node's own blocks via itself, with no blackhole */
	if (a.node && ctl_node_known(s.ipam, a.node, "routes --node") != CTL_EXIT_OK)
		goto out;
	rc = bip_ipam_routes(s.ipam, a.node, &rs);
	if (rc != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot compute the routes");
		goto out;
	}
	ret = report(&a, &rs);
out:
	bip_routes_free(&rs);
	ctl_close(&s);
	return ret;
}
