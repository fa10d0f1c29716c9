/*
 * k8s watch: keep the store in sync with a cluster by running kubectl, which brings the kubeconfig
 * or the in-cluster service account, TLS and authentication; blockipam only reads what it prints.
 *
 * A round: list nodes, namespaces and pods (`kubectl get --raw /api/v1/<kind>?limit=500`, page by
 * page with the continue token: the API's typed lists, complete even when empty, with their
 * resourceVersion; each object slimmed to the fields the sync reads, so that 100,000 pods fit in
 * memory) and reconcile as `k8s sync` does;
 * then watch each kind from its list's resourceVersion (`...?watch=1&resourceVersion=RV`), one
 * kubectl per kind, applying each event as it comes. When a watch ends (kubectl exits), reports an
 * ERROR (410 Gone: the version is too old), or --resync elapses, the round ends and the next one
 * lists again: the list is the truth. A failed list is retried after a backoff (1 s doubling to
 * 60 s). SIGTERM and SIGINT stop it between two steps: the children are terminated and waited for.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "k8s.h"
#include "manifest.h"
#include "subcommands.h"

#define LOG "k8s watch: "
#define LINE_MAX_BYTES (16u << 20) /* one watch event */
#define K8S_PAGE 500		   /* objects per list request, as kubectl's --chunk-size */

static const char *const kinds[K8S_NKINDS] = {"nodes", "namespaces", "pods"};
static const char *const list_kinds[K8S_NKINDS] = {"NodeList", "NamespaceList", "PodList"};

/* Set by the signal handler (the binary's, not the library's): stop between two steps. The pipe
 * wakes up a poll or a nap that would otherwise sleep through the signal. */
static volatile sig_atomic_t stopping;
static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	stopping = 1;
	if (write(sig_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a wake-up is pending already */
	}
	errno = saved;
}

struct watch {
	const char *kubectl, *kubeconfig;
	int64_t resync_s;
	struct k8s_opts o;
	struct ctl_session s;
};

struct child {
	pid_t pid;
	int fd; /* its stdout, -1 when closed */
	char *buf;
	size_t len, cap;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;

