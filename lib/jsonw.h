/*
 * Writing JSON a piece at a time. cJSON builds whole documents in memory;
 * backups are streamed, so rows are written here straight into a buffer.
 */
#ifndef BK_JSONW_H
#define BK_JSONW_H

#include "buf.h"

/* A JSON string literal, quotes included, for n bytes of UTF-8 text. */
void jsonw_string(struct buf *b, const char *s, size_t n);

/* "key": */
void jsonw_key(struct buf *b, const char *key);

#endif
