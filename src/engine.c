#include "engine.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"
#include "version.h"

#define BACKOFF_BASE 0.25 /* seconds before the first retry, doubling after */
#define BACKOFF_CAP 8.0
#define PAUSE_CAP 900.0   /* a server has locked a key out for 8 minutes after Retry-After: 60 */
#define MAX_LIMITERS 32
#define MAX_WINDOW 4096   /* start times remembered; rates above this per window use a bucket */
#define WINDOW_MARGIN 1.02 /* a little slack so arrival jitter never puts N+1 in a server window */

double monotonic_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void) { return (double)time(NULL); }

/* Jitter only needs to spread retries apart, not to be unpredictable. */
static double random01(void) {
  static uint64_t s;
  if (!s) s = (uint64_t)monotonic_now() * 6364136223846793005ULL ^ (uint64_t)getpid() ^ 0x9E3779B97F4A7C15ULL;
  s ^= s << 13, s ^= s >> 7, s ^= s << 17;
  return (double)(s >> 11) / 9007199254740992.0;
}

/* ---------------------------------------------------------------- the rate limiter */

struct limiter {
  uint64_t key_hash; /* the key itself is not kept here */
  int limit;         /* requests allowed in any `per` seconds; 0: no client-side pacing */
  double per;
  double *starts;    /* ring of the last `limit` start times (sliding window) */
  int head, count;
  double paused_until;      /* after a 429, every request waits */
  double window_end;        /* from x-ratelimit-reset */
  long window_left;         /* requests the server still allows in that window; -1 unknown */
  long last_remaining;      /* the server's last x-ratelimit-remaining; -1 unknown */
  double window_start;      /* when a new server window was first seen to begin; 0 unknown */
  double window_len;        /* the longest reset seen: the server window's length */
  int running;
  int strikes;              /* consecutive 429s, for backoff when the server says nothing */
  const char *reason;       /* why requests are waiting, for progress and messages */
};

static pthread_mutex_t limiters_lock = PTHREAD_MUTEX_INITIALIZER;
static limiter_t *limiters[MAX_LIMITERS];
static int n_limiters;

