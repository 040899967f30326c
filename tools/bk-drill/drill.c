/*
 * A drill, in order: verify the backup and checksum its tables; create the
 * scratch database; in a child process, build the backup's schema there
 * from its DDL, restore it with bk-restore's own code (Redis left out),
 * take a backup of the scratch database with bk-dump's own code and
 * checksum that; compare; drop the scratch database.
 *
 * The child does the work so that the parent, which only waits, can drop
 * the database whatever happens: the child failing, crashing, or a SIGINT
 * or SIGTERM (the parent then stops the child, drops, and dies of the
 * signal). A signal handler itself cannot talk to the server.
 */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "../bk-restore/restore.h"
#include "buf.h"
#include "drill.h"
#include "dump.h"
#include "fsafe.h"
#include "groups.h"
#include "pg.h"
#include "store.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static const int drill_signals[] = { SIGINT, SIGTERM, SIGHUP };

/* No SA_RESTART: a read or waitpid the signal interrupts returns EINTR. */
static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof drill_signals / sizeof *drill_signals; i++) {
		struct sigaction old;
		if (sigaction(drill_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue; /* nohup: stays ignored */
		sigaction(drill_signals[i], &sa, NULL);
	}
}

static void default_signals(void)
{
	for (size_t i = 0; i < sizeof drill_signals / sizeof *drill_signals; i++) {
		struct sigaction old;
		if (sigaction(drill_signals[i], NULL, &old) == 0 && old.sa_handler == on_signal)
			signal(drill_signals[i], SIG_DFL);
	}
}

static double since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Where the tables of the backup and of the read-back one part ways. */
static cJSON *compare(const struct digest *back, const struct digest *again, const cJSON *names, int *differ)
{
	cJSON *tables = cJSON_CreateObject();
	for (int i = 0; i < back->n; i++) {
		const struct dtable *b = back->t[i], *a = digest_find(again, b->key);
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(names, b->key);
		cJSON *o = cJSON_AddObjectToObject(tables, cJSON_IsString(name) ? name->valuestring : b->key);
		char hex[65];
		digest_hex(b, hex);
		bool ok = a && a->rows == b->rows && !memcmp(a->sum, b->sum, sizeof a->sum);
		cJSON_AddNumberToObject(o, "rows", (double)b->rows);
		cJSON_AddNumberToObject(o, "restoredRows", a ? (double)a->rows : 0);
		cJSON_AddStringToObject(o, "checksum", hex);
		cJSON_AddBoolToObject(o, "ok", ok);
		if (!ok) {
			(*differ)++;
			warnx("%s: %s", cJSON_IsString(name) ? name->valuestring : b->key,
			      !a		   ? "the table did not come back"
			      : a->rows != b->rows ? "a different number of rows came back"
						   : "the rows came back with different values");
		}
	}
	for (int i = 0; i < again->n; i++) /* rows the backup never held */
		if (!digest_find(back, again->t[i]->key) && again->t[i]->rows) {
			(*differ)++;
			warnx("%s: %lld rows that the backup does not hold", again->t[i]->key,
			      again->t[i]->rows);
		}
	return tables;
}

/* Tests only: says the restore is in, then waits to be killed. */
static void test_pause(const char *fifo, const char *db)
{
	if (!fifo)
		return;
	int fd = open(fifo, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		dprintf(fd, "restored %s\n", db);
		close(fd);
	}
	for (;;)
		pause();
}

/* The scratch database read back: a full backup of it, by bk-dump's code. */
static int read_back(const char *tmpdir, struct digest *again)
{
	/* every UserActivity row the restore put there, however old */
	setenv("BK_ACTIVITY_DAYS", "1000000", 1);
	struct dump_options d = { .dir = tmpdir, .no_redis = true, .id_prefix = "full" };
	cJSON *meta = NULL;
	int rc = dump_full(&d, &meta);
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(meta, "path");
	if (!rc && !cJSON_IsString(path))
		rc = EX_SOFTWARE;
	if (!rc) {
		struct verify_result res = { 0 };
		rc = digest_backup(path->valuestring, again, &res);
		if (rc && res.error[0])
			warnx("reading the scratch database back: %s", ESC(res.error));
		verify_result_free(&res);
	}
	cJSON_Delete(meta);
	return rc;
}

struct child_args {
	const struct drill_options *o;
	const char *db; /* the scratch database, or NULL ($BK_DRILL_DATABASE_URL) */
	const char *schema;
	const char *ddl;
	const char *tmpdir;
	const struct digest *back;
	const cJSON *names; /* metadata.tables: key -> table */
};

/* The child: the schema, the restore, the read-back, the comparison,
 * written as JSON to fd. Returns the exit status. */
static int child(const struct child_args *a, int fd)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pg_connect_to(a->db, a->schema);
	PGconn *conn = NULL;
	int rc = pg_connect(&conn);
	if (!rc)
		rc = scratch_ddl(conn, a->ddl);
	PQfinish(conn);
	cJSON *restored = NULL;
	if (!rc) {
		struct restore_options ro = {
			.path = a->o->path,
			.dir = a->o->dir,
			.skip = GROUP_REDIS,
			.yes = true,
			.no_safety_backup = true,
		};
		rc = restore_run(&ro, &restored);
		if (rc && rc != EX_UNAVAILABLE && rc != EX_IOERR)
			rc = EX_DATAERR; /* it would not even restore */
	}
	double restore_s = since(&t0);
	if (!rc)
		test_pause(a->o->test_fifo, a->db ? a->db : "");
	struct digest again = { 0 };
	if (!rc)
		rc = read_back(a->tmpdir, &again);
	int differ = 0;
	cJSON *o = cJSON_CreateObject();
	if (!rc) {
		cJSON_AddItemToObject(o, "tables", compare(a->back, &again, a->names, &differ));
		const cJSON *lost = cJSON_GetObjectItemCaseSensitive(restored, "acceptedLosses");
		differ += cJSON_GetArraySize(lost);
		if (differ)
			rc = EX_DATAERR;
	}
	cJSON_AddNumberToObject(o, "differences", differ);
	cJSON_AddNumberToObject(o, "restoreSeconds", restore_s);
	char *text = cJSON_PrintUnformatted(o);
	dprintf(fd, "%s", text);
	free(text);
	cJSON_Delete(o);
	cJSON_Delete(restored);
	digest_free(&again);
	return rc;
}

