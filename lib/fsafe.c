#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsafe.h"
#include "xalloc.h"
#include "ids.h"
#include "store.h"

static const char *kind(mode_t m)
{
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

int fsafe_open(const char *path, int flags, mode_t mode, const char **why)
{
	*why = NULL;
	/* O_NONBLOCK: opening a FIFO with no writer would wait forever */
	int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
	if (fd < 0) {
		struct stat st;
		int e = errno;
		if (e == ELOOP || e == ENXIO || e == EISDIR || e == ENOTDIR) {
			if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
				*why = kind(st.st_mode);
		}
		errno = e;
		return -1;
	}
	struct stat st;
	int bad = fstat(fd, &st) < 0 ? errno : 0;
	if (!bad && !S_ISREG(st.st_mode)) {
		*why = kind(st.st_mode);
		bad = EINVAL;
	}
	if (bad) {
		close(fd);
		errno = bad;
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int fsafe_regular(const char *path, const char **why)
{
	struct stat st;
	*why = NULL;
	if (lstat(path, &st) < 0)
		return -1;
	if (S_ISREG(st.st_mode))
		return 0;
	*why = kind(st.st_mode);
	errno = EINVAL;
	return -1;
}

void fsafe_skip(const char *path, const char *why)
{
	warnx("%s: %s, not a regular file: skipped", ESC(path), why);
}

char *fsafe_esc(char *out, size_t size, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)(s ? s : "(null)");
	for (; *p; p++) {
		char e[5];
		size_t n = 0;
		unsigned c = *p;
		if (c == '\n' || c == '\t' || c == '\r' || c == '\\') {
			e[n++] = '\\';
			e[n++] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : '\\';
		} else if (c < 0x20 || c == 0x7f || (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
			if (c == 0xc2) /* a C1 control in UTF-8: U+0080..U+009F */
				c = *++p;
			e[n++] = '\\';
			e[n++] = 'x';
			e[n++] = hex[c >> 4];
			e[n++] = hex[c & 15];
		} else {
			e[n++] = (char)c;
		}
		if (o + n + 4 > size) { /* room is always left for "...\0" */
			memcpy(out + o, "...", 4);
			return out;
		}
		memcpy(out + o, e, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}

/*
 * The tracked temporary files. Paths are copied before the slot is marked
 * used, so that a handler never reads a half-written one.
 */
#define TMP_SLOTS 8
static char tmp_paths[TMP_SLOTS][PATH_MAX];
static volatile sig_atomic_t tmp_used[TMP_SLOTS];

/*
 * Beyond the slots (bk-export keeps one temporary file per table until the
 * backup is whole): a list that only grows, each node whole before the head
 * points to it, so the handler can walk it at any moment. Unused nodes are
 * reused for paths that fit.
 */
struct tmp_node {
	struct tmp_node *next;
	volatile sig_atomic_t used;
	size_t cap;
	char path[];
};
static struct tmp_node *volatile tmp_more;

static void on_signal(int sig)
{
	int e = errno;
	for (int i = 0; i < TMP_SLOTS; i++)
		if (tmp_used[i])
			unlink(tmp_paths[i]);
	for (struct tmp_node *n = tmp_more; n; n = n->next)
		if (n->used)
			unlink(n->path);
	errno = e;
	/* SA_RESETHAND made the action the default one again: this ends us */
	raise(sig);
}

static void install(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESETHAND };
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGHUP);
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
		struct sigaction old;
		/* a signal the caller chose to ignore (nohup) stays ignored, and one
		 * the program handles itself (tg-relay, bk-raffle --watch: they
		 * finish what they write, then stop) stays the program's */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_DFL)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
}

void fsafe_tmp_track(const char *path)
{
	if (strlen(path) >= PATH_MAX)
		return;
	install();
	for (int i = 0; i < TMP_SLOTS; i++)
		if (!tmp_used[i]) {
			strcpy(tmp_paths[i], path);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			tmp_used[i] = 1;
			return;
		}
	size_t len = strlen(path);
	for (struct tmp_node *n = tmp_more; n; n = n->next)
		if (!n->used && n->cap > len) {
			memcpy(n->path, path, len + 1);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			n->used = 1;
			return;
		}
	struct tmp_node *n = xmalloc(sizeof *n + len + 1);
	n->cap = len + 1;
	memcpy(n->path, path, len + 1);
	n->used = 1;
	n->next = tmp_more;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	tmp_more = n;
}

void fsafe_tmp_untrack(const char *path)
{
	for (int i = 0; i < TMP_SLOTS; i++)
		if (tmp_used[i] && !strcmp(tmp_paths[i], path)) {
			tmp_used[i] = 0;
			return;
		}
	for (struct tmp_node *n = tmp_more; n; n = n->next)
		if (n->used && !strcmp(n->path, path)) {
			n->used = 0;
			return;
		}
}

bool fsafe_temp_name(const char *name, char *id)
{
	size_t n = strlen(name);
	if (n < 11 || strncmp(name + n - 11, ".tmp-", 5))
		return false;
	for (size_t i = n - 6; i < n; i++)
		if (!((name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= '0' && name[i] <= '9')))
			return false;
	char base[ID_MAX + 16];
	const char *from = name + (*name == '.');
	size_t len = (size_t)(name + n - 11 - from);
	if (len >= sizeof base)
		return false;
	memcpy(base, from, len);
	base[len] = '\0';
	if (*name == '.' && store_file_id(base, id)) /* .<id>.json[.zst].tmp-XXXXXX */
		return true;
	/* <id>.json[.zst|.gz].sha256.tmp-XXXXXX: its checksum */
	len = strlen(base);
	if (len <= 7 || strcmp(base + len - 7, ".sha256"))
		return false;
	base[len - 7] = '\0';
	return store_file_id(base, id) != 0;
}

int fsafe_sweep_temps(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char id[ID_MAX], path[PATH_MAX];
		struct stat st;
		if (!fsafe_temp_name(e->d_name, id) || strncmp(id, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) == 0)
			removed++;
	}
	closedir(d);
	if (removed)
		warnx("removed %d temporary file%s left by an interrupted %s backup in %s", removed,
		      removed > 1 ? "s" : "", prefix[0] == 'r' ? "raffle" : "full", ESC(dir));
	return removed;
}

bool fsafe_future(int64_t ts_ms, int64_t now)
{
	return ts_ms > now + FSAFE_FUTURE_MS;
}

const char *fsafe_user(uid_t uid, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(uid);
	if (pw)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "%lu", (unsigned long)uid);
	return buf;
}

