/*
 * Crash safety with real plugin processes. The built plugin ($BIP_BUILD/blockipam) is exec'd the
 * way a runtime does it (CNI_* environment, the network configuration on a stdin pipe, the
 * result read from a stdout pipe) in batches, for three nodes and two networks (IPv4, and dual
 * stack), ADD and DEL of the same few hundred attachments over and over, with an occasional GC;
 * most processes get SIGKILL after a random delay. Until at least BIP_CRASH_KILLS (default 1000)
 * processes have died of it:
 *
 *   after every batch (and once a write a killed process sent can no longer land: settle()),
 *   an independent checker reads the raw block and handle records at one revision with
 *   jansson (not the library's decoders) and finds no address held twice, every handle record
 *   agreeing with the blocks, no handle the "runtime" never used, and each handle holding what
 *   the runtime's history allows: exactly what a completed ADD returned, nothing after a
 *   completed DEL or GC, and after a killed ADD or DEL either nothing or a whole allocation
 *   (one address per family, never half of one);
 *   a repeated ADD returns what the first returned.
 *
 * Every fifth batch runs `blockipamctl ipam check --repair` alongside: it must find nothing.
 * At the end `blockipamctl ipam check` finds nothing; one attachment per node loses its handle
 * record (a leak) and `ipam check --repair`, killed at random and then run whole, rebuilds it on
 * the node that holds it; a GC per node that keeps the attachments the runtime believes in
 * releases everything else, those leaks included (nothing is lost for good); DEL of every handle
 * leaves the store without a single allocation; `ipam check` again finds nothing.
 *
 * Knobs (environment): BIP_CRASH_STORE the store address (default: a SQLite file in a temporary
 * directory; an etcd:// address from an etcd harness works the same, the store must hold no
 * handles), BIP_CRASH_KILLS the kills to reach (default 1000; 250 in a sanitizer build, whose
 * plugin is 5-10 times slower to start), BIP_CRASH_SECONDS the time budget (default 85),
 * BIP_CRASH_WINDOW_US a fixed kill window (default: it follows the run times of the processes
 * that were not killed, at least 3 ms), BIP_CRASH_SEED (the one the first line prints; the
 * kills still land where the machine's timing puts them).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blockipam/ipam.h"
#include "t.h"
#include "util.h"

/* A sanitizer build's plugin starts 5-10 times slower: fewer kills by default there. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define NODES 3
#define NETS 2 /* net 0: IPv4; net 1: IPv4 and IPv6 */
#define PER 40 /* containers per node and network */
#define NHANDLES (NODES * NETS * PER)
#define BATCH 12
#define MAXOUT 8192

static const char *const net_names[NETS] = {"crash4", "crash46"};
static const char *const node_names[NODES] = {"node-a", "node-b", "node-c"};

enum op { OP_ADD, OP_DEL, OP_GC, OP__COUNT };
static const char *const op_names[OP__COUNT] = {"ADD", "DEL", "GC"};

/*
 * What the store may hold for a handle, from the runtime's history of it: nothing, the
 * addresses a completed ADD returned (known), or a whole allocation nobody reported (an ADD that
 * was killed after its commit). A completed ADD or DEL narrows it to one; a killed one widens it.
 */
struct handle {
	char id[128], ctr[32];
	int net, node;
	bool may_none, may_known, may_new;
	char known[256]; /* "10.0.0.1,fd00::1" */
	bool busy;
	enum op last; /* the last op, when it was killed (for the committed/rolled back count) */
	bool last_killed;
};

struct proc {
	pid_t pid;
	int out;
	int h; /* handle index; -1 for GC */
	enum op op;
	int net;	 /* GC */
	int node;	 /* GC: the node that calls it (it names only its own attachments) */
	long kill_at_us; /* -1: not to be killed */
	struct timespec start;
};

struct stats {
	long launched[OP__COUNT], done[OP__COUNT], killed[OP__COUNT], failed[OP__COUNT];
	long tryagain, repeats, checks, kills_drawn, window_min, window_max;
	long add_committed, add_rolled_back, del_committed, del_rolled_back;
	long repairs; /* ipam check --repair run during a batch */
};

static struct handle hs[NHANDLES];
static struct stats st;
static char store_addr[4200], plugin[4096], ctl[4096];
static unsigned seed;

static long now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 10) : def;
}

/*
 * The runtime's belief: the last operation on the attachment was a completed ADD. The checker
 * narrows what a handle may hold to what the store says between batches; the belief does not
 * change with it (an ADD killed after its commit is still not an attachment the runtime knows).
 */
static bool believed[NHANDLES];

