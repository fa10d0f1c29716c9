/*
 * The plugin's one entry point. Order matters and is the contract "bad input never reaches the
 * store": the command, then every environment variable it needs, then the whole configuration
 * (including the per-request parts), then the node and the store address; only then is the
 * store opened and the command run. Any failure prints one error object on stdout and exits 1;
 * success prints the command's output (ADD, VERSION) or nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni.h"

static const struct command {
	enum bip_cni_cmd cmd;
	enum bip_cni_version min;
	bool needs_node;
	bool read_only; /* open the store without creating it */
	int (*fn)(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e);
} commands[] = {
    {BIP_CNI_CMD_ADD, BIP_CNI_V030, true, false, bip_cni_cmd_add},
    {BIP_CNI_CMD_DEL, BIP_CNI_V030, false, false, bip_cni_cmd_del},
    {BIP_CNI_CMD_CHECK, BIP_CNI_V040, false, true, bip_cni_cmd_check},
    {BIP_CNI_CMD_GC, BIP_CNI_V110, true, false, bip_cni_cmd_gc},
    {BIP_CNI_CMD_STATUS, BIP_CNI_V110, true, true, bip_cni_cmd_status},
};

/* Read at most BIP_CNI_CONFIG_MAX + 1 bytes (one more tells "too large"). */
static int read_input(FILE *in, char **buf, size_t *len, struct bip_cni_err *e)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);

	if (!b)
		return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
	while (in && n <= BIP_CNI_CONFIG_MAX) {
		size_t got;

		if (n == cap) {
			char *nb = realloc(b, cap *= 2);

			if (!nb) {
				free(b);
				return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
			}
			b = nb;
		}
		got = fread(b + n, 1, cap - n, in);
		n += got;
		if (got == 0)
			break;
	}
	if (in && ferror(in)) {
		free(b);
		return bip_cni_errf(e, BIP_CNI_EIO,
				    "cannot read the network configuration from "
				    "stdin");
	}
	*buf = b;
	*len = n;
	return 0;
}

static int resolve_node(const struct bip_cni_conf *c, const struct bip_cni_env *env, char *buf,
			size_t len, const char **node, struct bip_cni_err *e)
{
	if (c->node) {
		*node = c->node;
		return 0;
	}
	if (env->node) {
		*node = env->node;
		return 0;
	}
	if (gethostname(buf, len) != 0 || !memchr(buf, '\0', len))
		return bip_cni_errf(
		    e, BIP_CNI_EENV,
		    "cannot read the host name (%s): set ipam.node or BLOCKIPAM_NODE",
		    strerror(errno));
	if (!bip_cni_name_ok(buf, BIP_NAME_MAX))
		return bip_cni_errf(e, BIP_CNI_EENV,
				    "host name '%s' is not a valid node name: set ipam.node or "
				    "BLOCKIPAM_NODE",
				    buf);
	*node = buf;
	return 0;
}

/*
 * The store: ipam.store; for host-local ranges ipam.dataDir (a file where host-local keeps its
 * state); $BLOCKIPAM_STORE; for host-local ranges the same file under host-local's default
 * dataDir; the default store. Configuration before environment, explicit before implicit, so
 * a host-local configuration with only its type changed keeps its state per network, next to
 * where host-local kept it. usePodCidr reads the node from the shared store that blockipamctl
 * writes, so it never maps to dataDir. *dir is set when the store's directory is ours to
 * create.
 */
static int resolve_store(const struct bip_cni_conf *c, const struct bip_cni_env *env, char *buf,
			 size_t len, const char **addr, const char **dir, struct bip_cni_err *e)
{
	const char *data_dir = c->data_dir;
	char why[256];

	*dir = NULL;
	if (c->store) {
		*addr = c->store;
		return 0;
	}
	if (c->nranges && (data_dir || !env->store)) {
		size_t n;

		if (!data_dir)
			data_dir = BIP_CNI_DATADIR_DEFAULT;
		n = strlen(data_dir);
		while (n > 1 && data_dir[n - 1] == '/')
			n--;
		/* config.c bounds dataDir and the name, so this fits */
		snprintf(buf, len, "%.*s%s%s/%s", (int)n, data_dir, n > 1 ? "/" : "", c->name,
			 BIP_CNI_DATADIR_STORE);
		*addr = buf;
		*dir = buf;
		return 0;
	}
	*addr = bip_store_addr_default(NULL, env->store);
	if (!bip_cni_store_addr_ok(*addr, why, sizeof(why)))
		return bip_cni_errf(e, BIP_CNI_EENV, "invalid BLOCKIPAM_STORE: %s", why);
	return 0;
}

