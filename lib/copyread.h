/*
 * Reading a COPY TO STDOUT stream in a thread of its own, a few chunks
 * ahead of the caller, so that the server keeps sending while the rows
 * already received are converted (the README's Benchmark: the two overlap).
 */
#ifndef BK_COPYREAD_H
#define BK_COPYREAD_H

#include <libpq-fe.h>

#include "buf.h"

struct copy_reader;

/* Starts reading conn, which must be in the COPY OUT state; 0 or -1. */
int copy_reader_start(PGconn *conn, struct copy_reader **reader);

/*
 * The next chunk of whole rows, each ending in '\n', or NULL when the
 * stream has ended. The chunk is the caller's until the next call.
 */
const struct buf *copy_reader_next(struct copy_reader *reader);

/*
 * Waits for the thread and frees the reader. Returns PQgetCopyData's last
 * result: -1 for a stream that ended well, -2 for an error.
 */
int copy_reader_finish(struct copy_reader *reader);

#endif
