/* The HTTP engine: libcurl's multi interface, many transfers in flight, connections reused,
 * one rate limiter per API key for the whole process (limiter.h), retries of what is safe to
 * repeat, and a bound on the answer bytes held in memory at once.
 * Nothing here touches Lua values: a transfer carries only C data; the Lua side waits on it
 * either by yielding (a scheduled coroutine) or by pumping the engine until it is done. */
#ifndef SMARTLUA_ENGINE_H
#define SMARTLUA_ENGINE_H

#include <curl/curl.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"
#include "limiter.h"

typedef struct engine engine_t;

/* Per-client concurrency cap, shared with that client's transfers (refcounted). */
typedef struct {
  int refs;
  int running;
  int max;
} slots_t;

typedef enum { T_QUEUED, T_RUNNING, T_DONE } transfer_state_t;

#define TRANSFER_NO_WAITER (-2) /* LUA_NOREF: nobody yields on this transfer */

/* How a transfer was cancelled by an interrupt (Ctrl-C). */
typedef enum { NOT_CANCELLED, CANCELLED_UNSENT, CANCELLED_IN_FLIGHT } cancel_t;

typedef struct transfer {
  struct transfer *next;
  limiter_t *limiter;
  slots_t *slots;
  CURL *easy;
  struct curl_slist *headers;
  char *url; /* carries the key: wiped when freed */
  buf_t body;
  int has_body;
  char method[8];
  long timeout_ms, connect_timeout_ms;
  http_response_t resp;
  int idempotent;  /* safe to send twice (reads, set-value updates, attach/detach) */
  int insecure_tls; /* the client's insecure_skip_tls_verify */
  int attempts;    /* times sent */
  int max_retries;
  double max_wait; /* seconds of backoff and server-asked waiting this call may spend */
  double waited;
  double blocked_since; /* when a wait the server asked for began holding it in the queue; 0: none */
  double rate_asked; /* >= 0: ended because the server asks to wait this long, beyond max_wait */
  const char *rate_why; /* then: what asked ("Retry-After", "x-ratelimit-reset", ...) */
  double not_before; /* monotonic seconds */
  uint64_t lock;     /* writes with the same lock never run at once; 0: none */
  uint64_t order;    /* when it was submitted: a retry keeps its place before later writes of its lock */
  transfer_state_t state;
  cancel_t cancelled;
  int maybe_acted;   /* an earlier attempt may have reached the server and been acted on */
  double started;    /* monotonic start of the current attempt */
  char last_outcome[24]; /* how the previous attempt ended ("503"), for traces */
  int co_ref;        /* registry ref of the coroutine waiting for it, or LUA_NOREF */
  struct transfer **handle; /* a holder's pointer to t, set to NULL when t is freed */
  answer_pool_t *pool; /* the engine's answer memory, referenced from submission until freed */
  void *user;        /* the caller's decoding context */
  void (*free_user)(void *user); /* when set, frees user with the transfer */
} transfer_t;

engine_t *engine_new(void);
void engine_free(engine_t *e); /* abandons transfers still queued or running */

/* Queues t; the engine owns it until it is DONE. */
void engine_submit(engine_t *e, transfer_t *t);

/* Runs the engine until t is DONE (other transfers progress meanwhile). */
void engine_wait_for(engine_t *e, transfer_t *t);

/* One round: starts what may start, moves data, waits at most max_block seconds for progress.
 * Returns how many transfers finished. */
int engine_pump(engine_t *e, double max_block);

/* Finished transfers whose co_ref is set, oldest first; NULL when none. */
transfer_t *engine_take_finished(engine_t *e);

/* Counts and the reason the engine is waiting (NULL when it is not). */
void engine_status(engine_t *e, int *queued, int *running, double *pause_left, const char **reason);

void engine_set_quiet(engine_t *e, int quiet);

/* The most answer bytes the engine's transfers may hold at once (HTTP_POOL_DEFAULT at start);
 * an answer that would go over it ends with resp.too_large = 2. */
void engine_set_answer_cap(engine_t *e, size_t bytes);
size_t engine_answer_cap(const engine_t *e);

/* Ctrl-C: while the flag is set, engine_pump aborts every queued and running transfer (they end
 * DONE with cancelled set) within about INTERRUPT_POLL seconds. Only the caller clears it. */
#define INTERRUPT_POLL 0.2
void engine_request_interrupt(void); /* async-signal-safe: sets a sig_atomic_t */
int engine_interrupt_pending(void);
void engine_clear_interrupt(void);
/* Sets the flag once `seconds` have passed (checked by the pump; for tests, not signal-safe). */
void engine_interrupt_after(double seconds);
/* How many transfers interrupts have cancelled in this process. */
long engine_cancelled_count(void);

transfer_t *transfer_new(void);
void transfer_free(transfer_t *t);

slots_t *slots_new(int max);
void slots_release(slots_t *s);

double monotonic_now(void);

#endif
