#include "ctl.h"
#include "subcommands.h"

int k8s_watch_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	ctl_err("k8s watch: not yet");
	return CTL_EXIT_ERR;
}
