/* The blockipam CNI plugin: environ, stdin and stdout in, an exit status out (cni/run.c). */
#include <stdio.h>

#include "cni.h"

extern char **environ;

int main(void)
{
	struct bip_cni_io io = {
		.env = (const char *const *)environ,
		.in = stdin,
		.out = stdout,
	};

	return bip_cni_run(&io);
}
