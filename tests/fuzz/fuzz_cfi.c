/* fuzz_cfi.c - fuzzing the unwind table builder (vizier/agent/unwind/cfi.c): any file a process
 * maps reaches it, so hostile or broken call frame information must give rows or an error,
 * never a crash, a hang or rows out of order.
 *
 * Input: one byte choosing the section (even: .eh_frame, odd: .debug_frame), then the section's
 * bytes. The harness wraps them in a minimal ELF64 file (the section at address 0x1000), so
 * mutations reach the CIE/FDE parser and libdw's CFA interpreter. Built as every harness is
 * (fuzz.h). */
#include "fuzz.h"
#include "agent/unwind/cfi.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEC_ADDR 0x1000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once++)
		elf_version(EV_CURRENT);
	if (size < 1)
		return 0;
	size_t len;
	int debug = data[0] & 1;
	struct fuzz_section sec = {debug ? ".debug_frame" : ".eh_frame", data + 1, size - 1, debug ? 0 : SHF_ALLOC,
				   debug ? 0 : SEC_ADDR};
	uint8_t *img = fuzz_elf_image(&sec, 1, &len);
	Elf *elf = img ? elf_memory((char *)img, len) : NULL;
	struct cfi_table t;
	char err[128];
	if (elf && cfi_build(elf, &t, err, sizeof(err)) == 0) {
		for (size_t i = 1; i < t.n; i++)
			if (t.rows[i - 1].start >= t.rows[i].start)
				abort(); /* the store and the walker's binary search rely on the order */
		if (t.n && t.rows[t.n - 1].rule.cfa != WISP_CFA_NONE)
			abort();
		cfi_table_free(&t);
	}
	if (elf)
		elf_end(elf);
	free(img);
	return 0;
}

/* Seeds: this program's own .eh_frame, as .eh_frame (mode 0), and as .debug_frame (mode 1:
 * mostly refused, which is a path too). */
int fuzz_make_seeds(const char *dir)
{
	elf_version(EV_CURRENT);
	int fd = open("/proc/self/exe", O_RDONLY);
	Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int rc = -1;
	while (elf && elf_getshdrstrndx(elf, &shstrndx) == 0 && (scn = elf_nextscn(elf, scn)) != NULL) {
		Elf_Data *d;
		if (!gelf_getshdr(scn, &sh) || strcmp(elf_strptr(elf, shstrndx, sh.sh_name), ".eh_frame") ||
		    !(d = elf_getdata(scn, NULL)))
			continue;
		size_t n = d->d_size < 60000 ? d->d_size : 60000; /* within -max_len */
		uint8_t *buf = malloc(n + 1);
		if (!buf)
			break;
		memcpy(buf + 1, d->d_buf, n);
		buf[0] = 0;
		rc = fuzz_write_seed(dir, "seed-eh-frame", buf, n + 1);
		buf[0] = 1;
		rc |= fuzz_write_seed(dir, "seed-debug-frame", buf, n + 1);
		free(buf);
		break;
	}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return rc;
}
