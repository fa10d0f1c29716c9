/*
 * libFuzzer target for the agent's wire format (cni/wire.c, docs/agent.md): the body of a
 * frame, after its length prefix, as the agent reads it from a peer (request) and as the plugin
 * reads it back (answer). Any bytes must give a clean refusal or a decoded frame, never a crash,
 * a leak or undefined behaviour. A decoded frame must also be exactly what the encoder writes
 * for what was decoded (decode then encode is the identity), so the parser accepts no frame
 * the plugin could not have sent, and every string it hands on is NUL-free and of an allowed
 * name. The same bytes are offered as a network config to the plugin's "agent" field reader.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cni/cni.h"

static void check_frame(const uint8_t *frame, size_t flen, const uint8_t *body, size_t len)
{
	if (flen != len + 4 || memcmp(frame + 4, body, len) != 0 ||
	    ((uint32_t)frame[0] << 24 | (uint32_t)frame[1] << 16 | (uint32_t)frame[2] << 8 |
	     frame[3]) != len)
		abort();
}

static void request(const uint8_t *data, size_t size)
{
	struct bip_cni_wire_req q;
	char why[128] = "";
	uint8_t *frame = NULL;
	size_t flen = 0, n = 0;

	if (bip_cni_wire_req_decode(data, size, &q, why, sizeof(why)) != 0) {
		if (!why[0])
			abort(); /* a refusal always says why */
		return;
	}
	for (; q.env[n]; n++)
		if (strncmp(q.env[n], "CNI_", 4) != 0 && strncmp(q.env[n], "BLOCKIPAM_", 10) != 0)
			abort();
	if (n > BIP_WIRE_ENV_MAX || bip_cni_wire_verb(q.env) != q.verb)
		abort();
	if (bip_cni_wire_req_encode(q.env, q.in, q.inlen, &frame, &flen) != 0)
		abort();
	check_frame(frame, flen, data, size);
	free(frame);
	bip_cni_wire_req_free(&q);
}

static void answer(const uint8_t *data, size_t size)
{
	struct bip_cni_wire_ans a;
	uint8_t *frame = NULL;
	size_t flen = 0;

	if (bip_cni_wire_ans_decode(data, size, &a) != 0)
		return;
	if (bip_cni_wire_ans_encode(a.code, a.out, a.outlen, a.err, a.errlen, &frame, &flen) != 0)
		abort();
	check_frame(frame, flen, data, size);
	free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[108];
	const char *path;

	request(data, size);
	answer(data, size);
	path = bip_cni_agent_socket((const char *)data, size, buf, sizeof(buf));
	if (path && (path != buf || !*path || strlen(path) >= sizeof(buf)))
		abort();
	return 0;
}
