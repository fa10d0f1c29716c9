/* ipam configure: read, change and write back the IPAM configuration; values checked first. */
#include "ctl.h"
#include "output.h"
#include "resource.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "ipam configure",
    "[--strict-affinity=true|false] [--auto-allocate-blocks=true|false]\n"
    "       [--max-blocks-per-host=N] [--empty-block-release=SECONDS]\n"
    "       [--ip-cooldown=SECONDS]",
    "Change the IPAM configuration; what is not given keeps its value. Prints the result.\n"
    "\n"
    "Options:\n"
    "  --strict-affinity=BOOL      never borrow an address from another node's block\n"
    "  --auto-allocate-blocks=BOOL claim new blocks when a node's blocks are full\n"
    "  --max-blocks-per-host=N     blocks a node may own per family; 0 = unlimited\n"
    "  --empty-block-release=SECS  give an affine block back to its pool once it has been\n"
    "                              empty this long (default 900); 0 = never\n"
    "  --ip-cooldown=SECS          do not hand a released address out again for this long\n"
    "                              (0-1200, default 0; Calico's ipCooldownSeconds)\n"};

int ipam_configure_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"strict-affinity", required_argument, NULL, 's'},
	    {"strictaffinity", required_argument, NULL, 's'}, /* calicoctl's spelling */
	    {"auto-allocate-blocks", required_argument, NULL, 'a'},
	    {"max-blocks-per-host", required_argument, NULL, 'm'},
	    {"empty-block-release", required_argument, NULL, 'e'},
	    {"ip-cooldown", required_argument, NULL, 'c'},
	    CTL_LONGOPTS};
	struct ctl_session s = {0};
	struct bip_config cfg;
	bool strict = false, autoalloc = false, set_strict = false, set_auto = false;
	unsigned long max = 0, empty = 0, cool = 0;
	bool set_max = false, set_empty = false, set_cool = false;
	struct bip_table t = {0};
	json_t *doc = NULL, *docs = NULL;
	int ret = CTL_EXIT_ERR, c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		rc = BIP_OK;
		switch (c) {
		case 's':
			rc = ctl_parse_bool(optarg, &strict);
			set_strict = true;
			break;
		case 'a':
			rc = ctl_parse_bool(optarg, &autoalloc);
			set_auto = true;
			break;
		case 'm':
			rc = ctl_parse_uint(optarg, 0xffffffffu, &max);
			set_max = true;
			break;
		case 'e':
			rc = ctl_parse_uint(optarg, 365 * 86400, &empty);
			set_empty = true;
			break;
		case 'c':
			rc = ctl_parse_uint(optarg, BIP_COOLDOWN_MAX, &cool);
			set_cool = true;
			break;
		}
		if (rc != BIP_OK) {
			ret = ctl_usage_err(&usage, "invalid value '%s' for --%s (want %s)", optarg,
					    c == 's'   ? "strict-affinity"
					    : c == 'a' ? "auto-allocate-blocks"
					    : c == 'm' ? "max-blocks-per-host"
					    : c == 'e' ? "empty-block-release"
						       : "ip-cooldown",
					    c == 's' || c == 'a' ? "true or false"
					    : c == 'm'		 ? "a number from 0 to 4294967295"
					    : c == 'e'		 ? "a number from 0 to 31536000"
								 : "a number from 0 to 1200");
			goto out;
		}
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (!set_strict && !set_auto && !set_max && !set_empty && !set_cool) {
		ret = ctl_usage_err(&usage, "nothing to change: give at least one option");
		goto out;
	}
	if (ctl_open(&s, false) != CTL_EXIT_OK)
		goto out;
	if ((rc = bip_ipam_config_get(s.ipam, &cfg)) != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot read the IPAM configuration");
		goto out;
	}
	if (set_strict)
		cfg.strict_affinity = strict;
	if (set_auto)
		cfg.auto_allocate_blocks = autoalloc;
	if (set_max)
		cfg.max_blocks_per_host = (unsigned)max;
	if (set_empty)
		cfg.empty_block_release_s = (unsigned)empty;
	if (set_cool)
		cfg.ip_cooldown_s = (unsigned)cool;
	if ((rc = bip_ipam_config_set(s.ipam, &cfg)) != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot set the IPAM configuration");
		goto out;
	}
	if (!(doc = bip_res_config_json(&cfg))) {
		ctl_err("out of memory");
		goto out;
	}
	if (!ctl_tabular()) {
		ret = ctl_print(doc);
		goto out;
	}
	docs = json_pack("[O]", doc);
	if (!docs || bip_res_table(BIP_RES_CONFIG, docs, false, false, &t) != BIP_OK) {
		ctl_err("out of memory");
		goto out;
	}
	bip_table_print(&t, stdout);
	ret = CTL_EXIT_OK;
out:
	bip_table_free(&t);
	json_decref(docs);
	json_decref(doc);
	ctl_close(&s);
	return ret;
}
