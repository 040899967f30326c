/* The backup directory: its place, its lock, its backups (bk-backup(5), bk(7)). */
#ifndef BK_STORE_H
#define BK_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* $BACKUP_DIR (default ./backups), created 0700 if missing. 0 or EX_CANTCREAT. */
int store_dir(const char **dir);

/*
 * $BACKUP_DIR for reading only: never created. 0, or EX_NOINPUT when it is
 * something else than a directory; a missing one lists as empty.
 */
int store_dir_read(const char **dir);

/*
 * Takes the one lock of the backup directory, waiting up to wait_seconds.
 * Returns 0 with *fd holding it, or EX_TEMPFAIL (another job has it) or
 * EX_CANTCREAT, after saying so. The lock goes with the process.
 */
int store_lock(const char *dir, long wait_seconds, int *fd);

/* The same for another lock of the directory, the file <dir>/<name>. */
int store_lock_named(const char *dir, const char *name, long wait_seconds, int *fd);

/*
 * The names a backup is stored under: <id>.json, <id>.json.zst (zstd) and
 * <id>.json.gz (gzip, made by hand); readers tell the kind by the bytes.
 */
extern const char *const store_suffixes[];

/* The backup id of a file name <id><one of store_suffixes> into id (ID_MAX
 * bytes): the suffix's length, or 0 for any other name. */
size_t store_file_id(const char *name, char *id);

/* What the head of a backup file says about it. */
struct backup_info {
	char *id, *type, *timestamp, *raffle_id, *path;
	char *file_id; /* the id in the file's name (what the tools are given) */
	int64_t ts_ms; /* timestamp as epoch ms; mtime if unreadable */
	off_t size;
	long long rows;	       /* the sum of the metadata's rowCounts, or -1 */
	bool checksum;	       /* <file>.sha256 exists */
	const char *stored_as; /* "json", "zstd" or "gzip" */
	bool future;	       /* dated more than FSAFE_FUTURE_MS ahead of this clock */
	char *error;	       /* why it is corrupt, or NULL */
};

/*
 * Reads the metadata of the backup at path from its first bytes only
 * (decompressing only those when it is compressed).
 * Returns 0; a file that is not a readable backup gets info->error set.
 */
int backup_info_read(const char *path, struct backup_info *info);
void backup_info_free(struct backup_info *info);

/*
 * Every backup in dir (<id>.json, .json.zst, .json.gz) whose name is a valid id, newest first by metadata
 * timestamp. type filters ("full", "raffle" or NULL). Temporary files and
 * other names are skipped, and so, with a warning, are entries that are not
 * regular files (a symlink, a FIFO that would hang a reader, a directory).
 * Returns 0 or EX_NOINPUT/EX_IOERR.
 */
int store_list(const char *dir, const char *type, struct backup_info **list, size_t *n);
void store_list_free(struct backup_info *list, size_t n);

/*
 * Turns what the operator typed into a path: "-" stays "-", anything with a
 * '/' is a path, an alias names the newest match, an id names <dir>/<id>.json
 * (or <id>.json.zst, <id>.json.gz: the first that exists; a regular file: not
 * a symlink, not a FIFO). Returns 0 with *path malloc'd, EX_USAGE for a
 * malformed id, EX_NOINPUT when there is no such backup (after saying so).
 */
int store_resolve(const char *dir, const char *arg, char **path);

#endif
