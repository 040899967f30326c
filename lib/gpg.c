#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "gpg.h"

extern char **environ;

/* gpg needs none of the AWS credentials: its environment goes without them. */
static char **clean_env(void)
{
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 1, sizeof *env);
	if (!env)
		err(EX_SOFTWARE, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "AWS_SECRET_ACCESS_KEY=", 22) &&
		    strncmp(environ[i], "AWS_SESSION_TOKEN=", 18))
			env[k++] = environ[i];
	return env;
}

static int start(struct gpg *g, int in, char *const argv[])
{
	int pipefd[2];
	int report[2]; /* execvp's errno, when it fails, comes back here */
	g->pid = -1;
	g->out = -1;
	if (pipe2(pipefd, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0) {
		warn("gpg: cannot make a pipe");
		return EX_OSERR;
	}
	char **env = clean_env();
	g->pid = fork();
	if (g->pid == 0) {
		if (dup2(in, 0) < 0 || dup2(pipefd[1], 1) < 0)
			_exit(127);
		environ = env;
		execvp("gpg", argv);
		int e = errno;
		(void)!write(report[1], &e, sizeof e);
		_exit(127);
	}
	free(env);
	close(pipefd[1]);
	close(report[1]);
	int e = 0;
	if (g->pid < 0)
		e = errno;
	else if (read(report[0], &e, sizeof e) != sizeof e)
		e = 0;
	close(report[0]);
	if (e) {
		errno = e;
		warn("cannot run gpg (install gnupg)");
		close(pipefd[0]);
		if (g->pid > 0)
			waitpid(g->pid, NULL, 0);
		g->pid = -1;
		return EX_UNAVAILABLE;
	}
	g->out = pipefd[0];
	return 0;
}

int gpg_encrypt(struct gpg *g, int in, const char *recipient)
{
	/* --trust-model always: the key was put in the keyring on purpose to
	 * encrypt to it; gpg would otherwise ask whether to trust it */
	char *argv[] = { "gpg",		  "--batch", "--no-tty",  "--quiet",	 "--yes",
			 "--trust-model", "always",  "--encrypt", "--recipient", (char *)recipient,
			 "--output",	  "-",	     NULL };
	g->what = "encrypt";
	return start(g, in, argv);
}

int gpg_decrypt(struct gpg *g, int in)
{
	char *argv[] = {
		"gpg", "--batch", "--no-tty", "--quiet", "--yes", "--decrypt", "--output", "-", NULL
	};
	g->what = "decrypt";
	return start(g, in, argv);
}

int gpg_finish(struct gpg *g)
{
	int status = 0;
	if (g->out >= 0)
		close(g->out);
	g->out = -1;
	if (g->pid <= 0)
		return 0;
	while (waitpid(g->pid, &status, 0) < 0 && errno == EINTR)
		;
	g->pid = -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (!strcmp(g->what, "encrypt")) {
		warnx("gpg could not encrypt (is BK_GPG_RECIPIENT's public key in the keyring?)");
		return EX_USAGE;
	}
	warnx("gpg could not decrypt (is the secret key in the keyring? is the copy damaged?)");
	return EX_DATAERR;
}