	fputs(LOG, stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* Start kubectl get --raw PATH with its stdout on a pipe. */
static int spawn(const struct watch *w, const char *path, struct child *c)
{
	const char *argv[8];
	int fds[2], n = 0;
	pid_t pid;

	argv[n++] = w->kubectl;
	if (w->kubeconfig) {
		argv[n++] = "--kubeconfig";
		argv[n++] = w->kubeconfig;
	}
	argv[n++] = "get";
	argv[n++] = "--raw";
	argv[n++] = path;
	argv[n] = NULL;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		if (null >= 0)
			dup2(null, 0);
		dup2(fds[1], 1);
		/* kubectl gets stdin, stdout, stderr and nothing of ours (the store's files) */
		close_range(3, ~0u, 0);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	*c = (struct child){.pid = pid, .fd = fds[0]};
	return 0;
}

/* Read what is there; 0 on EOF, 1 when more may come, -1 on error. */
static int child_read(struct child *c)
{
	char tmp[65536];
	ssize_t r = read(c->fd, tmp, sizeof(tmp));

	if (r < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	if (r == 0)
		return 0;
	if (c->len + (size_t)r + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 65536;
		char *b;

		while (cap < c->len + (size_t)r + 1)
			cap *= 2;
		if (cap > CTL_INPUT_MAX + 1 || !(b = realloc(c->buf, cap)))
			return -1;
		c->buf = b;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, tmp, (size_t)r);
	c->len += (size_t)r;
	c->buf[c->len] = '\0';
	return 1;
}

/* Wait for the child; its exit status (128 + signal when killed), -1 on error. */
static int child_reap(struct child *c, bool kill_it)
{
	int st = 0;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->pid <= 0)
		return -1;
	if (kill_it)
		kill(c->pid, SIGTERM);
	while (waitpid(c->pid, &st, 0) < 0)
		if (errno != EINTR) {
			c->pid = 0;
			return -1;
		}
	c->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void child_free(struct child *c)
{
	if (c->pid > 0 || c->fd >= 0)
		child_reap(c, true);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Sleep up to s seconds, or until a signal asks to stop. */
static void nap(int64_t s)
{
	struct pollfd p = {sig_pipe[0], POLLIN, 0};

	if (!stopping)
		poll(&p, 1, (int)(s * 1000));
}

static void log_stats(const char *what, const struct k8s_stats *st)
{
	if (st->leaks_found || st->failures)
		say("%s: %zu leaks found, %zu released, %zu younger than the grace kept%s", what,
		    st->leaks_found, st->leaks_released, st->leaks_young,
		    st->failures ? "; some writes failed" : "");
}

/* List every kind and reconcile. Fills rv (the lists' resourceVersions). */
/* Append what c printed (one page of a typed list) to items; the page's resourceVersion and
 * continue token into rv and cont. */
static int list_page(int k, struct child *c, json_t *items, char **rv, char *cont, size_t contlen,
		     char *err, size_t errlen)
{
	json_t *docs = NULL, *doc, *meta, *e;
	const char *s, *kind;
	size_t i;
	int rc = bip_manifest_parse(c->buf ? c->buf : "", c->len, &docs, err, errlen);

	if (rc != BIP_OK)
		goto out;
	doc = json_array_get(docs, 0);
	meta = json_object_get(doc, "metadata");
	kind = json_string_value(json_object_get(doc, "kind"));
	rc = BIP_EINVAL;
	if (json_array_size(docs) != 1 || !json_is_array(json_object_get(doc, "items")) || !kind ||
	    strcmp(kind, list_kinds[k]) != 0) {
		snprintf(err, errlen, "not a %s", list_kinds[k]);
		goto out;
	}
	if (!*rv && (s = json_string_value(json_object_get(meta, "resourceVersion"))) &&
	    !(*rv = strdup(s))) {
		rc = BIP_ENOMEM;
		goto out;
	}
	s = json_string_value(json_object_get(meta, "continue"));
	if (s && strlen(s) >= contlen) {
		snprintf(err, errlen, "a continue token of %zu bytes", strlen(s));
		goto out;
	}
	snprintf(cont, contlen, "%s", s ? s : "");
	json_array_foreach(json_object_get(doc, "items"), i, e)
	{
		if (json_array_append_new(items, k8s_slim(e)) != 0) {
			rc = BIP_ENOMEM;
			goto out;
		}
	}
	rc = BIP_OK;
out:
	if (rc == BIP_ENOMEM)
		snprintf(err, errlen, "out of memory");
	json_decref(docs);
	return rc;
}

/* The whole list of kind k, a page of K8S_PAGE at a time, into in. */
static int list_kind(struct watch *w, int k, struct k8s_input *in)
{
	json_t *items = json_array(), *doc = NULL;
	char cont[4096] = "", path[3 * sizeof(cont) + 64], err[1024], *rv = NULL;
	int ret = -1, rc;

	if (!items)
		goto nomem;
	do {
		struct child c = {.fd = -1};
		int n = snprintf(path, sizeof(path), "/api/v1/%s?limit=%d%s", kinds[k], K8S_PAGE,
				 *cont ? "&continue=" : "");
		int status;

		/* tokens are URL-safe base64 today; encode anything else all the same */
		for (const char *p = cont; *p && n > 0 && (size_t)n + 4 < sizeof(path); p++)
			n += isalnum((unsigned char)*p) || strchr("-_.~", *p)
				 ? snprintf(path + n, sizeof(path) - (size_t)n, "%c", *p)
				 : snprintf(path + n, sizeof(path) - (size_t)n, "%%%02X",
					    (unsigned char)*p);
		if (spawn(w, path, &c) != 0) {
			say("cannot run %s: %s", w->kubectl, strerror(errno));
			goto out;
		}
		while (!stopping && (rc = child_read(&c)) > 0)
			;
		status = child_reap(&c, rc < 0 || stopping);
		if (stopping) {
			child_free(&c);
			goto out;
		}
		if (rc < 0 || status != 0) {
			say("list of %s failed (%s exited %d)", kinds[k], w->kubectl, status);
			child_free(&c);
			goto out;
		}
		rc = list_page(k, &c, items, &rv, cont, sizeof(cont), err, sizeof(err));
		child_free(&c);
		if (rc != BIP_OK) {
			say("list of %s refused: %s", kinds[k], err);
			goto out;
		}
	} while (*cont && !stopping);
	doc = json_pack("[{s:s, s:s, s:{s:s?}, s:O}]", "kind", list_kinds[k], "apiVersion", "v1",
			"metadata", "resourceVersion", rv, "items", items);
	if (!doc)
		goto nomem;
	in->lenient = true;
	if ((rc = k8s_input_add(in, doc, 0, err, sizeof(err))) != BIP_OK) {
		say("list of %s refused: %s", kinds[k], err);
		goto out;
	}
	ret = 0;
	goto out;
nomem:
	say("list of %s: out of memory", kinds[k]);
out:
	json_decref(doc);
	json_decref(items);
	free(rv);
	return ret;
}

/* List every kind and reconcile. Fills rv (the lists' resourceVersions). */
static int list_round(struct watch *w, char *rv[K8S_NKINDS])
{
	struct k8s_input in = {0};
	struct k8s_stats st = {0};
	char err[1024];
	size_t counts[K8S_NKINDS] = {0};
	int ret = -1;

	for (int k = 0; k < K8S_NKINDS && !stopping; k++)
		if (list_kind(w, k, &in) != 0)
			goto out;
	if (stopping)
		goto out;
	k8s_input_finish(&in);
	for (size_t i = 0; i < in.n; i++)
		counts[in.v[i].kind]++;
	for (size_t i = 0; i < json_array_size(in.warnings); i++)
		say("%s", json_string_value(json_array_get(in.warnings, i)));
	say("listed %zu nodes, %zu namespaces, %zu pods; reconciling", counts[K8S_NODE],
	    counts[K8S_NAMESPACE], counts[K8S_POD]);
	w->o.now = (int64_t)time(NULL);
	if (k8s_apply(w->s.ipam, &in, &w->o, &st, err, sizeof(err)) != BIP_OK) {
		say("reconcile failed: %s", err);
		goto out;
	}
	log_stats("reconciled", &st);
	for (int k = 0; k < K8S_NKINDS; k++) {
		free(rv[k]);
		rv[k] = in.rv[k] ? strdup(in.rv[k]) : NULL;
	}
	ret = 0;
out:
	k8s_input_clear(&in);
	return ret;
}

/* One watch event (a line). Returns 1 when the round must end (ERROR event), else 0. */
static int on_event(struct watch *w, int k, const char *line, size_t len)
{
	struct k8s_input in = {0};
	struct k8s_stats st = {0};
	json_t *docs = NULL;
	char err[1024];
	bool needed = false;
	int ret = 0, rc;

	in.lenient = true;
	rc = bip_manifest_parse(line, len, &docs, err, sizeof(err));
	if (rc == BIP_OK)
		rc = k8s_input_add(&in, docs, 0, err, sizeof(err));
	if (rc != BIP_OK) {
		say("watch of %s: event skipped: %s", kinds[k], err);
		goto out;
	}
	for (size_t i = 0; i < json_array_size(in.warnings); i++)
		say("watch of %s: %s%s", kinds[k],
		    json_string_value(json_array_get(in.warnings, i)),
		    in.error_events ? "; listing again" : "");
	if (in.error_events) {
		ret = 1;
		goto out;
	}
	k8s_input_finish(&in);
	if (!in.n)
		goto out;
	/* a pod that is added or changes needs nothing; a deleted one may free addresses */
	for (size_t i = 0; i < in.n; i++)
		needed |= (in.v[i].kind != K8S_POD || in.v[i].deleted) && !in.v[i].refused;
	if (!needed)
		goto out;
	w->o.now = (int64_t)time(NULL);
	if (k8s_apply(w->s.ipam, &in, &w->o, &st, err, sizeof(err)) != BIP_OK)
		say("watch of %s: event not applied: %s", kinds[k], err);
	log_stats("event", &st);
out:
	json_decref(docs);
	k8s_input_clear(&in);
	return ret;
}

/* Watch every kind from rv until a watch ends, fails, or the resync is due. */
static void watch_round(struct watch *w, char *const rv[K8S_NKINDS])
{
	struct child c[K8S_NKINDS];
	char path[512];
	int64_t deadline = w->resync_s ? (int64_t)time(NULL) + w->resync_s : 0;
	bool done = false;

	for (int k = 0; k < K8S_NKINDS; k++)
		c[k] = (struct child){.fd = -1};
	for (int k = 0; k < K8S_NKINDS; k++) {
		snprintf(path, sizeof(path), "/api/v1/%s?watch=1&allowWatchBookmarks=true%s%s",
			 kinds[k], rv[k] ? "&resourceVersion=" : "", rv[k] ? rv[k] : "");
		if (spawn(w, path, &c[k]) != 0) {
			say("cannot run %s: %s", w->kubectl, strerror(errno));
			goto out;
		}
	}
	say("watching nodes, namespaces and pods");
	while (!done && !stopping) {
		struct pollfd p[K8S_NKINDS + 1];
		int timeout = -1;

		for (int k = 0; k < K8S_NKINDS; k++)
			p[k] = (struct pollfd){c[k].fd, POLLIN, 0};
		p[K8S_NKINDS] = (struct pollfd){sig_pipe[0], POLLIN, 0};
		if (deadline) {
			int64_t left = deadline - (int64_t)time(NULL);

			if (left <= 0) {
				say("resync due (every %llds): listing again",
				    (long long)w->resync_s);
				break;
			}
			timeout = (int)(left > 3600 ? 3600000 : left * 1000);
		}
		if (poll(p, K8S_NKINDS + 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			say("poll: %s", strerror(errno));
			break;
		}
		for (int k = 0; k < K8S_NKINDS && !done && !stopping; k++) {
			char *nl;
			int rc;

			if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			rc = child_read(&c[k]);
			/* the API's watch stream is one JSON event per line */
			while (!done && c[k].len && (nl = memchr(c[k].buf, '\n', c[k].len))) {
				size_t n = (size_t)(nl - c[k].buf) + 1;

				if (n > 1 && on_event(w, k, c[k].buf, n - 1))
					done = true;
				memmove(c[k].buf, c[k].buf + n, c[k].len - n);
				c[k].len -= n;
			}
			if (!done && c[k].len > LINE_MAX_BYTES) {
				say("watch of %s: an event longer than %u bytes; listing again",
				    kinds[k], LINE_MAX_BYTES);
				done = true;
			}
			if (!done && rc <= 0) {
				if (c[k].len)
					on_event(w, k, c[k].buf, c[k].len);
				say("watch of %s ended (%s exited %d): listing again", kinds[k],
				    w->kubectl, child_reap(&c[k], rc < 0));
				done = true;
			}
		}
	}
out:
	for (int k = 0; k < K8S_NKINDS; k++)
		child_free(&c[k]);
}

static const struct ctl_usage usage = {
    "k8s watch",
    "[--kubectl PATH] [--kubeconfig FILE] [--resync DURATION] [--grace DURATION] [--dry-run]",
    "Keep the store in sync with a cluster: run kubectl to list nodes, namespaces and pods and\n"
    "reconcile (as k8s sync), then watch them from the lists' resourceVersion and apply each\n"
    "event. When a watch ends or fails (410 Gone) or the resync is due, list again. A failed\n"
    "list is retried after a backoff (1 s doubling to 60 s). One line per action on stderr.\n"
    "SIGTERM or SIGINT stops it cleanly (exit 0).\n"
    "\n"
    "Options:\n"
    "  --kubectl PATH       the kubectl to run (default: kubectl on $PATH)\n"
    "  --kubeconfig FILE    passed to kubectl (default: kubectl's own: $KUBECONFIG,\n"
    "                       ~/.kube/config, or the in-cluster service account)\n"
    "  --resync DURATION    list and reconcile again at least this often (default 10m;\n"
    "                       0s: only when a watch ends)\n"
    "  --grace DURATION     leak grace, as k8s sync (default 15m)\n"
    "  --dry-run            say what would change, change nothing\n"};

int k8s_watch_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"kubectl", required_argument, NULL, 'k'}, {"kubeconfig", required_argument, NULL, 'K'},
	    {"resync", required_argument, NULL, 'r'},  {"grace", required_argument, NULL, 'g'},
	    {"dry-run", no_argument, NULL, 'd'},       CTL_LONGOPTS};
	struct watch w = {.kubectl = "kubectl", .resync_s = 600};
	struct sigaction sa = {0};
	char *rv[K8S_NKINDS] = {NULL};
	int64_t backoff = 1;
	int ret = CTL_EXIT_ERR, c, rc;

	w.o = (struct k8s_opts){.grace_s = 15 * 60, .log = stderr, .prefix = LOG};
	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		if (c == 'k') {
			w.kubectl = optarg;
		} else if (c == 'K') {
			w.kubeconfig = optarg;
		} else if (c == 'd') {
			w.o.dry_run = true;
		} else if ((c == 'r' && k8s_parse_duration(optarg, &w.resync_s) != BIP_OK) ||
			   (c == 'g' && k8s_parse_duration(optarg, &w.o.grace_s) != BIP_OK)) {
			ret = ctl_usage_err(&usage, "invalid --%s '%s' (want e.g. 15m, 90s, 0s)",
					    c == 'r' ? "resync" : "grace", optarg);
			goto out;
		}
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		ctl_err("pipe: %s", strerror(errno));
		goto out;
	}
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (ctl_open(&w.s, false) != CTL_EXIT_OK)
		goto out;
	say("started (kubectl %s, resync %llds, grace %llds%s)", w.kubectl, (long long)w.resync_s,
	    (long long)w.o.grace_s, w.o.dry_run ? ", dry run" : "");
	while (!stopping) {
		if (list_round(&w, rv) != 0) {
			if (stopping)
				break;
			say("retrying in %llds", (long long)backoff);
			nap(backoff);
			backoff = backoff * 2 > 60 ? 60 : backoff * 2;
			continue;
		}
		backoff = 1;
		watch_round(&w, rv);
	}
	say("stopped");
	ret = CTL_EXIT_OK;
out:
	for (int k = 0; k < K8S_NKINDS; k++)
		free(rv[k]);
	ctl_close(&w.s);
	for (int i = 0; i < 2; i++)
		if (sig_pipe[i] >= 0) {
			close(sig_pipe[i]);
			sig_pipe[i] = -1;
		}
	return ret;
}
