/* blockipamd's own modules: the metrics endpoint and the number parser (metrics.c). */
#ifndef BLOCKIPAMD_AGENT_H
#define BLOCKIPAMD_AGENT_H

#include "../cni/cni.h"

#define AGENT_VERBS 6 /* BIP_CNI_CMD_ADD .. BIP_CNI_CMD_STATUS, index 0 unused */
#define AGENT_BUCKETS 12

struct agent_verb {
	unsigned long long count[2]; /* [0] exit 0, [1] an error answer */
	unsigned long long bucket[AGENT_BUCKETS];
	double sum;
};

struct agent_metrics {
	struct agent_verb verb[AGENT_VERBS];
	unsigned long long refused, malformed, reopens, released_blocks;
};

/* A decimal number from 0 to max, no sign, no leading zero, nothing after it: 0, or -1. */
int agent_parse_uint(const char *s, unsigned max, unsigned *out);
/* Count one answered request of verb with exit code, served in seconds. */
void agent_metrics_note(struct agent_metrics *m, enum bip_cni_cmd verb, int code, double seconds);
/* A listening, non-blocking socket for --metrics ADDR; -1 with the bad value named on stderr. */
int agent_metrics_listen(const char *addr);
/* Accept one scrape on lfd and answer it (bounded wait), then close it. */
void agent_metrics_serve(int lfd, const struct agent_metrics *m);

#endif
