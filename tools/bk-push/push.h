/*
 * One backup up to the bucket, as bk-push does it: the stored file (or gpg's
 * output) hashed as it streams, skipped when the bucket already holds it
 * whole, its checksum objects written last so that a backup with them is
 * whole.
 */
#ifndef BK_PUSH_H
#define BK_PUSH_H

#include <cjson/cJSON.h>

struct push {
	struct s3 *s3;
	const char *recipient; /* BK_GPG_RECIPIENT or NULL */
	cJSON *pushed, *skipped;
	long long bytes;
};

/* Pushes the backup stored at path (id: its id); adds it to p->pushed or
 * p->skipped. 0 or an exit status after saying what failed. */
int push_one(struct push *p, const char *path, const char *id);

#endif