__attribute__((destructor)) static void free_limiters(void) {
  for (int i = 0; i < n_limiters; i++) free(limiters[i]->starts), free(limiters[i]);
  n_limiters = 0;
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

/* A sliding window: at most `requests` starts in any `per` seconds, which also keeps a server's
 * fixed windows of that length under the limit (a token bucket would allow twice the burst). */
static void limiter_configure(limiter_t *l, double requests, double per) {
  int limit = requests >= 1 && per > 0 ? (int)requests : 0;
  if (limit > MAX_WINDOW) per = per * MAX_WINDOW / limit, limit = MAX_WINDOW; /* same average rate */
  double *starts = limit ? calloc((size_t)limit, sizeof *starts) : NULL;
  if (limit && !starts) limit = 0;
  free(l->starts);
  l->starts = starts;
  l->limit = limit;
  l->per = per * WINDOW_MARGIN;
  l->head = l->count = 0;
}

limiter_t *limiter_for_key(const char *key, double requests, double per, int explicit_rate) {
  uint64_t h = fnv1a(key ? key : "");
  limiter_t *found = NULL;
  pthread_mutex_lock(&limiters_lock);
  for (int i = 0; i < n_limiters && !found; i++)
    if (limiters[i]->key_hash == h) found = limiters[i];
  if (found && explicit_rate) limiter_configure(found, requests, per);
  if (!found && n_limiters < MAX_LIMITERS && (found = calloc(1, sizeof *found))) {
    found->key_hash = h;
    found->window_left = found->last_remaining = -1;
    limiter_configure(found, requests, per);
    limiters[n_limiters++] = found;
  }
  pthread_mutex_unlock(&limiters_lock);
  return found;
}

void limiter_reset(limiter_t *l) {
  l->head = l->count = 0;
  l->paused_until = l->window_end = l->window_start = l->window_len = 0;
  l->window_left = l->last_remaining = -1;
  l->strikes = 0;
}

/* The start time that leaves the window when the next request starts. */
static double oldest_start(const limiter_t *l) {
  return l->starts[(l->head - l->count + l->limit) % l->limit];
}

/* Seconds until a request may start (0: now). */
static double limiter_wait(limiter_t *l, double now) {
  if (now < l->paused_until) return l->reason = "the server answered 429", l->paused_until - now;
  if (l->window_left >= 0 && now >= l->window_end) l->window_left = -1; /* window over: unknown again */
  if (l->window_left == 0) return l->reason = "x-ratelimit-remaining is 0", l->window_end - now;
  if (l->limit && l->count == l->limit && now < oldest_start(l) + l->per)
    return l->reason = "client-side rate", oldest_start(l) + l->per - now;
  l->reason = NULL;
  return 0;
}

static void limiter_take(limiter_t *l, double now) {
  if (l->limit) {
    l->starts[l->head] = now;
    l->head = (l->head + 1) % l->limit;
    if (l->count < l->limit) l->count++;
  }
  if (l->window_left > 0) l->window_left--;
  l->running++;
}

/* x-ratelimit-reset is seconds until the reset, or (seen elsewhere) an epoch in s or ms. */
static double reset_seconds(long reset) {
  double r = (double)reset;
  if (r > 1e12) r = r / 1000 - wall_now();
  else if (r > 1e9) r -= wall_now();
  return r < 0 ? 0 : r > PAUSE_CAP ? PAUSE_CAP : r;
}

/* When the current server window ends. x-ratelimit-reset counts whole seconds, so on its own it
 * overstates the wait by up to a second; once a window's start has been seen (remaining jumped
 * back up), windows end at that start plus whole window lengths, which is never too early. */
static double window_end_at(limiter_t *l, double now, double reset) {
  double end = now + reset;
  if (l->window_start > 0 && l->window_len > 0) {
    double k = ceil((now - l->window_start) / l->window_len);
    double predicted = l->window_start + (k < 1 ? 1 : k) * l->window_len;
    if (predicted > now && predicted < end) end = predicted;
  }
  return end;
}

/* Follows the server's own count: what it says remains, less what is still in flight. */
static void limiter_observe(limiter_t *l, const http_response_t *r, double now) {
  if (r->rl_remaining < 0 || r->rl_reset < 0) return;
  double reset = reset_seconds(r->rl_reset);
  if (reset > l->window_len) l->window_len = reset;
  long jump = r->rl_limit > 0 ? r->rl_limit / 4 : 2;
  if (l->last_remaining >= 0 && r->rl_remaining > l->last_remaining + (jump > 2 ? jump : 2)) l->window_start = now;
  l->last_remaining = r->rl_remaining;
  double end = window_end_at(l, now, reset);
  long left = r->rl_remaining - l->running;
  if (left < 0) left = 0;
  int same_window = l->window_left >= 0 && fabs(end - l->window_end) < 0.5;
  if (same_window && left > l->window_left) return; /* an older answer arriving late */
  l->window_end = end;
  l->window_left = left;
}

/* Starts in the client-side window that ends now. */
static int window_used(const limiter_t *l, double now) {
  int used = 0;
  for (int i = 0; i < l->count; i++)
    used += l->starts[(l->head - 1 - i + l->limit) % l->limit] > now - l->per;
  return used;
}

/* The limiter's state after an attempt, for traces at level 2. */
static void limiter_describe(limiter_t *l, const http_response_t *r, double now, char *out, size_t n) {
  int k = r->rl_remaining >= 0 ? snprintf(out, n, "server limit %ld, remaining %ld, reset %ld; ", r->rl_limit,
                                           r->rl_remaining, r->rl_reset)
                                : snprintf(out, n, "no x-ratelimit headers; ");
  if (k < 0 || (size_t)k >= n) return;
  if (l->limit) k += snprintf(out + k, n - (size_t)k, "client %d of %d in %.1fs, %d running",
                              window_used(l, now), l->limit, l->per, l->running);
  else k += snprintf(out + k, n - (size_t)k, "client pacing off, %d running", l->running);
  double wait = limiter_wait(l, now);
  if ((size_t)k < n && wait > 0) snprintf(out + k, n - (size_t)k, ", paused %.1fs (%s)", wait, l->reason);
}

/* ---------------------------------------------------------------- slots */

slots_t *slots_new(int max) {
  slots_t *s = calloc(1, sizeof *s);
  if (s) s->refs = 1, s->max = max > 0 ? max : 1;
  return s;
}

void slots_release(slots_t *s) {
  if (s && --s->refs == 0) free(s);
}

/* ---------------------------------------------------------------- transfers */

transfer_t *transfer_new(void) {
  transfer_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  buf_init(&t->body);
  http_response_init(&t->resp);
  t->co_ref = TRANSFER_NO_WAITER;
  return t;
}

void transfer_free(transfer_t *t) {
  if (!t) return;
  if (t->handle) *t->handle = NULL;
  if (t->free_user && t->user) t->free_user(t->user);
  if (t->url) explicit_bzero(t->url, strlen(t->url));
  free(t->url);
  buf_free(&t->body);
  http_response_free(&t->resp);
  curl_slist_free_all(t->headers);
  if (t->easy) curl_easy_cleanup(t->easy);
  slots_release(t->slots);
  free(t);
}

/* ---------------------------------------------------------------- the engine */

struct engine {
  CURLM *multi;
  transfer_t *queued, *running, *finished; /* finished: only those a coroutine waits for */
  int quiet;
  double announced_until; /* last pause announced on stderr, so concurrent 429s say it once */
};

engine_t *engine_new(void) {
  engine_t *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->multi = curl_multi_init();
  if (!e->multi) {
    free(e);
    return NULL;
  }
  curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 32L);
  return e;
}

