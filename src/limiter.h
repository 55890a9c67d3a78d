/* The rate limiter: one per API key for the whole process, shared by every client and request of
 * that key. A request starts only when every window allows it:
 *   - the windows the user configured (rate = "10/1,60/60,1000/3600", a preset, a table), or,
 *     when nothing was configured, the safe default of 10 per 2 s until the server shows its own
 *     (and FIRST_WAVE requests until the key's first answer, which may show a smaller budget);
 *   - the windows the server shows in X-RateLimit-Limit/Remaining/Reset, followed by its own
 *     count while it is fresh, the next one reckoned from its reset (until an answer shows it);
 *   - the rest of a documented plan (Standard, Pro) whose burst the server showed;
 *   - the windows learned from 429s the headers did not foresee (a hidden burst or hourly cap),
 *     kept for the rest of the run and remembered for the key across runs (limiter_store.c);
 *   - a pause of the whole key after a 429.
 * A wait the server asks for (Retry-After, a reset with nothing remaining) is clamped to
 * RATE_WAIT_CEILING; the engine bounds it by each call's max_wait. Nothing here prints. */
#ifndef SMARTLUA_LIMITER_H
#define SMARTLUA_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

#define RATE_MAX_WINDOWS 8       /* windows in one rate setting */
#define RATE_WAIT_CEILING 3600.0 /* the longest wait a server may impose: SmartLead's longest documented window */
#define RATE_DEFAULT_REQUESTS 10 /* the safe default until the server shows its budget: the legacy */
#define RATE_DEFAULT_PER 2.0     /* help centre's 10 requests per 2 seconds */
#define RATE_LEARNED_TTL (7 * 86400.0) /* how long a learned limit is remembered across runs */

typedef struct {
  double requests, per; /* at most `requests` starts in any `per` seconds */
} rate_window_t;

typedef enum {
  RATE_AUTO,    /* nothing configured: the safe default until the server shows its budget */
  RATE_OFF,     /* rate = false: no client-side pacing (server counts and 429 pauses still hold) */
  RATE_WINDOWS, /* the user's windows, always kept (the server's and learned ones too) */
} rate_mode_t;

typedef struct {
  rate_mode_t mode;
  int n;
  rate_window_t w[RATE_MAX_WINDOWS];
  char name[16]; /* the preset's name, or "" */
} rate_spec_t;

/* Reads "10/2", "10" (per second), "2.5/0.5s", "10/1,60/60,1000/3600", a preset (standard,
 * pro, legacy), "auto" or "off". Returns 0 and a message in err when it is none of those. */
int rate_parse(const char *text, rate_spec_t *out, char *err, size_t errsz);

/* Checks one window; 0 and a message when requests < 1, per <= 0 or either is out of range. */
int rate_window_ok(double requests, double per, char *err, size_t errsz);

typedef struct limiter limiter_t;

/* The limiter of this key, made (and its remembered lessons read) on first use. A later call
 * with explicit_rate reconfigures it. NULL when too many keys are in use. */
limiter_t *limiter_for_key(const char *key, const rate_spec_t *spec, int explicit_rate);

/* Forgets pauses, server windows, spent requests and learned limits, and the remembered file. */
void limiter_reset(limiter_t *l);

/* Whether (and why) a request must wait. */
typedef struct {
  double wait;      /* seconds until a request may start; 0: now */
  int server_asked; /* the wait is the server's (a 429 pause, nothing remaining until a reset) */
  double asked;     /* then: the seconds the server asked for, before the ceiling */
  const char *reason;
} limiter_gate_t;

void limiter_check(limiter_t *l, double now, limiter_gate_t *g);

void limiter_start(limiter_t *l, double now); /* a request of the key starts */
void limiter_end(limiter_t *l);               /* it ended (before its answer is observed) */

/* Follows an answer's X-RateLimit-* headers; started: when that request was sent. */
void limiter_observe(limiter_t *l, const http_response_t *r, double started, double now);

/* What a 429 did to the key. */
typedef struct {
  double wait;        /* every request of the key pauses this long (the ceiling applied) */
  double asked;       /* what the server asked for, before the ceiling; -1: it said nothing */
  const char *source; /* "Retry-After", "retry_after", "x-ratelimit-reset", or NULL: backoff */
  int learned;        /* a limit the headers did not show was learned: */
  rate_window_t lesson; /* stay under it from now on */
} limiter_pause_t;

/* jitter: a number in [0, 1) that spreads the backoff when the server says nothing. */
void limiter_on_429(limiter_t *l, const http_response_t *r, double started, double now, double jitter,
                    limiter_pause_t *out);

/* A successful answer: the backoff after silent 429s starts again from its base. */
void limiter_calm(limiter_t *l);

/* The budget this key has shown, as pacing uses it. */
typedef struct {
  rate_window_t w;
  const char *source; /* "configured", "default", "server", "plan" (a documented plan the server's burst matches), "learned" */
} budget_window_t;

typedef struct {
  int n;
  budget_window_t w[RATE_MAX_WINDOWS + 12];
  const char *source; /* "learned" when a lesson paces, else "server" when it showed windows, else "configured" */
  int off;            /* rate = false */
  double pause;       /* seconds of a 429 pause still ahead */
} limiter_budget_t;

void limiter_budget(limiter_t *l, double now, limiter_budget_t *b);

/* One line saying what the budget is now, when it changed since the last call (for -v);
 * returns 0 when nothing changed. */
int limiter_change_line(limiter_t *l, char *out, size_t n);

/* The limiter's state after an answer, for traces at -vv. */
void limiter_describe(limiter_t *l, const http_response_t *r, double now, char *out, size_t n);

/* x-ratelimit-reset as seconds from now: seconds to the reset, a Unix time in seconds or in
 * milliseconds, told apart by magnitude against the wall clock `wall`. May be negative. */
double rate_reset_in(long reset, double wall);

/* Whether a pause of the key until `until` is news to say on stderr (concurrent requests
 * meeting the same pause say it once); records it when it is. */
int limiter_news(limiter_t *l, double until);

double wall_clock(void); /* Unix time with fractions */

#endif
