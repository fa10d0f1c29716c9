/*
 * host-local mode against Debian's host-local, in one run (issue #7): the latency of one CNI
 * ADD (and of the DEL after it) with 0 and with N addresses already held, each plugin exec'd
 * the way a runtime does it (fork + execve, the config on stdin through a pipe, no shell).
 *
 * Both get the same network config (only ipam.type differs): one range 10.88.0.0/16 (-l), each its
 * own dataDir in a temporary directory; blockipam names no store, so its store is
 * <dataDir>/<network>/blockipam.db. Before a row, N addresses are held:
 *   host-local  written the way host-local writes them: one file per address named after it,
 *               holding "<containerID>\r\n<ifname>", and last_reserved_ip.0;
 *   blockipam   N real ADDs through bip_cni_run, the plugin's own entry point, in process.
 * Then for each of OPS rounds, alternating the plugins so that both see the same machine: ADD
 * of a new container (timed), DEL of it (timed), so that N stays N. Exec'ing VERSION gives each
 * plugin's floor (process start). Prints a table; the state is removed afterwards.
 *
 *   hostlocal_bench [-o OPS=200] [-n N,N,...=0,5000] [-l LEN=16: the range 10.88.0.0/LEN]
 *                   [-p PLUGIN=build/blockipam]
 *                   [-H HOST_LOCAL=/usr/lib/cni/host-local]
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../cni/cni.h"
#include "common/stats.h"

#define NET "hlbench"

static const char conf_fmt[] =
    "{\"cniVersion\":\"1.0.0\",\"name\":\"" NET "\",\"type\":\"bridge\",\"ipam\":{\"type\":"
    "\"%s\",\"ranges\":[[{\"subnet\":\"10.88.0.0/%d\",\"gateway\":\"10.88.0.1\"}]],"
    "\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dataDir\":\"%s\"}}";

struct plugin {
	const char *name, *path;
	char conf[1024], dir[PATH_MAX];
	double *add, *del, *ver;
};

/* The environment of every call but CNI_COMMAND and CNI_CONTAINERID. */
#define PLUGIN_ENV                                                                                 \
	"CNI_NETNS=/var/run/netns/bench", "CNI_IFNAME=eth0", "CNI_PATH=/usr/lib/cni",              \
	    "BLOCKIPAM_NODE=bench-node"

