#include "limiter.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "limiter_store.h"

#define RING 4096          /* request starts remembered per key; wider windows keep their average rate */
#define MAX_LIMITERS 32
#define MAX_SERVER 4       /* server windows followed at once, told apart by X-RateLimit-Limit */
#define MAX_LEARNED 4
#define WINDOW_MARGIN 1.02 /* a little slack so arrival jitter never puts N+1 in a server window */
#define SAME_WINDOW 1.05   /* resets count whole seconds: ends this close are the same window */
#define BACKOFF_BASE 0.25  /* after a 429 that says nothing: 1 s, doubling, up to a minute */
#define BACKOFF_CAP 60.0
#define FIRST_ANSWER_POLL 0.05 /* how often a request waiting for the key's first answer looks again */
#define FIRST_WAVE 4       /* requests in flight before the key's first answer (under any documented budget) */
#define RESET_MARGIN 0.05  /* a reset is waited out this much longer: the server's clock ticks over on its own */

/* The window lengths SmartLead documents (a burst per second, the legacy 2 s, a minute, an
 * hour): how long a 429 asks to wait tells which of them it met, and a window whose length was
 * not measured yet is taken as the first of them at least as long as its longest reset. */
static const double DOCUMENTED_LENGTHS[] = {1, 2, 60, 3600};

/* SmartLead's documented plans (guides/rate-limits.mdx). Their headers show one window at a
 * time (the tightest), so a plan's burst measured at its length stands for the whole plan: its
 * minute and hour are paced before the server shows them, and a plan's limit seen with a reset
 * nearer than its length (an hour seen near its end) has that length. */
#define PLAN_WINDOWS 3
static const struct {
  const char *name;
  rate_window_t w[PLAN_WINDOWS]; /* the burst first */
} PLANS[] = {
    {"Standard", {{10, 1}, {60, 60}, {1000, 3600}}},
    {"Pro", {{20, 1}, {120, 60}, {3000, 3600}}},
};
#define N_PLANS ((int)(sizeof PLANS / sizeof *PLANS))

typedef struct {
  long limit;          /* X-RateLimit-Limit (for a server that sends none: the most remaining + 1) */
  int has_limit;
  double per;          /* length measured from an answer that opened a window (never too short) */
  double per_hint;     /* the longest reset seen: the length until one is measured */
  long left;           /* what the server still allows until `end`, less what is in flight; -1 unknown */
  double end;          /* monotonic end of the current window, within the ceiling */
  double asked_end;    /* the same as the server said it */
  double seen;
  int rolled;          /* `left` and `end` are this client's reckoning of the window after the last one */
  double rolled_from;  /* the end of that last one: later answers from it are not news */
  int probing;         /* rolled, and one request goes first: the rest wait for an answer */
  int taken;           /* requests in flight at the reset, which may count in the new window */
} server_window_t;

typedef struct {
  rate_window_t w;
  double learned_at; /* Unix time */
} lesson_t;

struct limiter {
  uint64_t key_hash; /* for finding it; the key itself is not kept */
  char key_id[LIMITS_ID_LEN + 1];
  rate_spec_t spec;
  server_window_t server[MAX_SERVER];
  int n_server;
  lesson_t learned[MAX_LEARNED];
  int n_learned;
  double ring[RING]; /* request starts, oldest overwritten */
  int head, count;
  double paused_until, pause_asked_until; /* after a 429 every request of the key waits */
  int running;
  int answered;      /* an attempt of this key has ended: the server had its chance to show its budget */
  int strikes;       /* 429s in a row, for the backoff when the server says nothing */
  double last_answer_in; /* seconds the last answer took */
  double announced_until; /* the last pause said on stderr */
  char shown[320];   /* the budget line last reported */
};

static pthread_mutex_t limiters_lock = PTHREAD_MUTEX_INITIALIZER;
static limiter_t *limiters[MAX_LIMITERS];
static int n_limiters;

__attribute__((destructor)) static void free_limiters(void) {
  for (int i = 0; i < n_limiters; i++) free(limiters[i]);
  n_limiters = 0;
}

double wall_clock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

/* ---------------------------------------------------------------- the rate setting */

static const struct {
  const char *name, *windows;
} PRESETS[] = {{"standard", "10/1,60/60,1000/3600"}, {"pro", "20/1,120/60,3000/3600"}, {"legacy", "10/2"}};

