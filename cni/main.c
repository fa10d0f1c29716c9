/*
 * The blockipam CNI plugin: environ, stdin and stdout in, an exit status out (cni/run.c).
 *
 * Run by hand, with no CNI variable at all in its environment (or with --version), it prints a
 * one-line banner with the CNI versions it speaks and exits 0, as the reference plugins do
 * (host-local: "CNI host-local plugin version ... CNI protocol versions supported: ..."). A
 * runtime always sets CNI_COMMAND and never passes arguments, so it never sees the banner; an
 * environment with some CNI variables but no CNI_COMMAND still gets the JSON error (code 4).
 */
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
	return bip_cni_run(&io);
}
