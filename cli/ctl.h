/*
 * blockipamctl plumbing shared by the subcommands: exit codes, the options every command accepts
 * (--store, -o, --help), messages, strict value parsers, reading input files, opening the store.
 *
 * Only this binary speaks: the library returns codes, and a subcommand turns them into one message
 * on stderr through ctl_lib_err(). Results go to stdout, diagnostics to stderr.
 *
 * The one mutable global is `ctl` (the global options): main() fills it from the options before
 * the command word, and a subcommand's own --store / -o override it.
 */
#ifndef BIP_CLI_CTL_H
#define BIP_CLI_CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "blockipam/ipam.h"
#include "resource.h"

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_ERR = 1,      /* the operation failed */
	CTL_EXIT_USAGE = 2,    /* bad command line */
	CTL_EXIT_PROBLEMS = 3, /* ipam check found problems (and did not repair them all) */
};

enum ctl_output { CTL_OUT_TABLE, CTL_OUT_WIDE, CTL_OUT_JSON, CTL_OUT_YAML };

struct ctl_opts {
	const char *prog;  /* "blockipamctl" */
	const char *store; /* --store, NULL = ctl_store_addr()'s fallbacks */
	enum ctl_output output;
	/* How to open it, as the plugin's ipam.store_* fields say (NULL: $BLOCKIPAM_STORE_*, then
	 * the default): --store-prefix, --store-ca-file, --store-cert-file, --store-key-file,
	 * --store-timeout-ms. */
	const char *store_prefix, *store_ca, *store_cert, *store_key, *store_timeout;
};
extern struct ctl_opts ctl;

/* A subcommand (or a group of them) in a dispatch table. */
struct ctl_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

/* Run the entry of table named by argv[0]; prints the table on "--help", "help" or nothing. */
int ctl_dispatch(const char *group, const struct ctl_cmd *cmds, size_t n, const char *group_help,
		 int argc, char **argv);

/* What --help of one command prints: "Usage: blockipamctl <name> <synopsis>", then help. */
struct ctl_usage {
	const char *name;     /* "ipam show" */
	const char *synopsis; /* "[--ip ADDR | --show-blocks | ...]"; NULL for a command group,
			       * which gets 'h' back from ctl_getopt and prints its own help */
	const char *help;     /* description and options, each line ending in '\n' */
};

/* The options every command takes, appended to its own. */
#define CTL_OPT_STORE 0x100
#define CTL_OPT_STORE_PREFIX 0x101
#define CTL_OPT_STORE_CA 0x102
#define CTL_OPT_STORE_CERT 0x103
#define CTL_OPT_STORE_KEY 0x104
#define CTL_OPT_STORE_TIMEOUT 0x105
#define CTL_SHORTOPTS ":ho:"
#define CTL_LONGOPTS                                                                               \
	{"help", no_argument, NULL, 'h'}, {"output", required_argument, NULL, 'o'},                \
	    {"store", required_argument, NULL, CTL_OPT_STORE},                                     \
	    {"store-prefix", required_argument, NULL, CTL_OPT_STORE_PREFIX},                       \
	    {"store-ca-file", required_argument, NULL, CTL_OPT_STORE_CA},                          \
	    {"store-cert-file", required_argument, NULL, CTL_OPT_STORE_CERT},                      \
	    {"store-key-file", required_argument, NULL, CTL_OPT_STORE_KEY},                        \
	    {"store-timeout-ms", required_argument, NULL, CTL_OPT_STORE_TIMEOUT},                  \
	{                                                                                          \
		NULL, 0, NULL, 0                                                                   \
	}

/* Returns of ctl_getopt besides a command's own option characters. */
#define CTL_OPT_END (-1)   /* no more options; positionals start at optind */
#define CTL_OPT_HELP (-2)  /* --help was printed: exit 0 */
#define CTL_OPT_USAGE (-3) /* a usage error was printed: exit 2 */

/*
 * getopt_long over argv (argv[0] is the command word) that handles the common options itself.
 * Restarts getopt on the first call for a new argv. Options may follow positionals.
 */
int ctl_getopt(const struct ctl_usage *u, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);
/* The exit code for CTL_OPT_HELP / CTL_OPT_USAGE. */
int ctl_opt_exit(int c);
/*
 * After a command's option loop ended with c: CTL_CONTINUE when options ended normally and
 * between min and max positionals follow (max < 0: any number), else the exit code (help
 * printed, or a usage error printed).
 */
#define CTL_CONTINUE (-1)
int ctl_args(const struct ctl_usage *u, int c, int argc, char **argv, int min, int max);
/* A KIND argument; prints a usage error naming the word when it is none. */
int ctl_kind_arg(const struct ctl_usage *u, const char *word, enum bip_res_kind *kind);

