/*
 * gc: release what belongs to containers (and nodes) that are gone, given what is alive.
 *
 * A CNI handle is "<network>.<containerID>.<ifname>". With --live (container IDs) a handle lives
 * when any text between two of its dots is a live ID: network names and interface names may hold
 * dots too, so every split is tried. With --network and --attachments (CNI GC's
 * cni.dev/valid-attachments) the handle must be one of the attachments exactly. Either way a
 * handle allocated after the live list was taken (its file's time, less --grace for clock skew)
 * is kept: its container may simply be missing from an older list. A handle's time is taken in
 * the store's order of writes (drop_recent), so a writer's clock gone back cannot age it. An empty
 * live list would release everything, so it needs --allow-empty.
 *
 * A live list is one node's: the runtime that wrote it knows only its own containers. On a store
 * that several nodes share, the handles of every other node are missing from it and alive all
 * the same, so only the handles of one node are ever candidates: this machine's node
 * ($BLOCKIPAM_NODE, else the host name, as the plugin resolves it), or the node named with
 * --node. --all-nodes is for a live list that really covers the cluster (every pod of every
 * node), and has to be asked for by name.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ctl.h"
#include "manifest.h"
#include "output.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "gc",
    "[--dry-run] [--node NAME | --all-nodes] [--grace SECONDS] [--list-revision REV]\n"
    "       [--allow-empty]\n"
    "       (--live FILE | --network NAME --attachments FILE) [--nodes-live FILE]\n"
    "   or: gc [--dry-run] [--allow-empty] --nodes-live FILE",
    "Release the addresses of containers that are gone, and the blocks of nodes that are gone;\n"
    "then give back every block that has been empty for emptyBlockReleaseSeconds.\n"
    "\n"
    "Options:\n"
    "  --live FILE          container IDs that are alive, one per line ('#' comments); every\n"
    "                       CNI handle (NETWORK.CONTAINERID.IFNAME) of another container is\n"
    "                       released\n"
    "  --network NAME       with --attachments: only handles of this network\n"
    "  --attachments FILE   the live attachments of NAME as CNI GC gives them: a JSON list of\n"
    "                       {\"containerID\", \"ifname\"}, or an object holding one under\n"
    "                       \"cni.dev/valid-attachments\"\n"
    "  --node NAME          the node whose live list this is: only its handles are released\n"
    "                       (default: this machine's node, $BLOCKIPAM_NODE or the host name)\n"
    "  --all-nodes          the live list covers every node of the cluster: handles of any\n"
    "                       node may be released\n"
    "  --grace SECONDS      keep handles allocated later than the live file's time less this\n"
    "                       (default 60; the file is taken as written now when it is stdin)\n"
    "  --list-revision REV  the store's revision ('blockipamctl version') read before the live\n"
    "                       list was taken: every handle written after it is kept, whatever\n"
    "                       the clocks say\n"
    "  --nodes-live FILE    node names that exist, one per line; release the block\n"
    "                       affinities of every other node (its record stays)\n"
    "  --allow-empty        accept an empty live list (it releases everything)\n"
    "  --dry-run            say what would be released, release nothing\n"};

enum ctl_liveness ctl_handle_liveness(const json_t *live, const char *h)
{
	const char *first = strchr(h, '.'), *i, *j;

	if (!first || first == h || !strchr(first + 1, '.'))
		return CTL_NOT_CNI;
	for (i = first; i; i = strchr(i + 1, '.'))
		for (j = strchr(i + 1, '.'); j; j = strchr(j + 1, '.'))
			if (j > i + 1 && json_object_getn(live, i + 1, (size_t)(j - i - 1)))
				return CTL_LIVE;
	return CTL_DEAD;
}

/* A handle's place in the store's order of writes, and the wall time its writer recorded. */
struct stamp {
	int64_t rev, time;
};

