/* s3.c - the S3 client (see s3.h): configuration, one signed request with its retries, and the
 * operations built on it (put, multipart put, get, list). */
#include "s3.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- configuration ---------------------------------------------------------------------------- */

static void copy_env(char *dst, size_t cap, const char *a, const char *b)
{
	const char *v = getenv(a);
	if ((!v || !*v) && b)
		v = getenv(b);
	if (v && *v && !dst[0])
		snprintf(dst, cap, "%s", v);
}

/* Sets dst from `key = value` in section [want] of the INI file path, unless dst is set. */
static void ini_value(const char *path, const char *want, const char *key, char *dst, size_t cap)
{
	char line[4096], section[256] = "";
	FILE *f = dst[0] ? NULL : fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *s = line, *e = line + strlen(line);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '[') {
			snprintf(section, sizeof(section), "%.*s", e > s + 1 && e[-1] == ']' ? (int)(e - s - 2) : 0, s + 1);
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq || strcmp(section, want))
			continue;
		char *k_end = eq;
		while (k_end > s && isspace((unsigned char)k_end[-1]))
			k_end--;
		if ((size_t)(k_end - s) != strlen(key) || strncmp(s, key, strlen(key)))
			continue;
		char *v = eq + 1;
		while (isspace((unsigned char)*v))
			v++;
		snprintf(dst, cap, "%s", v);
		break;
	}
	if (f)
		fclose(f);
}

