/* Runs a tool with fork/execve (never a shell), capturing its output. */
#ifndef BK_SPAWN_H
#define BK_SPAWN_H

#include <stdbool.h>
#include <stddef.h>

struct spawn_result {
	char *out; /* stdout, NUL-terminated (capped at SPAWN_OUT_MAX) */
	size_t out_len;
	char *err; /* stderr, NUL-terminated (capped at SPAWN_ERR_MAX) */
	size_t err_len;
	int status;	/* exit status; 128+N when killed by signal N; 127: could not exec */
	bool timed_out; /* stopped at its time limit (status then 128+SIGTERM or +SIGKILL) */
};

#define SPAWN_OUT_MAX (16u << 20) /* bk-list of a huge directory still fits */
#define SPAWN_ERR_MAX (64u << 10)

/*
 * Runs path with argv and envp, stdin from /dev/null, and waits for it.
 * Output beyond the caps is read and dropped so the child never blocks.
 * With limit_s > 0 the child gets SIGTERM after limit_s seconds (the bk
 * tools then remove what they were writing), and SIGKILL SPAWN_KILL_GRACE
 * seconds later if it still runs, as timeout -k does; r->timed_out says so.
 * Returns 0 when the child ran (see r->status), -1 with errno when it could
 * not be started. Safe to call from a thread: the child only calls
 * async-signal-safe functions before execve.
 */
#define SPAWN_KILL_GRACE 30
int spawn_run(const char *path, char *const argv[], char *const envp[], long limit_s, struct spawn_result *r);

void spawn_free(struct spawn_result *r);

/*
 * Where the bk tools live: $BK_BIN_DIR, else the directory of the running
 * binary (/proc/self/exe), so an installed relay runs the tools installed
 * beside it and never ones found through $PATH. Returns 0 or -1.
 */
int spawn_bin_dir(char *buf, size_t len);

#endif
