/* Backup ids and raffle ids: validated before any file or query (bk-backup(5), bk(7)). */
#ifndef BK_IDS_H
#define BK_IDS_H

#include <stdbool.h>

#define ID_MAX 160 /* "raffle_" + 128 + "_" + ms, with room to spare */

/* ^(full|raffle|manual)_[A-Za-z0-9_-]{1,128}$ */
bool id_valid(const char *id);

/* The aliases (bk-backup(5)): latest, full_latest, raffle_latest, raffle_<id>_latest. */
bool id_is_alias(const char *id);

/* A raffle id as bk accepts it: [A-Za-z0-9_-]{1,128}. */
bool raffle_id_valid(const char *raffle_id);

/*
 * The backup id of a file name "<id><suffix>" (".json", ".json.sha256")
 * into id (ID_MAX bytes); false for any other name.
 */
bool id_of_file_name(const char *name, const char *suffix, char *id);

#endif