/* Exec the plugin once; returns the elapsed ms from fork to reaped, or -1 on failure. */
static double exec_once(const struct plugin *p, const char *cmd, const char *cid)
{
	char c[32], id[64], out[4096];
	char *env[] = {c, id, PLUGIN_ENV, NULL};
	char *argv[] = {(char *)p->path, NULL};
	int in[2], o[2], status;
	size_t len = 0, clen = strlen(p->conf);
	ssize_t got;
	double t0, t1;
	pid_t pid;

	snprintf(c, sizeof(c), "CNI_COMMAND=%s", cmd);
	snprintf(id, sizeof(id), "CNI_CONTAINERID=%s", cid);
	if (pipe2(in, O_CLOEXEC) || pipe2(o, O_CLOEXEC))
		return -1;
	t0 = now_ms();
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(o[1], 1);
		execve(p->path, argv, env);
		_exit(127);
	}
	close(in[0]);
	close(o[1]);
	if (pid > 0 && write(in[1], p->conf, clen) != (ssize_t)clen)
		fprintf(stderr, "short write to %s\n", p->name);
	close(in[1]);
	while ((got = read(o[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)got;
	out[len] = '\0';
	close(o[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	t1 = now_ms();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s %s %s: status %d: %s\n", p->name, cmd, cid, status, out);
		return -1;
	}
	return t1 - t0;
}

/* host-local's own files for n addresses after the gateway: 10.88.0.2, 10.88.0.3, ... */
static int fill_host_local(const struct plugin *p, long n)
{
	char dir[PATH_MAX + 16], path[PATH_MAX + 64], ip[32] = "";
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/" NET, p->dir);
	if (mkdir(p->dir, 0755) != 0 || mkdir(dir, 0755) != 0)
		return -1;
	for (long i = 0; i < n; i++) {
		long a = i + 2;

		snprintf(ip, sizeof(ip), "10.88.%ld.%ld", a / 256, a % 256);
		snprintf(path, sizeof(path), "%s/%s", dir, ip);
		f = fopen(path, "w");
		if (!f)
			return -1;
		fprintf(f, "fill-%ld\r\neth0", i);
		if (fclose(f) != 0)
			return -1;
	}
	if (n) {
		snprintf(path, sizeof(path), "%s/last_reserved_ip.0", dir);
		f = fopen(path, "w");
		if (!f)
			return -1;
		fputs(ip, f);
		if (fclose(f) != 0)
			return -1;
	}
	return 0;
}

/* n real ADDs through the plugin's entry point, in process. */
static int fill_blockipam(const struct plugin *p, long n)
{
	for (long i = 0; i < n; i++) {
		char id[64], *out = NULL;
		size_t len = 0;
		const char *env[] = {"CNI_COMMAND=ADD", id, PLUGIN_ENV, NULL};
		FILE *in = fmemopen((void *)p->conf, strlen(p->conf), "r");
		FILE *o = open_memstream(&out, &len);
		struct bip_cni_io io = {env, in, o};
		int rc;

		snprintf(id, sizeof(id), "CNI_CONTAINERID=fill-%ld", i);
		rc = in && o ? bip_cni_run(&io) : 1;
		if (o)
			fclose(o);
		if (in)
			fclose(in);
		if (rc != 0)
			fprintf(stderr, "fill %ld: %s\n", i, out ? out : "");
		free(out);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* build/blockipam next to build/bench/ (this binary), else $BIP_BUILD/blockipam. */
static void default_plugin(char *buf, size_t n)
{
	char exe[PATH_MAX / 2];
	const char *b = getenv("BIP_BUILD");
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	snprintf(buf, n, "build/blockipam");
	if (b) {
		snprintf(buf, n, "%s/blockipam", b);
	} else if (len > 0) {
		exe[len] = '\0';
		for (int i = 0; i < 2 && (slash = strrchr(exe, '/')); i++)
			*slash = '\0';
		snprintf(buf, n, "%s/blockipam", exe);
	}
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: hostlocal_bench [-o OPS] [-n N,N,...] [-l LEN] [-p PLUGIN] [-H HOST_LOCAL]\n");
	exit(2);
}

/* Both plugins at n held: fill each, then ops ADD+DEL pairs of each, interleaved; one line each. */
static int run_size(struct plugin pl[2], const char *tmp, long n, long ops, int plen)
{
	double fill[2];

	for (int k = 0; k < 2; k++) {
		snprintf(pl[k].dir, sizeof(pl[k].dir), "%s/%s-%ld", tmp, pl[k].name, n);
		snprintf(pl[k].conf, sizeof(pl[k].conf), conf_fmt, pl[k].name, plen, pl[k].dir);
		fill[k] = now_ms();
		if ((k == 0 ? fill_blockipam(&pl[k], n) : fill_host_local(&pl[k], n)) != 0) {
			fprintf(stderr, "cannot fill %s with %ld: %s\n", pl[k].name, n,
				strerror(errno));
			return -1;
		}
		fill[k] = now_ms() - fill[k];
	}
	for (long i = 0; i < ops; i++) {
		char cid[32];

		snprintf(cid, sizeof(cid), "bench-%ld-%ld", n, i);
		for (int k = 0; k < 2; k++) {
			pl[k].add[i] = exec_once(&pl[k], "ADD", cid);
			pl[k].del[i] = exec_once(&pl[k], "DEL", cid);
			if (pl[k].add[i] < 0 || pl[k].del[i] < 0)
				return -1;
		}
	}
	for (int k = 0; k < 2; k++) {
		struct stats add = stats_of(pl[k].add, (size_t)ops),
			     del = stats_of(pl[k].del, (size_t)ops);

		printf("%-10s %7ld %6.2f ms %6.2f ms %6.2f ms %6.2f ms %7.0f ms\n", pl[k].name, n,
		       add.med, add.p99, del.med, del.p99, fill[k]);
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct plugin pl[2] = {{.name = "blockipam", .path = "build/blockipam"},
			       {.name = "host-local", .path = "/usr/lib/cni/host-local"}};
	const char *sizes = "0,5000";
	char tmpl[] = "/tmp/bip-hlbench.XXXXXX", *tmp, *sz, *save = NULL;
	char plugin[PATH_MAX];
	long ops = 200;
	int c, ret = 1, plen = 16;

	default_plugin(plugin, sizeof(plugin));
	pl[0].path = plugin;

	while ((c = getopt(argc, argv, "o:n:p:H:l:")) != -1) {
		if (c == 'l')
			plen = (int)strtol(optarg, NULL, 10);
		else if (c == 'o')
			ops = strtol(optarg, NULL, 10);
		else if (c == 'n')
			sizes = optarg;
		else if (c == 'p')
			pl[0].path = optarg;
		else if (c == 'H')
			pl[1].path = optarg;
		else
			usage();
	}
	if (plen < 8 || plen > 30 || ops < 1 || access(pl[0].path, X_OK) ||
	    access(pl[1].path, X_OK)) {
		fprintf(stderr, "need OPS >= 1 and both plugins (%s, %s)\n", pl[0].path,
			pl[1].path);
		return 2;
	}
	tmp = mkdtemp(tmpl);
	if (!tmp)
		return 1;
	for (int k = 0; k < 2; k++) {
		pl[k].add = calloc((size_t)ops, sizeof(double));
		pl[k].del = calloc((size_t)ops, sizeof(double));
		pl[k].ver = calloc((size_t)ops, sizeof(double));
		if (!pl[k].add || !pl[k].del || !pl[k].ver)
			goto out;
	}
	/* the floor: process start and VERSION, no state */
	for (long i = 0; i < ops; i++)
		for (int k = 0; k < 2; k++)
			pl[k].ver[i] = exec_once(&pl[k], "VERSION", "v");
	printf("%-10s VERSION (exec floor): med %.2f ms", pl[0].name,
	       stats_of(pl[0].ver, (size_t)ops).med);
	printf("; %s: med %.2f ms\n", pl[1].name, stats_of(pl[1].ver, (size_t)ops).med);
	printf("%-10s %7s %9s %9s %9s %9s %10s\n", "plugin", "held", "ADD med", "ADD p99",
	       "DEL med", "DEL p99", "fill");
	sz = strdup(sizes);
	for (char *s = strtok_r(sz, ",", &save); s; s = strtok_r(NULL, ",", &save))
		if (run_size(pl, tmp, strtol(s, NULL, 10), ops, plen) != 0) {
			free(sz);
			goto out;
		}
	free(sz);
	ret = 0;
out:
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	for (int k = 0; k < 2; k++) {
		free(pl[k].add);
		free(pl[k].del);
		free(pl[k].ver);
	}
	return ret;
}
