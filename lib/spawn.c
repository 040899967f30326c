#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "profile.h"
#include "spawn.h"

struct sink {
	int fd;
	struct buf b;
	size_t max;
};

/* Reads what is there; returns 0 at EOF, 1 when more may come, -1 on error. */
static int drain(struct sink *s)
{
	char chunk[8192];
	ssize_t n = read(s->fd, chunk, sizeof chunk);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	if (n == 0)
		return 0;
	size_t keep = (size_t)n;
	if (s->b.len + keep > s->max)
		keep = s->max - s->b.len; /* drop the rest, keep reading */
	buf_add(&s->b, chunk, keep);
	return 1;
}

/* What the time limit has done so far. */
struct limit {
	pid_t pid;
	double term_at, kill_at; /* monotonic seconds, or 0: never */
	bool termed, killed;
};

/* poll's timeout until the next signal is due, signalling what is due now. */
static int limit_tick(struct limit *l)
{
	if (!l->term_at || l->killed)
		return -1;
	double now = prof_now();
	if (!l->termed && now >= l->term_at) {
		kill(l->pid, SIGTERM);
		l->termed = true;
	}
	if (l->termed && now >= l->kill_at) {
		kill(l->pid, SIGKILL);
		l->killed = true;
		return -1;
	}
	double next = l->termed ? l->kill_at : l->term_at;
	return (int)((next - now) * 1000) + 1;
}

static int collect(struct sink *out, struct sink *err, struct limit *l)
{
	struct sink *sinks[2] = { out, err };
	int open = 2;
	while (open > 0) {
		struct pollfd pfd[2];
		for (int i = 0; i < 2; i++)
			pfd[i] = (struct pollfd){ .fd = sinks[i]->fd, .events = POLLIN };
		int wait_ms = limit_tick(l);
		if (l->killed) /* what it left running may hold the pipes: stop reading */
			return 0;
		int n = poll(pfd, 2, wait_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int rc = drain(sinks[i]);
			if (rc < 0)
				return -1;
			if (rc == 0) {
				close(sinks[i]->fd);
				sinks[i]->fd = -1;
				open--;
			}
		}
	}
	return 0;
}

/* In the child: only async-signal-safe calls from here to execve. */
static void child(const char *path, char *const argv[], char *const envp[], int out, int err)
{
	static const char msg[] = "cannot execute the tool\n";
	int in = open("/dev/null", O_RDONLY);
	if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(127);
	execve(path, argv, envp);
	(void)!write(2, msg, sizeof msg - 1);
	_exit(127);
}

int spawn_run(const char *path, char *const argv[], char *const envp[], long limit_s, struct spawn_result *r)
{
	int po[2], pe[2];
	memset(r, 0, sizeof *r);
	if (pipe2(po, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0)
		child(path, argv, envp, po[1], pe[1]);
	close(po[1]);
	close(pe[1]);
	if (pid < 0) {
		int e = errno;
		close(po[0]);
		close(pe[0]);
		errno = e;
		return -1;
	}
	struct sink out = { .fd = po[0], .max = SPAWN_OUT_MAX };
	struct sink err = { .fd = pe[0], .max = SPAWN_ERR_MAX };
	struct limit l = { .pid = pid };
	if (limit_s > 0) {
		l.term_at = prof_now() + (double)limit_s;
		/* BK_TEST_KILL_GRACE shortens the grace, so that a test sees the SIGKILL */
		l.kill_at = l.term_at + (double)config_test_knob("BK_TEST_KILL_GRACE", SPAWN_KILL_GRACE, 0,
								 SPAWN_KILL_GRACE);
	}
	int rc = collect(&out, &err, &l);
	if (out.fd >= 0)
		close(out.fd);
	if (err.fd >= 0)
		close(err.fd);
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (rc < 0) {
		int e = errno;
		buf_free(&out.b);
		buf_free(&err.b);
		errno = e;
		return -1;
	}
	buf_cstr(&out.b);
	buf_cstr(&err.b);
	*r = (struct spawn_result){ .out = out.b.data,
				    .out_len = out.b.len,
				    .err = err.b.data,
				    .err_len = err.b.len,
				    .status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws),
				    .timed_out = l.termed };
	return 0;
}

void spawn_free(struct spawn_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
	r->out_len = r->err_len = 0;
}

int spawn_bin_dir(char *buf, size_t len)
{
	const char *dir = getenv("BK_BIN_DIR");
	if (dir && *dir) {
		if (strlen(dir) >= len)
			return -1;
		strcpy(buf, dir);
		return 0;
	}
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	if (n <= 0 || (size_t)n >= len - 1)
		return -1;
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	return 0;
}