int fsafe_give(int fd, const char *dir)
{
	static bool said;
	struct stat st;
	if (geteuid() != 0 || stat(dir, &st) < 0 || st.st_uid == 0)
		return 0;
	char name[64];
	if (fchown(fd, st.st_uid, st.st_gid) < 0) {
		warn("cannot give a file in %s to its owner %s", ESC(dir),
		     fsafe_user(st.st_uid, name, sizeof name));
		return -1;
	}
	if (!said)
		warnx("%s belongs to %s: the files written there are given to %s "
		      "(better: run as %s, sudo -u %s ...)",
		      ESC(dir), fsafe_user(st.st_uid, name, sizeof name), name, name, name);
	said = true;
	return 0;
}

int fsafe_owner_check(const char *dir)
{
	struct stat st;
	uid_t me = geteuid();
	if (me == 0 || stat(dir, &st) < 0 || st.st_uid == me)
		return 0;
	char owner[64], self[64];
	fsafe_user(st.st_uid, owner, sizeof owner);
	fsafe_user(me, self, sizeof self);
	if (st.st_uid == 0)
		warnx("BACKUP_DIR %s is owned by root; run as root, or give it to %s: "
		      "sudo chown -R %s: %s",
		      ESC(dir), self, self, ESC(dir));
	else
		warnx("BACKUP_DIR %s is owned by %s; run as %s: sudo -u %s %s ...", ESC(dir), owner, owner,
		      owner, program_invocation_short_name);
	return EX_NOPERM;
}
