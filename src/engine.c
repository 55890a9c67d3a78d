#include "engine.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "redact.h"
#include "trace.h"
#include "version.h"

#define BACKOFF_BASE 0.25 /* seconds before the first retry, doubling after */
#define BACKOFF_CAP 8.0
#define ANNOUNCE_MIN 1.0  /* server-asked waits this long or longer are said on stderr */

double monotonic_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Jitter only needs to spread retries apart, not to be unpredictable. */
static double random01(void) {
  static uint64_t s;
  if (!s) s = (uint64_t)monotonic_now() * 6364136223846793005ULL ^ (uint64_t)getpid() ^ 0x9E3779B97F4A7C15ULL;
  s ^= s << 13, s ^= s >> 7, s ^= s << 17;
  return (double)(s >> 11) / 9007199254740992.0;
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
  t->rate_asked = -1;
  return t;
}

void transfer_free(transfer_t *t) {
  if (!t) return;
  if (t->handle) *t->handle = NULL;
  if (t->free_user && t->user) t->free_user(t->user);
  if (t->url) explicit_bzero(t->url, strlen(t->url));
  free(t->url);
  buf_free(&t->body);
  http_response_free(&t->resp); /* before the pool it counts in */
  answer_pool_release(t->pool);
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
  answer_pool_t *pool;    /* answer bytes held by its transfers */
};

engine_t *engine_new(void) {
  engine_t *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->multi = curl_multi_init();
  e->pool = answer_pool_new((size_t)HTTP_POOL_DEFAULT);
  if (!e->multi || !e->pool) {
    if (e->multi) curl_multi_cleanup(e->multi);
    answer_pool_release(e->pool);
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
  answer_pool_release(e->pool);
  free(e);
}

void engine_set_quiet(engine_t *e, int quiet) { e->quiet = quiet; }

void engine_set_answer_cap(engine_t *e, size_t bytes) { e->pool->cap = bytes; }

size_t engine_answer_cap(const engine_t *e) { return e->pool->cap; }

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
  static uint64_t submitted;
  t->order = ++submitted;
  t->state = T_QUEUED;
  t->not_before = 0;
  if (!t->pool) t->pool = e->pool, e->pool->refs++;
  append(&e->queued, t);
}

/* A write waits while another of its lock runs, or while one submitted before it waits to be
 * retried: writes to one account land in the order they were made, even when the first is
 * refused with a 429 and tried again after the second was submitted. */
static int lock_busy(engine_t *e, const transfer_t *t) {
  if (!t->lock) return 0;
  for (transfer_t *r = e->running; r; r = r->next)
    if (r->lock == t->lock) return 1;
  for (transfer_t *q = e->queued; q; q = q->next)
    if (q != t && q->lock == t->lock && q->order < t->order) return 1;
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
  t->resp.pool = t->pool;
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
  limiter_start(t->limiter, t->started);
  return 1;
}

/* Says a wait the server asked for on stderr, once per pause of the key. */
static void announce(engine_t *e, limiter_t *l, double now, double until, const char *why) {
  if (e->quiet || !limiter_news(l, until)) return;
  fprintf(stderr, "smartlua: %s; pausing all requests of this key for %.1fs\n", why, until - now);
}

/* Ends t unsent (again): the wait the server asks for is longer than its max_wait allows. */
static void fail_rate_limited(engine_t *e, transfer_t *t, const limiter_gate_t *g) {
  unlink_from(&e->queued, t);
  t->rate_asked = g->asked > g->wait ? g->asked : g->wait;
  t->rate_why = g->reason;
  if (trace_level() >= 1) { /* the -v line an attempt would have had, masked the same way */
    const char *path = strstr(t->url, "/api/");
    buf_t b;
    buf_init(&b);
    buf_printf(&b, TRACE_PREFIX "%s %s -> not sent: %s, the server asks to wait %.0fs, more than max_wait %.0fs allows\n",
               t->method, path ? path : t->url, g->reason, t->rate_asked, t->max_wait);
    buf_t masked;
    buf_init(&masked);
    redact(&masked, b.data ? b.data : "", b.len, NULL);
    if (masked.data) fputs(masked.data, stderr);
    buf_free(&masked);
    buf_free(&b);
  }
  mark_done(e, t);
}

/* Whether t may start now as the limiter sees it; a wait the server asked for counts against
 * t's max_wait, and one beyond it ends t at once (a call never waits longer than it allows). */
