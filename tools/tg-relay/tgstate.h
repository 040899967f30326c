/* The relay's getUpdates offset, kept in a file so a restart never runs a
 * command twice (tg-relay(1)). */
#ifndef BK_TGSTATE_H
#define BK_TGSTATE_H

/* Reads the offset; a missing file is offset 0. Returns 0, or -1 with
 * errno (EINVAL: the file does not hold a number). */
int tgstate_load(const char *path, long long *offset);

/* Writes the offset atomically (temporary file, fsync, rename, fsync of the
 * directory), mode 0600. Returns 0 or -1 with errno. */
int tgstate_save(const char *path, long long offset);

#endif