struct gc {
	/* what was asked (gc_parse) */
	const char *live_file, *network, *att_file, *nodes_file;
	bool dry_run, allow_empty, all_nodes, node_named;
	unsigned long grace, list_rev; /* list_rev 0: not given */
	char host[256];
	json_t *live;	    /* --live: container IDs */
	json_t *attach;	    /* --attachments: whole handle ids */
	json_t *nodes_live; /* --nodes-live: node names */
	const char *node;
	char *prefix;
	int64_t cutoff;
	/* what was found and done (gc_act) */
	struct stamp *stamps; /* every handle read, to order the candidates' ages */
	size_t nstamps, capstamps;
	json_t *victims; /* [{handle, node, addresses}] */
	json_t *known, *dead_nodes;
	size_t live_kept, recent_kept, not_cni, other_node;
	size_t failed, released, empty_blocks;
};

static int add_stamp(struct gc *g, const struct bip_handle_info *h)
{
	if (g->nstamps == g->capstamps) {
		size_t cap = g->capstamps ? 2 * g->capstamps : 256;
		struct stamp *v = realloc(g->stamps, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		g->stamps = v;
		g->capstamps = cap;
	}
	g->stamps[g->nstamps++] = (struct stamp){h->rev, h->time};
	return BIP_OK;
}

static int one_handle(void *ctx, const struct bip_handle_info *h)
{
	struct gc *g = ctx;
	char a[BIP_ADDR_STRLEN];
	json_t *addrs, *v;
	int64_t boot;

	if (add_stamp(g, h) != BIP_OK)
		return BIP_ENOMEM;
	if (g->node && strcmp(h->node ? h->node : "", g->node) != 0) {
		g->other_node++;
		return BIP_OK;
	}
	if (g->attach) {
		if (json_object_get(g->attach, h->id)) {
			g->live_kept++;
			return BIP_OK;
		}
	} else {
		switch (ctl_handle_liveness(g->live, h->id)) {
		case CTL_NOT_CNI:
			g->not_cni++;
			return BIP_OK;
		case CTL_LIVE:
			g->live_kept++;
			return BIP_OK;
		case CTL_DEAD:
			break;
		}
	}
	if (!(addrs = json_array()))
		return BIP_ENOMEM;
	for (size_t i = 0; i < h->naddrs; i++)
		json_array_append_new(addrs, json_string(bip_addr_fmt(h->addrs[i].addr, a)));
	boot = bip_boot_elapsed(h->boot_id, h->boot_s);
	v = json_pack("{s:s, s:s?, s:o, s:I, s:I}", "handle", h->id, "node", h->node, "addresses",
		      addrs, "rev", (json_int_t)h->rev, "boot",
		      (json_int_t)(boot >= 0 ? (int64_t)time(NULL) - boot : 0));
	return v && json_array_append_new(g->victims, v) == 0 ? BIP_OK : BIP_ENOMEM;
}

static int by_rev(const void *a, const void *b)
{
	const struct stamp *x = a, *y = b;

	return (x->rev > y->rev) - (x->rev < y->rev);
}

/*
 * Keep the candidates that are too recent. A handle's age is not the wall time its writer put in
 * it: a plugin whose clock had gone back a day would make a handle written after the live list
 * look a day older than the list. The store orders every write (its revisions), and a handle
 * written after another cannot be older than it, so a handle's age is the latest wall time
 * recorded by any handle at or before its revision (the stamps, sorted, as a running maximum).
 * A clock that jumps back thus cannot make a handle look older than anything written before it;
 * a clock that jumped ahead makes the handles after it look young, which keeps them (a leak
 * until the clock catches up, never a live pod's address released). What the order cannot
 * place is a handle that only writes older than the list precede: with --list-revision, the
 * store's revision before the list was taken, every handle written after it is kept. And a
 * handle written on this machine's current boot carries CLOCK_BOOTTIME seconds, which no
 * wall-clock jump moves: its age on that clock, taken from gc's wall time now, keeps it young
 * too ("boot": 0 when it has no such stamp), with no other write needed to place it.
 */
static int drop_recent(struct gc *g)
{
	size_t i;
	int64_t latest;
	json_t *kept = json_array(), *v;

	if (!kept)
		return BIP_ENOMEM;
	if (g->nstamps) /* qsort's array may not be NULL, even when empty */
		qsort(g->stamps, g->nstamps, sizeof(*g->stamps), by_rev);
	for (i = 1; i < g->nstamps; i++)
		if (g->stamps[i].time < g->stamps[i - 1].time)
			g->stamps[i].time = g->stamps[i - 1].time;
	json_array_foreach(g->victims, i, v)
	{
		int64_t rev = (int64_t)json_integer_value(json_object_get(v, "rev"));
		size_t lo = 0, hi = g->nstamps;

		while (lo < hi) { /* the first stamp past rev */
			size_t mid = lo + (hi - lo) / 2;

			if (g->stamps[mid].rev <= rev)
				lo = mid + 1;
			else
				hi = mid;
		}
		latest = lo ? g->stamps[lo - 1].time : INT64_MAX;
		if ((int64_t)json_integer_value(json_object_get(v, "boot")) > latest)
			latest = (int64_t)json_integer_value(json_object_get(v, "boot"));
		json_object_del(v, "rev");
		json_object_del(v, "boot");
		if (latest > g->cutoff || (g->list_rev && rev > (int64_t)g->list_rev))
			g->recent_kept++;
		else if (json_array_append(kept, v) != 0) {
			json_decref(kept);
			return BIP_ENOMEM;
		}
	}
	json_decref(g->victims);
	g->victims = kept;
	return BIP_OK;
}

/* The attachments of a CNI GC request, as the set of handle ids they keep alive. */
static int read_attachments(const char *file, const char *network, json_t **set)
{
	int ret = CTL_EXIT_ERR;
	char *buf = NULL, err[512];
	size_t len, i;
	json_t *docs = NULL, *list, *a, *s = json_object();

	if (!s || ctl_read_file(file, &buf, &len) != CTL_EXIT_OK)
		goto out;
	if (bip_manifest_parse(buf, len, &docs, err, sizeof(err)) != BIP_OK) {
		ctl_err("%s: %s", file, err);
		goto out;
	}
	list = docs;
	if (json_array_size(docs) == 1) {
		json_t *o = json_array_get(docs, 0),
		       *l = json_object_get(o, "cni.dev/valid-attachments");

		if (!l)
			l = json_object_get(o, "cni.dev/attachments");
		if (l && !json_is_array(l)) {
			ctl_err("%s: the attachments are not a list", file);
			goto out;
		}
		if (l)
			list = l;
	}
	json_array_foreach(list, i, a)
	{
		const char *id = json_string_value(json_object_get(a, "containerID"));
		const char *ifname = json_string_value(json_object_get(a, "ifname"));
		char *h;

		if (!id || !ifname || !*id || !*ifname) {
			ctl_err("%s: attachment %zu: want {\"containerID\": ..., \"ifname\": ...}",
				file, i + 1);
			goto out;
		}
		if (asprintf(&h, "%s.%s.%s", network, id, ifname) < 0) {
			ctl_err("out of memory");
			goto out;
		}
		json_object_set_new(s, h, json_true());
		free(h);
	}
	*set = s;
	s = NULL;
	ret = CTL_EXIT_OK;
out:
	json_decref(s);
	json_decref(docs);
	free(buf);
	return ret;
}

/* When the live list was taken: its file's modification time, now for stdin. */
static int64_t snapshot_time(const char *file)
{
	struct stat st;

	if (strcmp(file, "-") == 0 || stat(file, &st) != 0)
		return (int64_t)time(NULL);
	return (int64_t)st.st_mtime;
}

/* Every node the store knows of: node records and the owners of blocks. */
static int known_nodes(struct ctl_session *s, json_t *names)
{
	struct bip_node *nodes = NULL;
	struct bip_block_info *blocks = NULL;
	size_t nn = 0, nb = 0;
	int rc;

	if ((rc = bip_ipam_node_list(s->ipam, &nodes, &nn)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot list the nodes");
		return rc;
	}
	for (size_t i = 0; i < nn; i++)
		json_object_set_new(names, nodes[i].name, json_true());
	bip_nodes_free(nodes, nn);
	if ((rc = bip_ipam_block_list(s->ipam, &blocks, &nb)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot list the blocks");
		return rc;
	}
	for (size_t i = 0; i < nb; i++)
		if (blocks[i].node)
			json_object_set_new(names, blocks[i].node, json_true());
	bip_block_infos_free(blocks, nb);
	return BIP_OK;
}

/*
 * A name of the live list that the store does not know, near a node that would be released
 * ("worker1" for worker-1): a typo that would take a live node's blocks. Refused, naming both.
 */
static bool nodes_typo(const json_t *nodes_live, const json_t *known, const json_t *dead,
		       const char *file)
{
	const char **names = calloc(json_array_size(dead) + 1, sizeof(*names)), *key, *near;
	size_t n = 0, i;
	bool typo = false;
	json_t *v;

	if (!names)
		return false;
	json_array_foreach(dead, i, v)
	{
		names[n++] = json_string_value(v);
	}
	json_object_foreach((json_t *)nodes_live, key, v)
	{
		if (json_object_get(known, key) || !(near = ctl_nearest(key, names, n)))
			continue;
		ctl_err("%s names node '%s', which the store does not know, and leaves out '%s', "
			"whose blocks would be released: did you mean '%s'? Fix the list; nothing "
			"was released",
			file, key, near, near);
		typo = true;
		break;
	}
	free(names);
	return typo;
}

static void print_handle(const json_t *v, const char *verb)
{
	const json_t *addrs = json_object_get(v, "addresses"), *a;
	const char *node = json_string_value(json_object_get(v, "node"));
	size_t i;

	printf("%s handle %s (", verb, json_string_value(json_object_get(v, "handle")));
	json_array_foreach(addrs, i, a)
	{
		printf("%s%s", i ? ", " : "", json_string_value(a));
	}
	printf("%s)%s%s\n", json_array_size(addrs) ? "" : "no addresses", node ? " on node " : "",
	       node ? node : "");
}

/* Options and input files into g; CTL_CONTINUE when gc should go on, else the exit code. */
static int gc_parse(struct gc *g, int argc, char **argv)
{
	static const struct option longopts[] = {{"live", required_argument, NULL, 'L'},
						 {"network", required_argument, NULL, 'N'},
						 {"attachments", required_argument, NULL, 'A'},
						 {"nodes-live", required_argument, NULL, 'M'},
						 {"node", required_argument, NULL, 'n'},
						 {"all-nodes", no_argument, NULL, 'a'},
						 {"grace", required_argument, NULL, 'g'},
						 {"list-revision", required_argument, NULL, 'R'},
						 {"allow-empty", no_argument, NULL, 'E'},
						 {"dry-run", no_argument, NULL, 'd'},
						 CTL_LONGOPTS};
	int c, rc;

	g->grace = 60;
	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		switch (c) {
		case 'L':
			g->live_file = optarg;
			break;
		case 'N':
			g->network = optarg;
			break;
		case 'A':
			g->att_file = optarg;
			break;
		case 'M':
			g->nodes_file = optarg;
			break;
		case 'n':
			g->node = optarg;
			g->node_named = true;
			break;
		case 'a':
			g->all_nodes = true;
			break;
		case 'g':
			if (ctl_parse_uint(optarg, 1ul << 31, &g->grace) != BIP_OK)
				return ctl_usage_err(&usage, "invalid --grace '%s' (want seconds)",
						     optarg);
			break;
		case 'R':
			if (ctl_parse_uint(optarg, INT64_MAX, &g->list_rev) != BIP_OK ||
			    !g->list_rev)
				return ctl_usage_err(&usage,
						     "invalid --list-revision '%s' (want a store "
						     "revision, 1 or more)",
						     optarg);
			break;
		case 'E':
			g->allow_empty = true;
			break;
		case 'd':
			g->dry_run = true;
			break;
		}
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE)
		return rc;
	if (g->live_file && (g->network || g->att_file))
		return ctl_usage_err(&usage, "--live excludes --network and --attachments");
	if (!g->network != !g->att_file)
		return ctl_usage_err(&usage, "--network and --attachments go together");
	if (g->node && g->all_nodes)
		return ctl_usage_err(&usage, "--node excludes --all-nodes");
	if ((g->live_file || g->att_file) && !g->node && !g->all_nodes &&
	    ctl_local_node(g->host, sizeof(g->host), &g->node) != CTL_EXIT_OK)
		return CTL_EXIT_ERR;
	if (!g->live_file && !g->att_file && !g->nodes_file)
		return ctl_usage_err(&usage, "nothing to collect: give --live, --network with "
					     "--attachments, or --nodes-live");
	return CTL_CONTINUE;
}

/* The live lists, refused when one is empty without --allow-empty; CTL_CONTINUE or the code. */
static int gc_load(struct gc *g)
{
	if (g->live_file && ctl_read_set(g->live_file, &g->live) != CTL_EXIT_OK)
		return CTL_EXIT_ERR;
	if (g->att_file && read_attachments(g->att_file, g->network, &g->attach) != CTL_EXIT_OK)
		return CTL_EXIT_ERR;
	if (g->nodes_file && ctl_read_set(g->nodes_file, &g->nodes_live) != CTL_EXIT_OK)
		return CTL_EXIT_ERR;
	if (!g->allow_empty && ((g->live && !json_object_size(g->live)) ||
				(g->attach && !json_object_size(g->attach)) ||
				(g->nodes_live && !json_object_size(g->nodes_live)))) {
		ctl_err("%s lists nothing alive: that would release everything; add --allow-empty "
			"if that is meant",
			g->live && !json_object_size(g->live)	    ? g->live_file
			: g->attach && !json_object_size(g->attach) ? g->att_file
								    : g->nodes_file);
		return CTL_EXIT_ERR;
	}
	if (!(g->victims = json_array()) || !(g->known = json_object()) ||
	    !(g->dead_nodes = json_array()) ||
	    (g->network && asprintf(&g->prefix, "%s.", g->network) < 0)) {
		g->prefix = NULL;
		ctl_err("out of memory");
		return CTL_EXIT_ERR;
	}
	if (g->live_file || g->att_file)
		g->cutoff =
		    snapshot_time(g->live_file ? g->live_file : g->att_file) - (int64_t)g->grace;
	return CTL_CONTINUE;
}

/* What to release: dead handles of the node that are not too recent, and dead nodes. */
static int gc_collect(struct gc *g, struct ctl_session *s)
{
	const char *key;
	json_t *v;
	int rc;

	/* a typo would collect nothing and say so with exit 0 */
	if (g->node_named && ctl_node_known(s->ipam, g->node, "gc --node") != CTL_EXIT_OK)
		return CTL_EXIT_ERR;
	if (g->live || g->attach) {
		rc = bip_ipam_handle_foreach(s->ipam, g->prefix ? g->prefix : "", one_handle, g);
		if (rc == BIP_OK)
			rc = drop_recent(g);
		if (rc != BIP_OK) {
			ctl_lib_err(s->ipam, rc, "cannot list the handles");
			return CTL_EXIT_ERR;
		}
	}
	if (g->nodes_live) {
		if (known_nodes(s, g->known) != BIP_OK)
			return CTL_EXIT_ERR;
		json_object_foreach(g->known, key, v)
		{
			if (!json_object_get(g->nodes_live, key))
				json_array_append_new(g->dead_nodes, json_string(key));
		}
		if (nodes_typo(g->nodes_live, g->known, g->dead_nodes, g->nodes_file))
			return CTL_EXIT_ERR;
	}
	return CTL_CONTINUE;
}

/* Release what gc_collect found, then the blocks empty for emptyBlockReleaseSeconds. */
static void gc_release(struct gc *g, struct ctl_session *s)
{
	struct bip_config cfg;
	size_t i;
	json_t *v;
	int rc;

	json_array_foreach(g->victims, i, v)
	{
		const char *h = json_string_value(json_object_get(v, "handle"));

		if (!g->dry_run && (rc = bip_ipam_release_handle(s->ipam, h)) != BIP_OK &&
		    rc != BIP_ENOTFOUND) {
			ctl_lib_err(s->ipam, rc, "cannot release handle '%s'", h);
			g->failed++;
			continue;
		}
		g->released++;
		if (ctl_tabular())
			print_handle(v, g->dry_run ? "would release" : "released");
	}
	json_array_foreach(g->dead_nodes, i, v)
	{
		const char *n = json_string_value(v);
		size_t blocks = 0, deleted = 0;

		if (!g->dry_run && (rc = bip_ipam_node_release(s->ipam, n, &blocks, &deleted))) {
			ctl_lib_err(s->ipam, rc, "cannot release node '%s'", n);
			g->failed++;
			continue;
		}
		if (!ctl_tabular())
			continue;
		if (g->dry_run)
			printf("would release node %s\n", n);
		else
			printf("released node %s: %zu blocks (%zu empty, deleted)\n", n, blocks,
			       deleted);
	}
	/* Then the blocks that have been empty for emptyBlockReleaseSeconds (of any node: an
	 * empty block holds no pod), each conditioned on the block being as read. */
	if (g->dry_run)
		return;
	rc = bip_ipam_config_get(s->ipam, &cfg);
	if (rc == BIP_OK && cfg.empty_block_release_s)
		rc = bip_ipam_release_empty_blocks(s->ipam, cfg.empty_block_release_s,
						   &g->empty_blocks);
	if (rc != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot release the empty blocks");
		g->failed++;
	}
}

static int gc_report(const struct gc *g)
{
	json_t *result;
	int ret;

	if (ctl_tabular()) {
		if (g->empty_blocks)
			printf("released %zu blocks empty for emptyBlockReleaseSeconds or more\n",
			       g->empty_blocks);
		printf("gc: %zu handles %sreleased; kept %zu live, %zu too recent, %zu not CNI "
		       "handles, %zu on other nodes; %zu nodes %sreleased; %zu failures\n",
		       g->released, g->dry_run ? "would be " : "", g->live_kept, g->recent_kept,
		       g->not_cni, g->other_node, json_array_size(g->dead_nodes),
		       g->dry_run ? "would be " : "", g->failed);
		return CTL_EXIT_OK;
	}
	result =
	    json_pack("{s:b, s:O, s:{s:I, s:I, s:I, s:I}, s:O, s:I, s:I}", "dryRun", g->dry_run,
		      "handles", g->victims, "kept", "live", (json_int_t)g->live_kept, "recent",
		      (json_int_t)g->recent_kept, "notCNI", (json_int_t)g->not_cni, "otherNodes",
		      (json_int_t)g->other_node, "nodes", g->dead_nodes, "emptyBlocks",
		      (json_int_t)g->empty_blocks, "failed", (json_int_t)g->failed);
	if (!result) {
		ctl_err("out of memory");
		return CTL_EXIT_ERR;
	}
	ret = ctl_print(result);
	json_decref(result);
	return ret;
}

int gc_main(int argc, char **argv)
{
	struct ctl_session s = {0};
	struct gc g = {0};
	int ret, rc;

	if ((rc = gc_parse(&g, argc, argv)) != CTL_CONTINUE || (rc = gc_load(&g)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	ret = CTL_EXIT_ERR;
	if (ctl_open(&s, g.dry_run) != CTL_EXIT_OK || gc_collect(&g, &s) != CTL_CONTINUE)
		goto out;
	gc_release(&g, &s);
	if (gc_report(&g) != CTL_EXIT_OK)
		goto out;
	ret = g.failed ? CTL_EXIT_ERR : CTL_EXIT_OK;
out:
	free(g.prefix);
	free(g.stamps);
	json_decref(g.live);
	json_decref(g.attach);
	json_decref(g.nodes_live);
	json_decref(g.known);
	json_decref(g.dead_nodes);
	json_decref(g.victims);
	ctl_close(&s);
	return ret;
}
