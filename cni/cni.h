/*
 * The blockipam CNI IPAM plugin, as functions that take their inputs and write their outputs
 * explicitly, so that every part runs in process under test (the CNI reference library's
 * pkg/skel does the same with Getenv, Stdin and Stdout fields).
 *
 *   main.c      gathers environ, stdin and stdout and calls bip_cni_run
 *   run.c       the one entry point: env, then config, then the command (nothing touches the
 *               store before the whole input has been validated)
 *   env.c       CNI_* variables and CNI_ARGS
 *   names.c     the character rules shared by env and config (container ids, network names)
 *   config.c    the network configuration and its ipam section
 *   json.c      the typed JSON getters every parser shares (config, ranges, request, dns)
 *   ranges.c    host-local ranges (subnet, rangeStart, rangeEnd, gateway, usePodCidr)
 *   request.c   per-request inputs: runtimeConfig, args, pod annotations, prevResult, GC list
 *   dns.c       resolv.conf, for host-local's resolvConf
 *   result.c    results, errors and VERSION in the shape of each spec version
 *   cnierr.c    the table from blockipam error codes to CNI error codes
 *   handle.c    handle ids "<network>.<containerID>.<ifname>" and whose a handle is
 *   capacity.c  whether a node can still get an address (STATUS), as a pure function
 *   cmd_*.c     ADD, DEL, CHECK, GC, STATUS
 *
 * Memory: a parsed config borrows strings from its jansson tree and owns a few arrays; one
 * bip_cni_conf_free releases all of it (a one-shot process needs nothing finer).
 */
#ifndef BLOCKIPAM_CNI_H
#define BLOCKIPAM_CNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "blockipam/addr.h"
#include "blockipam/err.h"
#include "blockipam/ipam.h"
#include "blockipam/store.h"

/* The largest network configuration accepted on stdin. */
#define BIP_CNI_CONFIG_MAX (1u << 20)
/* Linux IFNAMSIZ - 1. */
#define BIP_CNI_IFNAME_MAX 15
/* Container ids and network names are bounded so that "<network>.<containerID>.<ifname>"
 * always fits a handle id (BIP_HANDLE_MAX) with its NUL. */
#define BIP_CNI_CONTAINERID_MAX 240
#define BIP_CNI_NAME_MAX 253

/* --- entry point ----------------------------------------------------------------------- */

struct bip_cni_io {
	const char *const *env;	      /* "K=V" strings, NULL-terminated (environ) */
	FILE *in;		      /* the network configuration */
	FILE *out;		      /* result or error JSON */
	struct bip_cni_store *shared; /* a store kept open by the caller (the agent), or NULL */
};

/*
 * A store a long-lived caller (blockipamd) opened once, for one address and node, and owns. A
 * request whose resolved store address and node are these, and that names no prefix, TLS file
 * or timeout of its own, runs on it instead of opening the store itself; any other request
 * opens its own as the plugin does. The transactions are the same either way: nothing is
 * cached across requests, every read goes to the store. After a request that failed on the
 * store (CNI code 5 or 11), stale is set: the caller closes it and opens it again before the
 * next request (an etcd that went away, a SQLite file replaced underneath).
 */
struct bip_cni_store {
	const char *addr, *node;
	struct bip_store *store; /* NULL: not open now; requests open their own */
	bool stale;
	unsigned long long used; /* requests served on it */
};

/* Run one plugin invocation. Returns the process exit status (0 or 1). */
int bip_cni_run(const struct bip_cni_io *io);

/* --- errors ----------------------------------------------------------------------------- */

/* CNI error codes we emit besides the well-known ones (docs/cni-errors.md). */
enum {
	BIP_CNI_OK = 0,
	BIP_CNI_EVERSION = 1,
	BIP_CNI_EFIELD = 2,
	BIP_CNI_EUNKNOWN_CONTAINER = 3,
	BIP_CNI_EENV = 4,
	BIP_CNI_EIO = 5,
	BIP_CNI_EDECODE = 6,
	BIP_CNI_ECONFIG = 7,
	BIP_CNI_ETRYLATER = 11,
	BIP_CNI_EUNAVAILABLE = 50,
	BIP_CNI_EEXHAUSTED = 100,
	BIP_CNI_ETAKEN = 101,
	BIP_CNI_ERESERVED = 102,
	BIP_CNI_ENOPOOL = 103,
	BIP_CNI_EDISABLED = 104,
	BIP_CNI_EBLOCKLIMIT = 105,
	BIP_CNI_EOWNER = 106,
	BIP_CNI_ECORRUPT = 107,
	BIP_CNI_ESCHEMA = 108,
	BIP_CNI_EPERM = 109,
	BIP_CNI_ENOTHELD = 110,
	BIP_CNI_EEXIST = 111,
	BIP_CNI_EOVERLAP = 112,
	BIP_CNI_EBUSY = 113,
	BIP_CNI_EUNSUPPORTED = 114,
	BIP_CNI_EINTERNAL = 199,
};

