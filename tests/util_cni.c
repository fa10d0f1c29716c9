/* Helpers shared by the CNI tests (util_cni.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cni/cni.h"
#include "util_cni.h"

char *tu_dq(const char *s)
{
	char *d = strdup(s);

	for (char *p = d; p && *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

int tu_run(const char *const *env, const char *in, char **out)
{
	FILE *fin = in && *in ? fmemopen((void *)in, strlen(in), "r") : NULL;
	size_t n = 0;
	FILE *fout = open_memstream(out, &n);
	struct bip_cni_io io = {env, fin, fout};
	int rc = bip_cni_run(&io);

	fclose(fout);
	if (fin)
		fclose(fin);
	return rc;
}

long tu_code(const char *out)
{
	json_t *j = json_loads(out, 0, NULL);
	long c = j ? (long)json_integer_value(json_object_get(j, "code")) : -1;

	json_decref(j);
	return c;
}