static void free_list(transfer_t *t) {
  while (t) {
    transfer_t *next = t->next;
    transfer_free(t);
    t = next;
  }
}

void engine_free(engine_t *e) {
  if (!e) return;
  for (transfer_t *t = e->running; t; t = t->next) curl_multi_remove_handle(e->multi, t->easy);
  free_list(e->queued);
  free_list(e->running);
  free_list(e->finished);
  curl_multi_cleanup(e->multi);
  free(e);
}

void engine_set_quiet(engine_t *e, int quiet) { e->quiet = quiet; }

static void append(transfer_t **list, transfer_t *t) {
  t->next = NULL;
  while (*list) list = &(*list)->next;
  *list = t;
}

static void unlink_from(transfer_t **list, transfer_t *t) {
  for (; *list; list = &(*list)->next)
    if (*list == t) {
      *list = t->next;
      t->next = NULL;
      return;
    }
}

static void mark_done(engine_t *e, transfer_t *t) {
  t->state = T_DONE;
  t->next = NULL;
  if (t->co_ref != TRANSFER_NO_WAITER) append(&e->finished, t);
}

void engine_submit(engine_t *e, transfer_t *t) {
  t->state = T_QUEUED;
  t->not_before = 0;
  append(&e->queued, t);
}

static int lock_busy(engine_t *e, const transfer_t *t) {
  if (!t->lock) return 0;
  for (transfer_t *r = e->running; r; r = r->next)
    if (r->lock == t->lock) return 1;
  return 0;
}

