/* test_tokens.c - token files (vizier/net/tokens.h): roles and their grants, comments and blank
 * lines, every malformed line refused with its file and line, the client's pick (a lone token,
 * the most granting token with what is wanted), a reload only when the file changed, and no
 * grants for unknown, empty or prefix tokens. */
#include "fixture.h"

#include "net/tokens.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define AGENT "agent-token-0123456789"
#define READ "read-token-0123456789"
#define ADMIN "admin-token-0123456789"

static char path[64];

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/wisp-tokens-test.%d", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void grants_of_roles(void **state)
{
	(void)state;
	char err[256];
	write_file("# who\n\nagent " AGENT "\n  read\t" READ "  \r\nadmin " ADMIN "\n");
	struct tokens *t = tokens_load(path, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(tokens_count(t), 3);
	assert_int_equal(tokens_grants(t, AGENT), GRANT_REGISTER);
	assert_int_equal(tokens_grants(t, READ), GRANT_READ);
	assert_int_equal(tokens_grants(t, ADMIN), GRANT_READ | GRANT_ADMIN);
	assert_int_equal(tokens_grants(t, "read-token-012345678"), 0); /* a prefix */
	assert_int_equal(tokens_grants(t, READ "x"), 0);
	assert_int_equal(tokens_grants(t, ""), 0);
	assert_int_equal(tokens_grants(t, NULL), 0);
	assert_int_equal(tokens_grants(NULL, "anything"), GRANT_ALL); /* no token file: open */
	assert_string_equal(tokens_role_name(GRANT_READ | GRANT_ADMIN), "admin");
	assert_string_equal(tokens_role_name(GRANT_REGISTER), "agent");
	tokens_free(t);
}

static void malformed_files(void **state)
{
	(void)state;
	static const struct {
		const char *text, *err;
	} bad[] = {
		{"reader " READ "\n", ":1: unknown role 'reader'"},
		{"# c\nread short\n", ":2: a token must be 16 to 256 characters"},
		{"read " READ " extra\n", ":1: expected ROLE TOKEN"},
		{READ "\n", ":1: expected ROLE TOKEN"}, /* a lone token is for clients */
		{"# nothing\n\n", "holds no token"},
	};
	char err[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(bad[i].text);
		assert_null(tokens_load(path, err, sizeof(err)));
		assert_non_null(strstr(err, bad[i].err));
		assert_non_null(strstr(err, path));
	}
	assert_null(tokens_load("/nonexistent/tokens", err, sizeof(err)));
	assert_non_null(strstr(err, "cannot read the token file /nonexistent/tokens"));
}

static void client_pick(void **state)
{
	(void)state;
	char tok[TOKEN_MAX + 1], err[256];
	write_file("agent " AGENT "\nread " READ "\nadmin " ADMIN "\n");
	assert_int_equal(tokens_pick(path, GRANT_READ, tok, sizeof(tok), err, sizeof(err)), 0);
	assert_string_equal(tok, ADMIN); /* the most granting with GRANT_READ */
	assert_int_equal(tokens_pick(path, GRANT_REGISTER, tok, sizeof(tok), err, sizeof(err)), 0);
	assert_string_equal(tok, AGENT);
	write_file("agent " AGENT "\nread " READ "\n");
	assert_int_equal(tokens_pick(path, GRANT_READ, tok, sizeof(tok), err, sizeof(err)), 0);
	assert_string_equal(tok, READ);
	assert_int_equal(tokens_pick(path, GRANT_ADMIN, tok, sizeof(tok), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has no admin token"));
	write_file("  " READ "\n"); /* a Kubernetes Secret's key: the token alone */
	assert_int_equal(tokens_pick(path, GRANT_REGISTER, tok, sizeof(tok), err, sizeof(err)), 0);
	assert_string_equal(tok, READ);
	write_file(READ "\n" AGENT "\n");
	assert_int_equal(tokens_pick(path, GRANT_READ, tok, sizeof(tok), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expected ROLE TOKEN"));
}

static void reload_on_change(void **state)
{
	(void)state;
	char err[256];
	write_file("read " READ "\n");
	struct tokens *t = tokens_load(path, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(tokens_reload(t, err, sizeof(err)), 0); /* unchanged */
	write_file("read " READ "\nadmin " ADMIN "\n");
	assert_int_equal(tokens_reload(t, err, sizeof(err)), 1);
	assert_int_equal(tokens_grants(t, ADMIN), GRANT_READ | GRANT_ADMIN);
	write_file("bogus line here\n"); /* a bad file: the tokens held stay */
	assert_int_equal(tokens_reload(t, err, sizeof(err)), -1);
	assert_int_equal(tokens_grants(t, ADMIN), GRANT_READ | GRANT_ADMIN);
	unlink(path);
	assert_int_equal(tokens_reload(t, err, sizeof(err)), -1);
	assert_int_equal(tokens_grants(t, READ), GRANT_READ);
	tokens_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(grants_of_roles, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_files, setup, teardown),
		cmocka_unit_test_setup_teardown(client_pick, setup, teardown),
		cmocka_unit_test_setup_teardown(reload_on_change, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
