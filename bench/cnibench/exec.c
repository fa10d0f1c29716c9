/*
 * cnibench: posix_spawn of a plugin exactly as a runtime does it (no shell, an explicit
 * environment, the config on a pipe, stdout read to the end, then wait4 for its rusage), the
 * CNI environment of one call, and the small helpers every row uses.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cnibench.h"

void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("cnibench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p) {
		note("out of memory");
		exit(1);
	}
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		note("out of memory");
		exit(1);
	}
	return s;
}

char *mkdir_in(const char *base, const char *what)
{
	char *t = xasprintf("%s/cnibench-%s.XXXXXX", base, what);

	if (!mkdtemp(t)) {
		note("mkdtemp %s: %s", t, strerror(errno));
		exit(1);
	}
	return t;
}

/* Copy a file (the scale store from where it was built to where it is measured). */
int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	char buf[1 << 16];
	ssize_t n = 0;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	if (fsync(out) != 0)
		n = -1;
	if (close(out) != 0)
		n = -1;
	return n < 0 ? -1 : 0;
}

long long path_size(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? (long long)st.st_size : 0;
}

bool is_exec(const char *p)
{
	return access(p, X_OK) == 0;
}

/* Read fd to its end into r->out (kept up to OUT_MAX); past deadline, kill pid (status -2). */
static void read_out(int fd, pid_t pid, double deadline, struct execres *r)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int left = (int)((deadline - now_s()) * 1e3);
		char buf[16384];
		ssize_t got;

		if (left <= 0 || poll(&pfd, 1, left) == 0) {
			kill(pid, SIGKILL);
			r->status = -2;
			break;
		}
		got = read(fd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (r->outlen < OUT_MAX - 1) {
			size_t keep = (size_t)got;

			if (keep > OUT_MAX - 1 - r->outlen)
				keep = OUT_MAX - 1 - r->outlen;
			memcpy(r->out + r->outlen, buf, keep);
			r->out[r->outlen + keep] = '\0';
		}
		r->outlen += (size_t)got;
	}
}

/*
 * Run path with argv and envp, in on its stdin, its stdout read to the end (kept up to
 * OUT_MAX), stderr to /dev/null (or with stdout: merge_err). No shell. timeout_ms bounds the
 * whole call (SIGKILL).
 */
void run_exec_ex(const struct execenv *env, const char *path, char *const argv[],
		 char *const envp[], const char *in, size_t inlen, int timeout_ms, bool merge_err,
		 struct execres *r)
{
	int ip[2], op[2];
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	pid_t pid;
	double t0, deadline;
	int st = 0, rc;
	size_t off = 0;

	r->status = -3;
	r->ms = 0;
	r->cpu_ms = 0;
	r->maxrss_kb = 0;
	r->out[0] = '\0';
	r->outlen = 0;
	if (pipe2(ip, O_CLOEXEC) != 0)
		return;
	if (pipe2(op, O_CLOEXEC) != 0) {
		close(ip[0]);
		close(ip[1]);
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, ip[0], 0);
	posix_spawn_file_actions_adddup2(&fa, op[1], 1);
	posix_spawn_file_actions_adddup2(&fa, merge_err ? op[1] : env->devnull, 2);
	t0 = now_s();
	deadline = t0 + timeout_ms / 1e3;
	rc = posix_spawn(&pid, path, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(ip[0]);
	close(op[1]);
	if (rc != 0) {
		close(ip[1]);
		close(op[0]);
		return;
	}
	while (off < inlen) {
		ssize_t w = write(ip[1], in + off, inlen - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* EPIPE: it exited without reading; its status tells */
		off += (size_t)w;
	}
	close(ip[1]);
	read_out(op[0], pid, deadline, r);
	close(op[0]);
	while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR)
		;
	r->ms = (now_s() - t0) * 1e3;
	r->cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	r->maxrss_kb = ru.ru_maxrss;
	if (r->status == -2)
		return;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void run_exec(const struct execenv *env, const char *path, char *const argv[], char *const envp[],
	      const char *in, size_t inlen, int timeout_ms, struct execres *r)
{
	run_exec_ex(env, path, argv, envp, in, inlen, timeout_ms, false, r);
}

/* ---- plugins and the CNI environment ----------------------------------------------------------
 */

void plug_conf(struct plug *p, char *conf)
{
	free(p->conf);
	p->conf = conf;
	p->conflen = conf ? strlen(conf) : 0;
}

char *bip_conf(const char *store, const char *prefix, const char *node)
{
	char pfx[600] = "";

	if (prefix)
		snprintf(pfx, sizeof(pfx), "\"store_prefix\":\"%s\",", prefix);
	/* No top-level type: the engine's routed model (thousands of pods on one node; a
	 * bridge would allow one block). */
	return xasprintf("{\"cniVersion\":\"1.0.0\",\"name\":\"" NETWORK "\","
			 "\"ipam\":{\"type\":\"blockipam\",\"store\":\"%s\",%s\"node\":\"%s\","
			 "\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}}",
			 store, pfx, node);
}

char *hl_conf(const char *datadir)
{
	return xasprintf("{\"cniVersion\":\"1.0.0\",\"name\":\"" NETWORK "\",\"type\":\"bridge\","
			 "\"ipam\":{\"type\":\"host-local\",\"ranges\":[[{\"subnet\":\"" HL_SUBNET
			 "\",\"gateway\":\"10.88.0.1\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"}],"
			 "\"dataDir\":\"%s\"}}",
			 datadir);
}

