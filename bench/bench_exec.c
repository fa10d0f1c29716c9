/*
 * Exec'd latency of the CNI plugin, as a runtime pays it: fork + exec of the plugin with the CNI
 * environment and the network config on stdin, N times, each ADD with a new container id (so
 * every run allocates), then the same N DELs. Prints the median and tail of each.
 *
 *   bench_exec PLUGIN CONF N [NODE [PLUGIN2 CONF2 ...]]   (the store comes from the config or
 *                                                          $BLOCKIPAM_STORE)
 *
 * With more than one PLUGIN CONF pair (another build, host-local), the plugins take turns: the
 * i-th ADD of each runs back to back, then the DELs the same way, who goes first rotating, so a
 * noisy machine weighs on every one alike (going first after another plugin's turn measured
 * 0.3-0.5 ms slower here). Each pair should have its own store (or store_prefix) and data.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/stats.h"

#define MAX_PLUGINS 8

/* One exec; returns its exit status (-1 if it could not run). */
static int run(const char *plugin, const char *conf, const char *cmd, const char *id,
	       const char *node)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int in = open(conf, O_RDONLY), out = open("/dev/null", O_WRONLY);

		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0)
			_exit(126);
		setenv("CNI_COMMAND", cmd, 1);
		setenv("CNI_CONTAINERID", id, 1);
		setenv("CNI_NETNS", "/var/run/netns/bench", 1);
		setenv("CNI_IFNAME", "eth0", 1);
		setenv("CNI_PATH", "/nonexistent", 1);
		setenv("BLOCKIPAM_NODE", node, 1);
		execl(plugin, plugin, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void report(const char *plugin, const char *what, double *ms, int n, int failed, bool named)
{
	struct stats st = stats_of(ms, (size_t)n);

	if (named)
		printf("%s: ", plugin);
	printf("%s x %d: median %.3f ms, p90 %.3f, p99 %.3f, min %.3f, max %.3f; %d failed\n", what,
	       n, st.med, st.p90, st.p99, st.min, st.max, failed);
}

int main(int argc, char **argv)
{
	int n = argc >= 4 ? atoi(argv[3]) : 0, np = 1, failed[MAX_PLUGINS], total = 0;
	const char *node = argc >= 5 ? argv[4] : "node-1";
	const char *plugin[MAX_PLUGINS] = {argv[1]}, *conf[MAX_PLUGINS] = {argv[2]};
	double *ms[MAX_PLUGINS];
	char id[64];

	for (int a = 5; a + 1 < argc && np < MAX_PLUGINS; a += 2, np++) {
		plugin[np] = argv[a];
		conf[np] = argv[a + 1];
	}
	if (n <= 0 || (argc > 5 && (argc - 5) % 2) || (argc - 5) / 2 >= MAX_PLUGINS) {
		fprintf(stderr, "usage: %s PLUGIN CONF N [NODE [PLUGIN2 CONF2 ...]]\n", argv[0]);
		return 2;
	}
	for (int p = 0; p < np; p++) {
		ms[p] = calloc((size_t)n, sizeof(double));
		if (!ms[p])
			return 1;
	}
	for (int pass = 0; pass < 2; pass++) {
		const char *cmd = pass ? "DEL" : "ADD";

		for (int p = 0; p < np; p++)
			failed[p] = 0;
		for (int i = 0; i < n; i++) {
			for (int k = 0; k < np; k++) {
				int p =
				    (i + k) % np; /* who goes first rotates: no seat is favoured */
				double t0 = now_ms();

				snprintf(id, sizeof(id), "bench-%ld-%d-%d", (long)getpid(), p, i);
				if (run(plugin[p], conf[p], cmd, id, node) != 0)
					failed[p]++;
				ms[p][i] = now_ms() - t0;
			}
		}
		for (int p = 0; p < np; p++) {
			report(plugin[p], cmd, ms[p], n, failed[p], np > 1);
			total += failed[p];
		}
	}
	for (int p = 0; p < np; p++)
		free(ms[p]);
	return total ? 1 : 0;
}
