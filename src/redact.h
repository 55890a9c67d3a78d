/* Masking of the API key in anything that may be shown: URLs, messages, bodies, traces. */
#ifndef SMARTLUA_REDACT_H
#define SMARTLUA_REDACT_H

#include <stddef.h>

#include "buf.h"

#define REDACTED "***"

/* Appends s to out with every `api_key=VALUE` query value and every occurrence of key
 * (raw or percent-encoded; key may be NULL or empty) replaced by ***, as is every
 * secret given to redact_add_secret. */
void redact(buf_t *out, const char *s, size_t len, const char *key);

/* Registers a secret (an API key) to be masked by every later redact() in the process. */
void redact_add_secret(const char *secret);

#endif
