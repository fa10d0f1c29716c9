/*
 * The sample statistics of every benchmark (one definition of median and percentiles): a
 * growable array of samples, and their count, median, p90, p99, max and mean. The median of an
 * even count is the mean of the two middle values; percentiles are nearest-rank. Benchmarks are
 * programs, not the library: on out-of-memory these print a line and exit(1).
 */
#ifndef BIP_BENCH_STATS_H
#define BIP_BENCH_STATS_H

#include <stddef.h>

struct samples {
	double *v; /* milliseconds, unless the caller says otherwise */
	size_t n, cap;
};

struct stats {
	size_t n;
	double min, med, p90, p99, max, mean;
};

/* CLOCK_MONOTONIC in seconds and in milliseconds. */
double now_s(void);
double now_ms(void);

void samples_add(struct samples *s, double v);
void samples_free(struct samples *s); /* zeroes *s; a zeroed set is empty */

/* The statistics of n values (in is not changed); all zero but n when n is 0. */
struct stats stats_of(const double *in, size_t n);

#endif
