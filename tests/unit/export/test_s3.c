/* test_s3.c - the S3 client's requests, signed as AWS's published examples are: the Signature
 * Version 4 test suite (get-vanilla, get-vanilla-query-order-key-case, post-vanilla) and the
 * Amazon S3 API reference's examples (GET Object with a range, PUT Object, GET Bucket
 * Lifecycle, List Objects). Each request goes to a loopback listener in this test that records
 * it (CURLOPT_CONNECT_TO keeps the example's host name in the signed Host header); the
 * Authorization header must carry the documented signature. Also: s3://BUCKET/PREFIX parsing and
 * the configuration the AWS way (environment, then ~/.aws files). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "export/s3.h"

struct listener {
	int fd, port;
	char request[16384]; /* the last request's head and body */
	pthread_t th;
};

/* Accepts one connection, reads one request (head and Content-Length body), answers 200. */
static void *serve_one(void *arg)
{
	struct listener *l = arg;
	int c = accept(l->fd, NULL, NULL);
	size_t n = 0;
	l->request[0] = '\0';
	while (c >= 0 && n + 1 < sizeof(l->request)) {
		ssize_t k = read(c, l->request + n, sizeof(l->request) - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
		l->request[n] = '\0';
		char *end = strstr(l->request, "\r\n\r\n"), *cl = strcasestr(l->request, "\r\ncontent-length:");
		if (end && (!cl || cl > end || n >= (size_t)(end + 4 - l->request) + strtoul(cl + 17, NULL, 10)))
			break;
	}
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	if (c >= 0 && write(c, ok, sizeof(ok) - 1) < 0)
		perror("write");
	if (c >= 0)
		close(c);
	return NULL;
}

static void listen_loopback(struct listener *l)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	l->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l->fd >= 0);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l->fd, 4), 0);
	assert_int_equal(getsockname(l->fd, (struct sockaddr *)&a, &al), 0);
	l->port = ntohs(a.sin_port);
}

/* Sends r as c says, to the listener standing in for host; the Authorization header sent. */
static const char *signed_as(struct listener *l, struct s3_config *c, const char *host, struct s3_request *r)
{
	char err[512];
	static char auth[1024];
	snprintf(c->connect_to, sizeof(c->connect_to), "%s:80:127.0.0.1:%d", host, l->port);
	assert_int_equal(pthread_create(&l->th, NULL, serve_one, l), 0);
	int rc = s3_request(c, r, err, sizeof(err));
	pthread_join(l->th, NULL);
	free(r->response.p);
	if (rc != 0)
		fail_msg("request failed: %s", err);
	const char *a = strcasestr(l->request, "\r\nAuthorization: ");
	assert_non_null(a);
	a += 17;
	snprintf(auth, sizeof(auth), "%.*s", (int)strcspn(a, "\r"), a);
	return auth;
}

static struct s3_config suite_config(void)
{
	struct s3_config c = {.endpoint = "http://amazonaws.com", .region = "us-east-1", .access_key = "AKIDEXAMPLE",
			      .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", .fixed_amz_date = "20150830T123600Z",
			      .service = "service", .tries = 1};
	return c;
}

static struct s3_config s3_docs_config(void)
{
	struct s3_config c = {.endpoint = "http://s3.amazonaws.com", .region = "us-east-1",
			      .access_key = "AKIAIOSFODNN7EXAMPLE", .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			      .fixed_amz_date = "20130524T000000Z", .service = "s3", .tries = 1};
	return c;
}

