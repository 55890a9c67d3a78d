/* A growable byte buffer owned by whoever declares it; free with buf_free. */
#ifndef SMARTLUA_BUF_H
#define SMARTLUA_BUF_H

#include <stddef.h>

typedef struct {
  char *data;   /* always NUL-terminated when len > 0 or after buf_reserve */
  size_t len;
  size_t cap;
  int failed;   /* set once an allocation failed; later appends are ignored */
} buf_t;

void buf_init(buf_t *b);
void buf_free(buf_t *b);
void buf_reset(buf_t *b);
int buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const char *s, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, char c);
/* Appends s percent-encoded as RFC 3986 wants it in a query value. */
void buf_percent_encode(buf_t *b, const char *s, size_t n);
void buf_printf(buf_t *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
