/* k8s COMMAND: Kubernetes objects from kubectl's output (sync) or from kubectl itself (watch). */
#include "ctl.h"
#include "subcommands.h"

static const struct ctl_cmd commands[] = {
    {"sync", k8s_sync_main, "make the store say what kubectl's JSON or YAML says"},
    {"watch", k8s_watch_main, "run kubectl: list, watch, re-list; keep the store in sync"},
};

int k8s_main(int argc, char **argv)
{
	return ctl_dispatch("k8s", commands, sizeof(commands) / sizeof(commands[0]), NULL, argc - 1,
			    argv + 1);
}
