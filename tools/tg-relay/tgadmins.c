#include <err.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "config.h"
#include "pg.h"
#include "tgadmins.h"

struct tgadmins {
	struct guard *g;
	long period;
	pthread_t thread;
	volatile sig_atomic_t stop;
};

int tgadmins_read(struct guard *g)
{
	PGconn *conn;
	int rc = pg_connect(&conn);
	PGresult *res = NULL;
	if (!rc)
		rc = pg_command(conn, "SET statement_timeout = '10s'");
	if (!rc) {
		res = PQexec(conn, "SELECT \"telegramUserId\"::text FROM \"Admin\"");
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			rc = pg_fail(conn, "cannot read the Admin table");
	}
	int n = rc ? 0 : PQntuples(res), k = 0;
	long long *ids = calloc((size_t)n + 1, sizeof *ids);
	for (int i = 0; ids && i < n; i++) {
		long v;
		if (parse_long(PQgetvalue(res, i, 0), 1, 9007199254740991L, &v) == 0)
			ids[k++] = v;
	}
	guard_set_db_admins(g, ids, ids ? k : 0);
	free(ids);
	PQclear(res);
	PQfinish(conn);
	if (rc)
		warnx("admins from the Admin table: none until the next read (exit %d)", rc);
	return rc;
}

static void *loop(void *arg)
{
	struct tgadmins *a = arg;
	while (!a->stop) {
		for (long ms = a->period * 1000; ms > 0 && !a->stop; ms -= 100)
			nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
		if (!a->stop)
			tgadmins_read(a->g);
	}
	return NULL;
}

struct tgadmins *tgadmins_start(struct guard *g, long period)
{
	struct tgadmins *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->g = g;
	a->period = period;
	if (pthread_create(&a->thread, NULL, loop, a) != 0) {
		free(a);
		return NULL;
	}
	return a;
}

void tgadmins_stop(struct tgadmins *a)
{
	if (!a)
		return;
	a->stop = 1;
	pthread_join(a->thread, NULL);
	free(a);
}
