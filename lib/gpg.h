/*
 * gpg as a filter for the off-site copies (BK_GPG_RECIPIENT): started with
 * posix_spawn (no shell), reading a file descriptor, its output a pipe.
 */
#ifndef BK_GPG_H
#define BK_GPG_H

#include <sys/types.h>

struct gpg {
	pid_t pid;
	int out;	  /* read end of gpg's stdout */
	const char *what; /* "encrypt" or "decrypt" */
};

/* gpg --encrypt --recipient R of what in gives. 0, or EX_UNAVAILABLE (no gpg). */
int gpg_encrypt(struct gpg *g, int in, const char *recipient);

/* gpg --decrypt of what in gives, with the local keyring. */
int gpg_decrypt(struct gpg *g, int in);

/*
 * Closes g->out, waits for gpg. 0, or (gpg has said why on stderr) EX_USAGE
 * when encrypting failed (BK_GPG_RECIPIENT names no usable key), EX_DATAERR
 * when decrypting did (no secret key, or the data is damaged).
 */
int gpg_finish(struct gpg *g);

#endif