static int limiter_allows(engine_t *e, transfer_t *t, double now) {
  limiter_gate_t g;
  limiter_check(t->limiter, now, &g);
  if (t->blocked_since > 0 && !(g.wait > 0 && g.server_asked)) t->waited += now - t->blocked_since, t->blocked_since = 0;
  if (g.wait <= 0) return 1;
  if (!g.server_asked) return 0;
  if (t->blocked_since == 0) t->blocked_since = now;
  if (g.wait >= ANNOUNCE_MIN) {
    char why[160];
    if (g.asked > g.wait + 1) snprintf(why, sizeof why, "%s (the server asks %.0fs; at most %.0fs)", g.reason, g.asked, RATE_WAIT_CEILING);
    else snprintf(why, sizeof why, "%s", g.reason);
    announce(e, t->limiter, now, now + g.wait, why);
  }
  if (t->waited + (now - t->blocked_since) + g.wait > t->max_wait) fail_rate_limited(e, t, &g);
  return 0;
}

/* Starts queued transfers in order, as far as time, slots, locks and the limiter allow. */
static void start_ready(engine_t *e, double now) {
  transfer_t *t = e->queued;
  while (t) {
    transfer_t *next = t->next;
    int ready = now >= t->not_before && limiter_allows(e, t, now) && t->slots->running < t->slots->max &&
                !lock_busy(e, t);
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

/* After a 429: every request of this key waits, not only the refused one; a limit the headers
 * did not show is learned. Returns the pause, and sets what the server asked in *asked. */
static double pause_for_429(engine_t *e, transfer_t *t, double now, double *asked, const char **source) {
  limiter_pause_t p;
  limiter_on_429(t->limiter, &t->resp, t->started, now, random01(), &p);
  char why[240];
  int k;
  if (p.source && p.asked > RATE_WAIT_CEILING)
    k = snprintf(why, sizeof why, "rate limited (429, %s %.0fs, more than the %.0fs any wait may last)", p.source, p.asked,
                 RATE_WAIT_CEILING);
  else if (p.source) k = snprintf(why, sizeof why, "rate limited (429, %s %.0fs)", p.source, p.asked);
  else k = snprintf(why, sizeof why, "rate limited (429, no Retry-After: backing off)");
  if (p.learned && k > 0 && (size_t)k < sizeof why)
    snprintf(why + k, sizeof why - (size_t)k, "; the headers did not show this limit: keeping under %.0f per %.0fs "
             "for this key from now on", p.lesson.requests, p.lesson.per);
  announce(e, t->limiter, now, now + p.wait, why);
  *asked = p.asked >= 0 ? p.asked : p.wait;
  *source = p.source ? p.source : "429 backoff";
  return p.wait;
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

/* The seconds until a failed attempt is sent again, or -1 when it is done. A 429 pauses the key
 * whether or not this call tries again; a pause beyond the call's max_wait ends it as rate
 * limited, with what the server asked for. */
static double next_try(engine_t *e, transfer_t *t, double now) {
  int refused = t->resp.curl_code == CURLE_OK && t->resp.status == 429;
  double asked = -1, delay = 0;
  const char *source = NULL;
  if (refused) delay = pause_for_429(e, t, now, &asked, &source);
  if (!should_retry(t) || t->attempts > t->max_retries) return -1;
  if (!refused) {
    delay = BACKOFF_BASE * pow(2, t->attempts - 1);
    delay = (delay > BACKOFF_CAP ? BACKOFF_CAP : delay) * (0.5 + 0.5 * random01());
  }
  if (t->waited + delay <= t->max_wait) return delay;
  if (refused) t->rate_asked = asked, t->rate_why = source;
  return -1;
}

/* A transfer came back: retry it, or mark it done. */
static void finish_attempt(engine_t *e, transfer_t *t, CURLcode rc, double now) {
  http_finish(t->easy, &t->resp, rc);
  t->slots->running--;
  limiter_end(t->limiter);
  limiter_observe(t->limiter, &t->resp, t->started, now);
  if (t->resp.curl_code == CURLE_OK && t->resp.status != 429) limiter_calm(t->limiter);
  double delay = next_try(e, t, now);
  if (trace_level() >= 1) trace_end(t, delay, now, NULL);
  char line[400];
  if (trace_level() >= 1 && limiter_change_line(t->limiter, line, sizeof line)) fprintf(stderr, TRACE_PREFIX "%s\n", line);
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
    limiter_end(t->limiter);
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
    limiter_gate_t g;
    limiter_check(t->limiter, now, &g);
    if (g.wait > w) w = g.wait;
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
    limiter_gate_t g;
    limiter_check(t->limiter, now, &g);
    if (g.wait > pause) pause = g.wait, why = g.reason;
  }
  for (transfer_t *t = e->running; t; t = t->next) r++;
  *queued = q, *running = r, *pause_left = pause, *reason = why;
}
