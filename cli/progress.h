/*
 * Progress on stderr for work that can take seconds (ipam check, show and list of large stores,
 * store migrate): nothing at all unless stderr is a terminal, and nothing for work done within
 * a second. Then one line, redrawn four times a second: "checking the store... 3 s", or with
 * counts "copying keys... 51200 of 114002 (45%), 4 s". Stopping erases it, so what the command
 * prints afterwards reads as if it had never been there.
 *
 * A thread draws the line, so the work itself needs no hooks (the library is not interrupted by
 * signals either). BLOCKIPAM_PROGRESS=always draws it from the start even when stderr is not a
 * terminal (one line per second then, and a last one when the work ends, for logs and tests);
 * =never never draws it.
 */
#ifndef BIP_CLI_PROGRESS_H
#define BIP_CLI_PROGRESS_H

#include <stddef.h>

struct ctl_progress;

/* NULL when no progress is to be drawn (or on failure): every call below accepts NULL. */
struct ctl_progress *ctl_progress_start(const char *label);
/* The counts so far (total 0: unknown); cheap, any number of times. */
void ctl_progress_set(struct ctl_progress *p, size_t done, size_t total);
/* Stop drawing, erase the line, free p. */
void ctl_progress_stop(struct ctl_progress *p);

#endif
