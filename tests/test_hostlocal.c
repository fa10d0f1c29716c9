/*
 * host-local mode end to end, in process through bip_cni_run, against SQLite stores in
 * temporary directories: host-local's documented behaviours as tables (range sets,
 * rangeStart/rangeEnd, the gateway never handed out, the next range of a set when one is full,
 * one address per set, dual stack, requested addresses from each source), and where blockipam
 * differs on purpose (a repeated ADD returns what it holds; GC and STATUS exist). Node pod
 * CIDRs (usePodCidr) are set through the real blockipamctl binary: exhaustion names the node
 * and the CIDR, a CIDR that does not parse or that would orphan held addresses is refused, and
 * every failure leaves the store byte-for-byte as it was. Where the state lives when a
 * host-local configuration names no store (dataDir, BLOCKIPAM_STORE) is checked file by file.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../cni/cni.h"
#include "t.h"
#include "util.h"
#include "util_cni.h"

struct fix {
	char *dir;
	char store[PATH_MAX]; /* sqlite://<dir>/ipam.db */
};

static int fix_new(struct fix *f)
{
	f->dir = t_tmpdir();
	if (!f->dir)
		return -1;
	snprintf(f->store, sizeof(f->store), "sqlite://%s/ipam.db", f->dir);
	return 0;
}

static void fix_rm(struct fix *f)
{
	t_rmdir(f->dir);
	f->dir = NULL;
}

/* Every key, value and revision of the store (for "nothing changed"). */
static char *fix_dump(struct fix *f)
{
	struct bip_store *s = t_store(f->dir, NULL, 0);
	char *d = s ? t_dump(s) : strdup("(cannot open)");

	bip_store_close(s);
	return d;
}

/* conf with ' turned into ", "%s" into the store address and "%D" into the directory. */
static char *expand(const struct fix *f, const char *conf)
{
	char buf[16384];
	size_t off = 0;

	for (const char *p = conf; *p && off + 1 < sizeof(buf); p++) {
		const char *sub = NULL;

		if (p[0] == '%' && p[1] == 's')
			sub = f->store;
		else if (p[0] == '%' && p[1] == 'D')
			sub = f->dir;
		if (sub) {
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s", sub);
			p++;
		} else {
			buf[off++] = *p == '\'' ? '"' : *p;
		}
	}
	buf[off < sizeof(buf) ? off : sizeof(buf) - 1] = '\0';
	return strdup(buf);
}

/* One plugin command in process; extra is one more "K=V" for the environment (or NULL). */
static int cni_full(struct fix *f, const char *cmd, const char *cid, const char *ifname,
		    const char *extra, const char *conf, char **out)
{
	char c[32], id[300], ifn[64], *json = expand(f, conf), *x = extra ? expand(f, extra) : NULL;
	const char *env[] = {c,
			     id,
			     "CNI_NETNS=/var/run/netns/t",
			     ifn,
			     "CNI_PATH=/usr/lib/cni",
			     "BLOCKIPAM_NODE=node-a",
			     x,
			     NULL};
	int rc;

	snprintf(c, sizeof(c), "CNI_COMMAND=%s", cmd);
	snprintf(id, sizeof(id), "CNI_CONTAINERID=%s", cid ? cid : "");
	snprintf(ifn, sizeof(ifn), "CNI_IFNAME=%s", ifname);
	rc = tu_run(env, json, out);
	free(json);
	free(x);
	return rc;
}

static int cni_env(struct fix *f, const char *cmd, const char *cid, const char *extra,
		   const char *conf, char **out)
{
	return cni_full(f, cmd, cid, "eth0", extra, conf, out);
}

static int cni(struct fix *f, const char *cmd, const char *cid, const char *conf, char **out)
{
	return cni_full(f, cmd, cid, "eth0", NULL, conf, out);
}

/* A host-local network "hl" on the fixture's store: ipam holds the fields after the store. */
static void hl_conf(char *buf, size_t n, const char *version, const char *ipam, const char *top)
{
	snprintf(buf, n,
		 "{'cniVersion':'%s','name':'hl','type':'bridge','ipam':{'type':'blockipam',"
		 "'store':'%%s'%s}%s}",
		 version, ipam, top ? top : "");
}

/* The ips of a result as "addr gw G, addr gw G" (or the output itself when it is not one). */
static char *ips_of(const char *out)
{
	json_t *r = json_loads(out ? out : "", 0, NULL), *ips = json_object_get(r, "ips"), *ip;
	char *s = NULL;
	size_t n = 0, i;
	FILE *m;

	if (!json_is_array(ips)) {
		json_decref(r);
		return strdup(out ? out : "(null)");
	}
	m = open_memstream(&s, &n);
	json_array_foreach(ips, i, ip)
	{
		const char *gw = json_string_value(json_object_get(ip, "gateway"));

		fprintf(m, "%s%s", i ? ", " : "",
			json_string_value(json_object_get(ip, "address")));
		if (gw)
			fprintf(m, " gw %s", gw);
	}
	fclose(m);
	json_decref(r);
	return s;
}

static const char *msg_of(const char *out, char *buf, size_t n)
{
	json_t *r = json_loads(out ? out : "", 0, NULL);
	const char *m = json_string_value(json_object_get(r, "msg"));

	snprintf(buf, n, "%s", m ? m : "");
	json_decref(r);
	return buf;
}