static void sigv4_test_suite(void **state)
{
	(void)state;
	struct listener l;
	listen_loopback(&l);
	struct s3_config c = suite_config();
	const char *prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
			     "SignedHeaders=host;x-amz-date, Signature=";
	struct {
		const char *method, *query, *signature;
	} cases[] = {
		{"GET", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},             /* get-vanilla */
		{"GET", "Param1=value1&Param2=value2", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
		{"POST", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},            /* post-vanilla */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct s3_request r = {.method = cases[i].method, .bucket = "example", .key = "", .query = cases[i].query};
		char want[512];
		snprintf(want, sizeof(want), "%s%s", prefix, cases[i].signature);
		assert_string_equal(signed_as(&l, &c, "example.amazonaws.com", &r), want);
	}
	close(l.fd);
}

static void s3_reference_examples(void **state)
{
	(void)state;
	struct listener l;
	listen_loopback(&l);
	struct s3_config c = s3_docs_config();
	const char *cred = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ";
	char want[512];

	/* GET Object: the first ten bytes of test.txt. */
	const char *range[] = {"Range: bytes=0-9", NULL};
	struct s3_request get = {.method = "GET", .bucket = "examplebucket", .key = "test.txt", .query = "", .headers = range};
	snprintf(want, sizeof(want), "%sSignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
				     "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", cred);
	assert_string_equal(signed_as(&l, &c, "examplebucket.s3.amazonaws.com", &get), want);

	/* PUT Object: a key that needs encoding, a body, a storage class and a Date header. */
	const char *put_headers[] = {"Date: Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class: REDUCED_REDUNDANCY", NULL};
	struct s3_request put = {.method = "PUT", .bucket = "examplebucket", .key = "test$file.text", .query = "",
				 .headers = put_headers, .body = "Welcome to Amazon S3.", .body_len = 21};
	snprintf(want, sizeof(want), "%sSignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
				     "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd", cred);
	assert_string_equal(signed_as(&l, &c, "examplebucket.s3.amazonaws.com", &put), want);
	assert_non_null(strstr(l.request, "PUT /test%24file.text HTTP/1.1"));
	assert_non_null(strstr(l.request, "\r\n\r\nWelcome to Amazon S3."));

	/* GET Bucket Lifecycle (a parameter without a value) and List Objects. */
	struct {
		const char *query, *signature;
	} bucket[] = {
		{"lifecycle=", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
		{"max-keys=2&prefix=J", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
	};
	for (int i = 0; i < 2; i++) {
		struct s3_request r = {.method = "GET", .bucket = "examplebucket", .key = "", .query = bucket[i].query};
		snprintf(want, sizeof(want), "%sSignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=%s", cred,
			 bucket[i].signature);
		assert_string_equal(signed_as(&l, &c, "examplebucket.s3.amazonaws.com", &r), want);
	}
	close(l.fd);
}

static void urls(void **state)
{
	(void)state;
	struct s3_url u;
	char err[256];
	assert_int_equal(s3_url_parse("s3://wisp-prof/a/b/", &u, err, sizeof(err)), 0);
	assert_string_equal(u.bucket, "wisp-prof");
	assert_string_equal(u.prefix, "a/b");
	assert_int_equal(s3_url_parse("s3://bucket", &u, err, sizeof(err)), 0);
	assert_string_equal(u.prefix, "");
	assert_int_equal(s3_url_parse("http://bucket/x", &u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "s3://BUCKET/PREFIX"));
	assert_int_equal(s3_url_parse("s3://Bad_Bucket/x", &u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bucket name"));
	assert_int_equal(s3_url_parse("s3://ab", &u, err, sizeof(err)), -1);
}

/* The environment first, then the profile's files; addressing from the endpoint. */
static void configuration(void **state)
{
	(void)state;
	char dir[] = "/tmp/wisp-s3-test.XXXXXX", path[256], err[512];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/credentials", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = defaultsecret\n\n"
		   "[ops]\naws_access_key_id=OPSKEY\naws_secret_access_key=opssecret\naws_session_token = tok\n");
	fclose(f);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "w");
	fprintf(f, "[default]\nregion = eu-west-1\n[profile ops]\nregion = ap-south-1\nendpoint_url = http://minio:9000/\n");
	fclose(f);
	setenv("AWS_CONFIG_FILE", path, 1);
	const char *vars[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
			      "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "WISP_S3_ADDRESSING"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);

	struct s3_config c;
	assert_int_equal(s3_config_load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "DEFAULTKEY");
	assert_string_equal(c.region, "eu-west-1");
	assert_string_equal(c.endpoint, "https://s3.eu-west-1.amazonaws.com");
	assert_false(c.path_style);

	setenv("AWS_PROFILE", "ops", 1);
	assert_int_equal(s3_config_load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "OPSKEY");
	assert_string_equal(c.session_token, "tok");
	assert_string_equal(c.region, "ap-south-1");
	assert_string_equal(c.endpoint, "http://minio:9000");
	assert_true(c.path_style);

	setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	setenv("AWS_REGION", "us-west-2", 1);
	setenv("WISP_S3_ADDRESSING", "virtual", 1);
	assert_int_equal(s3_config_load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "ENVKEY");
	assert_string_equal(c.session_token, "");
	assert_string_equal(c.region, "us-west-2");
	assert_false(c.path_style);

	setenv("AWS_ENDPOINT_URL", "ftp://x", 1);
	assert_int_equal(s3_config_load(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "http://HOST"));
	unsetenv("AWS_ENDPOINT_URL");
	setenv("AWS_PROFILE", "nobody", 1);
	unsetenv("AWS_ACCESS_KEY_ID");
	assert_int_equal(s3_config_load(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no S3 credentials"));
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sigv4_test_suite),
		cmocka_unit_test(s3_reference_examples),
		cmocka_unit_test(urls),
		cmocka_unit_test(configuration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