/* A 64-hex container id, as runtimes make them; tag keeps rows apart. */
void cid_of(char *buf, size_t n, unsigned tag, size_t seq)
{
	snprintf(buf, n, "%08x%056zx", tag, seq);
}

void cni_env(struct cnienv *e, const struct execenv *env, const char *cmd, unsigned tag, size_t seq)
{
	char id[72];
	size_t k = 0;

	cid_of(id, sizeof(id), tag, seq);
	snprintf(e->cmd, sizeof(e->cmd), "CNI_COMMAND=%s", cmd);
	snprintf(e->cid, sizeof(e->cid), "CNI_CONTAINERID=%s", id);
	snprintf(e->args, sizeof(e->args),
		 "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-%x-%zu;"
		 "K8S_POD_INFRA_CONTAINER_ID=%s",
		 tag, seq, id);
	e->envp[k++] = e->cmd;
	e->envp[k++] = e->cid;
	e->envp[k++] = "CNI_NETNS=/var/run/netns/cnibench";
	e->envp[k++] = "CNI_IFNAME=eth0";
	e->envp[k++] = (char *)env->cni_path;
	e->envp[k++] = e->args;
	e->envp[k++] = SAFE_PATH;
	e->envp[k] = NULL;
}

/* The first "address" of a CNI result ("10.0.0.5/26"), or "" when there is none. */
static void result_addr(const char *out, char *buf, size_t n)
{
	const char *p = strstr(out, "\"address\"");
	const char *q, *e;

	buf[0] = '\0';
	if (!p || !(p = strchr(p + 9, ':')) || !(q = strchr(p, '"')) || !(e = strchr(q + 1, '"')))
		return;
	if ((size_t)(e - q - 1) >= n)
		return;
	memcpy(buf, q + 1, (size_t)(e - q - 1));
	buf[e - q - 1] = '\0';
}

/* One CNI call: ok when it exits 0 (and ADD printed an address). */
bool cni_call(const struct plug *p, const char *cmd, unsigned tag, size_t seq, struct execres *r,
	      char *addr, size_t addrlen)
{
	struct cnienv e;
	char *argv[] = {(char *)p->path, NULL};

	cni_env(&e, p->env, cmd, tag, seq);
	run_exec(p->env, p->path, argv, e.envp, p->conf, p->conflen, CALL_TIMEOUT_MS, r);
	if (addr)
		result_addr(r->out, addr, addrlen);
	return r->status == 0 && (!addr || addr[0]);
}

void call_failed(const struct plug *p, const char *cmd, const struct execres *r)
{
	if (p->env->errors_printed++ < 10)
		note("%s %s failed (status %d): %.300s", p->label, cmd, r->status, r->out);
}