/*
 * A store that cannot be opened: STATUS says "not available"; DEL asks to be retried. A missing
 * store file or directory is an I/O failure (5), not CHECK's "not allocated" (110) that the
 * table gives BIP_ENOTFOUND: the store is unusable, whatever it holds (an unmounted volume at
 * DEL time is retried, 11, like any I/O failure).
 */
static int open_failed(enum bip_cni_cmd cmd, int rc, const char *addr, const char *msg,
		       struct bip_cni_err *e)
{
	unsigned code = rc == BIP_ENOTFOUND ? BIP_CNI_EIO : bip_cni_code(rc);

	if (cmd == BIP_CNI_CMD_STATUS)
		code = BIP_CNI_EUNAVAILABLE;
	else if (cmd == BIP_CNI_CMD_DEL && code == BIP_CNI_EIO)
		code = BIP_CNI_ETRYLATER;
	if (!code)
		code = BIP_CNI_EINTERNAL;
	/* STATUS opens read-only: a store nobody wrote yet holds no pool */
	return bip_cni_errf(
	    e, code, "cannot open store '%s': %s%s", addr, msg && *msg ? msg : bip_strerror(rc),
	    cmd == BIP_CNI_CMD_STATUS && rc == BIP_ENOTFOUND &&
		    ((msg && strstr(msg, "does not exist")) || strcmp(addr, BIP_STORE_DEFAULT) == 0)
		? " (so no pool exists yet: the first 'blockipamctl apply -f "
		  "pool.yaml' creates it)"
		: "");
}

/*
 * mkdir -p the directory of path (the network's directory under dataDir), as host-local does
 * on every command: parents 0755 as host-local makes them, the network's own 0700.
 */
static int make_store_dir(const char *path, struct bip_cni_err *e)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(dir, last ? 0700 : 0755) != 0 && errno != EEXIST)
			return bip_cni_errf(
			    e, BIP_CNI_EIO,
			    "cannot create the store directory '%s' (ipam.dataDir): %s", dir,
			    strerror(errno));
		if (last)
			return 0;
		*p = '/';
	}
}

/* The caller's open store, if this request is one it was opened for (struct bip_cni_store). */
static struct bip_store *shared_for(struct bip_cni_store *sh, const struct bip_cni_ctx *ctx)
{
	const struct bip_cni_conf *c = ctx->conf;

	if (!sh || !sh->store || sh->stale || !ctx->node ||
	    strcmp(ctx->store_addr, sh->addr) != 0 || strcmp(ctx->node, sh->node) != 0 ||
	    c->store_prefix || c->store_ca_file || c->store_cert_file || c->store_key_file ||
	    c->timeout_ms)
		return NULL;
	return sh->store;
}

static int run_command(const struct command *cmd, struct bip_cni_ctx *ctx, const char *mkdir_for,
		       struct bip_cni_store *shared, struct bip_cni_err *e)
{
	const struct bip_cni_conf *c = ctx->conf;
	struct bip_store_opts opts = {
	    .prefix = c->store_prefix,
	    .timeout_ms = (int)c->timeout_ms,
	    .ca_file = c->store_ca_file,
	    .cert_file = c->store_cert_file,
	    .key_file = c->store_key_file,
	    /* With host-local ranges the configuration is all a node needs: a store that
	     * does not exist yet is an empty one, made by any command (host-local makes its
	     * directory on CHECK too), so that STATUS on a fresh node says ready. */
	    .read_only = cmd->read_only && !c->nranges,
	    .short_lived = true,
	    .node = ctx->node,
	};
	struct bip_store *store = NULL, *kept = shared_for(shared, ctx);
	struct bip_ipam *ipam = NULL;
	char msg[256] = "";
	int rc;

	if (mkdir_for && (rc = make_store_dir(mkdir_for, e))) {
		if (cmd->cmd == BIP_CNI_CMD_STATUS)
			e->code = BIP_CNI_EUNAVAILABLE;
		return (int)e->code;
	}
	if (kept) {
		store = kept;
		shared->used++;
	} else if ((rc = bip_store_open(ctx->store_addr, &opts, &store, msg, sizeof(msg))) !=
		   BIP_OK) {
		return open_failed(cmd->cmd, rc, ctx->store_addr, msg, e);
	}
	rc = bip_ipam_new(store, &ipam);
	if (rc != BIP_OK) {
		rc = open_failed(cmd->cmd, rc, ctx->store_addr, NULL, e);
		goto out;
	}
	rc = cmd->fn(ctx, ipam, e);
	if (ctx->debug)
		fprintf(stderr, "blockipam: %s node=%s rc=%d retries=%llu\n",
			bip_cni_cmd_name(cmd->cmd), ctx->node ? ctx->node : "-", rc,
			(unsigned long long)bip_ipam_retries(ipam));
out:
	bip_ipam_free(ipam);
	if (!kept)
		bip_store_close(store);
	else if (rc == BIP_CNI_EIO || rc == BIP_CNI_ETRYLATER)
		shared->stale = true;
	return rc;
}