/* What the child left in tmpdir (its read-back backup), then tmpdir. */
static void remove_tmpdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(dir);
}

/*
 * Reads the child's report to its end and reaps it. The drill's signals
 * are blocked but for ppoll, so none is lost between a check and a wait:
 * one stops the child (the database is dropped by the caller).
 */
static int wait_child(pid_t pid, int fd, const sigset_t *waiting, struct buf *report)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char chunk[4096];
	while (!got_signal) {
		if (ppoll(&p, 1, NULL, waiting) < 0)
			continue; /* EINTR: got_signal says which */
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n <= 0)
			break;
		buf_add(report, chunk, (size_t)n);
	}
	if (got_signal)
		kill(pid, SIGTERM);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return EX_SOFTWARE;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (!got_signal)
		warnx("the restore died of signal %d", WTERMSIG(status));
	return EX_SOFTWARE;
}

static int run_child(const struct child_args *a, const sigset_t *old, struct buf *report)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		warn("pipe");
		return EX_OSERR;
	}
	pid_t parent = getpid(), pid = fork();
	if (pid < 0) {
		warn("fork");
		close(fds[0]);
		close(fds[1]);
		return EX_OSERR;
	}
	if (pid == 0) {
		close(fds[0]);
		default_signals();
		sigprocmask(SIG_SETMASK, old, NULL);
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* the parent killed: stop too */
		if (getppid() != parent)
			_exit(EX_SOFTWARE);
		int rc = child(a, fds[1]);
		fflush(stderr);
		_exit(rc); /* not exit(): the parent's connection is shared */
	}
	close(fds[1]);
	int rc = wait_child(pid, fds[0], old, report);
	close(fds[0]);
	return rc;
}

/* Gone, or emptied: the scratch database, whatever happened to the child. */
static int cleanup(PGconn *admin, const struct drill_options *o, const char *db, const char *schema)
{
	if (PQstatus(admin) != CONNECTION_OK)
		PQreset(admin);
	int rc = o->url ? scratch_clear(admin, schema) : scratch_drop(admin, db);
	if (rc)
		warnx(o->url ? "could not empty schema \"%s\" of BK_DRILL_DATABASE_URL"
			     : "could not drop the scratch database \"%s\": drop it by hand",
		      ESC(o->url ? schema : db));
	return rc;
}

