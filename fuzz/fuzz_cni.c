/*
 * libFuzzer target for what the CNI plugin reads from its caller: the environment (CNI_ARGS,
 * CNI_IFNAME, CNI_CONTAINERID) and the network configuration, for every command. The input is
 * "CNI_ARGS\nIFNAME\nCONTAINERID\nCONFIG...": any bytes must give a clean error or a parsed
 * request, never a crash, a leak or undefined behaviour.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../cni/cni.h"

static const char *line(const char **p, const char *end, char *buf, size_t n)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);

	if (len >= n)
		len = n - 1;
	memcpy(buf, *p, len);
	buf[len] = '\0';
	*p = nl ? nl + 1 : end;
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const cmds[] = {"ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"};
	const char *p = (const char *)data, *end = p + size;
	char args[4200], ifname[64], cid[300], a[4300], i[100], c[400];
	enum bip_cni_cmd cmd;
	struct bip_cni_err e;

	line(&p, end, args, sizeof(args));
	line(&p, end, ifname, sizeof(ifname));
	line(&p, end, cid, sizeof(cid));
	snprintf(a, sizeof(a), "CNI_ARGS=%s", args);
	snprintf(i, sizeof(i), "CNI_IFNAME=%s", ifname);
	snprintf(c, sizeof(c), "CNI_CONTAINERID=%s", cid);
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
		char command[32];
		const char *env[] = {command, a, i, c, "CNI_NETNS=/var/run/netns/x",
				     "CNI_PATH=/opt/cni/bin", NULL};
		struct bip_cni_env ev;
		struct bip_cni_conf conf;

		snprintf(command, sizeof(command), "CNI_COMMAND=%s", cmds[k]);
		memset(&e, 0, sizeof(e));
		if (bip_cni_env_command(env, &cmd, &e) != 0)
			continue;
		memset(&e, 0, sizeof(e));
		memset(&ev, 0, sizeof(ev));
		if (bip_cni_env_parse(env, &ev, &e) != 0)
			memset(&ev, 0, sizeof(ev));
		memset(&e, 0, sizeof(e));
		memset(&conf, 0, sizeof(conf));
		if (bip_cni_conf_parse(p, (size_t)(end - p), cmd, ev.cmd == cmd ? &ev : NULL, &conf,
				       &e) == 0)
			bip_cni_conf_free(&conf);
	}
	return 0;
}
