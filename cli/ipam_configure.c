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

/* The settings, in the order of the options; the error message names the option and the range. */
enum knob { K_STRICT, K_AUTO, K_MAX, K_EMPTY, K_COOL, NKNOBS };
static const struct {
	int c;
	const char *name;
	unsigned long max; /* 0: a bool */
	const char *want;
} knobs[NKNOBS] = {
    [K_STRICT] = {'s', "strict-affinity", 0, "true or false"},
    [K_AUTO] = {'a', "auto-allocate-blocks", 0, "true or false"},
    [K_MAX] = {'m', "max-blocks-per-host", 0xffffffffu, "a number from 0 to 4294967295"},
    [K_EMPTY] = {'e', "empty-block-release", 365 * 86400, "a number from 0 to 31536000"},
    [K_COOL] = {'c', "ip-cooldown", BIP_COOLDOWN_MAX, "a number from 0 to 1200"},
};

/* What the command line changes: v[k] (a bool as 0 or 1) where set[k]. */
struct change {
	bool set[NKNOBS];
	unsigned long v[NKNOBS];
};

/* CTL_CONTINUE with ch filled in, or the exit status. */
static int parse_args(int argc, char **argv, struct change *ch)
{
	static const struct option longopts[] = {
	    {"strict-affinity", required_argument, NULL, 's'},
	    {"strictaffinity", required_argument, NULL, 's'}, /* calicoctl's spelling */
	    {"auto-allocate-blocks", required_argument, NULL, 'a'},
	    {"max-blocks-per-host", required_argument, NULL, 'm'},
	    {"empty-block-release", required_argument, NULL, 'e'},
	    {"ip-cooldown", required_argument, NULL, 'c'},
	    CTL_LONGOPTS};
	int c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		for (int k = 0; k < NKNOBS; k++) {
			bool b = false;

			if (knobs[k].c != c)
				continue;
			if (knobs[k].max)
				rc = ctl_parse_uint(optarg, knobs[k].max, &ch->v[k]);
			else if ((rc = ctl_parse_bool(optarg, &b)) == BIP_OK)
				ch->v[k] = b;
			ch->set[k] = true;
			if (rc != BIP_OK)
				return ctl_usage_err(&usage,
						     "invalid value '%s' for --%s (want %s)",
						     optarg, knobs[k].name, knobs[k].want);
		}
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE)
		return rc;
	for (int k = 0; k < NKNOBS; k++)
		if (ch->set[k])
			return CTL_CONTINUE;
	return ctl_usage_err(&usage, "nothing to change: give at least one option");
}

static void apply(const struct change *ch, struct bip_config *cfg)
{
	if (ch->set[K_STRICT])
		cfg->strict_affinity = ch->v[K_STRICT];
	if (ch->set[K_AUTO])
		cfg->auto_allocate_blocks = ch->v[K_AUTO];
	if (ch->set[K_MAX])
		cfg->max_blocks_per_host = (unsigned)ch->v[K_MAX];
	if (ch->set[K_EMPTY])
		cfg->empty_block_release_s = (unsigned)ch->v[K_EMPTY];
	if (ch->set[K_COOL])
		cfg->ip_cooldown_s = (unsigned)ch->v[K_COOL];
}

/* The configuration as it is now, as 'get config' prints it. */
static int report(const struct bip_config *cfg)
{
	struct bip_table t = {0};
	json_t *doc = NULL, *docs = NULL;
	int ret = CTL_EXIT_ERR;

	if (!(doc = bip_res_config_json(cfg))) {
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
	return ret;
}

int ipam_configure_main(int argc, char **argv)
{
	struct ctl_session s = {0};
	struct change ch = {0};
	struct bip_config cfg;
	int ret = CTL_EXIT_ERR, rc;

	if ((rc = parse_args(argc, argv, &ch)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (ctl_open(&s, false) != CTL_EXIT_OK)
		goto out;
	if ((rc = bip_ipam_config_get(s.ipam, &cfg)) != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot read the IPAM configuration");
		goto out;
	}
	apply(&ch, &cfg);
	if ((rc = bip_ipam_config_set(s.ipam, &cfg)) != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot set the IPAM configuration");
		goto out;
	}
	ret = report(&cfg);
out:
	ctl_close(&s);
	return ret;
}