int s3_config_load(struct s3_config *c, char *err, size_t errlen)
{
	char creds[4096], conf[4096], profile[256] = "", section[300];
	const char *home = getenv("HOME");
	memset(c, 0, sizeof(*c));
	copy_env(c->access_key, sizeof(c->access_key), "AWS_ACCESS_KEY_ID", NULL);
	copy_env(c->secret_key, sizeof(c->secret_key), "AWS_SECRET_ACCESS_KEY", NULL);
	copy_env(c->session_token, sizeof(c->session_token), "AWS_SESSION_TOKEN", NULL);
	copy_env(c->region, sizeof(c->region), "AWS_REGION", "AWS_DEFAULT_REGION");
	copy_env(c->endpoint, sizeof(c->endpoint), "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
	copy_env(profile, sizeof(profile), "AWS_PROFILE", NULL);
	if (!profile[0])
		snprintf(profile, sizeof(profile), "default");
	snprintf(creds, sizeof(creds), "%s", getenv("AWS_SHARED_CREDENTIALS_FILE") ? getenv("AWS_SHARED_CREDENTIALS_FILE") : "");
	snprintf(conf, sizeof(conf), "%s", getenv("AWS_CONFIG_FILE") ? getenv("AWS_CONFIG_FILE") : "");
	if (!creds[0] && home)
		snprintf(creds, sizeof(creds), "%s/.aws/credentials", home);
	if (!conf[0] && home)
		snprintf(conf, sizeof(conf), "%s/.aws/config", home);
	/* Keys come from the environment as a pair, else from the profile. */
	if (!c->access_key[0] || !c->secret_key[0]) {
		c->access_key[0] = c->secret_key[0] = c->session_token[0] = '\0';
		ini_value(creds, profile, "aws_access_key_id", c->access_key, sizeof(c->access_key));
		ini_value(creds, profile, "aws_secret_access_key", c->secret_key, sizeof(c->secret_key));
		ini_value(creds, profile, "aws_session_token", c->session_token, sizeof(c->session_token));
	}
	snprintf(section, sizeof(section), strcmp(profile, "default") ? "profile %s" : "%s", profile);
	ini_value(conf, section, "region", c->region, sizeof(c->region));
	ini_value(conf, section, "endpoint_url", c->endpoint, sizeof(c->endpoint));
	if (!c->region[0])
		snprintf(c->region, sizeof(c->region), "us-east-1");
	if (!c->access_key[0] || !c->secret_key[0]) {
		snprintf(err, errlen, "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile "
				      "'%s' in %s", profile, creds);
		return -1;
	}
	bool aws = !c->endpoint[0];
	if (aws)
		snprintf(c->endpoint, sizeof(c->endpoint), "https://s3.%s.amazonaws.com", c->region);
	size_t n = strlen(c->endpoint);
	while (n > 0 && c->endpoint[n - 1] == '/')
		c->endpoint[--n] = '\0';
	if (strncmp(c->endpoint, "http://", 7) && strncmp(c->endpoint, "https://", 8)) {
		snprintf(err, errlen, "S3 endpoint '%s' is not http://HOST[:PORT] or https://HOST[:PORT]", c->endpoint);
		return -1;
	}
	if (strchr(strstr(c->endpoint, "://") + 3, '/')) {
		snprintf(err, errlen, "S3 endpoint '%s' has a path: give scheme://HOST[:PORT] only", c->endpoint);
		return -1;
	}
	const char *style = getenv("WISP_S3_ADDRESSING");
	c->path_style = style && *style ? !strcmp(style, "path") : !aws;
	if (style && *style && strcmp(style, "path") && strcmp(style, "virtual")) {
		snprintf(err, errlen, "WISP_S3_ADDRESSING must be path or virtual, not '%s'", style);
		return -1;
	}
	snprintf(c->service, sizeof(c->service), "s3");
	return 0;
}

int s3_url_parse(const char *url, struct s3_url *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (strncmp(url, "s3://", 5)) {
		snprintf(err, errlen, "'%s' is not an s3://BUCKET/PREFIX address", url);
		return -1;
	}
	const char *b = url + 5, *slash = strchr(b, '/');
	size_t bl = slash ? (size_t)(slash - b) : strlen(b);
	bool ok = bl >= 3 && bl <= 63;
	for (size_t i = 0; ok && i < bl; i++)
		ok = islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '-' || b[i] == '.';
	if (!ok) {
		snprintf(err, errlen, "'%.*s' is not a bucket name (3 to 63 of a-z, 0-9, '-', '.')", (int)bl, b);
		return -1;
	}
	memcpy(out->bucket, b, bl);
	const char *p = slash ? slash + 1 : "";
	size_t pl = strlen(p);
	while (pl && p[pl - 1] == '/')
		pl--;
	if (pl >= sizeof(out->prefix)) {
		snprintf(err, errlen, "the prefix of '%s' is too long", url);
		return -1;
	}
	memcpy(out->prefix, p, pl);
	return 0;
}

/* ---- one request -------------------------------------------------------------------------------- */

void s3_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int buf_add(struct s3_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int buf_printf(struct s3_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(struct s3_buf *b, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= sizeof(tmp) ? -1 : buf_add(b, tmp, (size_t)n);
}

/* Appends s percent-encoded as SigV4 wants (RFC 3986 unreserved kept; '/' kept when keep_slash). */
static int buf_encode(struct s3_buf *b, const char *s, bool keep_slash)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		int rc = isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/')
				 ? buf_add(b, s, 1)
				 : buf_printf(b, "%%%02X", ch);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	return buf_add(arg, p, sz * n) < 0 ? 0 : sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	char *etag = arg;
	size_t len = sz * n;
	if (len > 5 && !strncasecmp(p, "ETag:", 5)) {
		const char *v = p + 5;
		while (*v == ' ')
			v++;
		size_t l = (size_t)(p + len - v);
		while (l && (v[l - 1] == '\r' || v[l - 1] == '\n'))
			l--;
		snprintf(etag, 256, "%.*s", (int)l, v);
	}
	return len;
}

/* The store's own words in an error body: "Code: Message". */
static void s3_error_text(const struct s3_buf *r, char *out, size_t cap)
{
	const char *c = r->p ? strstr(r->p, "<Code>") : NULL, *m = r->p ? strstr(r->p, "<Message>") : NULL;
	const char *ce = c ? strstr(c, "</Code>") : NULL, *me = m ? strstr(m, "</Message>") : NULL;
	if (c && ce)
		snprintf(out, cap, "%.*s%s%.*s", (int)(ce - c - 6), c + 6, m && me ? ": " : "", m && me ? (int)(me - m - 9) : 0,
			 m && me ? m + 9 : "");
	else
		snprintf(out, cap, "no error text");
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int s3_request(const struct s3_config *c, struct s3_request *r, char *err, size_t errlen)
{
	struct s3_buf url = {0};
	char sha[65], sigv4[160], userpwd[520], hdr[4200];
	int rc = -1, tries = c->tries > 0 ? c->tries : S3_TRIES, backoff = c->backoff_ms > 0 ? c->backoff_ms : S3_BACKOFF_MS;
	pthread_once(&curl_once, curl_init);
	const char *host = strstr(c->endpoint, "://") + 3;
	if (c->path_style) {
		if (buf_printf(&url, "%s/%s", c->endpoint, r->bucket) < 0)
			goto oom;
	} else if (buf_printf(&url, "%.*s%s.%s", (int)(host - c->endpoint), c->endpoint, r->bucket, host) < 0) {
		goto oom;
	}
	if (buf_add(&url, "/", 1) < 0 || buf_encode(&url, r->key, true) < 0 ||
	    (r->query[0] && (buf_add(&url, "?", 1) < 0 || buf_add(&url, r->query, strlen(r->query)) < 0)))
		goto oom;
	s3_sha256_hex(r->body ? r->body : "", r->body_len, sha);
	snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:%s", c->region, c->service[0] ? c->service : "s3");
	snprintf(userpwd, sizeof(userpwd), "%s:%s", c->access_key, c->secret_key);
	for (int attempt = 0; attempt < tries; attempt++) {
		if (attempt) { /* backoff, doubling, with up to half again of jitter */
			long ms = (long)backoff << (attempt - 1);
			ms += rand() % (ms / 2 + 1);
			usleep((useconds_t)ms * 1000);
		}
		CURL *h = curl_easy_init();
		struct curl_slist *hs = NULL;
		if (!h)
			goto oom;
		free(r->response.p);
		r->response = (struct s3_buf){0};
		r->etag[0] = '\0';
		if (!strcmp(c->service, "s3")) { /* S3 wants the payload's hash signed; other services do not */
			snprintf(hdr, sizeof(hdr), "x-amz-content-sha256: %s", sha);
			hs = curl_slist_append(hs, hdr);
		}
		for (int i = 0; r->headers && r->headers[i]; i++)
			hs = curl_slist_append(hs, r->headers[i]);
		if (c->fixed_amz_date[0]) {
			snprintf(hdr, sizeof(hdr), "X-Amz-Date: %s", c->fixed_amz_date);
			hs = curl_slist_append(hs, hdr);
		}
		if (c->session_token[0]) {
			snprintf(hdr, sizeof(hdr), "x-amz-security-token: %s", c->session_token);
			hs = curl_slist_append(hs, hdr);
		}
		if (r->content_type) {
			snprintf(hdr, sizeof(hdr), "Content-Type: %s", r->content_type);
			hs = curl_slist_append(hs, hdr);
		}
		/* (No "Expect:" line to skip 100-continue: libcurl would sign the header it removes.) */
		curl_easy_setopt(h, CURLOPT_URL, url.p);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
		curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4);
		curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->response);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, r->etag);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s > 0 ? c->timeout_s : 60L);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_USERAGENT, "wisp-export");
		struct curl_slist *to = c->connect_to[0] ? curl_slist_append(NULL, c->connect_to) : NULL;
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, to);
		if (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST")) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		} else if (!strcmp(r->method, "HEAD")) {
			curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		}
		CURLcode cr = hs ? curl_easy_perform(h) : CURLE_OUT_OF_MEMORY;
		r->status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
		curl_slist_free_all(hs);
		curl_slist_free_all(to);
		curl_easy_cleanup(h);
		if (cr == CURLE_OK && r->status >= 200 && r->status < 300) {
			rc = 0;
			break;
		}
		bool retry = cr != CURLE_OK || r->status >= 500 || r->status == 429;
		if (cr != CURLE_OK) {
			snprintf(err, errlen, "S3 %s %s: %s (%d tries)", r->method, url.p, curl_easy_strerror(cr), attempt + 1);
		} else {
			char text[512];
			s3_error_text(&r->response, text, sizeof(text));
			snprintf(err, errlen, "S3 %s %s: HTTP %ld, %s%s", r->method, url.p, r->status, text,
				 retry ? " (after retries)" : "");
		}
		if (!retry)
			break;
	}
	free(url.p);
	return rc;