struct bip_cni_err {
	unsigned code; /* 0 = no error */
	char msg[512];
	char details[1024];
};

/* The CNI code for a blockipam error code (cnierr.c); BIP_OK gives 0. */
unsigned bip_cni_code(int bip_err);
/* Short name of a CNI code for docs and logs ("pool exhausted"); never NULL. */
const char *bip_cni_code_text(unsigned code);

/* Record an error (the first one wins; later calls are ignored). Returns code. */
unsigned bip_cni_errf(struct bip_cni_err *e, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void bip_cni_err_details(struct bip_cni_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Record a library failure: code from the table, msg "<what>: <detail or strerror>". */
unsigned bip_cni_err_lib(struct bip_cni_err *e, int bip_err, const char *detail, const char *what);

/* --- versions --------------------------------------------------------------------------- */

enum bip_cni_version {
	BIP_CNI_V030,
	BIP_CNI_V031,
	BIP_CNI_V040,
	BIP_CNI_V100,
	BIP_CNI_V110,
	BIP_CNI_V__COUNT,
};
#define BIP_CNI_VERSION_LATEST BIP_CNI_V110

const char *bip_cni_version_str(enum bip_cni_version v);
/* BIP_OK, or BIP_EINVAL when s is not a version we speak. */
int bip_cni_version_parse(const char *s, enum bip_cni_version *out);
/* {"cniVersion": <v>, "supportedVersions": [...]}, compact, newline-terminated. */
char *bip_cni_version_json(const char *cni_version);

/* --- names ----------------------------------------------------------------------------- */

/* ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ (container ids, network names), at most max bytes. */
bool bip_cni_name_ok(const char *s, size_t max);
/* A pool reference: a CIDR of the given family (0 = any) or a pool name. On failure writes why. */
bool bip_cni_poolref_ok(const char *s, int family, char *why, size_t whylen);

/* A store address that bip_store_open would accept, checked without opening anything. */
bool bip_cni_store_addr_ok(const char *s, char *why, size_t whylen);

/* --- environment ------------------------------------------------------------------------ */

enum bip_cni_cmd {
	BIP_CNI_CMD_NONE,
	BIP_CNI_CMD_ADD,
	BIP_CNI_CMD_DEL,
	BIP_CNI_CMD_CHECK,
	BIP_CNI_CMD_GC,
	BIP_CNI_CMD_STATUS,
	BIP_CNI_CMD_VERSION,
};

const char *bip_cni_cmd_name(enum bip_cni_cmd c);

/* CNI_ARGS, parsed. */
struct bip_cni_args {
	bool ignore_unknown;
	const char *k8s_namespace, *k8s_pod, *k8s_uid, *k8s_infra_id; /* point into storage */
	struct bip_addr ips[8];					      /* IP=a[,b...] */
	size_t nips;
	char storage[4096]; /* a copy of CNI_ARGS with the separators replaced by NULs */
};

struct bip_cni_env {
	enum bip_cni_cmd cmd;
	const char *container_id, *netns, *ifname, *path, *args_raw; /* NULL when unset */
	struct bip_cni_args args;
	const char *store; /* BLOCKIPAM_STORE */
	const char *node;  /* BLOCKIPAM_NODE */
};

/* The value of name in a NULL-terminated "K=V" array (first match), or NULL. */
const char *bip_cni_getenv(const char *const *env, const char *name);
/* CNI_COMMAND only (so that VERSION can answer before anything else is validated). */
int bip_cni_env_command(const char *const *env, enum bip_cni_cmd *cmd, struct bip_cni_err *e);
/* Every variable the command needs, validated. Code 4 naming the variable on failure. */
int bip_cni_env_parse(const char *const *env, struct bip_cni_env *out, struct bip_cni_err *e);
/* CNI_ARGS alone ("K=V;K=V"). Code 4 naming the pair on failure. */
int bip_cni_args_parse(const char *s, struct bip_cni_args *out, struct bip_cni_err *e);

/* --- configuration ---------------------------------------------------------------------- */

enum bip_cni_prefix_mode {
	BIP_CNI_PREFIX_BLOCK, /* the block's length (host-local: the range subnet's) */
	BIP_CNI_PREFIX_POOL,  /* the pool's length */
	BIP_CNI_PREFIX_HOST,  /* /32, /128 */
};

/*
 * The main plugin's model: what the network's top-level "type" does with the result
 * (docs/cni.md "Which network plugin"). Block mode only; host-local mode keeps its own rules.
 */
enum bip_cni_model {
	BIP_CNI_MODEL_NONE,    /* no top-level type: routed, every address of a block */
	BIP_CNI_MODEL_BRIDGE,  /* the node's block is its bridge's subnet (one IPv4 per bridge) */
	BIP_CNI_MODEL_PTP,     /* routed, but the gateway must be inside the pod's prefix */
	BIP_CNI_MODEL_MACVLAN, /* macvlan, ipvlan: the pool is one L2 subnet */
	BIP_CNI_MODEL_OTHER,   /* any other type: as macvlan, but "host" lengths are allowed */
};

struct bip_cni_route {
	struct bip_prefix dst;
	struct bip_addr gw; /* family 0 = none */
	/* 1.1.0 fields, -1 = unset */
	long mtu, advmss, priority, table, scope;
};

struct bip_cni_dns {
	const char **nameservers;
	size_t nnameservers;
	const char *domain;
	const char **search;
	size_t nsearch;
	const char **options;
	size_t noptions;
};

struct bip_cni_attachment {
	const char *container_id;
	const char *ifname;
};

struct bip_cni_conf {
	json_t *root; /* owns every borrowed string below */
	enum bip_cni_version version;
	const char *version_str;
	const char *name;

	/* ipam */
	const char *store;
	const char *node;
	const char *store_prefix;
	const char *store_ca_file, *store_cert_file, *store_key_file;
	long timeout_ms;    /* 0 = backend default */
	const char **pools; /* ipv4 then ipv6 pool references, as one list for the engine */
	size_t npools4, npools6;
	bool assign4, assign6;
	enum bip_cni_prefix_mode prefix_mode;
	bool prefix_set;       /* prefix_length given (else the model's default) */
	const char *main_type; /* the top-level "type", NULL when absent */
	enum bip_cni_model model;
	bool default_gw; /* the main plugin adds the default route (isDefaultGateway) */
	struct bip_addr gateway4, gateway6; /* block mode gateways to report */
	struct bip_cni_route *routes;
	size_t nroutes;
	struct bip_cni_dns dns;
	json_t *resolv;	      /* strings of a parsed resolvConf (owned) */
	const char *data_dir; /* host-local's dataDir: where the store lives (run.c) */

	/* host-local mode: ranges (defaults filled in), or the node's pod CIDRs */
	bool host_local;
	struct bip_range *ranges;
	size_t nranges;
	unsigned nsets4, nsets6;
	bool use_pod_cidr4, use_pod_cidr6;

	/* per request */
	struct bip_addr *ips; /* the first source that names any (request.c) */
	size_t nips;
	const char *ips_source;
	const char **ann_pools; /* pod annotation pools (v4 then v6) */
	size_t nann_pools;
	json_t *ann_json[6];	     /* parsed annotation values (owned) */
	struct bip_prefix *prev_ips; /* CHECK: prevResult ips */
	size_t nprev_ips;
	bool has_prev;
	struct bip_cni_attachment *valid; /* GC */
	size_t nvalid;
	bool has_valid;
};

/*
 * Parse and validate a whole network configuration for cmd. Codes: 6 (not JSON, not an object,
 * duplicate keys), 1 (cniVersion), 7 (anything else, naming the field and its value).
 * env may be NULL (then CNI_ARGS IP= is not considered).
 */
int bip_cni_conf_parse(const char *buf, size_t len, enum bip_cni_cmd cmd,
		       const struct bip_cni_env *env, struct bip_cni_conf *out,
		       struct bip_cni_err *e);
void bip_cni_conf_free(struct bip_cni_conf *c);
/* The store a host-local configuration with explicit ranges uses when it names none:
 * "<dataDir>/<network name>/blockipam.db" (run.c). */
#define BIP_CNI_DATADIR_DEFAULT "/var/lib/cni/networks"
#define BIP_CNI_DATADIR_STORE "blockipam.db"
#define BIP_CNI_DATADIR_MAX 3072
/* Only the cniVersion (for the error object of a failure found before the full parse). */
const char *bip_cni_conf_peek_version(const char *buf, size_t len, char *vbuf, size_t vlen);

/* ranges.c: "ranges" and the legacy single range of an ipam object into c. */
int bip_cni_ranges_parse(json_t *ipam, struct bip_cni_conf *c, struct bip_cni_err *e);
/* request.c: runtimeConfig, args, annotations, prevResult, GC attachments into c. */
int bip_cni_request_parse(json_t *root, enum bip_cni_cmd cmd, const struct bip_cni_env *env,
			  struct bip_cni_conf *c, struct bip_cni_err *e);
/* dns.c: a resolv.conf file into c->dns (nameserver, domain, search, options). */
int bip_cni_resolv_load(const char *path, struct bip_cni_conf *c, struct bip_cni_err *e);
int bip_cni_resolv_parse(const char *text, const char *path, struct bip_cni_conf *c,
			 struct bip_cni_err *e);

/* json.c: the typed JSON getters shared by the parsers. bip_cni_json_strings: a list of
 * strings of json into a new array of borrowed pointers (the caller frees the array). 7 naming
 * field on a wrong type. */
int bip_cni_json_strings(json_t *arr, const char *field, const char ***out, size_t *n,
			 struct bip_cni_err *e);
const char *bip_cni_json_type(const json_t *j);
/* Code 7 "invalid <field>: want <want>, got <type> <the value as JSON, shortened>". */
unsigned bip_cni_type_err(struct bip_cni_err *e, const char *field, const json_t *v,
			  const char *want);
/* obj[key], a non-empty string, into *out; absent: 0, or 7 "missing <field>" when required. */
int bip_cni_json_str(json_t *obj, const char *key, const char *field, bool required,
		     const char **out, struct bip_cni_err *e);
/* obj[key], a boolean or Calico's "true" / "false", into *out; absent: 0, *out unchanged. */
int bip_cni_json_bool(json_t *obj, const char *key, const char *field, bool *out,
		      struct bip_cni_err *e);
/* obj[key], an integer in [min, max], into *out; absent: 0, *out unchanged. */
int bip_cni_json_long(json_t *obj, const char *key, const char *field, long min, long max,
		      long *out, struct bip_cni_err *e);
/* v, a string holding an IP address, into *out. */
int bip_cni_json_addr(json_t *v, const char *field, struct bip_addr *out, struct bip_cni_err *e);

/* --- results ---------------------------------------------------------------------------- */

struct bip_cni_ip {
	struct bip_prefix address; /* the address with the length to report */
	struct bip_addr gateway;   /* family 0 = none */
};

struct bip_cni_result {
	const struct bip_cni_ip *ips;
	size_t nips;
	const struct bip_cni_route *routes;
	size_t nroutes;
	const struct bip_cni_dns *dns; /* NULL = empty */
};

/* A success result in the shape of version v; compact JSON, newline-terminated, malloc'd. */
char *bip_cni_result_json(const struct bip_cni_result *r, enum bip_cni_version v);
/* {"cniVersion","code","msg","details"}, newline-terminated, malloc'd. */
char *bip_cni_error_json(const struct bip_cni_err *e, const char *cni_version);

/* --- commands --------------------------------------------------------------------------- */

/* What a command needs besides the parsed inputs. */
struct bip_cni_ctx {
	const struct bip_cni_env *env;
	const struct bip_cni_conf *conf;
	const char *node;
	const char *store_addr;
	char handle[BIP_HANDLE_MAX];
	FILE *out;
	bool debug; /* $BLOCKIPAM_DEBUG set: one line on stderr per command (retries, result) */
};

/* Each returns 0 or a CNI code (with e filled) and writes its result to ctx->out. */
int bip_cni_cmd_add(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e);
int bip_cni_cmd_del(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e);
int bip_cni_cmd_check(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e);
int bip_cni_cmd_gc(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e);
int bip_cni_cmd_status(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e);

/* handle.c: the id; whether it may be another attachment's (dots in the network name or the
 * container id); whether a recorded handle is this attachment's; the error when it is not. */
void bip_cni_handle_id(char *buf, size_t n, const char *network, const char *container,
		       const char *ifname);
bool bip_cni_handle_ambiguous(const struct bip_cni_ctx *ctx);
bool bip_cni_handle_ours(const struct bip_cni_ctx *ctx, const struct bip_handle_info *h);
int bip_cni_handle_foreign(const struct bip_cni_ctx *ctx, const struct bip_handle_info *h,
			   struct bip_cni_err *e);

/* The engine's subnet rules for a configuration's model, [0] IPv4 and [1] IPv6 (config.c). */
void bip_cni_subnet_rules(const struct bip_cni_conf *c, struct bip_subnet_rule rules[2]);
/* The model's name for messages ("bridge", "macvlan", ...). */
const char *bip_cni_model_name(const struct bip_cni_conf *c);

/* ADD's reported length for one assigned address (pools: NULL unless mode is "pool"). */
int bip_cni_report_len(enum bip_cni_prefix_mode mode, const struct bip_assigned *a,
		       const struct bip_pool *pools, size_t npools);

/* Whether the node has a pod CIDR of the family (usePodCidr needs one). */
bool bip_cni_pod_cidr_of(const struct bip_node *node, int family);

/* --- capacity (STATUS) ------------------------------------------------------------------ */

/* What the node could get, computed from a snapshot of the store. */
struct bip_cni_capacity_in {
	const char *node;
	struct bip_config cfg;
	const struct bip_pool *pools; /* every pool */
	size_t npools;
	const bool *eligible; /* per pool: this node may allocate from it */
	const struct bip_block_info *blocks;
	size_t nblocks;
	/* host-local: ranges to check (or the node's pod CIDRs as whole ranges) and how many
	 * addresses are taken inside each */
	const struct bip_range *ranges;
	size_t nranges;
	const bip_u128 *range_used;
	bool want4, want6;
	/* the main plugin's subnet rules (bip_cni_subnet_rules): addresses kept out of each
	 * block, blocks a node may use, no borrowing */
	struct bip_subnet_rule subnet[2];
};

/* True when an address of every wanted family could be allocated; else why names the family. */
bool bip_cni_capacity_ok(const struct bip_cni_capacity_in *in, char *why, size_t whylen);

/* --- the agent (wire.c, agent.c; docs/agent.md) ------------------------------------------- */

#include <stdint.h>

/* A whole frame, length prefix included, and the variables one request may carry. */
#define BIP_WIRE_MAX (64u * 1024)
#define BIP_WIRE_ENV_MAX 64

/* A decoded request: env (NULL-terminated) and in point into mem, which the request owns. */
struct bip_cni_wire_req {
	enum bip_cni_cmd verb;
	const char *env[BIP_WIRE_ENV_MAX + 1];
	const char *in;
	size_t inlen;
	char *mem;
};

/* A decoded answer: out and err borrow from the frame decoded. */
struct bip_cni_wire_ans {
	int code;
	const char *out, *err;
	size_t outlen, errlen;
};

/* The verb of CNI_COMMAND in env, BIP_CNI_CMD_NONE if absent or not one the agent serves. */
enum bip_cni_cmd bip_cni_wire_verb(const char *const *env);
/* Encode a request (the CNI_* and BLOCKIPAM_* entries of env, and stdin) or an answer into a
 * malloc'd frame, length prefix included. -1 (nothing allocated) if it would exceed BIP_WIRE_MAX
 * or the verb is not served by the agent. */
int bip_cni_wire_req_encode(const char *const *env, const char *in, size_t inlen, uint8_t **frame,
			    size_t *flen);
int bip_cni_wire_ans_encode(int code, const char *out, size_t outlen, const char *err,
			    size_t errlen, uint8_t **frame, size_t *flen);
/* Decode a frame's body (after the length prefix). 0 on success; -1 and why otherwise, with
 * nothing written to *req / *ans. bip_cni_wire_req_free frees what a decoded request owns. */
int bip_cni_wire_req_decode(const uint8_t *body, size_t len, struct bip_cni_wire_req *req,
			    char *why, size_t whylen);
void bip_cni_wire_req_free(struct bip_cni_wire_req *req);
int bip_cni_wire_ans_decode(const uint8_t *body, size_t len, struct bip_cni_wire_ans *ans);

/* The plugin's side: the socket the config names ("agent", default BIP_AGENT_SOCKET; "" for
 * none), then one request with bounded waits. 0 if the agent answered (*ans borrows *frame,
 * which the caller frees); -1 if the caller must do the work itself. */
#define BIP_AGENT_SOCKET "/run/blockipam/agent.sock"
#define BIP_AGENT_CONNECT_MS 20
#define BIP_AGENT_ANSWER_MS 5000
const char *bip_cni_agent_socket(const char *conf, size_t len, char *buf, size_t buflen);
int bip_cni_agent_call(const char *path, const char *const *env, const char *in, size_t inlen,
		       uint8_t **frame, struct bip_cni_wire_ans *ans);
/* Read and write a whole buffer on fd before the deadline (bip_cni_now_ms clock). */
long long bip_cni_now_ms(void);
int bip_cni_io_full(int fd, void *buf, size_t len, bool write, long long deadline);

#endif
