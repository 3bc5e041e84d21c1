/* mpack.h - msgpack helpers every layer shares: a safe whole-message unpack, typed reads from
 * maps, and packing of C strings. The wire protocol (vizier/net/proto.h), the payload codecs
 * (engine/codec_*.c), snapshot files and the script helpers' frames are all msgpack. */
#ifndef WISP_MPACK_H
#define WISP_MPACK_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Unpacks one whole message. Unlike msgpack_unpack_next alone, first checks that buf is exactly
 * one well-formed object whose every array/map count fits in the bytes that remain and whose
 * nesting is at most 256 deep, so a tiny hostile frame cannot make msgpack reserve gigabytes.
 * true on success (destroy u as usual). */
bool mp_unpack(msgpack_unpacked *u, const char *buf, size_t len);
/* The check mp_unpack makes, alone. */
bool mp_sane(const char *buf, size_t len);
/* The number of objects in buf when it passes that check (so at most len), else 0. Unpacking
 * costs about sizeof(msgpack_object) bytes per object. */
uint64_t mp_objects(const char *buf, size_t len);
/* mp_unpack of a buf that mp_objects already counted (nonzero): without counting it again. */
bool mp_unpack_counted(msgpack_unpacked *u, const char *buf, size_t len);

/* The value of `key` in a map (NULL when map is not a map or lacks the key). */
const msgpack_object *mp_get(const msgpack_object *map, const char *key);
/* Copies a msgpack string into buf (truncating); false if o is not a string. */
bool mp_str(const msgpack_object *o, char *buf, size_t len);
bool mp_int(const msgpack_object *o, int64_t *v);
bool mp_double(const msgpack_object *o, double *v); /* a float, or an integer as double */

void mp_pack_str(msgpack_packer *pk, const char *s);
void mp_pack_bin(msgpack_packer *pk, const void *p, size_t n);

#endif
