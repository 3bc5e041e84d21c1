/* mpack.c - msgpack helpers shared by every layer (see mpack.h). */
#include "mpack.h"

#include <string.h>

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

uint64_t mp_objects(const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf, *end = p + len;
	uint64_t left[257]; /* objects still to read at each nesting level */
	uint64_t objects = 0;
	int depth = 0;
	left[0] = 1;
	while (depth >= 0) {
		if (left[depth] == 0) {
			depth--;
			continue;
		}
		left[depth]--;
		objects++;
		if (p >= end)
			return 0;
		unsigned b = *p++;
		uint64_t skip = 0, elems = 0;
		bool container = false;
		int lenbytes = 0;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, bool */
		} else if (b >= 0x80 && b <= 0x9f) {
			container = true;
			elems = (b & 0x0f) * (b <= 0x8f ? 2 : 1);
		} else if (b >= 0xa0 && b <= 0xbf) {
			skip = b & 0x1f;
		} else {
			switch (b) {
			case 0xc4: case 0xd9: lenbytes = 1; break;
			case 0xc5: case 0xda: lenbytes = 2; break;
			case 0xc6: case 0xdb: lenbytes = 4; break;
			case 0xc7: lenbytes = 1; skip = 1; break;
			case 0xc8: lenbytes = 2; skip = 1; break;
			case 0xc9: lenbytes = 4; skip = 1; break;
			case 0xca: skip = 4; break;
			case 0xcb: skip = 8; break;
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xce: case 0xd2: skip = 4; break;
			case 0xcf: case 0xd3: skip = 8; break;
			case 0xd4: skip = 2; break;
			case 0xd5: skip = 3; break;
			case 0xd6: skip = 5; break;
			case 0xd7: skip = 9; break;
			case 0xd8: skip = 17; break;
			case 0xdc: case 0xdd: case 0xde: case 0xdf: {
				int nb = (b == 0xdc || b == 0xde) ? 2 : 4;
				if (end - p < nb)
					return 0;
				elems = be(p, nb) * (b >= 0xde ? 2 : 1);
				p += nb;
				container = true;
				break;
			}
			default: /* 0xc1: never used */
				return 0;
			}
		}
		if (lenbytes) {
			if (end - p < lenbytes)
				return 0;
			skip += be(p, lenbytes);
			p += lenbytes;
		}
		if (skip > (uint64_t)(end - p))
			return 0;
		p += skip;
		if (container && elems) {
			if (elems > (uint64_t)(end - p) || depth == 256) /* each element needs a byte */
				return 0;
			left[++depth] = elems;
		}
	}
	return p == end ? objects : 0;
}

bool mp_sane(const char *buf, size_t len)
{
	return mp_objects(buf, len) > 0;
}

bool mp_unpack_counted(msgpack_unpacked *u, const char *buf, size_t len)
{
	return msgpack_unpack_next(u, buf, len, NULL) == MSGPACK_UNPACK_SUCCESS;
}

bool mp_unpack(msgpack_unpacked *u, const char *buf, size_t len)
{
	return mp_sane(buf, len) && mp_unpack_counted(u, buf, len);
}

const msgpack_object *mp_get(const msgpack_object *map, const char *key)
{
	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	size_t kl = strlen(key);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl && !memcmp(k->via.str.ptr, key, kl))
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

bool mp_str(const msgpack_object *o, char *buf, size_t len)
{
	if (!o || o->type != MSGPACK_OBJECT_STR || len == 0)
		return false;
	size_t n = o->via.str.size < len - 1 ? o->via.str.size : len - 1;
	memcpy(buf, o->via.str.ptr, n);
	buf[n] = '\0';
	return true;
}

bool mp_int(const msgpack_object *o, int64_t *v)
{
	if (!o)
		return false;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
		*v = (int64_t)o->via.u64;
		return true;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return true;
	}
	return false;
}

bool mp_double(const msgpack_object *o, double *v)
{
	int64_t i;
	if (o && (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32)) {
		*v = o->via.f64;
		return true;
	}
	if (mp_int(o, &i)) {
		*v = (double)i;
		return true;
	}
	return false;
}

void mp_pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void mp_pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
	msgpack_pack_bin(pk, n);
	msgpack_pack_bin_body(pk, p, n);
}