oom:
	snprintf(err, errlen, "S3: out of memory");
	free(url.p);
	return -1;
}

/* ---- operations ------------------------------------------------------------------------------ */

/* The text of the first <tag>...</tag> in s after `from`, into out; a pointer past it, or NULL. */
static const char *xml_text(const char *s, const char *tag, char *out, size_t cap)
{
	char open[64], close[64];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	const char *a = s ? strstr(s, open) : NULL, *b = a ? strstr(a, close) : NULL;
	if (!b)
		return NULL;
	a += strlen(open);
	/* XML's five entities, the only escapes S3 writes in keys and tokens. */
	size_t o = 0;
	for (const char *p = a; p < b && o + 1 < cap; p++) {
		static const struct { const char *ent; char ch; } ents[] = {
			{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
		char ch = *p;
		for (size_t e = 0; ch == '&' && e < 5; e++)
			if (!strncmp(p, ents[e].ent, strlen(ents[e].ent))) {
				ch = ents[e].ch;
				p += strlen(ents[e].ent) - 1;
				break;
			}
		out[o++] = ch;
	}
	out[o] = '\0';
	return b + strlen(close);
}

static int put_multipart(const struct s3_config *c, const char *bucket, const char *key, const uint8_t *data,
			 size_t len, const char *content_type, char *err, size_t errlen)
{
	struct s3_request r = {.method = "POST", .bucket = bucket, .key = key, .query = "uploads=",
			    .content_type = content_type};
	char upload_id[1024], query[1200];
	struct s3_buf done = {0}, enc = {0};
	int rc = -1;
	if (s3_request(c, &r, err, errlen) < 0)
		goto out;
	if (!xml_text(r.response.p, "UploadId", upload_id, sizeof(upload_id)) || buf_encode(&enc, upload_id, false) < 0) {
		snprintf(err, errlen, "S3 multipart upload of %s: no UploadId in the store's answer", key);
		goto out;
	}
	buf_printf(&done, "<CompleteMultipartUpload>");
	size_t parts = (len + S3_PART_BYTES - 1) / S3_PART_BYTES;
	for (size_t i = 0; i < parts; i++) {
		size_t off = i * S3_PART_BYTES, n = len - off < S3_PART_BYTES ? len - off : S3_PART_BYTES;
		snprintf(query, sizeof(query), "partNumber=%zu&uploadId=%s", i + 1, enc.p);
		struct s3_request p = {.method = "PUT", .bucket = bucket, .key = key, .query = query, .body = data + off, .body_len = n};
		int prc = s3_request(c, &p, err, errlen);
		if (prc == 0 && !p.etag[0]) {
			snprintf(err, errlen, "S3 part %zu of %s: no ETag in the store's answer", i + 1, key);
			prc = -1;
		}
		if (prc == 0 && buf_printf(&done, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1, p.etag) < 0)
			prc = -1;
		free(p.response.p);
		if (prc < 0)
			goto abort;
	}
	if (buf_printf(&done, "</CompleteMultipartUpload>") < 0)
		goto abort;
	snprintf(query, sizeof(query), "uploadId=%s", enc.p);
	struct s3_request fin = {.method = "POST", .bucket = bucket, .key = key, .query = query, .body = done.p,
			      .body_len = done.len, .content_type = "application/xml"};
	rc = s3_request(c, &fin, err, errlen);
	/* A 200 can still carry an error (S3 reports late failures of CompleteMultipartUpload so). */
	if (rc == 0 && fin.response.p && strstr(fin.response.p, "<Error>")) {
		char text[512];
		s3_error_text(&fin.response, text, sizeof(text));
		snprintf(err, errlen, "S3 completing the upload of %s: %s", key, text);
		rc = -1;
	}
	free(fin.response.p);
	if (rc == 0)
		goto out;
abort: { /* the parts already up would be billed forever otherwise */
	char ignored[256];
	snprintf(query, sizeof(query), "uploadId=%s", enc.p);
	struct s3_request a = {.method = "DELETE", .bucket = bucket, .key = key, .query = query};
	s3_request(c, &a, ignored, sizeof(ignored));
	free(a.response.p);
	rc = -1;
}
out:
	free(r.response.p);
	free(done.p);
	free(enc.p);
	return rc;
}

int s3_put(const struct s3_config *c, const char *bucket, const char *key, const void *data, size_t len,
	   const char *content_type, char *err, size_t errlen)
{
	if (len > S3_PART_BYTES)
		return put_multipart(c, bucket, key, data, len, content_type, err, errlen);
	struct s3_request r = {.method = "PUT", .bucket = bucket, .key = key, .query = "", .body = data, .body_len = len,
			    .content_type = content_type};
	int rc = s3_request(c, &r, err, errlen);
	free(r.response.p);
	return rc;
}

int s3_get(const struct s3_config *c, const char *bucket, const char *key, void **data, size_t *len, char *err,
	   size_t errlen)
{
	struct s3_request r = {.method = "GET", .bucket = bucket, .key = key, .query = ""};
	*data = NULL;
	*len = 0;
	if (s3_request(c, &r, err, errlen) < 0) {
		free(r.response.p);
		return r.status == 404 ? 1 : -1;
	}
	*data = r.response.p ? r.response.p : calloc(1, 1);
	*len = r.response.len;
	return *data ? 0 : -1;
}

int s3_list(const struct s3_config *c, const char *bucket, const char *prefix,
	    int (*each)(const char *key, uint64_t size, void *arg), void *arg, char *err, size_t errlen)
{
	char token[2048] = "", key[2048], size[32], more[16];
	int rc = 0;
	do {
		/* Query parameters in name order: SigV4 signs them sorted and libcurl does not sort. */
		struct s3_buf q = {0};
		if (token[0] && (buf_printf(&q, "continuation-token=") < 0 || buf_encode(&q, token, false) < 0 ||
				 buf_add(&q, "&", 1) < 0))
			rc = -1;
		if (rc == 0 && (buf_printf(&q, "list-type=2&prefix=") < 0 || buf_encode(&q, prefix, false) < 0))
			rc = -1;
		struct s3_request r = {.method = "GET", .bucket = bucket, .key = "", .query = q.p ? q.p : ""};
		if (rc < 0)
			snprintf(err, errlen, "S3: out of memory");
		else
			rc = s3_request(c, &r, err, errlen);
		free(q.p);
		const char *p = rc == 0 ? r.response.p : NULL;
		while (p && (p = strstr(p, "<Contents>"))) {
			const char *end = strstr(p, "</Contents>");
			if (!end)
				break;
			if (xml_text(p, "Key", key, sizeof(key)) && xml_text(p, "Size", size, sizeof(size)) &&
			    each(key, strtoull(size, NULL, 10), arg)) {
				free(r.response.p);
				return 0;
			}
			p = end;
		}
		token[0] = '\0';
		if (rc == 0 && xml_text(r.response.p, "IsTruncated", more, sizeof(more)) && !strcmp(more, "true"))
			xml_text(r.response.p, "NextContinuationToken", token, sizeof(token));
		free(r.response.p);
	} while (rc == 0 && token[0]);
	return rc;
}
