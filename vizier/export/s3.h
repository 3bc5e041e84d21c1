/* s3.h - an S3 client for exports: objects put (multipart past S3_PART_BYTES), got and listed
 * over libcurl, signed with AWS Signature Version 4 (CURLOPT_AWS_SIGV4), retried with backoff
 * where a retry can help (connection errors, timeouts, 5xx, 429), never where it cannot (403,
 * 404: the store's own code and message come back). Works with AWS and S3-compatible stores
 * (MinIO, s3rver), path-style or virtual-hosted.
 *
 * Configuration comes the way AWS tools take it (s3_config_load): AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (else AWS_DEFAULT_REGION), AWS_ENDPOINT_URL
 * (else AWS_ENDPOINT_URL_S3), else the profile AWS_PROFILE (default "default") of
 * ~/.aws/credentials and ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE move them).
 * Addressing: virtual-hosted for AWS's own endpoint, path-style for any other; WISP_S3_ADDRESSING
 * (path or virtual) overrides.
 *
 * Every call is synchronous and owns nothing after it returns but what it hands back. */
#ifndef WISP_S3_H
#define WISP_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Objects larger than this go up in parts of this size (S3's minimum part is 5 MiB). */
#define S3_PART_BYTES (8u << 20)
/* Tries per request (the first and its retries), and the first retry's delay (doubling). */
#define S3_TRIES 5
#define S3_BACKOFF_MS 200

struct s3_config {
	char endpoint[512];     /* scheme://host[:port], no trailing slash */
	char region[64];
	char access_key[256], secret_key[256];
	char session_token[4096];
	bool path_style;
	/* Tests only: sign as of this time (YYYYMMDDTHHMMSSZ) instead of now, so AWS's published
	 * test vectors can be reproduced. "" in real use. */
	char fixed_amz_date[32];
	char service[32];       /* "s3"; the SigV4 test suite signs for "service" */
	char connect_to[160];   /* tests: "HOST:PORT:ADDR:PORT2" (CURLOPT_CONNECT_TO), else "" */
	long timeout_s;         /* per request; 0: 60 */
	int tries;              /* 0: S3_TRIES */
	int backoff_ms;         /* 0: S3_BACKOFF_MS */
};

/* s3://BUCKET[/PREFIX]: the bucket and the prefix (without leading or trailing '/'). */
struct s3_url {
	char bucket[64];
	char prefix[1024];
};

/* Reads the configuration from the environment and the AWS files. 0, or -1 with a message (no
 * credentials, a malformed endpoint). */
int s3_config_load(struct s3_config *c, char *err, size_t errlen);
/* 0, or -1 with a message when url is not s3://BUCKET[/PREFIX] with a valid bucket name. */
int s3_url_parse(const char *url, struct s3_url *out, char *err, size_t errlen);

/* Puts data as bucket/key (key: '/'-separated, encoded here). 0, or -1 with a message. */
int s3_put(const struct s3_config *c, const char *bucket, const char *key, const void *data, size_t len,
	   const char *content_type, char *err, size_t errlen);
/* Gets bucket/key into *data (malloc'd, caller frees; *len bytes). 0; 1 when there is no such
 * key; -1 with a message. */
int s3_get(const struct s3_config *c, const char *bucket, const char *key, void **data, size_t *len, char *err,
	   size_t errlen);
/* Calls each(key, size, arg) for every key under prefix, in S3's (lexicographic) order; each
 * returning nonzero stops the listing. 0, or -1 with a message. */
int s3_list(const struct s3_config *c, const char *bucket, const char *prefix,
	    int (*each)(const char *key, uint64_t size, void *arg), void *arg, char *err, size_t errlen);

/* ---- the primitive: one signed request ---- */

struct s3_buf {
	char *p;                   /* NUL-terminated, malloc'd */
	size_t len, cap;
};

struct s3_request {
	const char *method;        /* GET, PUT, POST, DELETE, HEAD */
	const char *bucket, *key;  /* key "" for the bucket itself; encoded here */
	const char *query;         /* encoded, parameters sorted by name (SigV4 signs them sorted and
				    * libcurl does not sort); "" for none */
	const char *const *headers; /* extra "Name: value" lines (NULL-terminated), signed too; or NULL */
	const void *body;
	size_t body_len;
	const char *content_type;  /* or NULL */
	/* filled by s3_request: */
	long status;               /* the last answer's HTTP status (0: none) */
	struct s3_buf response;    /* its body; the caller frees response.p */
	char etag[256];
};

/* Sends r, signed, retrying what a retry can fix (c->tries in all, the delay doubling from
 * c->backoff_ms with jitter). 0 when the store answered 2xx, else -1 with a message that holds the
 * store's error code and text. S3 requests carry x-amz-content-sha256 (the body's hash). */
int s3_request(const struct s3_config *c, struct s3_request *r, char *err, size_t errlen);

/* The SHA-256 of n bytes as 64 hex digits and a NUL. */
void s3_sha256_hex(const void *p, size_t n, char out[65]);

#endif
