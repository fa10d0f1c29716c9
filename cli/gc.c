/*
 * gc: release what belongs to containers (and nodes) that are gone, given what is alive.
 *
 * A CNI handle is "<network>.<containerID>.<ifname>". With --live (container IDs) a handle lives
 * when any text between two of its dots is a live ID: network names and interface names may hold
 * dots too, so every split is tried. With --network and --attachments (CNI GC's
 * cni.dev/valid-attachments) the handle must be one of the attachments exactly. Either way a
 * handle allocated after the live list was taken (its file's time, less --grace for clock skew)
 * is kept: its container may simply be missing from an older list. An empty live list would
 * release everything, so it needs --allow-empty.
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
    "[--dry-run] [--node NAME | --all-nodes] [--grace SECONDS] [--allow-empty]\n"
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

struct gc {
	const json_t *live;   /* --live: container IDs */
	const json_t *attach; /* --attachments: whole handle ids */
	const char *node;
	int64_t cutoff;
	json_t *victims; /* [{handle, node, addresses}] */
	size_t live_kept, recent_kept, not_cni, other_node;
};

static int one_handle(void *ctx, const struct bip_handle_info *h)
{
	struct gc *g = ctx;
	char a[BIP_ADDR_STRLEN];
	json_t *addrs, *v;

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
	if (h->time > g->cutoff) {
		g->recent_kept++;
		return BIP_OK;
	}
	if (!(addrs = json_array()))
		return BIP_ENOMEM;
	for (size_t i = 0; i < h->naddrs; i++)
		json_array_append_new(addrs, json_string(bip_addr_fmt(h->addrs[i].addr, a)));
	v = json_pack("{s:s, s:s?, s:o}", "handle", h->id, "node", h->node, "addresses", addrs);
	return v && json_array_append_new(g->victims, v) == 0 ? BIP_OK : BIP_ENOMEM;
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

int gc_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"live", required_argument, NULL, 'L'},
						 {"network", required_argument, NULL, 'N'},
						 {"attachments", required_argument, NULL, 'A'},
						 {"nodes-live", required_argument, NULL, 'M'},
						 {"node", required_argument, NULL, 'n'},
						 {"all-nodes", no_argument, NULL, 'a'},
						 {"grace", required_argument, NULL, 'g'},
						 {"allow-empty", no_argument, NULL, 'E'},
						 {"dry-run", no_argument, NULL, 'd'},
						 CTL_LONGOPTS};
	struct ctl_session s = {0};
	struct gc g = {0};
	const char *live_file = NULL, *network = NULL, *att_file = NULL, *nodes_file = NULL;
	bool dry_run = false, allow_empty = false, all_nodes = false, node_named = false;
	char host[256];
	unsigned long grace = 60;
	json_t *live = NULL, *attach = NULL, *nodes_live = NULL, *known = NULL, *dead_nodes = NULL;
	json_t *result = NULL, *v;
	size_t i, failed = 0, released = 0, empty_blocks = 0;
	char *prefix = NULL;
	const char *key;
	int ret = CTL_EXIT_ERR, c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		switch (c) {
		case 'L':
			live_file = optarg;
			break;
		case 'N':
			network = optarg;
			break;
		case 'A':
			att_file = optarg;
			break;
		case 'M':
			nodes_file = optarg;
			break;
		case 'n':
			g.node = optarg;
			node_named = true;
			break;
		case 'a':
			all_nodes = true;
			break;
		case 'g':
			if (ctl_parse_uint(optarg, 1ul << 31, &grace) != BIP_OK) {
				ret = ctl_usage_err(&usage, "invalid --grace '%s' (want seconds)",
						    optarg);
				goto out;
			}
			break;
		case 'E':
			allow_empty = true;
			break;
		case 'd':
			dry_run = true;
			break;
		}
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (live_file && (network || att_file)) {
		ret = ctl_usage_err(&usage, "--live excludes --network and --attachments");
		goto out;
	}
	if (!network != !att_file) {
		ret = ctl_usage_err(&usage, "--network and --attachments go together");
		goto out;
	}
	if (g.node && all_nodes) {
		ret = ctl_usage_err(&usage, "--node excludes --all-nodes");
		goto out;
	}
	if ((live_file || att_file) && !g.node && !all_nodes &&
	    ctl_local_node(host, sizeof(host), &g.node) != CTL_EXIT_OK)
		goto out;
	if (!live_file && !att_file && !nodes_file) {
		ret = ctl_usage_err(&usage, "nothing to collect: give --live, --network with "
					    "--attachments, or --nodes-live");
		goto out;
	}
	if (live_file && ctl_read_set(live_file, &live) != CTL_EXIT_OK)
		goto out;
	if (att_file && read_attachments(att_file, network, &attach) != CTL_EXIT_OK)
		goto out;
	if (nodes_file && ctl_read_set(nodes_file, &nodes_live) != CTL_EXIT_OK)
		goto out;
	if (!allow_empty &&
	    ((live && !json_object_size(live)) || (attach && !json_object_size(attach)) ||
	     (nodes_live && !json_object_size(nodes_live)))) {
		ctl_err("%s lists nothing alive: that would release everything; add --allow-empty "
			"if that is meant",
			live && !json_object_size(live)	      ? live_file
			: attach && !json_object_size(attach) ? att_file
							      : nodes_file);
		goto out;
	}
	if (!(g.victims = json_array()) || !(known = json_object()) ||
	    !(dead_nodes = json_array())) {
		ctl_err("out of memory");
		goto out;
	}
	g.live = live;
	g.attach = attach;
	if (live_file || att_file)
		g.cutoff = snapshot_time(live_file ? live_file : att_file) - (int64_t)grace;
	if (network && asprintf(&prefix, "%s.", network) < 0) {
		prefix = NULL;
		ctl_err("out of memory");
		goto out;
	}
	if (ctl_open(&s, dry_run) != CTL_EXIT_OK)
		goto out;
	/* a typo would collect nothing and say so with exit 0 */
	if (node_named && ctl_node_known(s.ipam, g.node, "gc --node") != CTL_EXIT_OK)
		goto out;
	if ((live || attach) && (rc = bip_ipam_handle_foreach(s.ipam, prefix ? prefix : "",
							      one_handle, &g)) != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot list the handles");
		goto out;
	}
	if (nodes_live) {
		if (known_nodes(&s, known) != BIP_OK)
			goto out;
		json_object_foreach(known, key, v)
		{
			if (!json_object_get(nodes_live, key))
				json_array_append_new(dead_nodes, json_string(key));
		}
		if (nodes_typo(nodes_live, known, dead_nodes, nodes_file))
			goto out;
	}
	json_array_foreach(g.victims, i, v)
	{
		const char *h = json_string_value(json_object_get(v, "handle"));

		if (!dry_run && (rc = bip_ipam_release_handle(s.ipam, h)) != BIP_OK &&
		    rc != BIP_ENOTFOUND) {
			ctl_lib_err(s.ipam, rc, "cannot release handle '%s'", h);
			failed++;
			continue;
		}
		released++;
		if (ctl_tabular())
			print_handle(v, dry_run ? "would release" : "released");
	}
	json_array_foreach(dead_nodes, i, v)
	{
		const char *n = json_string_value(v);
		size_t blocks = 0, deleted = 0;

		if (!dry_run && (rc = bip_ipam_node_release(s.ipam, n, &blocks, &deleted))) {
			ctl_lib_err(s.ipam, rc, "cannot release node '%s'", n);
			failed++;
			continue;
		}
		if (!ctl_tabular())
			continue;
		if (dry_run)
			printf("would release node %s\n", n);
		else
			printf("released node %s: %zu blocks (%zu empty, deleted)\n", n, blocks,
			       deleted);
	}
	/* Then the blocks that have been empty for emptyBlockReleaseSeconds (of any node: an
	 * empty block holds no pod), each conditioned on the block being as read. */
	if (!dry_run) {
		struct bip_config cfg;

		rc = bip_ipam_config_get(s.ipam, &cfg);
		if (rc == BIP_OK && cfg.empty_block_release_s)
			rc = bip_ipam_release_empty_blocks(s.ipam, cfg.empty_block_release_s,
							   &empty_blocks);
		if (rc != BIP_OK) {
			ctl_lib_err(s.ipam, rc, "cannot release the empty blocks");
			failed++;
		}
	}
	if (ctl_tabular()) {
		if (empty_blocks)
			printf("released %zu blocks empty for emptyBlockReleaseSeconds or more\n",
			       empty_blocks);
		printf("gc: %zu handles %sreleased; kept %zu live, %zu too recent, %zu not CNI "
		       "handles, %zu on other nodes; %zu nodes %sreleased; %zu failures\n",
		       released, dry_run ? "would be " : "", g.live_kept, g.recent_kept, g.not_cni,
		       g.other_node, json_array_size(dead_nodes), dry_run ? "would be " : "",
		       failed);
	} else {
		result = json_pack("{s:b, s:O, s:{s:I, s:I, s:I, s:I}, s:O, s:I, s:I}", "dryRun",
				   dry_run, "handles", g.victims, "kept", "live",
				   (json_int_t)g.live_kept, "recent", (json_int_t)g.recent_kept,
				   "notCNI", (json_int_t)g.not_cni, "otherNodes",
				   (json_int_t)g.other_node, "nodes", dead_nodes, "emptyBlocks",
				   (json_int_t)empty_blocks, "failed", (json_int_t)failed);
		if (!result) {
			ctl_err("out of memory");
			goto out;
		}
		if (ctl_print(result) != CTL_EXIT_OK)
			goto out;
	}
	ret = failed ? CTL_EXIT_ERR : CTL_EXIT_OK;
out:
	free(prefix);
	json_decref(result);
	json_decref(live);
	json_decref(attach);
	json_decref(nodes_live);
	json_decref(known);
	json_decref(dead_nodes);
	json_decref(g.victims);
	ctl_close(&s);
	return ret;
}
