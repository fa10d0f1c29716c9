/* ipam COMMAND: the address-management subcommands, one file each. */
#include "ctl.h"
#include "subcommands.h"

static const struct ctl_cmd commands[] = {
    {"show", ipam_show_main, "utilization per pool; blocks, borrowed addresses, config, one IP"},
    {"list", ipam_list_main, "list the allocated addresses: by node, pool, namespace, pod"},
    {"check", ipam_check_main, "check the store's consistency; --repair what is safe"},
    {"map", ipam_map_main, "an SVG picture of each pool: blocks by node, use, borrowed, reserved"},
    {"release", ipam_release_main, "release an address, a handle, or the leaks of a report"},
    {"split", ipam_split_main, "split a disabled, unused pool into 2^k equal pools"},
    {"configure", ipam_configure_main, "change the IPAM configuration"},
};

int ipam_main(int argc, char **argv)
{
	return ctl_dispatch("ipam", commands, sizeof(commands) / sizeof(commands[0]), NULL,
			    argc - 1, argv + 1);
}