/* The network configuration of net, for the plugin (GC: with the attachments to keep). */
static char *config(int net, int node, enum op op)
{
	json_t *ipam =
	    json_pack("{s:s, s:s, s:s, s:b, s:{s:[s]}}", "type", "blockipam", "store", store_addr,
		      "node", node_names[node], "assign_ipv6", net == 1, "pools", "ipv4", "crash-v4");
	json_t *c;
	char *s;

	if (net == 1)
		json_object_set_new(json_object_get(ipam, "pools"), "ipv6",
				    json_pack("[s]", "crash-v6"));
	/* No top-level type: the engine's routed model (any number of blocks per node). */
	c = json_pack("{s:s, s:s, s:o}", "cniVersion", "1.1.0", "name", net_names[net], "ipam",
		      ipam);
	if (op == OP_GC) {
		json_t *valid = json_array();

		for (int i = 0; i < NHANDLES; i++)
			if (hs[i].net == net && hs[i].node == node && believed[i])
				json_array_append_new(valid,
						      json_pack("{s:s, s:s}", "containerID",
								hs[i].ctr, "ifname", "eth0"));
		json_object_set_new(c, "cni.dev/valid-attachments", valid);
	}
	s = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	return s;
}

/* Fork and exec the plugin like a runtime: env, config on a stdin pipe, stdout on a pipe. */
static int spawn(struct proc *p, const char *cmd, const char *ctr, const char *conf)
{
	char e_cmd[64], e_ctr[64], e_args[128], e_asan[512], e_ubsan[512];
	char *argv[] = {plugin, NULL};
	char *envp[10];
	int in[2], out[2], n = 0;

	snprintf(e_cmd, sizeof(e_cmd), "CNI_COMMAND=%s", cmd);
	envp[n++] = e_cmd;
	if (ctr) {
		snprintf(e_ctr, sizeof(e_ctr), "CNI_CONTAINERID=%s", ctr);
		snprintf(e_args, sizeof(e_args),
			 "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-%s",
			 ctr);
		envp[n++] = e_ctr;
		envp[n++] = e_args;
		envp[n++] = "CNI_IFNAME=eth0";
		envp[n++] = "CNI_NETNS=/var/run/netns/crash";
	}
	envp[n++] = "CNI_PATH=/opt/cni/bin";
	envp[n++] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	/* A sanitizer build's plugin: LeakSanitizer's exit scan ptraces the process, and a kill
	 * in the middle of it makes the tracer print noise. Leaks are tests/valgrind.sh's job. */
	snprintf(e_asan, sizeof(e_asan), "ASAN_OPTIONS=%s%sdetect_leaks=0",
		 getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "",
		 getenv("ASAN_OPTIONS") ? ":" : "");
	envp[n++] = e_asan;
	if (getenv("UBSAN_OPTIONS")) {
		snprintf(e_ubsan, sizeof(e_ubsan), "UBSAN_OPTIONS=%s", getenv("UBSAN_OPTIONS"));
		envp[n++] = e_ubsan;
	}
	envp[n] = NULL;
	if (pipe2(in, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) != 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	p->pid = fork();
	if (p->pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
			_exit(127);
		execve(plugin, argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->out = out[0];
	if (p->pid < 0) {
		close(in[1]);
		close(out[0]);
		return -1;
	}
	/* a few hundred bytes: the pipe takes them whether or not the child reads (or lives) */
	if (write(in[1], conf, strlen(conf)) < 0 && errno != EPIPE)
		fprintf(stderr, "  writing the config: %s\n", strerror(errno));
	close(in[1]);
	return 0;
}

/* What an ended process printed (a few hundred bytes: all of it is in the pipe). */
static void read_out(struct proc *p, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t got;

	while (n + 1 < len && (got = read(p->out, buf + n, len - 1 - n)) > 0)
		n += (size_t)got;
	buf[n] = '\0';
	close(p->out);
}

/* Wait for p and read what it printed. Returns the wait status. */
static int reap(struct proc *p, char *buf, size_t len)
{
	int status = 0;

	while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
		;
	read_out(p, buf, len);
	return status;
}

static long err_code(const char *out)
{
	json_t *r = json_loads(out, 0, NULL);
	long c = r ? (long)json_integer_value(json_object_get(r, "code")) : -1;

	json_decref(r);
	return c;
}

/* --- the independent checker -------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A JSON array of address strings as "a,b" (v4 before v6, as in results). */
static void join_addrs(json_t *arr, char *buf, size_t len)
{
	const char *v[8];
	size_t n = 0, i, off = 0;
	json_t *s;

	json_array_foreach(arr, i, s) if (n < 8) v[n++] = json_string_value(s);
	qsort(v, n, sizeof(*v), cmp_str);
	/* strcmp puts "10..." before "fd..": IPv4 first for our pools */
	buf[0] = '\0';
	for (i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", v[i]);
}

/* The addresses of an ADD result without their lengths, as join_addrs() gives them. */
static int result_addrs(const char *out, char *buf, size_t len)
{
	json_t *r = json_loads(out, 0, NULL), *plain = json_array(), *ip;
	size_t i;
	int n;

	json_array_foreach(json_object_get(r, "ips"), i, ip)
	{
		const char *a = json_string_value(json_object_get(ip, "address"));

		if (a)
			json_array_append_new(plain, json_stringn(a, strcspn(a, "/")));
	}
	join_addrs(plain, buf, len);
	n = (int)json_array_size(plain);
	json_decref(plain);
	json_decref(r);
	return n;
}

static int handle_index(const char *id)
{
	for (int i = 0; i < NHANDLES; i++)
		if (strcmp(hs[i].id, id) == 0)
			return i;
	return -1;
}

/*
 * Read every block and handle record raw and check them against each other and against what
 * each handle may hold. Returns the number of addresses held; counts problems into *bad (each
 * printed). With final_empty, any allocation at all is a problem.
 */
static long raw_check(bool final_empty, long *bad)
{
	struct bip_store *s = NULL;
	struct bip_store_opts ro = {.read_only = true};
	struct bip_kvs got[2] = {{0}}, blocks, handles;
	/* both at one revision: a write landing between two lists (see settle) would make
	 * records that agree look as if they did not */
	const struct bip_read reads[2] = {{"blocks/", true, 0}, {"handles/", true, 0}};
	json_t *owner = json_object(); /* address -> handle id, from the blocks */
	json_t *byh = json_object();   /* handle id -> [addresses], from the blocks */
	char err[512] = "";
	long held = 0;
	const char *k;
	json_t *v;

	*bad = 0;
	st.checks++;
	if (bip_store_open(store_addr, &ro, &s, err, sizeof(err)) != BIP_OK ||
	    bip_store_read(s, reads, 2, got, NULL) != BIP_OK) {
		fprintf(stderr, "  raw check: cannot read the store: %s\n",
			s ? bip_store_errmsg(s) : err);
		(*bad)++;
		goto out;
	}
	blocks = got[0];
	handles = got[1];
	for (size_t i = 0; i < blocks.n; i++) {
		json_t *b = json_loads((char *)blocks.v[i].value, JSON_REJECT_DUPLICATES, NULL), *e;
		struct bip_prefix cidr;
		size_t j;

		if (!b || bip_prefix_parse_net(json_string_value(json_object_get(b, "cidr")),
					       &cidr) != BIP_OK) {
			fprintf(stderr, "  raw check: %s does not decode\n", blocks.v[i].key);
			(*bad)++;
			json_decref(b);
			continue;
		}
		json_array_foreach(json_object_get(b, "alloc"), j, e)
		{
			char as[BIP_ADDR_STRLEN];
			const char *h = json_string_value(json_array_get(e, 1));
			json_int_t ord = json_integer_value(json_array_get(e, 0));

			if (!h || ord < 0 || (bip_u128)ord > bip_prefix_last_ordinal(cidr)) {
				fprintf(stderr, "  raw check: %s: bad entry %zu\n", blocks.v[i].key,
					j);
				(*bad)++;
				continue;
			}
			bip_addr_fmt(bip_prefix_nth(cidr, (bip_u128)ord), as);
			if (json_object_get(owner, as)) {
				fprintf(stderr, "  raw check: %s held twice (%s and %s)\n", as,
					json_string_value(json_object_get(owner, as)), h);
				(*bad)++;
			}
			json_object_set_new(owner, as, json_string(h));
			if (!json_object_get(byh, h))
				json_object_set_new(byh, h, json_array());
			json_array_append_new(json_object_get(byh, h), json_string(as));
			held++;
		}
		json_decref(b);
	}
	/* each handle record lists exactly what the blocks give it */
	for (size_t i = 0; i < handles.n; i++) {
		const char *id = handles.v[i].key + strlen("handles/");
		json_t *h = json_loads((char *)handles.v[i].value, JSON_REJECT_DUPLICATES, NULL);
		json_t *ips = json_object_get(h, "ips"), *plain = json_array(), *e;
		char a[256], b[256];
		size_t j;

		json_array_foreach(ips, j, e)
		{
			const char *s2 = json_string_value(e);

			json_array_append_new(
			    plain, json_stringn(s2 ? s2 : "", s2 ? strcspn(s2, "/") : 0));
		}
		join_addrs(plain, a, sizeof(a));
		join_addrs(json_object_get(byh, id), b, sizeof(b));
		if (!h || !json_array_size(ips) || strcmp(a, b) != 0) {
			fprintf(stderr,
				"  raw check: handle %s lists [%s], the blocks give it [%s]\n", id,
				a, b);
			(*bad)++;
		}
		json_decref(plain);
		json_decref(h);
	}
	json_object_foreach(byh, k, v)
	{
		bool recorded = false;

		for (size_t i = 0; i < handles.n && !recorded; i++)
			recorded = strcmp(handles.v[i].key + strlen("handles/"), k) == 0;
		if (!recorded) {
			fprintf(stderr, "  raw check: %s hold addresses without a handle record\n",
				k);
			(*bad)++;
		}
	}
	/* against the runtime's history */
	json_object_foreach(byh, k, v)
	{
		if (handle_index(k) < 0) {
			fprintf(stderr, "  raw check: a handle nobody used holds addresses: %s\n",
				k);
			(*bad)++;
		}
	}
	for (int i = 0; i < NHANDLES; i++) {
		struct handle *h = &hs[i];
		json_t *mine = json_object_get(byh, h->id);
		size_t n = json_array_size(mine);
		char have[256];
		bool ok;

		join_addrs(mine, have, sizeof(have));
		if (final_empty)
			ok = n == 0;
		else if (n == 0)
			ok = h->may_none;
		else if (h->may_known && strcmp(have, h->known) == 0)
			ok = true;
		else
			ok = h->may_new && n == (size_t)(h->net == 1 ? 2 : 1);
		if (!ok) {
			fprintf(stderr,
				"  raw check: %s holds [%s]; may hold%s%s%s%s%s (last op %s%s)\n",
				h->id, have, h->may_none ? " nothing" : "",
				h->may_known ? " [" : "", h->may_known ? h->known : "",
				h->may_known ? "]" : "", h->may_new ? " a new allocation" : "",
				op_names[h->last], h->last_killed ? ", killed" : "");
			(*bad)++;
			continue;
		}
		/* where the kills landed: before or after the commit */
		if (h->last_killed && !final_empty) {
			if (h->last == OP_ADD && h->may_none && h->may_new)
				*(n ? &st.add_committed : &st.add_rolled_back) += 1;
			else if (h->last == OP_DEL && h->may_none && h->may_known)
				*(n ? &st.del_rolled_back : &st.del_committed) += 1;
			h->last_killed = false;
		}
		/* what the store says is now known (the runtime does not learn it, but a later
		 * completed ADD must return it) */
		if (n) {
			snprintf(h->known, sizeof(h->known), "%s", have);
			h->may_known = true;
			h->may_none = h->may_new = false;
		} else if (!final_empty) {
			h->may_none = true;
			h->may_known = h->may_new = false;
		}
	}
out:
	json_decref(owner);
	json_decref(byh);
	bip_kvs_free(&got[0]);
	bip_kvs_free(&got[1]);
	bip_store_close(s);
	return held;
}

/*
 * Wait until no write of a killed process can still land. A plugin SIGKILLed after it sent its
 * commit is gone, but etcd may still apply that commit: the proposal outlives the connection.
 * A raw check right after the batch then saw the blocks before that ADD and the handle record
 * after it (a record listing addresses no block gave it), and narrowed the history to "holds
 * nothing" just before the allocation appeared. A write of our own (the delete of a key that
 * does not exist: a proposal that changes nothing) goes into etcd's log after every proposal
 * made before it; then the revision must stay the same for QUIET_MS, for a request that had
 * not been proposed yet when its client died. On SQLite a killed write is done or undone.
 */
#define QUIET_MS 30
static void settle(void)
{
	struct bip_store *s = NULL;
	struct bip_op barrier = {BIP_OP_DEL, "crash-barrier", NULL, 0};
	const struct bip_read rd = {"crash-barrier", false, 0};
	char err[512] = "";
	int64_t rev = -1, prev = -2;

	if (bip_store_open(store_addr, NULL, &s, err, sizeof(err)) != BIP_OK ||
	    bip_store_txn(s, NULL, 0, &barrier, 1, NULL) != BIP_OK) {
		fprintf(stderr, "  settle: %s\n", s ? bip_store_errmsg(s) : err);
		bip_store_close(s);
		return;
	}
	for (int i = 0; i < 2000 / QUIET_MS && rev != prev; i++) {
		struct bip_kvs got = {0};

		if (i)
			usleep(QUIET_MS * 1000);
		prev = rev;
		if (bip_store_read(s, &rd, 1, &got, &rev) != BIP_OK)
			rev = -1;
		bip_kvs_free(&got);
	}
	bip_store_close(s);
}

/* --- the runtime ------------------------------------------------------------------------- */

static void after(struct proc *p, int status, const char *out, long *bad)
{
	struct handle *h = p->h >= 0 ? &hs[p->h] : NULL;
	bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	char addrs[256];

	if (h)
		h->busy = false;
	if (killed) {
		st.killed[p->op]++;
	} else if (ok) {
		st.done[p->op]++;
	} else if (WIFEXITED(status) && err_code(out) == 11) {
		st.tryagain++;
	} else {
		st.failed[p->op]++;
		(*bad)++;
		fprintf(stderr, "  %s %s: %s %d: %s\n", op_names[p->op],
			h ? h->id : net_names[p->net], WIFEXITED(status) ? "exit" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), out);
	}
	if (p->op == OP_GC) {
		for (int i = 0; i < NHANDLES; i++) {
			struct handle *g = &hs[i];

			if (g->net != p->net || g->node != p->node || believed[i])
				continue;
			if (ok) {
				g->may_none = true;
				g->may_known = g->may_new = false;
			} else {
				g->may_none = true;
			}
		}
		return;
	}
	h->last = p->op;
	h->last_killed = killed;
	if (p->op == OP_ADD && ok) {
		int n = result_addrs(out, addrs, sizeof(addrs));

		if (n != (h->net == 1 ? 2 : 1)) {
			fprintf(stderr, "  ADD %s: %d addresses in '%s'\n", h->id, n, out);
			(*bad)++;
		}
		if (h->may_known && !h->may_none && !h->may_new) {
			st.repeats++;
			if (strcmp(addrs, h->known) != 0) {
				fprintf(stderr, "  repeated ADD %s returned [%s], it holds [%s]\n",
					h->id, addrs, h->known);
				(*bad)++;
			}
		}
		snprintf(h->known, sizeof(h->known), "%s", addrs);
		h->may_known = true;
		h->may_none = h->may_new = false;
		believed[p->h] = true;
	} else if (p->op == OP_ADD) {
		/* a killed or failed ADD: what it held it still holds; if nothing, maybe new */
		h->may_new |= h->may_none;
		believed[p->h] = false;
	} else if (ok) {
		h->may_none = true;
		h->may_known = h->may_new = false;
		believed[p->h] = false;
	} else {
		h->may_none = true;
		believed[p->h] = false;
	}
}

/* The node of the next GC, or -1 for one drawn at random. */
static int gc_node = -1;

static void launch(struct proc *p, int hi, enum op op, int net, long window_us, int kill_pct)
{
	char *conf;
	int rc;

	p->h = hi;
	p->op = op;
	p->net = net;
	p->kill_at_us =
	    rand_r(&seed) % 100 < kill_pct ? (long)(rand_r(&seed) % (window_us + 1)) : -1;
	st.kills_drawn += p->kill_at_us >= 0;
	if (hi >= 0) {
		hs[hi].busy = true;
		conf = config(hs[hi].net, hs[hi].node, op);
		rc = spawn(p, op == OP_ADD ? "ADD" : "DEL", hs[hi].ctr, conf);
	} else {
		/* a runtime's GC lists only its own node's attachments: any other node's
		 * handle it released would be a live pod's (the raw check catches that) */
		p->node = gc_node >= 0 ? gc_node : (int)(rand_r(&seed) % NODES);
		conf = config(net, p->node, OP_GC);
		rc = spawn(p, "GC", NULL, conf);
	}
	free(conf);
	if (rc != 0) {
		fprintf(stderr, "  cannot start the plugin: %s\n", strerror(errno));
		exit(1);
	}
	st.launched[op]++;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/*
 * The kill window follows the run times of the processes that were not killed (90th percentile
 * of the last 64, from their batch's start, at least 3 ms): a batch on a loaded machine or of a
 * sanitizer build runs longer, and kills drawn from a fixed window would land mostly before the
 * plugin does anything, or mostly after it has exited.
 */
static long recent[64];
static int nrecent;

static void adapt_window(long *window_us)
{
	long v[64];
	int n = nrecent < 64 ? nrecent : 64;

	if (n < 16)
		return;
	memcpy(v, recent, (size_t)n * sizeof(v[0]));
	qsort(v, (size_t)n, sizeof(v[0]), cmp_long);
	*window_us = v[n * 9 / 10] > 3000 ? v[n * 9 / 10] : 3000;
	if (*window_us < st.window_min || !st.window_min)
		st.window_min = *window_us;
	if (*window_us > st.window_max)
		st.window_max = *window_us;
}

/* Run n launched processes to their end, killing those due. Returns problems. */
static long finish(struct proc *ps, int n)
{
	static char out[MAXOUT];
	long base = now_us(), bad = 0, end[BATCH + 1] = {0};
	int status[BATCH + 1] = {0}, left = n;
	bool sent[BATCH + 1] = {false}, done[BATCH + 1] = {false};

	/* every delay counts from the batch start (the starts differ by the fork costs only); the
	 * exits are polled, so that their times are known */
	while (left) {
		long t = now_us() - base, next = t + 250;

		for (int i = 0; i < n; i++) {
			if (done[i])
				continue;
			if (waitpid(ps[i].pid, &status[i], WNOHANG) == ps[i].pid) {
				done[i] = true;
				end[i] = t;
				left--;
			} else if (ps[i].kill_at_us >= 0 && !sent[i]) {
				if (ps[i].kill_at_us <= t) {
					kill(ps[i].pid, SIGKILL);
					sent[i] = true;
				} else if (ps[i].kill_at_us < next) {
					next = ps[i].kill_at_us;
				}
			}
		}
		if (left)
			usleep((useconds_t)(next > t ? next - t : 1));
	}
	for (int i = 0; i < n; i++) {
		read_out(&ps[i], out, sizeof(out));
		if (WIFEXITED(status[i]))
			recent[nrecent++ % 64] = end[i];
		after(&ps[i], status[i], out, &bad);
	}
	return bad;
}

/* An unkilled run of one command on handle hi, for the setup and the end. Returns exit status
 * (the output in out). */
static int run_one(int hi, enum op op, int net, char *out, size_t len)
{
	struct proc p;
	long bad = 0;
	int status;

	launch(&p, hi, op, net, 0, 0);
	status = reap(&p, out, len);
	after(&p, status, out, &bad);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* blockipamctl --store S ipam check, exec'd: exit status, stdout and stderr in out. */
static int ipam_check(char *out, size_t len)
{
	char *argv[] = {ctl, "--store", store_addr, "ipam", "check", NULL};
	int fd[2], status = 0;
	size_t n = 0;
	ssize_t got;
	pid_t pid;

	if (pipe2(fd, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		if (dup2(fd[1], 1) < 0 || dup2(fd[1], 2) < 0)
			_exit(127);
		execv(ctl, argv);
		_exit(127);
	}
	close(fd[1]);
	while (n + 1 < len && (got = read(fd[0], out + n, len - 1 - n)) > 0)
		n += (size_t)got;
	out[n] = '\0';
	close(fd[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Start blockipamctl --store S ipam check --repair; with out, its stdout and stderr go to a
 * pipe whose read end is *out, else nowhere. */
static pid_t repair_spawn(int *out)
{
	char *argv[] = {ctl, "--store", store_addr, "ipam", "check", "--repair", NULL};
	int fd[2] = {-1, -1};
	pid_t pid;

	if (out ? pipe2(fd, O_CLOEXEC) != 0 : (fd[1] = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		if (dup2(fd[1], 1) < 0 || dup2(fd[1], 2) < 0)
			_exit(127);
		execv(ctl, argv);
		_exit(127);
	}
	close(fd[1]);
	if (out)
		*out = fd[0];
	return pid;
}

/* ipam check --repair, exec'd; SIGKILLed after kill_at_us (< 0: never). Returns the wait
 * status. */
static int repair_run(long kill_at_us)
{
	int status = 0;
	pid_t pid = repair_spawn(NULL);

	if (pid < 0)
		return -1;
	if (kill_at_us >= 0) {
		usleep((useconds_t)kill_at_us);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/*
 * Leaks as another IPAM's crash (or a hand edit) leaves them: one attachment per node that the
 * runtime has given up on (its container is gone) loses its handle record. `ipam check --repair`,
 * killed at random moments and then run to its end, rebuilds each record on the node that holds
 * the addresses: the GC of that node must then release it (a record rebuilt without its node was
 * taken by no node's GC, a leak for good on a shared store). Returns the leaks made.
 */
static int leak_and_repair(long window_us, long *bad)
{
	struct bip_store *s = NULL;
	char err[512] = "", key[160];
	int made = 0, status;

	if (bip_store_open(store_addr, NULL, &s, err, sizeof(err)) != BIP_OK) {
		fprintf(stderr, "  leaks: cannot open %s: %s\n", store_addr, err);
		(*bad)++;
		return 0;
	}
	for (int node = 0; node < NODES; node++)
		for (int i = 0; i < NHANDLES; i++) {
			struct handle *h = &hs[i];

			if (h->node != node || !believed[i] || !h->may_known || h->may_none)
				continue;
			snprintf(key, sizeof(key), "handles/%s", h->id);
			if (t_del(s, key) != BIP_OK) {
				fprintf(stderr, "  leaks: cannot delete %s\n", key);
				(*bad)++;
			}
			believed[i] = false; /* the runtime forgot it: GC must take it */
			made++;
			break;
		}
	bip_store_close(s);
	for (int k = 0; k < 6; k++)
		repair_run((long)(rand_r(&seed) % (unsigned)(3 * window_us + 1)));
	status = repair_run(-1);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "  ipam check --repair: status %d\n", status);
		(*bad)++;
	}
	return made;
}

static int put_pools(void)
{
	struct bip_store *s = NULL;
	struct bip_ipam *ip = NULL;
	struct bip_pool p4 = {.name = "crash-v4", .block_len = 28};
	struct bip_pool p6 = {.name = "crash-v6", .block_len = 124};
	struct bip_kvs handles = {0};
	char err[512] = "";
	int rc = bip_store_open(store_addr, NULL, &s, err, sizeof(err));

	if (rc != BIP_OK) {
		fprintf(stderr, "  cannot open %s: %s\n", store_addr, err);
		return rc;
	}
	rc = bip_store_list(s, "handles/", BIP_LIST_KEYS_ONLY, &handles);
	if (rc == BIP_OK && handles.n) {
		fprintf(stderr,
			"  %s holds %zu handles: the crash test needs a store without any\n",
			store_addr, handles.n);
		rc = BIP_EEXIST;
	}
	bip_kvs_free(&handles);
	if (rc == BIP_OK)
		rc = bip_ipam_new(s, &ip);
	bip_prefix_parse_net("10.100.0.0/20", &p4.cidr);
	bip_prefix_parse_net("fd00:100::/112", &p6.cidr);
	if (rc == BIP_OK)
		rc = bip_ipam_pool_put(ip, &p4, false);
	if (rc == BIP_OK)
		rc = bip_ipam_pool_put(ip, &p6, false);
	if (rc != BIP_OK)
		fprintf(stderr, "  pools: %s: %s\n", bip_errname(rc),
			ip ? bip_ipam_errmsg(ip) : "");
	bip_ipam_free(ip);
	bip_store_close(s);
	return rc;
}

static void test_crash(void)
{
	const char *build = getenv("BIP_BUILD") ? getenv("BIP_BUILD") : "build";
	long target = env_long("BIP_CRASH_KILLS", SANITIZED ? 250 : 1000);
	long budget_us = env_long("BIP_CRASH_SECONDS", 85) * 1000000L;
	long window_us = env_long("BIP_CRASH_WINDOW_US", 0), t0, bad = 0, held, kills = 0;
	bool window_fixed = window_us > 0;
	long dur[10];
	char *dir = NULL, out[MAXOUT];
	struct proc ps[BATCH + 1];
	int rc, batches = 0;
	unsigned seed0;

	seed = (unsigned)env_long("BIP_CRASH_SEED", (long)time(NULL) ^ getpid());
	seed0 = seed; /* the warm-up below draws from it: print the one to pass back */
	snprintf(plugin, sizeof(plugin), "%s/blockipam", build);
	snprintf(ctl, sizeof(ctl), "%s/blockipamctl", build);
	T_REQUIRE(access(plugin, X_OK) == 0 && access(ctl, X_OK) == 0, "build %s first", build);
	if (getenv("BIP_CRASH_STORE") && *getenv("BIP_CRASH_STORE")) {
		snprintf(store_addr, sizeof(store_addr), "%s", getenv("BIP_CRASH_STORE"));
	} else {
		dir = t_tmpdir();
		T_REQUIRE(dir);
		snprintf(store_addr, sizeof(store_addr), "sqlite://%s/ipam.db", dir);
	}
	for (int i = 0; i < NHANDLES; i++) {
		struct handle *h = &hs[i];

		h->net = i % NETS;
		h->node = (i / NETS) % NODES;
		snprintf(h->ctr, sizeof(h->ctr), "ctr-%03d", i);
		snprintf(h->id, sizeof(h->id), "%s.%s.eth0", net_names[h->net], h->ctr);
		h->may_none = true;
	}
	T_REQUIRE(put_pools() == BIP_OK);

	/* the kill window: the plugin's own run time, unkilled (sanitizer builds are slower) */
	for (int i = 0; i < 10; i++) {
		long s = now_us();

		rc = run_one(i / 2, i % 2 ? OP_DEL : OP_ADD, 0, out, sizeof(out));
		dur[i] = now_us() - s;
		T_REQUIRE(rc == 0, "warm-up %s: exit %d: %s", i % 2 ? "DEL" : "ADD", rc, out);
	}
	qsort(dur, 10, sizeof(dur[0]), cmp_long);
	if (!window_fixed)
		window_us = dur[5] * 3 / 2 > 3000 ? dur[5] * 3 / 2 : 3000;
	printf("   store %s, seed %u, plugin median %ld us alone, kill window 0-%ld us%s, target "
	       "%ld kills\n",
	       store_addr, seed0, dur[5], window_us, window_fixed ? "" : " at first", target);

	t0 = now_us();
	while (kills < target && now_us() - t0 < budget_us) {
		int n = 0, tries = 0, repair_out = -1;
		pid_t repair;

		/* GC now and then, alone: a runtime collects with every attachment it knows */
		if (++batches % 20 == 0) {
			launch(&ps[0], -1, OP_GC, batches / 20 % NETS, window_us, 50);
			bad += finish(ps, 1);
		}
		/* now and then `ipam check --repair` runs while the batch does: the store is
		 * consistent at every commit, so it must find nothing (it once reported, and
		 * "repaired", records that plugins changed between its listings) */
		repair = batches % 5 == 0 ? repair_spawn(&repair_out) : -1;
		while (n < BATCH && tries++ < 10 * BATCH) {
			int hi = rand_r(&seed) % NHANDLES, r = rand_r(&seed) % 100;
			struct handle *h = &hs[hi];
			enum op op;

			if (h->busy)
				continue; /* one operation at a time per attachment, as a runtime */
			if (believed[hi])
				op = r < 70 ? OP_DEL : OP_ADD;
			else if (h->may_none && !h->may_known && !h->may_new)
				op = r < 85 ? OP_ADD : OP_DEL;
			else
				op = r < 50 ? OP_ADD : OP_DEL;
			launch(&ps[n++], hi, op, 0, window_us, 70);
		}
		bad += finish(ps, n);
		if (repair > 0) {
			struct proc rp = {.pid = repair, .out = repair_out};
			int status = 0;

			read_out(&rp, out, sizeof(out)); /* to its end first: it may print a lot */
			while (waitpid(repair, &status, 0) < 0 && errno == EINTR)
				;

			st.repairs++;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
			    !strstr(out, "No problems found.")) {
				fprintf(stderr,
					"  ipam check --repair during a batch: status %d:\n%s",
					status, out);
				bad++;
			}
		}
		if (!window_fixed)
			adapt_window(&window_us);
		if (st.killed[OP_ADD] + st.killed[OP_DEL] + st.killed[OP_GC] > kills)
			settle();
		kills = st.killed[OP_ADD] + st.killed[OP_DEL] + st.killed[OP_GC];
		{
			long b = 0;

			raw_check(false, &b);
			bad += b;
		}
		if (bad > 20)
			break;
	}
	T_CHECK(kills >= target, "%ld kills in %.0f s, want %ld", kills, (now_us() - t0) / 1e6,
		target);
	T_CHECK_INT(bad, 0);

	/* the store as the kills left it */
	rc = ipam_check(out, sizeof(out));
	T_CHECK(rc == 0 && strstr(out, "No problems found."), "ipam check: exit %d:\n%s", rc, out);
	/* leaked handle records, repaired (with kills), then collected by their node's GC below */
	{
		int leaks = leak_and_repair(window_us, &bad);

		T_CHECK(leaks == NODES, "%d leaks made, want one per node", leaks);
		T_CHECK_INT(bad, 0);
		rc = ipam_check(out, sizeof(out));
		T_CHECK(rc == 0 && strstr(out, "No problems found."),
			"ipam check after the repairs: exit %d:\n%s", rc, out);
		raw_check(false, &bad);
		T_CHECK_INT(bad, 0);
	}
	/* GC with the attachments the runtime believes in: nothing else may stay held */
	for (int net = 0; net < NETS; net++)
		for (gc_node = 0; gc_node < NODES; gc_node++) {
			rc = run_one(-1, OP_GC, net, out, sizeof(out));
			T_CHECK(rc == 0, "GC %s on %s: exit %d: %s", net_names[net],
				node_names[gc_node], rc, out);
		}
	gc_node = -1;
	raw_check(false, &bad);
	T_CHECK_INT(bad, 0);
	for (int i = 0; i < NHANDLES; i++)
		T_CHECK(believed[i] == (hs[i].may_known && !hs[i].may_none),
			"%s: the runtime %s it, the store says %s", hs[i].id,
			believed[i] ? "believes in" : "gave up", hs[i].may_known ? "held" : "free");
	/* DEL of everything, as a runtime retries it: no allocation may be left */
	for (int i = 0; i < NHANDLES; i++) {
		rc = 1;
		for (int k = 0; k < 3 && rc != 0; k++)
			rc = run_one(i, OP_DEL, 0, out, sizeof(out));
		T_CHECK(rc == 0, "DEL %s: exit %d: %s", hs[i].id, rc, out);
	}
	held = raw_check(true, &bad);
	T_CHECK_INT(bad, 0);
	T_CHECK_INT(held, 0);
	rc = ipam_check(out, sizeof(out));
	T_CHECK(rc == 0 && strstr(out, "No problems found."), "ipam check at the end: exit %d:\n%s",
		rc, out);

	printf("   %ld kills in %d batches, %.1f s (ADD %ld, DEL %ld, GC %ld killed); completed: "
	       "%ld ADDs (%ld repeats), %ld DELs, %ld GCs; %ld try-again, %ld other failures\n",
	       kills, batches, (now_us() - t0) / 1e6, st.killed[OP_ADD], st.killed[OP_DEL],
	       st.killed[OP_GC], st.done[OP_ADD], st.repeats, st.done[OP_DEL], st.done[OP_GC],
	       st.tryagain, st.failed[OP_ADD] + st.failed[OP_DEL] + st.failed[OP_GC]);
	printf(
	    "   killed ADDs seen committed %ld, rolled back %ld; killed DELs committed %ld, "
	    "rolled back %ld; %ld of %ld kills drawn came before the exit; kill window %ld-%ld us; "
	    "%ld raw checks, %ld repairs during batches\n",
	    st.add_committed, st.add_rolled_back, st.del_committed, st.del_rolled_back, kills,
	    st.kills_drawn, st.window_min, st.window_max, st.checks, st.repairs);
	t_rmdir(dir);
}

T_MAIN(T(test_crash))