int rate_window_ok(double requests, double per, char *err, size_t errsz) {
  if (requests >= 1 && requests <= 100000 && per > 0 && per <= 86400) return 1;
  snprintf(err, errsz, "a window is 1 to 100000 requests per 0 to 86400 seconds");
  return 0;
}

/* A plain decimal ("10", "2.5"): no sign, exponent, hex, inf or nan. */
static int parse_decimal(const char *s, size_t n, double *out) {
  char tmp[32];
  size_t digits = 0, dots = 0;
  for (size_t i = 0; i < n; i++) digits += isdigit((unsigned char)s[i]) != 0, dots += s[i] == '.';
  if (n == 0 || n >= sizeof tmp || digits == 0 || dots > 1 || digits + dots != n) return 0;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  *out = strtod(tmp, NULL);
  return 1;
}

/* "N", "N/S" or "N/Ss". */
static int parse_window(const char *s, size_t n, rate_window_t *w) {
  const char *slash = memchr(s, '/', n);
  if (!slash) {
    w->per = 1;
    return parse_decimal(s, n, &w->requests);
  }
  size_t rest = n - (size_t)(slash - s) - 1;
  if (rest > 0 && slash[rest] == 's') rest--;
  return parse_decimal(s, (size_t)(slash - s), &w->requests) && parse_decimal(slash + 1, rest, &w->per);
}

static int parse_windows(const char *s, rate_spec_t *out) {
  out->mode = RATE_WINDOWS, out->n = 0;
  char err[80];
  while (*s) {
    size_t n = strcspn(s, ",");
    if (out->n == RATE_MAX_WINDOWS || !parse_window(s, n, &out->w[out->n])) return 0;
    if (!rate_window_ok(out->w[out->n].requests, out->w[out->n].per, err, sizeof err)) return 0;
    out->n++;
    s += n;
    if (*s == ',' && *++s == '\0') return 0;
  }
  return out->n > 0;
}

int rate_parse(const char *text, rate_spec_t *out, char *err, size_t errsz) {
  char s[200];
  size_t n = 0;
  memset(out, 0, sizeof *out);
  for (const char *p = text; *p && n < sizeof s - 1; p++)
    if (!isspace((unsigned char)*p)) s[n++] = (char)tolower((unsigned char)*p);
  s[n] = '\0';
  if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "none") || !strcmp(s, "0")) return out->mode = RATE_OFF, 1;
  if (!strcmp(s, "auto") || !strcmp(s, "default")) return out->mode = RATE_AUTO, 1;
  for (size_t i = 0; i < sizeof PRESETS / sizeof *PRESETS; i++)
    if (!strcmp(s, PRESETS[i].name)) {
      parse_windows(PRESETS[i].windows, out);
      snprintf(out->name, sizeof out->name, "%s", PRESETS[i].name);
      return 1;
    }
  if (strlen(text) < sizeof s && parse_windows(s, out)) return 1;
  snprintf(err, errsz, "rate must be N/SECONDS (e.g. 10/2) or off, got '%.60s' (also: windows such as "
           "10/1,60/60,1000/3600, a preset: standard, pro, legacy, or auto)", text);
  return 0;
}

/* ---------------------------------------------------------------- finding a key's limiter */

static void load_lessons(limiter_t *l) {
  stored_lesson_t stored[MAX_LEARNED];
  int n = limits_load(l->key_id, stored, MAX_LEARNED, wall_clock());
  for (int i = 0; i < n; i++) l->learned[i] = (lesson_t){stored[i].w, stored[i].learned_at};
  l->n_learned = n;
}

static void save_lessons(limiter_t *l) {
  stored_lesson_t out[MAX_LEARNED];
  for (int i = 0; i < l->n_learned; i++) out[i] = (stored_lesson_t){l->learned[i].w, l->learned[i].learned_at};
  limits_save(l->key_id, out, l->n_learned, wall_clock());
}

static limiter_t *limiter_new(const char *key, uint64_t hash, const rate_spec_t *spec) {
  limiter_t *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->key_hash = hash;
  limits_key_id(key, l->key_id);
  l->spec = *spec;
  limiter_change_line(l, l->shown, sizeof l->shown); /* the starting point is no change; */
  load_lessons(l);                                   /* what an earlier run learned is */
  return l;
}