/* build/<name>: $BIP_BUILD, else next to this test binary's build directory. */
static void built(const char *name, char *buf, size_t n)
{
	char exe[PATH_MAX / 2];
	ssize_t len;
	const char *b = getenv("BIP_BUILD");

	if (b) {
		snprintf(buf, n, "%s/%s", b, name);
		return;
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len > 0) {
		exe[len] = '\0';
		*strrchr(exe, '/') = '\0'; /* build/tests */
		*strrchr(exe, '/') = '\0'; /* build */
		snprintf(buf, n, "%s/%s", exe, name);
		return;
	}
	snprintf(buf, n, "build/%s", name);
}

/* blockipamctl --store STORE args... (NULL-terminated): its exit status; stdout and stderr
 * together in *out. -1 when it could not be run. */
static int ctl(const char *store, char **out, ...)
{
	char bin[PATH_MAX], *argv[16], buf[4096];
	int p[2], status, argc = 0;
	size_t len = 0;
	ssize_t got;
	pid_t pid;
	va_list ap;

	built("blockipamctl", bin, sizeof(bin));
	argv[argc++] = bin;
	argv[argc++] = (char *)"--store";
	argv[argc++] = (char *)store;
	va_start(ap, out);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	if (pipe(p) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execv(bin, argv);
		_exit(127);
	}
	close(p[1]);
	while (pid > 0 && (got = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)got;
	buf[len] = '\0';
	close(p[0]);
	*out = strdup(buf);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static bool ctl_built(void)
{
	char bin[PATH_MAX];

	built("blockipamctl", bin, sizeof(bin));
	return access(bin, X_OK) == 0;
}

static bool exists(const struct fix *f, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
	return stat(p, &st) == 0;
}

/* --- the shape of the result ------------------------------------------------------------- */

/* What host-local 1.1.1 prints (measured-here.md §3): cniVersion, ips (address, gateway; and
 * "version" before 1.0.0), routes when configured, dns always; nothing else. */
static void test_result_shape(void)
{
	static const char *const versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
	struct fix f;

	T_REQUIRE(fix_new(&f) == 0, "fixture");
	for (size_t v = 0; v < 5; v++) {
		char conf[1024], ipam[256], cid[16], *out = NULL, *got;
		json_t *r, *ip;
		const char *key;
		json_t *val;
		size_t nkeys = 0;

		snprintf(ipam, sizeof(ipam),
			 ",'ranges':[[{'subnet':'10.60.%zu.0/24'}]],'routes':[{'dst':'0.0.0.0/0'}]",
			 v);
		hl_conf(conf, sizeof(conf), versions[v], ipam, "");
		snprintf(cid, sizeof(cid), "shape-%zu", v);
		T_CHECK_INT(cni(&f, "ADD", cid, conf, &out), 0);
		got = ips_of(out);
		{
			char want[64];

			snprintf(want, sizeof(want), "10.60.%zu.2/24 gw 10.60.%zu.1", v, v);
			T_CHECK_STR(got, want);
		}
		r = json_loads(out, 0, NULL);
		json_object_foreach(r, key, val)
		{
			nkeys++;
			T_CHECK(strcmp(key, "cniVersion") == 0 || strcmp(key, "ips") == 0 ||
				    strcmp(key, "routes") == 0 || strcmp(key, "dns") == 0,
				"%s: unexpected key %s", versions[v], key);
		}
		T_CHECK_INT(nkeys, 4);
		T_CHECK_STR(json_string_value(json_object_get(r, "cniVersion")), versions[v]);
		T_CHECK(json_is_object(json_object_get(r, "dns")) &&
			    json_object_size(json_object_get(r, "dns")) == 0,
			"%s", out);
		T_CHECK_STR(json_string_value(json_object_get(
				json_array_get(json_object_get(r, "routes"), 0), "dst")),
			    "0.0.0.0/0");
		ip = json_array_get(json_object_get(r, "ips"), 0);
		T_CHECK_INT(json_object_size(ip), v < 3 ? 3 : 2);
		if (v < 3)
			T_CHECK_STR(json_string_value(json_object_get(ip, "version")), "4");
		free(got);
		json_decref(r);
		free(out);
	}
	fix_rm(&f);
}

/* --- range sets ---------------------------------------------------------------------------- */

/* Successive ADDs of new containers on a fresh store: what each gets, then the error of the
 * one after (code 100, naming the range), which must change nothing. */
static void test_range_sets(void)
{
	static const struct {
		const char *name, *ipam;
		const char *want[6];
		const char *full; /* in the message of the ADD after the last */
	} rows[] = {
	    {"a /30 has one address besides the gateway",
	     ",'ranges':[[{'subnet':'10.61.0.0/30'}]]",
	     {"10.61.0.2/30 gw 10.61.0.1"},
	     "10.61.0.1-10.61.0.2"},
	    {"rangeStart and rangeEnd",
	     ",'ranges':[[{'subnet':'10.62.0.0/24','rangeStart':'10.62.0.10',"
	     "'rangeEnd':'10.62.0.12'}]]",
	     {"10.62.0.10/24 gw 10.62.0.1", "10.62.0.11/24 gw 10.62.0.1",
	      "10.62.0.12/24 gw 10.62.0.1"},
	     "10.62.0.10-10.62.0.12"},
	    {"a gateway inside rangeStart-rangeEnd is skipped",
	     ",'ranges':[[{'subnet':'10.63.0.0/29','rangeStart':'10.63.0.1',"
	     "'rangeEnd':'10.63.0.3','gateway':'10.63.0.2'}]]",
	     {"10.63.0.1/29 gw 10.63.0.2", "10.63.0.3/29 gw 10.63.0.2"},
	     "10.63.0.1-10.63.0.3"},
	    {"a gateway at the end; the broadcast address is never handed out",
	     ",'ranges':[[{'subnet':'10.64.0.0/29','gateway':'10.64.0.6'}]]",
	     {"10.64.0.1/29 gw 10.64.0.6", "10.64.0.2/29 gw 10.64.0.6", "10.64.0.3/29 gw 10.64.0.6",
	      "10.64.0.4/29 gw 10.64.0.6", "10.64.0.5/29 gw 10.64.0.6"},
	     "10.64.0.0/29"},
	    {"the second range of a set when the first is full; one address per set",
	     ",'ranges':[[{'subnet':'10.65.0.0/30'},{'subnet':'10.65.1.0/30'}]]",
	     {"10.65.0.2/30 gw 10.65.0.1", "10.65.1.2/30 gw 10.65.1.1"},
	     "range set 0"},
	    {"IPv6: every address after the gateway, the last one included",
	     ",'ranges':[[{'subnet':'fd00:66::/126'}]]",
	     {"fd00:66::2/126 gw fd00:66::1", "fd00:66::3/126 gw fd00:66::1"},
	     "fd00:66::1-fd00:66::3"},
	    {"the legacy single range",
	     ",'subnet':'10.67.0.0/29','rangeStart':'10.67.0.4','rangeEnd':'10.67.0.5',"
	     "'gateway':'10.67.0.6'",
	     {"10.67.0.4/29 gw 10.67.0.6", "10.67.0.5/29 gw 10.67.0.6"},
	     "10.67.0.4-10.67.0.5"},
	    {"dual stack: two sets, two addresses; all or nothing when one is full",
	     ",'ranges':[[{'subnet':'10.68.0.0/30'}],[{'subnet':'fd00:68::/120'}]]",
	     {"10.68.0.2/30 gw 10.68.0.1, fd00:68::2/120 gw fd00:68::1"},
	     "10.68.0.1-10.68.0.2"},
	    {"the legacy range is prepended as a set of its own",
	     ",'subnet':'10.69.0.0/30','ranges':[[{'subnet':'fd00:69::/126'}]]",
	     {"10.69.0.2/30 gw 10.69.0.1, fd00:69::2/126 gw fd00:69::1"},
	     "10.69.0.1-10.69.0.2"},
	    {"an IPv6 /64 range: the subnet's length, not its /120 sub-block's",
	     ",'ranges':[[{'subnet':'fd00:6a::/64'}]]",
	     {"fd00:6a::2/64 gw fd00:6a::1", "fd00:6a::3/64 gw fd00:6a::1"},
	     NULL},
	    {"two sets of one family give two addresses of it",
	     ",'ranges':[[{'subnet':'10.70.0.0/30'}],[{'subnet':'10.70.1.0/30'}]]",
	     {"10.70.0.2/30 gw 10.70.0.1, 10.70.1.2/30 gw 10.70.1.1"},
	     "10.70.0.1-10.70.0.2"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct fix f;
		char conf[1024], cid[16], *out = NULL, *got, *before, *after, msg[512];
		size_t k;

		T_REQUIRE(fix_new(&f) == 0, "fixture");
		hl_conf(conf, sizeof(conf), "0.4.0", rows[i].ipam, "");
		for (k = 0; k < 6 && rows[i].want[k]; k++) {
			snprintf(cid, sizeof(cid), "c%zu", k);
			T_CHECK_INT(cni(&f, "ADD", cid, conf, &out), 0);
			got = ips_of(out);
			T_CHECK(strcmp(got, rows[i].want[k]) == 0,
				"%s: ADD %zu: got '%s', want '%s'", rows[i].name, k, got,
				rows[i].want[k]);
			free(got);
			free(out);
		}
		if (!rows[i].full) {
			fix_rm(&f);
			continue;
		}
		before = fix_dump(&f);
		snprintf(cid, sizeof(cid), "c%zu", k);
		T_CHECK_INT(cni(&f, "ADD", cid, conf, &out), 1);
		T_CHECK(tu_code(out) == 100 && strstr(msg_of(out, msg, sizeof(msg)), rows[i].full),
			"%s: the ADD after the last: %s", rows[i].name, out);
		free(out);
		after = fix_dump(&f);
		T_CHECK(strcmp(before, after) == 0, "%s: a failed ADD changed the store",
			rows[i].name);
		free(before);
		free(after);
		fix_rm(&f);
	}
}

/* --- requested addresses ------------------------------------------------------------------- */

static void test_requested(void)
{
	static const char v4[] = ",'ranges':[[{'subnet':'10.71.0.0/24','rangeStart':'10.71.0.10',"
				 "'rangeEnd':'10.71.0.20','gateway':'10.71.0.12'}]]";
	static const char dual[] = ",'ranges':[[{'subnet':'10.71.0.0/24','rangeStart':'10.71.0.10',"
				   "'rangeEnd':'10.71.0.20','gateway':'10.71.0.12'}],"
				   "[{'subnet':'fd00:71::/120'}]]";
	static const struct {
		const char *name, *ipam, *top, *cni_args;
		const char *want; /* the ips, or the error's message part */
		long code;
	} rows[] = {
	    {"CNI_ARGS IP=", v4, "", "CNI_ARGS=IgnoreUnknown=1;IP=10.71.0.15",
	     "10.71.0.15/24 gw 10.71.0.12", 0},
	    {"args.cni.ips (with a length, ignored)", v4,
	     ",'args':{'cni':{'ips':['10.71.0.16/16']}}", NULL, "10.71.0.16/24 gw 10.71.0.12", 0},
	    {"runtimeConfig.ips", v4, ",'runtimeConfig':{'ips':['10.71.0.17']}", NULL,
	     "10.71.0.17/24 gw 10.71.0.12", 0},
	    {"runtimeConfig.ips wins over args and CNI_ARGS", v4,
	     ",'runtimeConfig':{'ips':['10.71.0.19']},'args':{'cni':{'ips':['10.71.0.14']}}",
	     "CNI_ARGS=IP=10.71.0.13", "10.71.0.19/24 gw 10.71.0.12", 0},
	    {"dual stack: the requested IPv4 address and an IPv6 one from its set", dual,
	     ",'runtimeConfig':{'ips':['10.71.0.20']}", NULL,
	     "10.71.0.20/24 gw 10.71.0.12, fd00:71::2/120 gw fd00:71::1", 0},
	    {"dual stack: both requested", dual,
	     ",'runtimeConfig':{'ips':['10.71.0.11','fd00:71::77']}", NULL,
	     "10.71.0.11/24 gw 10.71.0.12, fd00:71::77/120 gw fd00:71::1", 0},
	    {"the gateway", v4, "", "CNI_ARGS=IP=10.71.0.12", "is the gateway", 101},
	    {"taken by another container", v4, "", "CNI_ARGS=IP=10.71.0.18", "already in use", 101},
	    {"outside rangeStart-rangeEnd", v4, ",'args':{'cni':{'ips':['10.71.0.30']}}", NULL,
	     "outside rangeStart-rangeEnd", 103},
	    {"outside every range", v4, ",'runtimeConfig':{'ips':['10.99.0.1']}", NULL,
	     "in none of the ranges", 103},
	    {"outside every range, IPv6", dual, ",'runtimeConfig':{'ips':['fd00:99::1']}", NULL,
	     "in none of the ranges", 103},
	    {"not an address", v4, "", "CNI_ARGS=IP=10.71.0.300", "IP", 4},
	};
	struct fix f;
	char conf[1024], *out = NULL;

	T_REQUIRE(fix_new(&f) == 0, "fixture");
	/* 10.71.0.18 is someone else's */
	hl_conf(conf, sizeof(conf), "1.0.0", v4, ",'runtimeConfig':{'ips':['10.71.0.18']}");
	T_REQUIRE(cni(&f, "ADD", "other", conf, &out) == 0, "%s", out);
	free(out);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char cid[16], *before = fix_dump(&f), *after, *got, msg[512];
		int rc;

		snprintf(cid, sizeof(cid), "req-%zu", i);
		hl_conf(conf, sizeof(conf), "1.0.0", rows[i].ipam, rows[i].top);
		rc = cni_env(&f, "ADD", cid, rows[i].cni_args, conf, &out);
		if (rows[i].code == 0) {
			got = ips_of(out);
			T_CHECK(rc == 0 && strcmp(got, rows[i].want) == 0, "%s: got %s, want %s",
				rows[i].name, got, rows[i].want);
			free(got);
		} else {
			T_CHECK(rc == 1 && tu_code(out) == rows[i].code &&
				    strstr(msg_of(out, msg, sizeof(msg)), rows[i].want),
				"%s: got %s, want code %ld '%s'", rows[i].name, out, rows[i].code,
				rows[i].want);
			after = fix_dump(&f);
			T_CHECK(strcmp(before, after) == 0, "%s: the store changed", rows[i].name);
			free(after);
		}
		free(before);
		free(out);
	}
	fix_rm(&f);
}

/* --- repeats, DEL, CHECK ----------------------------------------------------------------- */

/* host-local refuses a repeated ADD ("duplicate allocation is not allowed"); blockipam returns
 * what the attachment holds. The same container on another interface is another attachment.
 * A released address is not handed straight back (host-local: round robin; here: never-used
 * addresses first). */
static void test_repeat_del_check(void)
{
	static const char ipam[] = ",'ranges':[[{'subnet':'10.72.0.0/24'}]]";
	static const struct {
		const char *cmd, *cid, *ifname;
		long rc;
		const char *want; /* ADD: the ips */
	} steps[] = {
	    {"ADD", "c1", "eth0", 0, "10.72.0.2/24 gw 10.72.0.1"},
	    {"ADD", "c1", "eth0", 0, "10.72.0.2/24 gw 10.72.0.1"},
	    {"ADD", "c1", "net1", 0, "10.72.0.3/24 gw 10.72.0.1"},
	    {"DEL", "c1", "eth0", 0, ""},
	    {"DEL", "c1", "eth0", 0, ""},
	    {"DEL", "never-added", "eth0", 0, ""},
	    {"ADD", "c2", "eth0", 0, "10.72.0.4/24 gw 10.72.0.1"},
	    {"ADD", "c1", "eth0", 0, "10.72.0.5/24 gw 10.72.0.1"},
	    {"ADD", "c1", "net1", 0, "10.72.0.3/24 gw 10.72.0.1"},
	};
	struct fix f;
	char conf[1024], *out = NULL;

	T_REQUIRE(fix_new(&f) == 0, "fixture");
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char *got;
		int rc;

		hl_conf(conf, sizeof(conf), "1.0.0", ipam, "");
		rc = cni_full(&f, steps[i].cmd, steps[i].cid, steps[i].ifname, NULL, conf, &out);
		got = strcmp(steps[i].cmd, "ADD") == 0 ? ips_of(out) : strdup(out);
		got[strcspn(got, "\n")] = '\0';
		T_CHECK(rc == steps[i].rc && strcmp(got, steps[i].want) == 0,
			"step %zu %s %s/%s: rc %d, got '%s', want '%s'", i, steps[i].cmd,
			steps[i].cid, steps[i].ifname, rc, got, steps[i].want);
		free(got);
		free(out);
	}
	/* CHECK: c2's address is c2's; 10.72.0.2 (released) is nobody's */
	hl_conf(conf, sizeof(conf), "1.0.0", ipam,
		",'prevResult':{'cniVersion':'1.0.0','ips':[{'address':'10.72.0.4/24'}]}");
	T_CHECK_INT(cni(&f, "CHECK", "c2", conf, &out), 0);
	T_CHECK_STR(out, "");
	free(out);
	hl_conf(conf, sizeof(conf), "1.0.0", ipam,
		",'prevResult':{'cniVersion':'1.0.0','ips':[{'address':'10.72.0.2/24'}]}");
	T_CHECK_INT(cni(&f, "CHECK", "c2", conf, &out), 1);
	T_CHECK_INT(tu_code(out), 110);
	free(out);
	fix_rm(&f);
}

/* --- GC and STATUS (host-local has neither) ------------------------------------------------ */

static void test_gc_status(void)
{
	static const char ipam[] = ",'ranges':[[{'subnet':'10.73.0.0/29'}]]"; /* .2-.6 */
	struct fix f;
	char conf[1024], other[1024], *out = NULL, msg[512];
	long n;

	T_REQUIRE(fix_new(&f) == 0, "fixture");
	hl_conf(conf, sizeof(conf), "1.1.0", ipam, "");
	T_CHECK_INT(cni(&f, "STATUS", NULL, conf, &out), 0);
	T_CHECK_STR(out, "");
	free(out);
	for (int i = 0; i < 5; i++) {
		char cid[16];

		snprintf(cid, sizeof(cid), "gc-%d", i);
		T_CHECK_INT(cni(&f, "ADD", cid, conf, &out), 0);
		free(out);
	}
	/* a second network on the same store, another range: GC of "hl" must not touch it */
	snprintf(other, sizeof(other),
		 "{'cniVersion':'1.1.0','name':'hl2','ipam':{'type':'blockipam','store':'%%s',"
		 "'ranges':[[{'subnet':'10.74.0.0/29'}]]}}");
	T_CHECK_INT(cni(&f, "ADD", "gc-9", other, &out), 0);
	free(out);
	/* full: ADD says 100 naming the range, STATUS 50 */
	T_CHECK_INT(cni(&f, "ADD", "gc-5", conf, &out), 1);
	T_CHECK(tu_code(out) == 100 && strstr(msg_of(out, msg, sizeof(msg)), "10.73.0.0/29"), "%s",
		out);
	free(out);
	T_CHECK_INT(cni(&f, "STATUS", NULL, conf, &out), 1);
	T_CHECK_INT(tu_code(out), 50);
	free(out);
	/* GC without a list refuses; with one it keeps exactly the listed attachments */
	T_CHECK_INT(cni(&f, "GC", NULL, conf, &out), 1);
	T_CHECK_INT(tu_code(out), 7);
	free(out);
	hl_conf(conf, sizeof(conf), "1.1.0", ipam,
		",'cni.dev/valid-attachments':[{'containerID':'gc-1','ifname':'eth0'},"
		"{'containerID':'gc-3','ifname':'eth0'},{'containerID':'gc-9','ifname':'eth0'}]");
	T_CHECK_INT(cni(&f, "GC", NULL, conf, &out), 0);
	T_CHECK_STR(out, "");
	free(out);
	{
		struct bip_store *s = t_store(f.dir, NULL, 0);
		char *d = s ? t_dump(s) : NULL;

		n = 0;
		for (const char *p = d; p && (p = strstr(p, "handles/")); p++)
			n++;
		T_CHECK(d && strstr(d, "handles/hl.gc-1.eth0") &&
			    strstr(d, "handles/hl.gc-3.eth0") && strstr(d, "handles/hl2.gc-9.eth0"),
			"%s", d);
		T_CHECK_INT(n, 3);
		free(d);
		bip_store_close(s);
	}
	/* room again */
	hl_conf(conf, sizeof(conf), "1.1.0", ipam, "");
	T_CHECK_INT(cni(&f, "STATUS", NULL, conf, &out), 0);
	free(out);
	T_CHECK_INT(cni(&f, "ADD", "gc-5", conf, &out), 0);
	free(out);
	fix_rm(&f);
}

/* --- node pod CIDRs ----------------------------------------------------------------------- */

static void test_pod_cidr(void)
{
	static const char ipam[] = ",'ranges':[[{'subnet':'usePodCidr'}]]";
	struct fix f;
	char conf[1024], *out = NULL, *before, *after, msg[512];

	if (!ctl_built())
		T_SKIP("blockipamctl is not built");
	T_REQUIRE(fix_new(&f) == 0, "fixture");
	hl_conf(conf, sizeof(conf), "1.1.0", ipam, "");
	/* no node record yet */
	T_CHECK_INT(cni(&f, "ADD", "p1", conf, &out), 1);
	T_CHECK(tu_code(out) == 103 && strstr(out, "node 'node-a' has no IPv4 pod CIDR"), "%s",
		out);
	free(out);
	T_CHECK_INT(
	    ctl(f.store, &out, "node", "set", "node-a", "--pod-cidr", "10.80.0.0/30", (char *)NULL),
	    0);
	free(out);
	T_CHECK_INT(cni(&f, "ADD", "p1", conf, &out), 0);
	{
		char *got = ips_of(out);

		T_CHECK_STR(got, "10.80.0.2/30 gw 10.80.0.1");
		free(got);
	}
	free(out);
	/* exhausted: 100 naming the node and the CIDR, STATUS 50, nothing changed */
	before = fix_dump(&f);
	T_CHECK_INT(cni(&f, "ADD", "p2", conf, &out), 1);
	T_CHECK(tu_code(out) == 100 &&
		    strstr(msg_of(out, msg, sizeof(msg)), "pod CIDR 10.80.0.0/30 of node 'node-a'"),
		"%s", out);
	free(out);
	T_CHECK_INT(cni(&f, "STATUS", NULL, conf, &out), 1);
	T_CHECK_INT(tu_code(out), 50);
	free(out);
	/* the CIDR cannot change while an address from it is held */
	T_CHECK_INT(
	    ctl(f.store, &out, "node", "set", "node-a", "--pod-cidr", "10.81.0.0/24", (char *)NULL),
	    1);
	T_CHECK(strstr(out, "pod CIDR 10.80.0.0/30 cannot change while 1 addresses"), "%s", out);
	free(out);
	after = fix_dump(&f);
	T_CHECK(strcmp(before, after) == 0, "refused changes changed the store:\n%s\n%s", before,
		after);
	free(after);
	/* pod CIDRs that do not parse or cannot be used: refused, nothing changed */
	{
		static const struct {
			const char *cidr;
			int rc;
			const char *msg;
		} bad[] = {
		    {"10.82.0.1/24", 2, "host bits set in CIDR '10.82.0.1/24'"},
		    {"banana", 2, "invalid CIDR 'banana'"},
		    {"10.82.0.0/33", 2, "invalid CIDR '10.82.0.0/33'"},
		    {"10.82.0.0", 2, "invalid CIDR '10.82.0.0'"},
		    {"10.82.0.0/31", 1, "too small"},
		    {"fd00:82::/127", 1, "too small"},
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			int rc = ctl(f.store, &out, "node", "set", "node-b", "--pod-cidr",
				     bad[i].cidr, (char *)NULL);

			T_CHECK(rc == bad[i].rc && strstr(out, bad[i].msg),
				"--pod-cidr %s: exit %d: %s", bad[i].cidr, rc, out);
			free(out);
			after = fix_dump(&f);
			T_CHECK(strcmp(before, after) == 0, "--pod-cidr %s changed the store",
				bad[i].cidr);
			free(after);
		}
	}
	free(before);
	/* released, the CIDR may change; the next pod gets the new one */
	T_CHECK_INT(cni(&f, "DEL", "p1", conf, &out), 0);
	free(out);
	T_CHECK_INT(
	    ctl(f.store, &out, "node", "set", "node-a", "--pod-cidr", "10.81.0.0/24", (char *)NULL),
	    0);
	free(out);
	T_CHECK_INT(cni(&f, "ADD", "p1", conf, &out), 0);
	{
		char *got = ips_of(out);

		T_CHECK_STR(got, "10.81.0.2/24 gw 10.81.0.1");
		free(got);
	}
	free(out);
	T_CHECK_INT(cni(&f, "STATUS", NULL, conf, &out), 0);
	free(out);
	fix_rm(&f);
}

/* A subnet that does not parse is 7 naming the field, before the store is opened. */
static void test_bad_subnet(void)
{
	static const struct {
		const char *ipam, *msg;
	} rows[] = {
	    {",'ranges':[[{'subnet':'usePodCIDR'}]]",
	     "ipam.ranges[0][0].subnet: 'usePodCIDR' is not a CIDR (or usePodCidr"},
	    {",'ranges':[[{'subnet':'10.0.0.0/33'}]]", "'10.0.0.0/33' is not a CIDR"},
	    {",'ranges':[[{'subnet':'10.0.0.1/24'}]]", "'10.0.0.1/24' has host bits set"},
	    {",'ranges':[[{'subnet':''}]]", "'' is not a CIDR"},
	    {",'subnet':'10.0.0.0/31'", "ipam.subnet: '10.0.0.0/31' is too small"},
	    {",'ranges':[[{'subnet':'fd00::/64','rangeStart':'10.0.0.1'}]]",
	     "rangeStart: '10.0.0.1' is not in 'fd00::/64'"},
	    {",'ranges':[[{'subnet':'usePodCidr','gateway':'10.0.0.1'}]]", "not supported"},
	    {",'ranges':[[{'subnet':'10.0.0.0/24'}]],'dataDir':'relative/dir'",
	     "ipam.dataDir 'relative/dir': must be an absolute path"},
	};
	struct fix f;

	T_REQUIRE(fix_new(&f) == 0, "fixture");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char conf[1024], *out = NULL, msg[512];

		/* no store: nothing may be created anywhere, the dataDir included */
		snprintf(conf, sizeof(conf),
			 "{'cniVersion':'1.0.0','name':'hl','ipam':{'type':'blockipam',"
			 "'dataDir':'%%D/data'%s}}",
			 rows[i].ipam);
		if (strstr(rows[i].ipam, "dataDir"))
			snprintf(conf, sizeof(conf),
				 "{'cniVersion':'1.0.0','name':'hl','ipam':{'type':'blockipam'%s}}",
				 rows[i].ipam);
		T_CHECK_INT(cni(&f, "ADD", "bad", conf, &out), 1);
		T_CHECK(tu_code(out) == 7 && strstr(msg_of(out, msg, sizeof(msg)), rows[i].msg),
			"row %zu: %s", i, out);
		T_CHECK(!exists(&f, "data"), "row %zu created the dataDir", i);
		free(out);
	}
	fix_rm(&f);
}

