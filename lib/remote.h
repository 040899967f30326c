/*
 * The backups in the bucket (bk-push(1)), under the name they are stored
 * under locally (<id>.json, <id>.json.zst, <id>.json.gz): <name> with
 * <name>.sha256, or, encrypted, <name>.gpg with <name>.gpg.sha256 (of the
 * encrypted bytes) and <name>.sha256 (of the stored backup). A backup is
 * whole once its last checksum object is there: bk-push uploads it last.
 */
#ifndef BK_REMOTE_H
#define BK_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "ids.h"
#include "s3.h"

struct remote_backup {
	char id[ID_MAX];
	char raffle_id[ID_MAX]; /* raffle backups: raffle_<raffleId>_<ms> */
	const char *type;	/* "full", "raffle", "manual" */
	int64_t ts_ms;		/* the id's epoch ms, else LastModified */
	long long size;		/* of the backup object */
	const char *stored;	/* ".json", ".json.zst" or ".json.gz" (store_suffixes) */
	bool encrypted;		/* <id><stored>.gpg */
	bool whole;		/* its checksum object is there */
	bool plain_sum;		/* <id><stored>.sha256 is there */
};

/* The name the backup is stored under, in the bucket and locally: <id><stored>. */
void remote_stored_name(const struct remote_backup *b, char *name, size_t len);

/* The backup object's name: <id><stored>, or <id><stored>.gpg. */
void remote_object(const struct remote_backup *b, char *name, size_t len);

/* "none", "zstd" or "gzip": what the stored name says. */
const char *remote_compression(const struct remote_backup *b);

/* Every backup in the bucket, newest first; type filters ("full", "raffle", NULL). */
int remote_list(struct s3 *s, const char *type, struct remote_backup **list, size_t *n);

/*
 * An id or alias (latest, full_latest, raffle_latest, raffle_<id>_latest)
 * resolved against the bucket's whole backups into *b. EX_USAGE for a
 * malformed id, EX_NOINPUT (after saying so) when the bucket has none.
 */
int remote_resolve(struct s3 *s, const char *arg, struct remote_backup *b);

/* Reads a sha256sum line ("<64 hex>  name") into hex[65]; -1 if it is not one. */
int sha256_line(const char *line, char *hex);

#endif