limiter_t *limiter_for_key(const char *key, const rate_spec_t *spec, int explicit_rate) {
  uint64_t h = fnv1a(key ? key : "");
  limiter_t *found = NULL;
  pthread_mutex_lock(&limiters_lock);
  for (int i = 0; i < n_limiters && !found; i++)
    if (limiters[i]->key_hash == h) found = limiters[i];
  if (found && explicit_rate) found->spec = *spec;
  if (!found && n_limiters < MAX_LIMITERS && (found = limiter_new(key, h, spec))) limiters[n_limiters++] = found;
  pthread_mutex_unlock(&limiters_lock);
  return found;
}

void limiter_reset(limiter_t *l) {
  l->head = l->count = 0;
  l->n_server = l->n_learned = 0;
  l->paused_until = l->pause_asked_until = 0;
  l->strikes = l->answered = 0;
  l->announced_until = 0;
  limits_forget(l->key_id);
}

/* ---------------------------------------------------------------- pacing */

/* The k-th most recent start (1: the last). */
static double ring_back(const limiter_t *l, int k) { return l->ring[(l->head - k + RING) % RING]; }

/* Starts s with from < s <= to. */
static int starts_between(const limiter_t *l, double from, double to) {
  int n = 0;
  for (int k = 1; k <= l->count; k++) {
    double s = ring_back(l, k);
    if (s <= from) break;
    n += s <= to;
  }
  return n;
}

/* Seconds until one more start keeps at most `requests` in any `per` seconds. */
static double sliding_wait(const limiter_t *l, double requests, double per, double now) {
  int n = (int)requests;
  double p = per * WINDOW_MARGIN;
  if (n > RING) p = p * RING / n, n = RING; /* the same average rate */
  if (n < 1 || l->count < n) return 0;
  double free_at = ring_back(l, n) + p;
  return free_at > now ? free_at - now : 0;
}

static double documented_length(double at_least) {
  for (size_t i = 0; i < sizeof DOCUMENTED_LENGTHS / sizeof *DOCUMENTED_LENGTHS; i++)
    if (at_least <= DOCUMENTED_LENGTHS[i]) return DOCUMENTED_LENGTHS[i];
  return at_least;
}

/* The documented plan window with this limit, at least `at_least` long; NULL when none. */
static const rate_window_t *plan_window(long limit, double at_least) {
  for (int p = 0; p < N_PLANS; p++)
    for (int i = 0; i < PLAN_WINDOWS; i++)
      if (PLANS[p].w[i].requests == (double)limit && PLANS[p].w[i].per >= at_least) return &PLANS[p].w[i];
  return NULL;
}

static double window_length(const server_window_t *s) {
  if (s->per > 0) return s->per;
  if (s->per_hint <= 0) return 0;
  const rate_window_t *pw = s->has_limit ? plan_window(s->limit, s->per_hint) : NULL;
  return pw ? pw->per : documented_length(s->per_hint);
}

/* The documented plan whose burst the server showed at its measured length; -1: none. */
static int inferred_plan(const limiter_t *l) {
  for (int i = 0; i < l->n_server; i++)
    for (int p = 0; p < N_PLANS; p++)
      if (l->server[i].has_limit && l->server[i].per == PLANS[p].w[0].per &&
          (double)l->server[i].limit == PLANS[p].w[0].requests)
        return p;
  return -1;
}

static int server_has_limit(const limiter_t *l, double limit) {
  for (int i = 0; i < l->n_server; i++)
    if (l->server[i].has_limit && (double)l->server[i].limit == limit) return 1;
  return 0;
}

/* Whether the server has shown a budget: a window with a length (a remaining count whose reset
 * is absurd or past shows none, and the safe default stays). */
static int server_shown(const limiter_t *l) {
  for (int i = 0; i < l->n_server; i++)
    if (window_length(&l->server[i]) > 0) return 1;
  return 0;
}

static void consider(limiter_gate_t *g, double wait, int server, double asked, const char *why) {
  if (wait <= g->wait) return;
  g->wait = wait, g->server_asked = server, g->asked = asked, g->reason = why;
}