void ctl_help(const struct ctl_usage *u, FILE *f);
/* Print "blockipamctl <name>: <msg>" and a pointer to --help on stderr; returns CTL_EXIT_USAGE. */
int ctl_usage_err(const struct ctl_usage *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "blockipamctl: <msg>" on stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "blockipamctl: note: <msg>": something true and harmless the operator may not expect. */
void ctl_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "blockipamctl: <msg>: <library detail or bip_strerror(rc)>" on stderr. */
void ctl_lib_err(const struct bip_ipam *ipam, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Whether -o asks for a table (table or wide) rather than JSON or YAML. */
static inline bool ctl_tabular(void)
{
	return ctl.output == CTL_OUT_TABLE || ctl.output == CTL_OUT_WIDE;
}
/* Print v on stdout as -o json or -o yaml asks; prints the error. Returns an exit code. */
int ctl_print(const json_t *v);

/* The text after a command's options in every --help: common options and exit status. */
extern const char ctl_common_help[];

/* Strict parsers: the whole string, no junk, no leading '+' or spaces; *out only on success. */
int ctl_parse_bool(const char *s, bool *out);
int ctl_parse_uint(const char *s, unsigned long max, unsigned long *out);
int ctl_parse_output(const char *s, enum ctl_output *out);

/* Write text to path (NULL or "-": stdout) whole or not at all: path.tmp, then renamed, so a
 * reader (node_exporter, a browser) never sees half a file. Prints the error. */
int ctl_write_out(const char *path, const char *text, size_t len);

/* Read a whole file ("-" = stdin) into a NUL-terminated buffer; prints the error. */
#define CTL_INPUT_MAX (64u << 20)
int ctl_read_file(const char *path, char **buf, size_t *len);
/* Lines of a file ("-" = stdin): trimmed, blank lines and '#' comments skipped, as a JSON object
 * used as a set (key -> true). Prints the error. */
int ctl_read_set(const char *path, json_t **set);

/* This machine's node, as the plugin resolves it without a config: $BLOCKIPAM_NODE, else the
 * host name (into buf). Prints the error. */
int ctl_local_node(char *buf, size_t len, const char **node);

/* Read FILE ("-" = stdin), parse it, convert every document (printing warnings) and, with
 * validate, run the library's validation on each: one message and CTL_EXIT_ERR on any failure. */
int ctl_load_manifest(const char *file, struct bip_res **res, size_t *n, bool validate);

/* gc: whether a CNI handle "<network>.<containerID>.<ifname>" belongs to a container of the set
 * live (a JSON object used as a set). Network and interface names may hold dots, so every text
 * between two dots is tried. */
enum ctl_liveness { CTL_NOT_CNI, CTL_LIVE, CTL_DEAD };
enum ctl_liveness ctl_handle_liveness(const json_t *live, const char *handle);

/* safety.c: the name of names nearest to word by edit distance (a small one for its length),
 * NULL when none is near: for "did you mean '%s'?". */
const char *ctl_nearest(const char *word, const char *const *names, size_t n);
/* "<kind> 'name' not found (did you mean 'near'?)<suffix>" on stderr, from the names stored. */
void ctl_not_found(struct bip_ipam *ipam, enum bip_res_kind kind, const char *name,
		   const char *suffix);
/* A warning when a resource about to be created is named like a stored one ("worker1" next to
 * "worker-1"): node set creates nodes, so a typo there is not an error. */
void ctl_warn_new_name(struct bip_ipam *ipam, enum bip_res_kind kind, const char *name);
/* Whether the store knows node (a node record, a block affine to it, or a handle made on it);
 * else prints "<what>: unknown node 'x'; did you mean 'y'?" and returns CTL_EXIT_ERR. */
int ctl_node_known(struct bip_ipam *ipam, const char *node, const char *what);
/* The addresses in use inside within (NULL: anywhere) held by node (NULL: any): their count
 * and a text naming the first few holders ("default/web-1 (10.0.0.5 on node node-a), ... and 3
 * more"). Prints the error. */
#define CTL_HOLDERS_NAMED 3
struct ctl_holders {
	size_t n;
	char text[1024];
};
int ctl_holders(struct bip_ipam *ipam, const struct bip_prefix *within, const char *node,
		struct ctl_holders *out);

/* Warn (on stderr) about each pool of res whose nodeSelector or namespaceSelector selects none of
 * the nodes or namespaces (stored, or in res) and names a label none of them has: a typo such as
 * "rol == 'gpu'". Silent when there are no nodes (namespaces) to judge by. */
void ctl_warn_selectors(struct bip_ipam *ipam, const char *fname, const struct bip_res *res,
			size_t nres);

/* An open store and an IPAM handle on it. */
struct ctl_session {
	struct bip_store *store;
	struct bip_ipam *ipam;
};
/* The store address: --store, else $BLOCKIPAM_STORE, else the default. */
const char *ctl_store_addr(void);
/* The options to open a store with, from --store-* / $BLOCKIPAM_STORE_* (checked as the plugin
 * checks its ipam.store_* fields); prints the error. */
int ctl_store_opts(struct bip_store_opts *o, bool read_only);
/* Open the store named by ctl_store_addr(); prints the error. */
int ctl_open(struct ctl_session *s, bool read_only);
void ctl_close(struct ctl_session *s);

#endif
