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

/* A relocatable-looking ELF64 image: header, the CFI section, .shstrtab, section headers. */
static uint8_t *wrap(const uint8_t *sec, size_t n, int debug, size_t *len)
{
	static const char names[] = "\0.eh_frame\0.debug_frame\0.shstrtab";
	size_t data_off = sizeof(Elf64_Ehdr), str_off = data_off + n, sh_off = (str_off + sizeof(names) + 7) & ~7UL;
	*len = sh_off + 4 * sizeof(Elf64_Shdr);
	uint8_t *img = calloc(1, *len);
	if (!img)
		return NULL;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_DYN;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_shoff = sh_off;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = 3;
	eh->e_shstrndx = 2;
	memcpy(img + data_off, sec, n);
	memcpy(img + str_off, names, sizeof(names));
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + sh_off);
	sh[1] = (Elf64_Shdr){.sh_name = debug ? 11 : 1, .sh_type = SHT_PROGBITS, .sh_flags = debug ? 0 : SHF_ALLOC,
			     .sh_addr = debug ? 0 : SEC_ADDR, .sh_offset = data_off, .sh_size = n, .sh_addralign = 8};
	sh[2] = (Elf64_Shdr){.sh_name = 24, .sh_type = SHT_STRTAB, .sh_offset = str_off, .sh_size = sizeof(names),
			     .sh_addralign = 1};
	return img;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once++)
		elf_version(EV_CURRENT);
	if (size < 1)
		return 0;
	size_t len;
	uint8_t *img = wrap(data + 1, size - 1, data[0] & 1, &len);
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
