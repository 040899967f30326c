/*
 * Raffle backups (bk-backup(5), bk-raffle(1)): one raffle with the rows of every table
 * that references it nested in it, read in one snapshot.
 */
#ifndef BK_RAFFLEDUMP_H
#define BK_RAFFLEDUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "pg.h"

/*
 * The longest raffle id that still makes a valid backup id:
 * "raffle_" + id + "_" + 13 digits of epoch ms within the 128 characters bk-backup(5) allows.
 */
#define RAFFLE_ID_BACKUP_MAX 114

/* raffle_id_valid, and short enough for a backup id. */
bool raffle_backup_id_valid(const char *raffle_id);

/*
 * Backs up the raffle raffle_id (already checked with raffle_id_valid) into
 * dir (zstd-compressed at zlevel unless 0), in its own REPEATABLE READ READ
 * ONLY transaction. On success *meta is the metadata plus path, size and
 * sha256; the metadata says whether a Winner row existed (winnerDrawn) and
 * how long after the raffle's end the snapshot was taken (raffleEndTime,
 * raffleEnded, secondsAfterEnd). Returns 0, EX_NOINPUT when there
 * is no such raffle (no file is made), EX_DATAERR for an id that fails
 * raffle_backup_id_valid, or another sysexits code after saying what failed.
 */
int raffle_backup(PGconn *conn, const struct pg_schema *s, const char *dir, const char *raffle_id, int zlevel,
		  cJSON **meta);

/*
 * The raffles --ended must back up, oldest end first: endTime passed
 * (winner drawn or not) and no whole raffle backup in dir with a metadata
 * timestamp after the endTime. *ids is a malloc'd array of malloc'd strings.
 */
int raffle_ended(PGconn *conn, const struct pg_schema *s, const char *dir, char ***ids, size_t *n);

void raffle_ids_free(char **ids, size_t n);

#endif