/* A window whose reset has come: the server starts the next one with its whole limit, less what
 * is still in flight (it may arrive after the reset); that window ends a length later at the
 * soonest. This reckoning holds until an answer from the new window says otherwise. One request
 * goes first while answers come back quickly: its answer may show another window nearly spent
 * (the headers show only the tightest; an hour with 2 left hides behind a spent burst). A
 * window of unknown length is paced as a sliding one instead. */
static void roll_over(limiter_t *l, server_window_t *s, double now) {
  double length = window_length(s);
  if (length <= 0) {
    s->left = -1;
    return;
  }
  s->rolled_from = s->end;
  s->end = s->end + length > now ? s->end + length : now + length;
  s->asked_end = s->end;
  s->taken = l->running;
  s->left = s->limit - l->running > 0 ? s->limit - l->running : 0;
  s->probing = l->last_answer_in < length / 2 && s->left > 1;
  if (s->probing) s->left = 1;
  s->rolled = 1;
}

void limiter_check(limiter_t *l, double now, limiter_gate_t *g) {
  memset(g, 0, sizeof *g);
  int pacing = l->spec.mode != RATE_OFF;
  if (now < l->paused_until) consider(g, l->paused_until - now, 1, l->pause_asked_until - now, "the server answered 429");
  /* the first answer may show a budget below the default; a key that met hidden limits before sends one first */
  if (pacing && !l->answered && l->running >= (l->n_learned ? 1 : FIRST_WAVE))
    consider(g, FIRST_ANSWER_POLL, 0, 0, "waiting for the first answer to show the server's budget");
  for (int i = 0; i < l->n_server; i++) {
    server_window_t *s = &l->server[i];
    if (s->left >= 0 && now >= s->end + RESET_MARGIN) roll_over(l, s, now);
    if (s->rolled && s->probing && s->left == 0 && l->running == 0) s->left = 1; /* that one ended unanswered */
    if (s->rolled && s->probing && s->left == 0)
      consider(g, FIRST_ANSWER_POLL, 0, 0, "waiting for the first answer after the server's reset");
    else if (s->left == 0) consider(g, s->end + RESET_MARGIN - now, 1, s->asked_end - now, "x-ratelimit-remaining is 0");
    else if (s->left < 0 && pacing) consider(g, sliding_wait(l, (double)s->limit, window_length(s), now), 0, 0, "the server's window");
  }
  int plan = pacing ? inferred_plan(l) : -1;
  for (int i = 1; plan >= 0 && i < PLAN_WINDOWS; i++)
    if (!server_has_limit(l, PLANS[plan].w[i].requests))
      consider(g, sliding_wait(l, PLANS[plan].w[i].requests, PLANS[plan].w[i].per, now), 0, 0, "the documented plan's window");
  if (l->spec.mode == RATE_WINDOWS)
    for (int i = 0; i < l->spec.n; i++) consider(g, sliding_wait(l, l->spec.w[i].requests, l->spec.w[i].per, now), 0, 0, "client-side rate");
  if (l->spec.mode == RATE_AUTO && !server_shown(l))
    consider(g, sliding_wait(l, RATE_DEFAULT_REQUESTS, RATE_DEFAULT_PER, now), 0, 0, "client-side rate (the safe default until the server shows its budget)");
  for (int i = 0; pacing && i < l->n_learned; i++)
    consider(g, sliding_wait(l, l->learned[i].w.requests, l->learned[i].w.per, now), 0, 0, "a limit learned from a 429");
}

void limiter_start(limiter_t *l, double now) {
  l->ring[l->head] = now;
  l->head = (l->head + 1) % RING;
  if (l->count < RING) l->count++;
  for (int i = 0; i < l->n_server; i++)
    if (l->server[i].left > 0 && now < l->server[i].end) l->server[i].left--;
  l->running++;
}

void limiter_end(limiter_t *l) {
  if (l->running > 0) l->running--;
  l->answered = 1;
}

void limiter_calm(limiter_t *l) { l->strikes = 0; }

/* ---------------------------------------------------------------- what the server says */

double rate_reset_in(long reset, double wall) {
  double r = (double)reset;
  if (r < wall / 2) return r;                 /* seconds to the reset (anything under ~28 years) */
  if (r < wall * 31.6227766) return r - wall; /* a Unix time in seconds: nearer now than now in ms */
  return r / 1000 - wall;                     /* a Unix time in milliseconds */
}

