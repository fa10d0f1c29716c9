/*
 * The blockipam CNI plugin: environ, stdin and stdout in, an exit status out (cni/run.c).
 *
 * Run by hand, with no CNI variable at all in its environment (or with --version), it prints a
 * one-line banner with the CNI versions it speaks and exits 0, as the reference plugins do
 * (host-local: "CNI host-local plugin version ... CNI protocol versions supported: ..."). A
 * runtime always sets CNI_COMMAND and never passes arguments, so it never sees the banner; an
 * environment with some CNI variables but no CNI_COMMAND still gets the JSON error (code 4).
 *
 * Before doing the work it offers the request to the node agent (cni/agent.c, docs/agent.md):
 * stdin is read whole first, so that on any failure of the agent the same bytes go to
 * bip_cni_run here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/version.h"
#include "cni.h"

extern char **environ;

static void banner(FILE *f)
{
	fputs("CNI blockipam plugin v" BIP_VERSION " (block-based IPAM); CNI protocol versions "
	      "supported: ",
	      f);
	for (int v = 0; v < BIP_CNI_V__COUNT; v++)
		fprintf(f, "%s%s", v ? ", " : "", bip_cni_version_str((enum bip_cni_version)v));
	fputc('\n', f);
}

static int no_cni_env(void)
{
	for (char **e = environ; e && *e; e++)
		if (strncmp(*e, "CNI_", 4) == 0)
			return 0;
	return 1;
}

/* Read stdin whole, up to one byte past what bip_cni_run accepts (it says "too large"). */
static char *slurp(FILE *in, size_t *len)
{
	size_t cap = 4096, n = 0, got;
	char *b = malloc(cap), *nb;

	if (!b)
		return NULL;
	while (n <= BIP_CNI_CONFIG_MAX) {
		if (n == cap) {
			if (!(nb = realloc(b, cap *= 2))) {
				free(b);
				return NULL;
			}
			b = nb;
		}
		if ((got = fread(b + n, 1, cap - n, in)) == 0)
			break;
		n += got;
	}
	if (ferror(in)) {
		free(b);
		return NULL;
	}
	*len = n;
	return b;
}

static int run(struct bip_cni_io *io)
{
	struct bip_cni_wire_ans ans;
	uint8_t *frame = NULL;
	const char *path;
	char sock[108], *buf;
	size_t len = 0;
	FILE *mem;
	int rc;

	if (bip_cni_wire_verb(io->env) == BIP_CNI_CMD_NONE || !(buf = slurp(io->in, &len)))
		return bip_cni_run(io); /* VERSION, no command, unreadable stdin: as before */
	path = bip_cni_agent_socket(buf, len, sock, sizeof(sock));
	if (path && bip_cni_agent_call(path, io->env, buf, len, &frame, &ans) == 0) {
		fwrite(ans.out, 1, ans.outlen, io->out);
		fwrite(ans.err, 1, ans.errlen, stderr);
		rc = fflush(io->out) == 0 ? ans.code : 1;
		free(frame);
		free(buf);
		return rc;
	}
	/* fmemopen refuses an empty buffer: an empty stdin is stdin itself, at its end */
	mem = len ? fmemopen(buf, len, "r") : NULL;
	if (mem)
		io->in = mem;
	rc = bip_cni_run(io);
	if (mem)
		fclose(mem);
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	struct bip_cni_io io = {
	    .env = (const char *const *)environ,
	    .in = stdin,
	    .out = stdout,
	};

	if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
		banner(stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (no_cni_env()) {
		banner(stderr);
		return 0;
	}
	return run(&io);
}
