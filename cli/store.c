/* store COMMAND: operations on the store as a whole, one file each. */
#include "ctl.h"
#include "subcommands.h"

static const struct ctl_cmd commands[] = {
    {"migrate", store_migrate_main, "copy every record to another store (sqlite <-> etcd)"},
};

int store_main(int argc, char **argv)
{
	return ctl_dispatch("store", commands, sizeof(commands) / sizeof(commands[0]), NULL,
			    argc - 1, argv + 1);
}