/* An IPv6 /64 pod CIDR: kept in /120 sub-blocks made as they fill. */
static void test_pod_cidr_v6_64(void)
{
	struct fix f;
	char conf[1024], *out = NULL, *d;

	if (!ctl_built())
		T_SKIP("blockipamctl is not built");
	T_REQUIRE(fix_new(&f) == 0, "fixture");
	T_CHECK_INT(ctl(f.store, &out, "node", "set", "node-a", "--pod-cidr", "fd00:64::/64",
			"--pod-cidr", "10.84.0.0/24", (char *)NULL),
		    0);
	free(out);
	hl_conf(conf, sizeof(conf), "1.1.0", ",'ranges':[[{'subnet':'usePodCidrIPv6'}]]", "");
	for (int i = 0; i < 3; i++) {
		char cid[16], want[64], *got;

		snprintf(cid, sizeof(cid), "v6-%d", i);
		snprintf(want, sizeof(want), "fd00:64::%d/64 gw fd00:64::1", i + 2);
		T_CHECK_INT(cni(&f, "ADD", cid, conf, &out), 0);
		got = ips_of(out);
		T_CHECK_STR(got, want);
		free(got);
		free(out);
	}
	/* addresses of later sub-blocks: still the /64 and its gateway */
	{
		static const char *const rows[][2] = {
		    {"fd00:64::1:5", "fd00:64::1:5/64 gw fd00:64::1"},
		    {"fd00:64::1:1", "fd00:64::1:1/64 gw fd00:64::1"},
		    {"fd00:64::ffff:ffff:ffff:ffff",
		     "fd00:64::ffff:ffff:ffff:ffff/64 gw fd00:64::1"},
		};

		for (size_t i = 0; i < 3; i++) {
			char top[128], cid[16], *got;

			snprintf(top, sizeof(top), ",'runtimeConfig':{'ips':['%s']}", rows[i][0]);
			hl_conf(conf, sizeof(conf), "1.1.0",
				",'ranges':[[{'subnet':'usePodCidrIPv6'}]]", top);
			snprintf(cid, sizeof(cid), "v6-req-%zu", i);
			T_CHECK_INT(cni(&f, "ADD", cid, conf, &out), 0);
			got = ips_of(out);
			T_CHECK_STR(got, rows[i][1]);
			free(got);
			free(out);
		}
		hl_conf(conf, sizeof(conf), "1.1.0", ",'ranges':[[{'subnet':'usePodCidrIPv6'}]]",
			"");
	}
	T_CHECK_INT(cni(&f, "STATUS", NULL, conf, &out), 0);
	free(out);
	/* dual stack from both pod CIDRs */
	hl_conf(conf, sizeof(conf), "1.1.0",
		",'ranges':[[{'subnet':'usePodCidr'}],[{'subnet':'usePodCidrIPv6'}]]", "");
	T_CHECK_INT(cni(&f, "ADD", "dual", conf, &out), 0);
	{
		char *got = ips_of(out);

		/* the walk goes on in the newest sub-block (the one made for the last address):
		 * host-local's round robin, a sub-block of 2^8 at a time */
		T_CHECK_STR(got, "10.84.0.2/24 gw 10.84.0.1, fd00:64::ffff:ffff:ffff:ff00/64 gw fd00:64::1");
		free(got);
	}
	free(out);
	d = fix_dump(&f);
	T_CHECK(strstr(d, "blocks/fd00:64::-120=") && strstr(d, "blocks/fd00:64::1:0-120="),
		"no /120 sub-blocks: %s", d);
	free(d);
	fix_rm(&f);
}

