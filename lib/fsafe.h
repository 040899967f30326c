/*
 * Defences against a hostile backup directory, signals and input: opening
 * only regular files, removing temporary files when a signal ends a writer,
 * sweeping what a killed writer left, escaping what is quoted in messages.
 */
#ifndef BK_FSAFE_H
#define BK_FSAFE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A backup dated further ahead of this clock than this is "in the future". */
#define FSAFE_FUTURE_MS (5 * 60 * 1000LL)

/*
 * Opens path (flags as for open(2)) only if it is a regular file: never
 * follows a symbolic link in the last component (nor creates its target
 * with O_CREAT), never blocks on a FIFO or device. Returns the descriptor
 * (blocking, close-on-exec), or -1 with errno set; *why then names what the
 * path is when it exists but is no regular file ("a symbolic link", "a
 * FIFO", ...), NULL for an ordinary failure (errno).
 */
int fsafe_open(const char *path, int flags, mode_t mode, const char **why);

/* The same test without opening: 0 when path is a regular file (lstat). */
int fsafe_regular(const char *path, const char **why);

/* Says, once, on stderr, that path is skipped because it is "why". */
void fsafe_skip(const char *path, const char *why);

/*
 * Copies s into out (size bytes) with control characters (C0, DEL, C1)
 * written as \n, \t, \xNN, so that what comes from a file or the command
 * line cannot drive the terminal. Cut with "..." when too long. Returns out.
 */
char *fsafe_esc(char *out, size_t size, const char *s);
#define FSAFE_ESC_MAX 1024
/* fsafe_esc into a buffer that lives until the end of the enclosing block. */
#define ESC(s) fsafe_esc((char[FSAFE_ESC_MAX]){ 0 }, FSAFE_ESC_MAX, (s))

/*
 * path is a temporary file (one of any number) that a SIGTERM, SIGINT or SIGHUP must not leave
 * behind: the first call installs handlers that remove every tracked file
 * and then let the signal end the process (exit status 128+n). untrack once
 * the file is renamed or removed. Call both from one thread.
 */
void fsafe_tmp_track(const char *path);
void fsafe_tmp_untrack(const char *path);

/*
 * Whether name is what a killed writer leaves: ".<id>.json.tmp-XXXXXX"
 * (out_open_path; also .json.zst) or "<id>.json.sha256.tmp-XXXXXX"
 * (write_file_atomic; also .json.zst.sha256, .json.gz.sha256);
 * *id gets the backup's id (ID_MAX bytes).
 */
bool fsafe_temp_name(const char *name, char *id);

/*
 * Removes the temporary files of dir whose backup id starts with prefix
 * ("full_", "raffle_"): for a caller that holds the backup lock, which
 * every writer of the directory holds, so no live process writes them.
 * Returns how many were removed.
 */
int fsafe_sweep_temps(const char *dir, const char *prefix);

/*
 * Root writing into a directory that belongs to another user (the bot's
 * user, bk) hands what it creates there to that user, so that the user's
 * own jobs can still read and replace it: fd (a file, or a directory just
 * made) gets the owner and group of dir. Says so on stderr, once. Does
 * nothing for any other user, or in a directory root owns. Returns 0, or
 * -1 after saying why the file could not be given.
 */
int fsafe_give(int fd, const char *dir);

/* A user's name, or the number when it has none; into buf, returned. */
const char *fsafe_user(uid_t uid, char *buf, size_t len);

/*
 * Whether a user who is not root may write in dir, a backup directory that
 * exists: only its owner may (files it makes are 0600, which would lock
 * the owner's jobs out). 0, or EX_NOPERM after saying whom to run as.
 */
int fsafe_owner_check(const char *dir);

/* Whether a backup dated ts_ms is in the future of this clock (now_ms). */
bool fsafe_future(int64_t ts_ms, int64_t now);

#endif
