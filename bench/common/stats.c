/* The sample statistics shared by every benchmark (stats.h). */
#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *oom(void *p)
{
	if (!p) {
		fputs("bench: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double now_ms(void)
{
	return now_s() * 1e3;
}

void samples_add(struct samples *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;

		s->v = oom(realloc(s->v, cap * sizeof(*s->v)));
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

void samples_free(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double p)
{
	size_t k = (size_t)ceil(p * (double)n);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

struct stats stats_of(const double *in, size_t n)
{
	struct stats st = {.n = n};
	double *v, sum = 0;

	if (!n)
		return st;
	v = oom(calloc(n, sizeof(*v)));
	memcpy(v, in, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_d);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	st.min = v[0];
	st.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	st.p90 = pct(v, n, 0.90);
	st.p99 = pct(v, n, 0.99);
	st.max = v[n - 1];
	st.mean = sum / (double)n;
	free(v);
	return st;
}
