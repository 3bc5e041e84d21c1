/* tokens.h - who may do what: bearer tokens with roles, read from a token file.
 *
 * A token file holds lines `ROLE TOKEN` (roles agent, read, admin; blank lines and lines starting
 * with '#' are skipped). What a role may do is a set of grants:
 *   agent  GRANT_REGISTER                 register as an agent, heartbeat, answer queries
 *   read   GRANT_READ                     run and stream scripts, list agents, read /metrics
 *   admin  GRANT_READ | GRANT_ADMIN       ... and take snapshots (which export builds on)
 * A coordinator started without a token file grants everything to every peer (GRANT_ALL).
 *
 * The server side (the coordinator) reads a peer's token from `Authorization: Bearer TOKEN` on
 * the websocket upgrade or HTTP request, or from the URL's `access_token` parameter (RFC 6750
 * 2.3: browsers cannot set headers on a websocket), and compares it with every known token in
 * time independent of where they differ. The client side (CLI, agents) picks the token it sends
 * from a file of the same form, or from a file holding a token alone. */
#ifndef WISP_TOKENS_H
#define WISP_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

struct lws;

enum {
	GRANT_REGISTER = 1,
	GRANT_READ = 2,
	GRANT_ADMIN = 4,
	GRANT_ALL = GRANT_REGISTER | GRANT_READ | GRANT_ADMIN,
};

#define TOKEN_MIN 16  /* characters: shorter tokens are refused when the file is read */
#define TOKEN_MAX 256

struct tokens;

/* Reads path. NULL, with the reason (the file, its line) in err, when it cannot be read, holds
 * no token, or has a line that is not `ROLE TOKEN`. */
struct tokens *tokens_load(const char *path, char *err, size_t errlen);
/* Reads the file again if it changed since it was read (a rotated Kubernetes Secret): 1 when it
 * did, 0 when unchanged, -1 when the new file is bad (err says why; the tokens held stay). */
int tokens_reload(struct tokens *t, char *err, size_t errlen);
void tokens_free(struct tokens *t);
int tokens_count(const struct tokens *t);

/* The grants of token (0: not a known token). t NULL: GRANT_ALL. */
unsigned tokens_grants(const struct tokens *t, const char *token);
/* The grants of the peer asking on wsi, from its Authorization header or access_token URL
 * parameter, while its HTTP headers are still at hand. t NULL: GRANT_ALL. */
unsigned tokens_grants_of_request(const struct tokens *t, struct lws *wsi);
/* "agent", "read", "admin" or "no" for a set of grants, for messages. */
const char *tokens_role_name(unsigned grants);

/* Client side: the token to send, from path. A file holding a single word is that token; from a
 * token file, of the tokens granting all of `want`, the one granting most (the first on a tie):
 * the CLI asks for GRANT_READ and gets an admin token where there is one, agents ask for
 * GRANT_REGISTER. 0, or -1 with err set (unreadable, malformed, no such token). */
int tokens_pick(const char *path, unsigned want, char *out, size_t outlen, char *err, size_t errlen);

#endif