/* The window with this X-RateLimit-Limit, made when new (replacing the one seen longest ago). */
static server_window_t *server_window(limiter_t *l, long limit, long remaining, double now) {
  int has = limit > 0;
  for (int i = 0; i < l->n_server; i++) {
    server_window_t *s = &l->server[i];
    if (s->has_limit != has || (has && s->limit != limit)) continue;
    if (!has && remaining + 1 > s->limit) s->limit = remaining + 1;
    return s;
  }
  int at = l->n_server;
  if (at == MAX_SERVER)
    for (int i = at = 0; i < MAX_SERVER; i++) at = l->server[i].seen < l->server[at].seen ? i : at;
  else l->n_server++;
  l->server[at] = (server_window_t){.limit = has ? limit : remaining + 1, .has_limit = has, .left = -1, .seen = now};
  return &l->server[at];
}

/* A window's length is measured by the answer to the request that opened it (remaining is
 * limit - 1): from that request's start to the reset, which is never shorter than the window. */
static void learn_length(server_window_t *s, long remaining, double in, double end, double started) {
  if (in <= 0 || in > RATE_WAIT_CEILING) return;
  if (in > s->per_hint) s->per_hint = in;
  double length = end - started;
  /* a reset in whole seconds can fall up to a second short of the window's true end: a length
   * within a second under a documented one is that one (pacing a hair slow, never too fast) */
  if (documented_length(length) - length < 1.0) length = documented_length(length);
  if (s->has_limit && remaining == s->limit - 1 && end > started && (s->per == 0 || length < s->per)) s->per = length;
}

/* An answer to a request sent after a window's reset that shows another window: the headers
 * show the tightest, so this one has at least as many left; the probe is over, and its count
 * is its limit less what may have counted in it since the reset. */
static void end_probes(limiter_t *l, const server_window_t *shown, double started, double now) {
  for (int i = 0; i < l->n_server; i++) {
    server_window_t *w = &l->server[i];
    if (w == shown || !w->rolled || !w->probing || started < w->rolled_from) continue;
    long spent = w->taken + starts_between(l, w->rolled_from, now);
    w->probing = 0;
    w->left = w->limit > spent ? w->limit - spent : 0;
  }
}

void limiter_observe(limiter_t *l, const http_response_t *r, double started, double now) {
  l->last_answer_in = now - started;
  if (r->rl_remaining < 0 || r->rl_reset < 0) return;
  double in = rate_reset_in(r->rl_reset, wall_clock());
  if (in < 0) in = 0; /* a reset in the past (decades, for 10^12 read as ms): that window is over */
  long left = r->rl_remaining - l->running;
  if (left < 0) left = 0;
  server_window_t *s = server_window(l, r->rl_limit, r->rl_remaining, now);
  double end = now + (in < RATE_WAIT_CEILING ? in : RATE_WAIT_CEILING), asked_end = now + in;
  learn_length(s, r->rl_remaining, in, end, started);
  s->seen = now;
  end_probes(l, s, started, now);
  if (s->rolled && end <= s->rolled_from + 0.5) return; /* a late answer from the window that ended */
  if (s->rolled) {
    s->rolled = s->probing = 0, s->left = left, s->end = end, s->asked_end = asked_end;
    return;
  }
  int known = s->left >= 0 && now < s->end;
  if (known && fabs(end - s->end) <= SAME_WINDOW) { /* the same window: the lower count, the earlier end */
    if (end < s->end) s->end = end, s->asked_end = asked_end;
    if (left < s->left) s->left = left;
  } else if (!known || end > s->end) { /* a new window (an older one's late answer is ignored) */
    s->left = left, s->end = end, s->asked_end = asked_end;
  }
}

int limiter_news(limiter_t *l, double until) {
  if (until <= l->announced_until + 0.5) return 0;
  l->announced_until = until;
  return 1;
}

/* ---------------------------------------------------------------- 429s */

/* The 429 body's retry_after ({"error":{"retry_after":30}}) when the header is missing. */
static double body_retry_after(const http_response_t *r) {
  const char *p = r->body.data ? strstr(r->body.data, "\"retry_after\"") : NULL;
  if (!p || !(p = strchr(p, ':'))) return -1;
  p++;
  while (*p == ' ') p++;
  size_t n = strspn(p, "0123456789.");
  double v;
  return n > 0 && n < 16 && parse_decimal(p, n, &v) ? v : -1;
}

