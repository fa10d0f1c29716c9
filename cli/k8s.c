/* k8s COMMAND: Kubernetes objects from kubectl's output (sync) or from kubectl itself (watch);
 * and the flag value both take, a Go-style duration. */
#include "blockipam/err.h"
#include "ctl.h"
#include "k8s.h"
#include "subcommands.h"

static const struct ctl_cmd commands[] = {
    {"sync", k8s_sync_main, "make the store say what kubectl's JSON or YAML says"},
    {"watch", k8s_watch_main, "run kubectl: list, watch, re-list; keep the store in sync"},
};

int k8s_main(int argc, char **argv)
{
	return ctl_dispatch("k8s", commands, sizeof(commands) / sizeof(commands[0]), NULL, argc - 1,
			    argv + 1);
}

int k8s_parse_duration(const char *s, int64_t *seconds)
{
	int64_t total = 0;
	const char *p = s;

	if (!s || !*s)
		return BIP_EINVAL;
	while (*p) {
		int64_t v = 0, mul;

		if (*p < '0' || *p > '9')
			return BIP_EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (v > 100000000)
				return BIP_EINVAL;
			v = v * 10 + (*p - '0');
		}
		mul = *p == 's' ? 1 : *p == 'm' ? 60 : *p == 'h' ? 3600 : 0;
		if (!mul)
			return BIP_EINVAL;
		p++;
		total += v * mul;
		if (total > (int64_t)100000 * 3600)
			return BIP_EINVAL;
	}
	*seconds = total;
	return BIP_OK;
}
