/* node COMMAND: conveniences for one node, one file each. */
#include "ctl.h"
#include "subcommands.h"

static const struct ctl_cmd commands[] = {
    {"release", node_release_main, "release a node's block affinities (the node is gone)"},
    {"set", node_set_main, "set a node's labels, pod CIDRs and addresses"},
};

int node_main(int argc, char **argv)
{
	return ctl_dispatch("node", commands, sizeof(commands) / sizeof(commands[0]), NULL,
			    argc - 1, argv + 1);
}
