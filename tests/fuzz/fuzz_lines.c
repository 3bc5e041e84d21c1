/* fuzz_lines.c - fuzzing source lines and inline frames (vizier/agent/symbolize/lines.c): any
 * process may map a binary whose DWARF is hostile, so it must give frames or none, never a
 * crash, a hang or a frame that is not a string.
 *
 * Input: four file addresses (u64, little-endian) to look up, then the sections .debug_info,
 * .debug_abbrev, .debug_line, .debug_str, .debug_line_str, .debug_aranges and .debug_rnglists,
 * each as a u32 length and its bytes (a short input leaves the rest empty). The harness wraps
 * them in a minimal ELF64 file in a memfd, as lines.c reads a file, and asks for each address
 * with and without a symbol's frame. Seeds: the DWARF of the `inlined` workload (gcc -O2 -g),
 * with addresses inside its functions. */
#include "fuzz.h"
#include "agent/symbolize/symbolize_internal.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NSEC 7
static const char *const sec_names[NSEC] = {".debug_info", ".debug_abbrev", ".debug_line", ".debug_str",
					    ".debug_line_str", ".debug_aranges", ".debug_rnglists"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once++)
		elf_version(EV_CURRENT);
	uint64_t addrs[4] = {0};
	if (size < sizeof(addrs))
		return 0;
	memcpy(addrs, data, sizeof(addrs));
	const uint8_t *p = data + sizeof(addrs), *end = data + size;
	struct fuzz_section sec[NSEC];
	for (int i = 0; i < NSEC; i++) {
		uint32_t n = 0;
		if (end - p >= 4) {
			memcpy(&n, p, 4);
			p += 4;
		}
		sec[i] = (struct fuzz_section){sec_names[i], p, n < (size_t)(end - p) ? n : (size_t)(end - p), 0, 0};
		p += sec[i].len;
	}
	size_t img_len;
	uint8_t *img = fuzz_elf_image(sec, NSEC, &img_len);
	int fd = img ? memfd_create("fuzz-lines", MFD_CLOEXEC) : -1;
	struct lines *l = NULL;
	if (fd >= 0 && write(fd, img, img_len) == (ssize_t)img_len && (l = lines_new(fd, (addrs[0] & 1) ? "\x1f/usr/lib/libfuzz.so\x1f" "abcd" : NULL)) != NULL) {
		fd = -1; /* lines owns it */
		for (int i = 0; i < 8; i++) {
			const char *out[8];
			int n = lines_frames(l, addrs[i % 4], i < 4 ? "fn\x1f\x1f_Z2fnv" : NULL, out, 8);
			if (n < 0 || n > 8)
				abort();
			for (int k = 0; k < n; k++)
				if (strlen(out[k]) > 8192)
					abort(); /* names and paths are bounded */
		}
	}
	lines_free(l);
	if (fd >= 0)
		close(fd);
	free(img);
	return 0;
}

/* Seeds: the inlined workload's DWARF with the addresses of its functions (and one outside). */
int fuzz_make_seeds(const char *dir)
{
	elf_version(EV_CURRENT);
	int fd = open(WISP_INLINED_BIN, O_RDONLY | O_CLOEXEC);
	Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
	size_t shstrndx, total = 32;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	const void *secd[NSEC] = {0};
	size_t secn[NSEC] = {0};
	uint64_t addrs[4] = {0, 0, 0, 0xdeadbeef};
	int na = 0, rc = -1;
	if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
		goto out;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		Elf_Data *d;
		if (!gelf_getshdr(scn, &sh) || !(d = elf_getdata(scn, NULL)))
			continue;
		const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
		for (int i = 0; name && i < NSEC; i++)
			if (!strcmp(name, sec_names[i])) {
				secd[i] = d->d_buf;
				secn[i] = d->d_size;
			}
		if (sh.sh_type == SHT_SYMTAB) {
			for (size_t k = 0; k < sh.sh_size / sh.sh_entsize && na < 3; k++) {
				GElf_Sym s;
				const char *sn;
				if (gelf_getsym(d, (int)k, &s) && GELF_ST_TYPE(s.st_info) == STT_FUNC && s.st_size > 8 &&
				    (sn = elf_strptr(elf, sh.sh_link, s.st_name)) &&
				    (!strcmp(sn, "inline_phase") || !strcmp(sn, "main")))
					addrs[na++] = s.st_value + s.st_size / 2;
			}
		}
	}
	for (int i = 0; i < NSEC; i++)
		total += 4 + secn[i];
	uint8_t *buf = malloc(total), *w = buf;
	if (!buf)
		goto out;
	memcpy(w, addrs, sizeof(addrs));
	w += sizeof(addrs);
	for (int i = 0; i < NSEC; i++) {
		uint32_t n = (uint32_t)secn[i];
		memcpy(w, &n, 4);
		memcpy(w + 4, secd[i], secn[i]);
		w += 4 + secn[i];
	}
	rc = total <= 65536 ? fuzz_write_seed(dir, "seed-inlined", buf, total) : -1; /* within -max_len */
	free(buf);
out:
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return rc;
}