/* The backup verified and checksummed, and what the drill needs of it. */
static int read_backup(const struct drill_options *o, struct digest *back, struct verify_result *res,
		       const char **ddl, const char **schema)
{
	struct backup_info info = { 0 };
	backup_info_read(o->path, &info); /* its head only: the type, before the rows */
	bool raffle = info.type && !strcmp(info.type, "raffle");
	if (raffle)
		warnx("%s is a raffle backup: a drill restores a full backup",
		      ESC(info.file_id ? info.file_id : o->path));
	backup_info_free(&info);
	if (raffle)
		return EX_USAGE;
	int rc = digest_backup(o->path, back, res);
	if (rc) {
		if (res->error[0])
			warnx("%s: %s", ESC(o->path), ESC(res->error));
		return rc;
	}
	if (strcmp(res->type, "full")) {
		warnx("%s is a %s backup: a drill restores a full backup", ESC(res->id), ESC(res->type));
		return EX_USAGE;
	}
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(res->schema, "name");
	*schema = cJSON_IsString(name) ? name->valuestring : "public";
	if (!(*ddl = verify_ddl(res))) {
		const char *why = verify_ddl_error(res);
		warnx("%s holds no DDL (%s): a drill builds its database from it; take a new "
		      "backup with bk-dump",
		      ESC(res->id), ESC(why ? why : "a format 1.0 backup"));
		return EX_DATAERR;
	}
	return 0;
}

/* The child's run, in a temporary directory of its own for the read-back. */
static int in_scratch(struct child_args *a, const sigset_t *old, struct buf *report)
{
	const char *tmp = getenv("TMPDIR");
	char tmpdir[4096];
	snprintf(tmpdir, sizeof tmpdir, "%s/bk-drill.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpdir)) {
		warn("cannot create a temporary directory in %s", ESC(tmp && *tmp ? tmp : "/tmp"));
		return EX_CANTCREAT;
	}
	a->tmpdir = tmpdir;
	int rc = run_child(a, old, report);
	remove_tmpdir(tmpdir);
	return rc;
}

static cJSON *summary(const struct verify_result *res, const char *path, const char *db, struct buf *report,
		      bool cleaned, double seconds)
{
	cJSON *o = cJSON_ParseWithLength(report->data ? report->data : "", report->len);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		o = cJSON_CreateObject();
	}
	cJSON_AddStringToObject(o, "backup", res->id);
	cJSON_AddStringToObject(o, "path", path);
	cJSON_AddStringToObject(o, "database", db);
	cJSON_AddBoolToObject(o, "cleanedUp", cleaned);
	cJSON_AddStringToObject(o, "redis", "not restored");
	cJSON_AddNumberToObject(o, "seconds", seconds);
	return o;
}

int drill_run(const struct drill_options *o, cJSON **out)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct digest back = { 0 };
	struct verify_result res = { 0 };
	const char *ddl = NULL, *schema = NULL;
	*out = NULL;
	int rc = read_backup(o, &back, &res, &ddl, &schema);
	if (rc) {
		digest_free(&back);
		verify_result_free(&res);
		return rc;
	}
	char db[64];
	snprintf(db, sizeof db, "bk_drill_%ld_%lld", (long)getpid(), (long long)time(NULL));
	if (o->url) /* also what config_scrub keeps out of messages */
		setenv("DATABASE_URL", o->url, 1);
	sigset_t block, old;
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof drill_signals / sizeof *drill_signals; i++)
		sigaddset(&block, drill_signals[i]);
	catch_signals();
	sigprocmask(SIG_BLOCK, &block, &old); /* until the database is gone */
	PGconn *admin = NULL;
	bool created = false, cleaned = false;
	rc = pg_connect(&admin);
	if (!rc && !o->url)
		scratch_sweep(admin);
	if (!rc)
		rc = o->url ? scratch_check_empty(admin, schema) : scratch_create(admin, db);
	if (!rc) {
		created = true;
		struct buf report = { 0 };
		struct child_args a = { o,
					o->url ? NULL : db,
					schema,
					ddl,
					NULL,
					&back,
					cJSON_GetObjectItemCaseSensitive(res.meta, "tables") };
		rc = in_scratch(&a, &old, &report);
		int crc = cleanup(admin, o, db, schema);
		cleaned = !crc;
		if (!got_signal)
			*out = summary(&res, o->path, o->url ? PQdb(admin) : db, &report, cleaned,
				       since(&t0));
		if (!rc && crc)
			rc = crc;
		buf_free(&report);
	}
	PQfinish(admin);
	digest_free(&back);
	verify_result_free(&res);
	sigprocmask(SIG_SETMASK, &old, NULL); /* a pending signal is caught now */
	if (got_signal) {
		warnx("stopped by signal %d: %s", (int)got_signal,
		      !created	 ? "nothing was created"
		      : !cleaned ? "the scratch database is left behind (above)"
		      : o->url	 ? "BK_DRILL_DATABASE_URL is empty again"
				 : "the scratch database is gone");
		signal(got_signal, SIG_DFL);
		raise(got_signal);
	}
	return rc;
}