static int start(engine_t *e, transfer_t *t) {
  if (!t->easy && !(t->easy = curl_easy_init())) return 0;
  curl_easy_reset(t->easy);
  http_request_t req = {t->method, t->url, t->has_body ? (t->body.data ? t->body.data : "") : NULL,
                        t->has_body ? t->body.len : 0, t->timeout_ms, t->connect_timeout_ms, trace_level() >= 2,
                        t->insecure_tls};
  http_response_free(&t->resp);
  http_response_init(&t->resp);
  curl_slist_free_all(t->headers);
  t->headers = http_setup(t->easy, &req, &t->resp);
  /* libcurl silently resends a request when a reused connection dies before the answer. A write
   * sent twice unseen is a doubled save, or an update whose first attempt acted without us
   * knowing (its error would not say ambiguous), so writes get a connection of their own
   * (found by faults_spec); reads keep reusing connections. */
  if (strcmp(t->method, "GET") != 0) curl_easy_setopt(t->easy, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
  if (curl_multi_add_handle(e->multi, t->easy) != CURLM_OK) return 0;
  t->attempts++;
  t->started = monotonic_now();
  t->state = T_RUNNING;
  t->slots->running++;
  limiter_take(t->limiter, monotonic_now());
  return 1;
}

/* Starts queued transfers in order, as far as time, slots, locks and the limiter allow. */
static void start_ready(engine_t *e, double now) {
  transfer_t *t = e->queued;
  while (t) {
    transfer_t *next = t->next;
    int ready = now >= t->not_before && t->slots->running < t->slots->max && !lock_busy(e, t) &&
                limiter_wait(t->limiter, now) <= 0;
    if (ready) {
      unlink_from(&e->queued, t);
      if (start(e, t)) append(&e->running, t);
      else {
        t->resp.curl_code = CURLE_OUT_OF_MEMORY;
        snprintf(t->resp.curl_error, sizeof t->resp.curl_error, "cannot start the transfer");
        mark_done(e, t);
      }
    }
    t = next;
  }
}

/* ---------------------------------------------------------------- retries */

static int transport_retryable(const transfer_t *t) {
  switch (t->resp.curl_code) {
    case CURLE_COULDNT_CONNECT: return 1; /* nothing reached the server */
    case CURLE_OPERATION_TIMEDOUT: case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR: case CURLE_SEND_ERROR:
      return t->idempotent; /* the server may have acted: only what is safe to repeat */
    default: return 0;
  }
}

static int should_retry(const transfer_t *t) {
  if (t->resp.curl_code != CURLE_OK) return transport_retryable(t);
  long s = t->resp.status;
  if (s == 429) return 1; /* refused before acting: safe for every call, saves included */
  return s >= 500 && s <= 599 && t->idempotent;
}

/* The 429 body's retry_after ({"error":{"retry_after":30}}) when the header is missing. */
static double body_retry_after(const http_response_t *r) {
  const char *p = r->body.data ? strstr(r->body.data, "\"retry_after\"") : NULL;
  if (!p || !(p = strchr(p, ':'))) return -1;
  char *end;
  double v = strtod(p + 1, &end);
  return end != p + 1 && v >= 0 ? v : -1;
}

static void announce(engine_t *e, double now, double until, const char *why) {
  if (e->quiet || until <= e->announced_until + 0.5) return;
  e->announced_until = until;
  fprintf(stderr, "smartlua: %s; pausing all requests for %.1fs\n", why, until - now);
}

/* After a 429: every request of this key waits, not only the refused one. */
static double pause_for_429(engine_t *e, transfer_t *t, double now) {
  limiter_t *l = t->limiter;
  double wait = t->resp.retry_after >= 0 ? t->resp.retry_after : body_retry_after(&t->resp);
  char why[120];
  if (wait >= 0) snprintf(why, sizeof why, "rate limited (429, Retry-After %.0fs)", wait);
  else if (t->resp.rl_reset >= 0) {
    wait = reset_seconds(t->resp.rl_reset);
    snprintf(why, sizeof why, "rate limited (429, window resets in %.0fs)", wait);
  } else {
    double cap = BACKOFF_BASE * 4 * pow(2, l->strikes);
    wait = (cap > 60 ? 60 : cap) * (0.5 + 0.5 * random01());
    snprintf(why, sizeof why, "rate limited (429, no Retry-After: backing off)");
  }
  if (wait > PAUSE_CAP) wait = PAUSE_CAP;
  l->strikes++;
  if (now + wait > l->paused_until) l->paused_until = now + wait;
  announce(e, now, l->paused_until, why);
  return wait;
}

static double retry_delay(engine_t *e, transfer_t *t, double now) {
  if (t->resp.curl_code == CURLE_OK && t->resp.status == 429) return pause_for_429(e, t, now);
  double d = BACKOFF_BASE * pow(2, t->attempts - 1);
  if (d > BACKOFF_CAP) d = BACKOFF_CAP;
  return d * (0.5 + 0.5 * random01());
}

/* Traces the attempt that just ended (or was cancelled); retry_in < 0: not sent again. */
static void trace_end(transfer_t *t, double retry_in, double now, const char *cancelled) {
  int sent = t->state == T_RUNNING; /* a queued transfer cancelled: nothing of this attempt to show */
  char rate[200];
  if (sent && trace_level() >= 2) limiter_describe(t->limiter, &t->resp, now, rate, sizeof rate);
  double ms = cancelled || t->resp.seconds <= 0 ? (now - t->started) * 1000 : t->resp.seconds * 1000;
  trace_attempt_t a = {.method = t->method, .url = t->url, .resp = &t->resp,
                       .body = t->has_body ? t->body.data : NULL, .body_len = t->has_body ? t->body.len : 0,
                       .attempt = sent ? t->attempts : 0, .retry_of = sent && t->last_outcome[0] ? t->last_outcome : NULL,
                       .retry_in = retry_in, .cancelled = cancelled, .ms = sent ? ms : -1,
                       .rate_state = sent && trace_level() >= 2 ? rate : NULL};
  trace_attempt(&a);
}

/* The seconds until a failed attempt is sent again, or -1 when it is done. */
static double next_try(engine_t *e, transfer_t *t, double now) {
  if (!should_retry(t) || t->attempts > t->max_retries) return -1;
  double delay = retry_delay(e, t, now);
  return t->waited + delay <= t->max_wait ? delay : -1;
}

/* A transfer came back: retry it, or mark it done. */
static void finish_attempt(engine_t *e, transfer_t *t, CURLcode rc, double now) {
  http_finish(t->easy, &t->resp, rc);
  t->slots->running--;
  t->limiter->running--;
  limiter_observe(t->limiter, &t->resp, now);
  if (t->resp.curl_code == CURLE_OK && t->resp.status != 429) t->limiter->strikes = 0;
  double delay = next_try(e, t, now);
  if (trace_level() >= 1) trace_end(t, delay, now, NULL);
  t->maybe_acted |= http_may_have_acted(&t->resp);
  trace_outcome(&t->resp, t->last_outcome, sizeof t->last_outcome);
  if (delay < 0) {
    mark_done(e, t);
    return;
  }
  t->waited += delay;
  t->not_before = now + delay;
  t->state = T_QUEUED;
  append(&e->queued, t);
}

/* ---------------------------------------------------------------- interrupts */

static volatile sig_atomic_t interrupted;
static double interrupt_at; /* monotonic time engine_interrupt_after set; 0: none */
static long cancelled_total;  /* transfers ended by interrupts, for the REPL's message */

long engine_cancelled_count(void) { return cancelled_total; }

void engine_request_interrupt(void) { interrupted = 1; }

int engine_interrupt_pending(void) {
  if (!interrupted && interrupt_at > 0 && monotonic_now() >= interrupt_at) interrupted = 1, interrupt_at = 0;
  return interrupted != 0;
}

void engine_clear_interrupt(void) { interrupted = 0, interrupt_at = 0; }

void engine_interrupt_after(double seconds) { interrupt_at = monotonic_now() + (seconds > 0 ? seconds : 0); }

/* Ends t without an answer: the caller sees a cancelled error. */
static void cancel(engine_t *e, transfer_t *t, cancel_t how, double now) {
  if (how == CANCELLED_IN_FLIGHT) {
    curl_multi_remove_handle(e->multi, t->easy);
    t->slots->running--;
    t->limiter->running--;
  }
  t->cancelled = how;
  cancelled_total++;
  t->resp.curl_code = CURLE_ABORTED_BY_CALLBACK;
  snprintf(t->resp.curl_error, sizeof t->resp.curl_error, "cancelled by Ctrl-C");
  if (trace_level() >= 1) trace_end(t, -1, now, how == CANCELLED_IN_FLIGHT ? "in flight" : "before it was sent");
  mark_done(e, t);
}

static void cancel_all(engine_t *e) {
  double now = monotonic_now();
  while (e->running) {
    transfer_t *t = e->running;
    e->running = t->next;
    cancel(e, t, CANCELLED_IN_FLIGHT, now);
  }
  while (e->queued) {
    transfer_t *t = e->queued;
    e->queued = t->next;
    cancel(e, t, CANCELLED_UNSENT, now);
  }
}

static int collect(engine_t *e) {
  int done = 0, left;
  CURLMsg *msg;
  double now = monotonic_now();
  while ((msg = curl_multi_info_read(e->multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    transfer_t *t = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    CURLcode rc = msg->data.result;
    curl_multi_remove_handle(e->multi, msg->easy_handle);
    unlink_from(&e->running, t);
    finish_attempt(e, t, rc, now);
    done += t->state == T_DONE;
  }
  return done;
}

/* How long nothing can start: the earliest queued transfer's ready time, capped. */
static double idle_time(engine_t *e, double now, double cap) {
  double wait = cap;
  for (transfer_t *t = e->queued; t; t = t->next) {
    double w = t->not_before > now ? t->not_before - now : 0;
    double lw = limiter_wait(t->limiter, now);
    if (lw > w) w = lw;
    if (t->slots->running >= t->slots->max || lock_busy(e, t)) continue; /* wakes on completion */
    if (w < wait) wait = w;
  }
  return wait < 0 ? 0 : wait;
}

/* Counts what an interrupt cancels, so a pending one ends every wait at once. */
static int cancel_if_interrupted(engine_t *e) {
  if (!engine_interrupt_pending() || (!e->running && !e->queued)) return 0;
  int n = 0;
  for (transfer_t *t = e->running; t; t = t->next) n++;
  for (transfer_t *t = e->queued; t; t = t->next) n++;
  cancel_all(e);
  return n;
}

/* Every wait is capped at INTERRUPT_POLL so a Ctrl-C is seen soon, whichever thread got it. */
int engine_pump(engine_t *e, double max_block) {
  int done = cancel_if_interrupted(e);
  if (done) return done;
  double now = monotonic_now();
  start_ready(e, now);
  int still;
  curl_multi_perform(e->multi, &still);
  if ((done = collect(e))) return done;
  double wait = idle_time(e, now, max_block < INTERRUPT_POLL ? max_block : INTERRUPT_POLL);
  if (!e->running && !e->queued) return 0;
  int ms = (int)(wait * 1000) + (wait > 0 ? 1 : 0);
  if (e->running) curl_multi_poll(e->multi, NULL, 0, ms, NULL);
  else if (ms > 0) usleep((useconds_t)ms * 1000);
  curl_multi_perform(e->multi, &still);
  done = collect(e);
  return done + cancel_if_interrupted(e);
}

void engine_wait_for(engine_t *e, transfer_t *t) {
  while (t->state != T_DONE) engine_pump(e, INTERRUPT_POLL);
}

transfer_t *engine_take_finished(engine_t *e) {
  transfer_t *t = e->finished;
  if (t) {
    e->finished = t->next;
    t->next = NULL;
  }
  return t;
}

void engine_status(engine_t *e, int *queued, int *running, double *pause_left, const char **reason) {
  int q = 0, r = 0;
  double now = monotonic_now(), pause = 0;
  const char *why = NULL;
  for (transfer_t *t = e->queued; t; t = t->next) {
    q++;
    double w = limiter_wait(t->limiter, now);
    if (w > pause) pause = w, why = t->limiter->reason;
  }
  for (transfer_t *t = e->running; t; t = t->next) r++;
  *queued = q, *running = r, *pause_left = pause, *reason = why;
}
