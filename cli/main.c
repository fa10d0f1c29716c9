/*
 * blockipamctl: the admin CLI. main() reads the global options and hands the rest of the command
 * line to one subcommand from the table; every subcommand lives in its own file.
 */
#include "ctl.h"
#include "subcommands.h"

static const struct ctl_cmd commands[] = {
    {"apply", apply_main, "create or update resources from a YAML or JSON manifest"},
    {"create", create_main, "create resources from a manifest (fail if any exists)"},
    {"get", get_main, "show pools, reservations, the IPAM config, nodes, namespaces"},
    {"delete", delete_main, "delete a resource, or those named in a manifest"},
    {"patch", patch_main, "change fields of a resource with a JSON merge patch"},
    {"ipam", ipam_main, "show, list, check, map, release, split, configure"},
    {"node", node_main, "release a node's blocks; set its labels, pod CIDRs, addresses"},
    {"gc", gc_main, "release the addresses of containers (and nodes) that are gone"},
    {"k8s", k8s_main, "keep nodes, namespaces and pods in sync with Kubernetes; collect leaks"},
    {"store", store_main, "migrate: copy every record to another store (sqlite <-> etcd)"},
    {"routes", routes_main, "the routes a node installs or advertises: blocks, borrowed hosts"},
    {"metrics", metrics_main, "the store's figures in the Prometheus text format"},
    {"completion", completion_main,
     "shell completion: eval \"$(blockipamctl completion bash)\" (or zsh)"},
    {"version", version_main, "versions of this program, its plugin, and the store's schema"},
};

static const char help[] =
    "Block-based IP address management for container networks: the admin CLI.\n"
    "Resource kinds: pool, reservation, ipamconfig, node, namespace (and Calico's ippool,\n"
    "ipreservation, ipamconfiguration), singular or plural, any case.\n"
    "\n"
    "Global options (before COMMAND; every command also takes them after its name):\n"
    "  --store ADDR      sqlite:///path/file.db or etcd://host:port[,host:port] (default:\n"
    "                    $BLOCKIPAM_STORE, then " BIP_STORE_DEFAULT ")\n"
    "  --store-prefix P, --store-ca-file F, --store-cert-file F, --store-key-file F,\n"
    "  --store-timeout-ms N\n"
    "                    open it as the plugin's ipam.store_prefix, store_ca_file, ... say\n"
    "                    (default: $BLOCKIPAM_STORE_PREFIX, _CA_FILE, _CERT_FILE, _KEY_FILE,\n"
    "                    _TIMEOUT_MS)\n"
    "  -o, --output FMT  table (default), wide, json or yaml\n"
    "  -h, --help        this help\n"
    "  --version         the version of blockipamctl (and 'version' for the store's)\n"
    "\n"
    "Exit status: 0 success, 1 error, 2 usage error, 3 'ipam check' found problems.\n";

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"version", no_argument, NULL, 'V'}, CTL_LONGOPTS};
	static const struct ctl_usage usage = {"", NULL, help};
	static char *help_argv[] = {"--help", NULL};
	int c;

	/* '+': stop at the command word; what follows it belongs to the command */
	while ((c = ctl_getopt(&usage, argc, argv, "+" CTL_SHORTOPTS, longopts)) > 0) {
		if (c == 'h')
			return ctl_dispatch(NULL, commands, NCOMMANDS, help, 1, help_argv);
		if (c == 'V') {
			ctl_print_version(stdout);
			return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_ERR;
		}
	}
	if (c != CTL_OPT_END)
		return ctl_opt_exit(c);
	return ctl_dispatch(NULL, commands, NCOMMANDS, help, argc - optind, argv + optind);
}
