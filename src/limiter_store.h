/* What a key's limiter learned from 429s, remembered across runs in a small file:
 * $XDG_STATE_HOME/smartlua/limits/<SHA-256 of the key in hex> (else ~/.local/state/...), never
 * the key itself. Directories are made 0700 and the file 0600, opened without following links.
 * Failures are silent: the memory only saves a run from meeting the same 429 again. */
#ifndef SMARTLUA_LIMITER_STORE_H
#define SMARTLUA_LIMITER_STORE_H

#include "limiter.h"

typedef struct {
  rate_window_t w;
  double learned_at; /* Unix time */
} stored_lesson_t;

#define LIMITS_ID_LEN 64 /* hex digits of the SHA-256 */

/* The file's name for this key: 64 hex digits and a NUL. */
void limits_key_id(const char *key, char out[LIMITS_ID_LEN + 1]);

/* Reads the lessons still fresh at `wall` (learned less than RATE_LEARNED_TTL ago); returns how
 * many (0 when there is no file or it is not ours). */
int limits_load(const char *id, stored_lesson_t *out, int max, double wall);

/* Writes the lessons, keeping the tighter of each window another process wrote meanwhile.
 * Returns 1 when written. */
int limits_save(const char *id, const stored_lesson_t *lessons, int n, double wall);

/* Removes the file (client:reset_rate_state()). */
void limits_forget(const char *id);

/* SHA-256 of data, as 64 lowercase hex digits and a NUL (for the file's name). */
void sha256_hex(const void *data, size_t len, char out[LIMITS_ID_LEN + 1]);

#endif