/* --- where the state lives --------------------------------------------------------------- */

/* A host-local config names no store: ipam.store, then ipam.dataDir, then BLOCKIPAM_STORE,
 * then host-local's default dataDir (not tried here: it is /var/lib). usePodCidr never maps to
 * dataDir. */
static void test_data_dir(void)
{
	static const char ranges[] = "'ranges':[[{'subnet':'10.90.0.0/24'}]]";
	static const struct {
		const char *name, *ipam, *env;
		const char *file;   /* the store that must hold the handle */
		const char *absent; /* what must not exist */
	} rows[] = {
	    {"dataDir", ",'dataDir':'%D/data'", NULL, "data/hl/blockipam.db", "env.db"},
	    {"dataDir with a trailing slash, nested", ",'dataDir':'%D/a/b/'", NULL,
	     "a/b/hl/blockipam.db", "env.db"},
	    {"dataDir before BLOCKIPAM_STORE", ",'dataDir':'%D/data'",
	     "BLOCKIPAM_STORE=sqlite://%D/env.db", "data/hl/blockipam.db", "env.db"},
	    {"BLOCKIPAM_STORE without dataDir", "", "BLOCKIPAM_STORE=sqlite://%D/env.db", "env.db",
	     "data"},
	    {"ipam.store before dataDir", ",'dataDir':'%D/data','store':'sqlite://%D/cfg.db'",
	     "BLOCKIPAM_STORE=sqlite://%D/env.db", "cfg.db", "data"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct fix f;
		char conf[1024], *out = NULL, *d, path[PATH_MAX];
		struct bip_store *s;

		T_REQUIRE(fix_new(&f) == 0, "fixture");
		snprintf(conf, sizeof(conf),
			 "{'cniVersion':'1.1.0','name':'hl','ipam':{'type':'blockipam',%s%s}}",
			 ranges, rows[i].ipam);
		T_CHECK_INT(cni_env(&f, "ADD", "d1", rows[i].env, conf, &out), 0);
		free(out);
		T_CHECK(exists(&f, rows[i].file), "%s: no %s", rows[i].name, rows[i].file);
		T_CHECK(!exists(&f, rows[i].absent), "%s: %s exists", rows[i].name, rows[i].absent);
		snprintf(path, sizeof(path), "sqlite://%s/%s", f.dir, rows[i].file);
		if (bip_store_open(path, NULL, &s, NULL, 0) == BIP_OK) {
			d = t_dump(s);
			T_CHECK(strstr(d, "handles/hl.d1.eth0"), "%s: %s", rows[i].name, d);
			free(d);
			bip_store_close(s);
		}
		/* the rest of the life of the attachment finds the same store */
		T_CHECK_INT(cni_env(&f, "STATUS", NULL, rows[i].env, conf, &out), 0);
		free(out);
		T_CHECK_INT(cni_env(&f, "DEL", "d1", rows[i].env, conf, &out), 0);
		free(out);
		fix_rm(&f);
	}
}

/* CHECK and STATUS before any ADD: the network's directory is made, as host-local makes it. */
static void test_data_dir_fresh(void)
{
	static const char head[] = "{'cniVersion':'1.1.0','name':'hl','ipam':{'type':'blockipam',"
				   "'ranges':[[{'subnet':'10.91.0.0/24'}]],";
	struct fix f;
	char c[1024], *out = NULL;

	T_REQUIRE(fix_new(&f) == 0, "fixture");
	snprintf(c, sizeof(c), "%s'dataDir':'%%D/d1'}}", head);
	T_CHECK_INT(cni(&f, "STATUS", NULL, c, &out), 0);
	T_CHECK_STR(out, "");
	free(out);
	T_CHECK(exists(&f, "d1/hl/blockipam.db"), "STATUS did not make the store");
	snprintf(c, sizeof(c),
		 "%s'dataDir':'%%D/d2'},"
		 "'prevResult':{'cniVersion':'1.1.0','ips':[{'address':'10.91.0.2/24'}]}}",
		 head);
	T_CHECK_INT(cni(&f, "CHECK", "c1", c, &out), 1);
	T_CHECK_INT(tu_code(out), 110);
	free(out);
	T_CHECK(exists(&f, "d2/hl/blockipam.db"), "CHECK did not make the store");
	/* a dataDir that cannot be made: a file in the way */
	{
		char p[PATH_MAX];
		int fd;

		snprintf(p, sizeof(p), "%s/file", f.dir);
		fd = open(p, O_CREAT | O_WRONLY, 0600);
		T_REQUIRE(fd >= 0, "create %s", p);
		close(fd);
		snprintf(c, sizeof(c), "%s'dataDir':'%%D/file/sub'}}", head);
		T_CHECK_INT(cni(&f, "ADD", "c1", c, &out), 1);
		T_CHECK(tu_code(out) == 5 && strstr(out, "cannot create the store directory"), "%s",
			out);
		free(out);
		T_CHECK_INT(cni(&f, "STATUS", NULL, c, &out), 1);
		T_CHECK_INT(tu_code(out), 50);
		free(out);
	}
	/* usePodCidr never maps to dataDir: the node lives in the store blockipamctl writes */
	if (ctl_built()) {
		char env_store[PATH_MAX + 16];

		snprintf(env_store, sizeof(env_store), "sqlite://%s/env.db", f.dir);
		T_CHECK_INT(ctl(env_store, &out, "node", "set", "node-a", "--pod-cidr",
				"10.92.0.0/24", (char *)NULL),
			    0);
		free(out);
		snprintf(c, sizeof(c),
			 "{'cniVersion':'1.1.0','name':'pc','ipam':{'type':'blockipam',"
			 "'dataDir':'%%D/pc','ranges':[[{'subnet':'usePodCidr'}]]}}");
		T_CHECK_INT(cni_env(&f, "ADD", "c1", "BLOCKIPAM_STORE=sqlite://%D/env.db", c, &out),
			    0);
		T_CHECK(strstr(out, "10.92.0.2/24"), "%s", out);
		free(out);
		T_CHECK(!exists(&f, "pc"), "usePodCidr used dataDir");
	}
	fix_rm(&f);
}

T_MAIN(T(test_result_shape), T(test_range_sets), T(test_requested), T(test_repeat_del_check),
       T(test_gc_status), T(test_pod_cidr), T(test_bad_subnet), T(test_pod_cidr_v6_64),
       T(test_data_dir), T(test_data_dir_fresh))
