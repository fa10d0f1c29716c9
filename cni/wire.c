/*
 * The agent's wire format (docs/agent.md): one request frame from the plugin, one answer frame
 * back, on a Unix stream socket. Every integer is big-endian; a frame is a u32 body length and
 * the body, at most BIP_WIRE_MAX bytes in all.
 *
 *   request  "BIPQ" u8 verb  u16 nenv { u16 len, "K=V" }  u32 inlen, stdin bytes
 *   answer   "BIPA" u8 exit  u32 outlen, stdout bytes  u32 errlen, stderr bytes
 *
 * The decoder is the one parser on the agent's side and is strict: the exact length, the magic,
 * a known verb equal to the one CNI_COMMAND entry, variable names of [A-Z0-9_] starting CNI_ or
 * BLOCKIPAM_, no NUL anywhere, nothing after the last field. It copies what it keeps, so the
 * caller may free the frame; on failure it writes nothing to the output and says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni.h"

static const char *const verbs[] = {NULL, "ADD", "DEL", "CHECK", "GC", "STATUS"};

struct rd {
	const uint8_t *p, *end;
};

static int get(struct rd *r, size_t n, const uint8_t **out)
{
	if ((size_t)(r->end - r->p) < n)
		return -1;
	*out = r->p;
	r->p += n;
	return 0;
}

static int get_u(struct rd *r, size_t n, uint32_t *v)
{
	const uint8_t *b;

	if (get(r, n, &b))
		return -1;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = (*v << 8) | b[i];
	return 0;
}

static void put_u(uint8_t **p, uint32_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		(*p)[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	*p += n;
}

static void put_bytes(uint8_t **p, const void *b, size_t n)
{
	if (n)
		memcpy(*p, b, n);
	*p += n;
}

static int fail(char *why, size_t whylen, const char *msg)
{
	snprintf(why, whylen, "%s", msg);
	return -1;
}

/* "K=V" with K of [A-Z0-9_]+ starting CNI_ or BLOCKIPAM_, and no NUL in it. */
static int env_ok(const uint8_t *s, size_t n)
{
	const uint8_t *eq = memchr(s, '=', n);

	if (!eq || eq == s || memchr(s, '\0', n))
		return 0;
	for (const uint8_t *c = s; c < eq; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return 0;
	return (n >= 4 && memcmp(s, "CNI_", 4) == 0) ||
	       (n >= 10 && memcmp(s, "BLOCKIPAM_", 10) == 0);
}

enum bip_cni_cmd bip_cni_wire_verb(const char *const *env)
{
	const char *v = bip_cni_getenv(env, "CNI_COMMAND");

	for (size_t i = 1; v && i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(v, verbs[i]) == 0)
			return (enum bip_cni_cmd)i;
	return BIP_CNI_CMD_NONE;
}

int bip_cni_wire_req_encode(const char *const *env, const char *in, size_t inlen, uint8_t **frame,
			    size_t *flen)
{
	enum bip_cni_cmd verb = bip_cni_wire_verb(env);
	size_t n = 4 + 4 + 1 + 2 + 4 + inlen, nenv = 0;
	uint8_t *f, *p;

	if (verb == BIP_CNI_CMD_NONE || verb == BIP_CNI_CMD_VERSION)
		return -1;
	for (const char *const *e = env; e && *e; e++) {
		size_t l = strlen(*e);

		if (!env_ok((const uint8_t *)*e, l))
			continue;
		if (l > UINT16_MAX || ++nenv > BIP_WIRE_ENV_MAX)
			return -1;
		n += 2 + l;
	}
	if (n > BIP_WIRE_MAX || !(f = malloc(n)))
		return -1;
	p = f;
	put_u(&p, (uint32_t)(n - 4), 4);
	put_bytes(&p, "BIPQ", 4);
	put_u(&p, (uint32_t)verb, 1);
	put_u(&p, (uint32_t)nenv, 2);
	for (const char *const *e = env; e && *e; e++) {
		size_t l = strlen(*e);

		if (!env_ok((const uint8_t *)*e, l))
			continue;
		put_u(&p, (uint32_t)l, 2);
		put_bytes(&p, *e, l);
	}
	put_u(&p, (uint32_t)inlen, 4);
	put_bytes(&p, in, inlen);
	*frame = f;
	*flen = n;
	return 0;
}

int bip_cni_wire_req_decode(const uint8_t *body, size_t len, struct bip_cni_wire_req *req,
			    char *why, size_t whylen)
{
	struct rd r = {body, body + len};
	struct bip_cni_wire_req q = {0};
	const uint8_t *b;
	uint32_t verb, nenv, inlen, l;
	size_t commands = 0;
	char *s;

	if (len > BIP_WIRE_MAX - 4)
		return fail(why, whylen, "request too large");
	if (get(&r, 4, &b) || memcmp(b, "BIPQ", 4) != 0)
		return fail(why, whylen, "bad magic");
	if (get_u(&r, 1, &verb) || verb == 0 || verb >= sizeof(verbs) / sizeof(verbs[0]))
		return fail(why, whylen, "unknown verb");
	if (get_u(&r, 2, &nenv) || nenv > BIP_WIRE_ENV_MAX)
		return fail(why, whylen, "too many environment variables");
	/* one buffer for every string: at most the body's length plus a NUL per string */
	if (!(q.mem = malloc(len + nenv + 1)))
		return fail(why, whylen, "out of memory");
	s = q.mem;
	for (uint32_t i = 0; i < nenv; i++) {
		if (get_u(&r, 2, &l) || get(&r, l, &b) || !env_ok(b, l)) {
			free(q.mem);
			return fail(why, whylen, "bad environment variable");
		}
		memcpy(s, b, l);
		s[l] = '\0';
		q.env[i] = s;
		if (strncmp(s, "CNI_COMMAND=", 12) == 0 &&
		    (++commands > 1 || strcmp(s + 12, verbs[verb]) != 0)) {
			free(q.mem);
			return fail(why, whylen, "CNI_COMMAND does not match the verb");
		}
		s += l + 1;
	}
	q.env[nenv] = NULL;
	if (commands != 1) {
		free(q.mem);
		return fail(why, whylen, "no CNI_COMMAND");
	}
	if (get_u(&r, 4, &inlen) || get(&r, inlen, &b) || r.p != r.end) {
		free(q.mem);
		return fail(why, whylen, "bad stdin length");
	}
	memcpy(s, b, inlen);
	q.in = s;
	q.inlen = inlen;
	q.verb = (enum bip_cni_cmd)verb;
	*req = q;
	return 0;
}

void bip_cni_wire_req_free(struct bip_cni_wire_req *req)
{
	if (req) {
		free(req->mem);
		req->mem = NULL;
	}
}

int bip_cni_wire_ans_encode(int code, const char *out, size_t outlen, const char *err,
			    size_t errlen, uint8_t **frame, size_t *flen)
{
	size_t n = 4 + 4 + 1 + 4 + outlen + 4 + errlen;
	uint8_t *f, *p;

	if (code < 0 || code > 255 || n > BIP_WIRE_MAX || !(f = malloc(n)))
		return -1;
	p = f;
	put_u(&p, (uint32_t)(n - 4), 4);
	put_bytes(&p, "BIPA", 4);
	put_u(&p, (uint32_t)code, 1);
	put_u(&p, (uint32_t)outlen, 4);
	put_bytes(&p, out, outlen);
	put_u(&p, (uint32_t)errlen, 4);
	put_bytes(&p, err, errlen);
	*frame = f;
	*flen = n;
	return 0;
}

int bip_cni_wire_ans_decode(const uint8_t *body, size_t len, struct bip_cni_wire_ans *ans)
{
	struct rd r = {body, body + len};
	struct bip_cni_wire_ans a = {0};
	const uint8_t *b;
	uint32_t code, l;

	if (len > BIP_WIRE_MAX - 4 || get(&r, 4, &b) || memcmp(b, "BIPA", 4) != 0 ||
	    get_u(&r, 1, &code))
		return -1;
	a.code = (int)code;
	if (get_u(&r, 4, &l) || get(&r, l, &b))
		return -1;
	a.out = (const char *)b;
	a.outlen = l;
	if (get_u(&r, 4, &l) || get(&r, l, &b) || r.p != r.end)
		return -1;
	a.err = (const char *)b;
	a.errlen = l;
	*ans = a;
	return 0;
}
