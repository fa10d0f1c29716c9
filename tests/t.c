/* The harness behind t.h: runs the tests (or those named on the command line) and counts. */
#include <string.h>

#include "t.h"

int t_failed_checks;
int t_skipped;
const char *t_skip_reason;
const void *t_arg;

int t_run(const char *prog, const struct t_case *cases, size_t n, int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;
	const char *base = strrchr(prog, '/');

	base = base ? base + 1 : prog;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < n; i++) {
		int want = argc <= 1;

		for (int a = 1; a < argc && !want; a++)
			want = strcmp(argv[a], cases[i].name) == 0;
		if (!want)
			continue;
		t_failed_checks = 0;
		t_skipped = 0;
		t_skip_reason = NULL;
		t_arg = cases[i].arg;
		cases[i].fn();
		fflush(stderr);
		if (t_failed_checks) {
			failed++;
			printf("FAIL %s (%d checks)\n", cases[i].name, t_failed_checks);
		} else if (t_skipped) {
			skipped++;
			printf("skip %s: SKIPPED: %s\n", cases[i].name, t_skip_reason);
		} else {
			passed++;
			printf("ok   %s\n", cases[i].name);
		}
	}
	printf("%s: %d passed, %d failed, %d skipped\n", base, passed, failed, skipped);
	return failed ? 1 : 0;
}
