/* Progress on stderr while work takes seconds (progress.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define DELAY_MS 1000 /* work done sooner draws nothing */
#define TTY_EVERY_MS 250
#define LOG_EVERY_MS 1000

struct ctl_progress {
	const char *label;
	bool tty;
	long delay_ms;
	atomic_size_t done, total;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, drawn;
	struct timespec t0;
};

static long elapsed_ms(const struct ctl_progress *p)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - p->t0.tv_sec) * 1000 + (now.tv_nsec - p->t0.tv_nsec) / 1000000;
}

static void draw(struct ctl_progress *p)
{
	size_t done = atomic_load(&p->done), total = atomic_load(&p->total);
	long ms = elapsed_ms(p);

	fprintf(stderr, "%s%s...", p->tty ? "\r\033[K" : "", p->label);
	if (total)
		fprintf(stderr, " %zu of %zu (%zu%%),", done, total,
			(size_t)((double)done * 100.0 / (double)total));
	else if (done)
		fprintf(stderr, " %zu,", done);
	fprintf(stderr, " %ld s%s", ms / 1000, p->tty ? "" : "\n");
	fflush(stderr);
	p->drawn = true;
}

static void *run(void *arg)
{
	struct ctl_progress *p = arg;
	long next = p->drawn ? (p->tty ? TTY_EVERY_MS : LOG_EVERY_MS) : p->delay_ms;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		struct timespec until = p->t0;
		long ns = (long)until.tv_nsec + (next % 1000) * 1000000;

		until.tv_sec += next / 1000 + ns / 1000000000;
		until.tv_nsec = ns % 1000000000;
		if (pthread_cond_timedwait(&p->cv, &p->mu, &until) != 0 && !p->stop) {
			draw(p);
			next = elapsed_ms(p) + (p->tty ? TTY_EVERY_MS : LOG_EVERY_MS);
		}
	}
	if (p->drawn && p->tty) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	} else if (p->drawn) {
		draw(p); /* a log ends with where the work got to */
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct ctl_progress *ctl_progress_start(const char *label)
{
	const char *mode = getenv("BLOCKIPAM_PROGRESS");
	bool always = mode && strcmp(mode, "always") == 0;
	struct ctl_progress *p;
	pthread_condattr_t ca;

	if ((mode && strcmp(mode, "never") == 0) || (!always && !isatty(STDERR_FILENO)))
		return NULL;
	if (!(p = calloc(1, sizeof(*p))))
		return NULL;
	p->label = label;
	p->tty = isatty(STDERR_FILENO);
	p->delay_ms = DELAY_MS;
	atomic_init(&p->done, 0);
	atomic_init(&p->total, 0);
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	if (pthread_condattr_init(&ca) != 0) {
		free(p);
		return NULL;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		pthread_condattr_destroy(&ca);
		free(p);
		return NULL;
	}
	if (pthread_cond_init(&p->cv, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return NULL;
	}
	pthread_condattr_destroy(&ca);
	if (always) /* drawn now, so that a test sees it however quick the work */
		draw(p);
	if (pthread_create(&p->thread, NULL, run, p) != 0) {
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return NULL;
	}
	return p;
}

void ctl_progress_set(struct ctl_progress *p, size_t done, size_t total)
{
	if (!p)
		return;
	atomic_store(&p->done, done);
	atomic_store(&p->total, total);
}

void ctl_progress_stop(struct ctl_progress *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