static lesson_t *lesson_for(limiter_t *l, double per) {
  for (int i = 0; i < l->n_learned; i++)
    if (l->learned[i].w.per == per) return &l->learned[i];
  if (l->n_learned < MAX_LEARNED) return &l->learned[l->n_learned++];
  return NULL;
}

/* A 429 the headers did not foresee: the wait it asks for says which documented window it met
 * (the shortest at least that long); the requests this key started in that window before the
 * refused one, counting it, met the limit. From now on, one fewer. */
static void learn_limit(limiter_t *l, limiter_pause_t *out, double started) {
  size_t k = 0, last = sizeof DOCUMENTED_LENGTHS / sizeof *DOCUMENTED_LENGTHS - 1;
  while (k < last && out->asked > DOCUMENTED_LENGTHS[k]) k++;
  double per = DOCUMENTED_LENGTHS[k];
  int met = starts_between(l, started - per, started);
  if (met < 2) return; /* this key's own pace cannot explain it (another client of the key?) */
  for (int i = 0; i < l->n_learned; i++)
    if (l->learned[i].w.per == per && l->learned[i].w.requests <= met - 1) return; /* nothing new */
  lesson_t *slot = lesson_for(l, per);
  if (!slot) return;
  *slot = (lesson_t){{met - 1, per}, wall_clock()};
  out->learned = 1;
  out->lesson = slot->w;
  save_lessons(l);
}

/* A refused request counts in no server window: its start leaves the record (the latest start
 * at that instant; later ones move back one place). */
static void forget_start(limiter_t *l, double started) {
  for (int k = 1; k <= l->count; k++) {
    if (ring_back(l, k) != started) continue;
    for (int j = k; j > 1; j--) l->ring[(l->head - j + RING) % RING] = ring_back(l, j - 1);
    l->head = (l->head - 1 + RING) % RING;
    l->count--;
    return;
  }
}

void limiter_on_429(limiter_t *l, const http_response_t *r, double started, double now, double jitter, limiter_pause_t *out) {
  memset(out, 0, sizeof *out);
  out->asked = -1;
  double body = body_retry_after(r);
  if (r->retry_after >= 0) out->asked = r->retry_after, out->source = "Retry-After";
  else if (body >= 0) out->asked = body, out->source = "retry_after";
  else if (r->rl_reset >= 0) {
    double in = rate_reset_in(r->rl_reset, wall_clock());
    out->asked = in > 0 ? in : 0, out->source = "x-ratelimit-reset";
  }
  if (out->asked >= 0) {
    out->wait = out->asked < RATE_WAIT_CEILING ? out->asked : RATE_WAIT_CEILING;
  } else {
    double cap = BACKOFF_BASE * 4 * pow(2, l->strikes < 20 ? l->strikes : 20);
    out->wait = (cap > BACKOFF_CAP ? BACKOFF_CAP : cap) * (0.5 + 0.5 * jitter);
  }
  l->strikes++;
  if (now + out->wait > l->paused_until) {
    l->paused_until = now + out->wait;
    l->pause_asked_until = now + (out->asked >= 0 ? out->asked : out->wait);
  }
  if (l->spec.mode != RATE_OFF && out->asked > 0 && r->rl_remaining != 0) learn_limit(l, out, started);
  forget_start(l, started);
}

/* ---------------------------------------------------------------- telling */

static void add_window(limiter_budget_t *b, double requests, double per, const char *source) {
  if (b->n < (int)(sizeof b->w / sizeof *b->w) && per > 0) b->w[b->n++] = (budget_window_t){{requests, per}, source};
}

