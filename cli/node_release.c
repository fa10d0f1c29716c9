/* node release NAME: a node has left; its block affinities go (addresses stay until gc). */
#include "ctl.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "node release", "NAME",
    "Release every block affinity of node NAME (a node that has left the cluster): its empty\n"
    "blocks are deleted, the others become unowned until their last address is released.\n"
    "Addresses are not released ('gc' does that); the node's record (labels, pod CIDRs)\n"
    "stays until 'delete node NAME'.\n"};

int node_release_main(int argc, char **argv)
{
	static const struct option longopts[] = {CTL_LONGOPTS};
	struct ctl_session s = {0};
	size_t released = 0, deleted = 0;
	int ret = CTL_EXIT_ERR, c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0)
		;
	if ((rc = ctl_args(&usage, c, argc, argv, 1, 1)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (ctl_open(&s, false) != CTL_EXIT_OK ||
	    ctl_node_known(s.ipam, argv[optind], "node release") != CTL_EXIT_OK)
		goto out;
	rc = bip_ipam_node_release(s.ipam, argv[optind], &released, &deleted);
	if (rc != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot release node '%s'", argv[optind]);
		goto out;
	}
	printf("node/%s released: %zu block%s released, %zu of them empty and deleted\n",
	       argv[optind], released, released == 1 ? "" : "s", deleted);
	ret = CTL_EXIT_OK;
out:
	ctl_close(&s);
	return ret;
}
