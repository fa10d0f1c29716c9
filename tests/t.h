/*
 * A tiny table-test harness. A test binary defines test functions and ends with
 *
 *   T_MAIN(T(test_parse), T(test_format), ...)
 *
 * Each function is one test; it fails if any T_CHECK in it fails (checks go on after a failure
 * so that one run shows every bad row). T_SKIP(reason) skips loudly. The binary prints
 * "ok"/"FAIL"/"skip" per test and a closing "<binary>: N passed, N failed, N skipped" line that
 * scripts/run-tests adds up. Exit status: 0 when nothing failed.
 */
#ifndef BIP_TEST_T_H
#define BIP_TEST_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct t_case {
	const char *name;
	void (*fn)(void);
	const void *arg; /* handed to fn as t_arg: one function can serve many rows */
};

extern int t_failed_checks;
extern const void *t_arg;
extern int t_skipped;
extern const char *t_skip_reason;

#define T(fn) {#fn, fn}

#define T_CHECK(cond, ...)                                                                         \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			t_failed_checks++;                                                         \
			fprintf(stderr, "  %s:%d: check failed: %s:", __FILE__, __LINE__, #cond);  \
			fprintf(stderr, " " __VA_ARGS__); /* " ": a message is optional */         \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

/* Check and stop this test when the check fails (for preconditions). */
#define T_REQUIRE(cond, ...)                                                                       \
	do {                                                                                       \
		int t_before_ = t_failed_checks;                                                   \
		T_CHECK(cond, __VA_ARGS__);                                                        \
		if (t_failed_checks != t_before_)                                                  \
			return;                                                                    \
	} while (0)

#define T_SKIP(reason)                                                                             \
	do {                                                                                       \
		t_skipped = 1;                                                                     \
		t_skip_reason = (reason);                                                          \
		return;                                                                            \
	} while (0)

#define T_CHECK_STR(got, want)                                                                     \
	do {                                                                                       \
		const char *g_ = (got), *w_ = (want);                                              \
		T_CHECK(g_ && w_ && strcmp(g_, w_) == 0, "got '%s', want '%s'",                    \
			g_ ? g_ : "(null)", w_ ? w_ : "(null)");                                    \
	} while (0)

#define T_CHECK_INT(got, want)                                                                     \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		T_CHECK(g_ == w_, "got %lld, want %lld", g_, w_);                                  \
	} while (0)

int t_run(const char *prog, const struct t_case *cases, size_t n, int argc, char **argv);

#define T_MAIN(...)                                                                                \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		static const struct t_case cases_[] = {__VA_ARGS__};                               \
		return t_run(argv[0], cases_, sizeof(cases_) / sizeof(cases_[0]), argc, argv);     \
	}

#endif