void limiter_budget(limiter_t *l, double now, limiter_budget_t *b) {
  memset(b, 0, sizeof *b);
  b->off = l->spec.mode == RATE_OFF;
  for (int i = 0; l->spec.mode == RATE_WINDOWS && i < l->spec.n; i++) add_window(b, l->spec.w[i].requests, l->spec.w[i].per, "configured");
  if (l->spec.mode == RATE_AUTO && !server_shown(l)) add_window(b, RATE_DEFAULT_REQUESTS, RATE_DEFAULT_PER, "default");
  for (int i = 0; i < l->n_server; i++) add_window(b, (double)l->server[i].limit, window_length(&l->server[i]), "server");
  int plan = inferred_plan(l);
  for (int i = 1; plan >= 0 && i < PLAN_WINDOWS; i++)
    if (!server_has_limit(l, PLANS[plan].w[i].requests)) add_window(b, PLANS[plan].w[i].requests, PLANS[plan].w[i].per, "plan");
  for (int i = 0; !b->off && i < l->n_learned; i++) add_window(b, l->learned[i].w.requests, l->learned[i].w.per, "learned");
  for (int i = 1; i < b->n; i++) /* shortest window first */
    for (int j = i; j > 0 && b->w[j].w.per < b->w[j - 1].w.per; j--) {
      budget_window_t tmp = b->w[j];
      b->w[j] = b->w[j - 1], b->w[j - 1] = tmp;
    }
  b->source = !b->off && l->n_learned ? "learned" : server_shown(l) ? "server" : "configured";
  b->pause = l->paused_until > now ? l->paused_until - now : 0;
}

/* "100/60s", the length as people write it: whole seconds, or tenths under ten. */
static void put_window(buf_t *b, const rate_window_t *w) {
  double per = w->per >= 10 ? round(w->per) : round(w->per * 10) / 10;
  buf_printf(b, "%.0f/%gs", w->requests, per);
}

static void put_list(buf_t *b, const limiter_budget_t *bud, const char *source) {
  int first = 1;
  for (int i = 0; i < bud->n; i++) {
    if (source && strcmp(bud->w[i].source, source) != 0) continue;
    if (!first) buf_puts(b, ", ");
    put_window(b, &bud->w[i].w);
    first = 0;
  }
}

static int has_source(const limiter_budget_t *b, const char *source) {
  for (int i = 0; i < b->n; i++)
    if (!strcmp(b->w[i].source, source)) return 1;
  return 0;
}

int limiter_change_line(limiter_t *l, char *out, size_t n) {
  limiter_budget_t bud;
  limiter_budget(l, 0, &bud);
  buf_t b;
  buf_init(&b);
  buf_puts(&b, "rate: ");
  if (has_source(&bud, "server")) buf_puts(&b, "server allows "), put_list(&b, &bud, "server"), buf_puts(&b, "; ");
  else buf_puts(&b, "the server has shown no budget; ");
  int plan = inferred_plan(l);
  if (has_source(&bud, "plan"))
    buf_printf(&b, "that is the %s plan's burst, so also its ", PLANS[plan].name), put_list(&b, &bud, "plan"), buf_puts(&b, "; ");
  if (has_source(&bud, "learned")) buf_puts(&b, "learned from 429s "), put_list(&b, &bud, "learned"), buf_puts(&b, "; ");
  if (has_source(&bud, "configured")) buf_puts(&b, "configured "), put_list(&b, &bud, "configured"), buf_puts(&b, "; ");
  if (bud.off) buf_puts(&b, "client-side pacing off (rate = false): only the server's counts and 429s hold requests back");
  else if (has_source(&bud, "default")) buf_puts(&b, "pacing at the safe default 10/2s until the server shows its budget");
  else buf_puts(&b, "pacing at "), put_list(&b, &bud, NULL);
  int changed = b.data && strcmp(b.data, l->shown) != 0;
  if (changed) {
    snprintf(l->shown, sizeof l->shown, "%s", b.data);
    snprintf(out, n, "%s", b.data);
  }
  buf_free(&b);
  return changed;
}

void limiter_describe(limiter_t *l, const http_response_t *r, double now, char *out, size_t n) {
  buf_t b;
  buf_init(&b);
  if (r->rl_remaining >= 0) buf_printf(&b, "server limit %ld, remaining %ld, reset %ld; ", r->rl_limit, r->rl_remaining, r->rl_reset);
  else buf_puts(&b, "no x-ratelimit headers; ");
  if (l->spec.mode == RATE_OFF) buf_printf(&b, "client pacing off, %d running", l->running);
  else buf_printf(&b, "%d started in the last 1s, %d in 60s, %d running", starts_between(l, now - 1, now),
                  starts_between(l, now - 60, now), l->running);
  limiter_gate_t g;
  limiter_check(l, now, &g);
  if (g.wait > 0) buf_printf(&b, ", next start in %.1fs (%s)", g.wait, g.reason);
  snprintf(out, n, "%s", b.data ? b.data : "");
  buf_free(&b);
}