static int dispatch(const struct bip_cni_io *io, enum bip_cni_cmd cmd, const char *buf, size_t len,
		    struct bip_cni_err *e)
{
	const struct command *command = NULL;
	struct bip_cni_env env;
	struct bip_cni_conf conf;
	struct bip_cni_ctx ctx = {.env = &env,
				  .conf = &conf,
				  .out = io->out,
				  .debug = bip_cni_getenv(io->env, "BLOCKIPAM_DEBUG") != NULL};
	char host[256], store[PATH_MAX];
	const char *store_dir = NULL;
	int rc;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].cmd == cmd)
			command = &commands[i];
	rc = bip_cni_env_parse(io->env, &env, e);
	if (rc)
		return rc;
	rc = bip_cni_conf_parse(buf, len, cmd, &env, &conf, e);
	if (rc)
		return rc;
	if (conf.version < command->min) {
		rc = bip_cni_errf(e, BIP_CNI_EVERSION, "incompatible CNI versions");
		bip_cni_err_details(e, "%s needs cniVersion %s or later, config is \"%s\"",
				    bip_cni_cmd_name(cmd), bip_cni_version_str(command->min),
				    conf.version_str);
		goto out;
	}
	if (command->needs_node &&
	    (rc = resolve_node(&conf, &env, host, sizeof(host), &ctx.node, e)))
		goto out;
	/* DEL and CHECK need no node, but knowing it they queue on the node's lock (etcd), with its
	 * ADDs, instead of on one lock for every DEL of the machine (issue 19: 12 processes' DELs
	 * took turns on that one, and behind a DEL waiting for an unreachable etcd, all timed out).
	 */
	if (!command->needs_node) {
		struct bip_cni_err ignored = {0};

		if (resolve_node(&conf, &env, host, sizeof(host), &ctx.node, &ignored))
			ctx.node = NULL;
	}
	if ((rc = resolve_store(&conf, &env, store, sizeof(store), &ctx.store_addr, &store_dir, e)))
		goto out;
	if (env.container_id)
		bip_cni_handle_id(ctx.handle, sizeof(ctx.handle), conf.name, env.container_id,
				  env.ifname);
	rc = run_command(command, &ctx, store_dir, io->shared, e);
out:
	bip_cni_conf_free(&conf);
	return rc;
}

int bip_cni_run(const struct bip_cni_io *io)
{
	struct bip_cni_err e = {0};
	enum bip_cni_cmd cmd = BIP_CNI_CMD_NONE;
	char *buf = NULL, *out = NULL, vbuf[16];
	const char *version = NULL;
	size_t len = 0;
	int rc;

	rc = bip_cni_env_command(io->env, &cmd, &e);
	/* Read even after a bad command: the error object carries the config's cniVersion. VERSION
	 * needs no input, so a missing or unreadable stdin is not an error for it. */
	if (cmd == BIP_CNI_CMD_VERSION) {
		struct bip_cni_err ignored = {0};

		read_input(io->in, &buf, &len, &ignored);
		out = bip_cni_version_json(bip_cni_conf_peek_version(buf, len, vbuf, sizeof(vbuf)));
		if (!out)
			rc = bip_cni_errf(&e, BIP_CNI_ETRYLATER, "out of memory");
	} else if (read_input(io->in, &buf, &len, &e) && !rc) {
		rc = (int)e.code;
	} else if (!rc) {
		rc = dispatch(io, cmd, buf, len, &e);
	}
	if (rc) {
		/* the version is parsed a second time only on this path, not on every success */
		version = bip_cni_conf_peek_version(buf, len, vbuf, sizeof(vbuf));
		free(out);
		out = bip_cni_error_json(&e, version);
	}
	if (out)
		fputs(out, io->out);
	else if (rc) /* out of memory while printing the error: a fixed one */
		fprintf(io->out, "{\"code\":%d,\"msg\":\"out of memory\"}\n", BIP_CNI_ETRYLATER);
	fflush(io->out);
	free(out);
	free(buf);
	return rc ? 1 : 0;
}
