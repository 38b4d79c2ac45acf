/*
 * elfinfo.h - what a plugin library is, learned by reading its ELF file
 * (never by loading it: no plugin code runs in the host or the CLI).
 *
 * Reads the ELF header (class, byte order, machine, type), finds the
 * exported `agenthost_plugin` object in the dynamic symbol table, and
 * reads the descriptor's ABI major, minor and size from the file, and its
 * name and version strings through the relocations the dynamic linker
 * would apply (R_*_RELATIVE addends, or the value stored in place). Every
 * offset is bounds-checked; the input may be hostile.
 */
#ifndef AH_PKG_ELFINFO_H
#define AH_PKG_ELFINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELFINFO_MAX_FILE (256u << 20)
#define ELFINFO_NAME_MAX 128

typedef struct elf_plugin_info {
    int elf_class; /* 1: 32-bit, 2: 64-bit */
    bool little_endian;
    int machine; /* e_machine */
    bool has_descriptor;
    uint16_t abi_major, abi_minor;
    uint32_t size; /* the descriptor's own size field */
    char name[ELFINFO_NAME_MAX];
    char version[ELFINFO_NAME_MAX];
} elf_plugin_info;

/* Read buf[0..len). Returns 0 with *out filled (has_descriptor false when
 * the library exports no descriptor), or -1 with a one-line reason when it
 * is not an ELF shared object this host could load, or is malformed. */
int elf_read_plugin(const uint8_t *buf, size_t len, elf_plugin_info *out, char *err, size_t errlen);
/* The same, and found[k] tells whether the library defines a visible
 * function named want_fn[k] (a typed export), for k < nwant. */
int elf_read_plugin_exports(const uint8_t *buf, size_t len, elf_plugin_info *out,
                            const char *const *want_fn, bool *found, size_t nwant, char *err,
                            size_t errlen);
/* The same, from the file at path (-1 too when it cannot be read). */
int elf_read_plugin_file(const char *path, elf_plugin_info *out, char *err, size_t errlen);
int elf_read_plugin_file_exports(const char *path, elf_plugin_info *out, const char *const *want_fn,
                                 bool *found, size_t nwant, char *err, size_t errlen);

/* "x86_64", "aarch64", ... or "machine 1234". */
const char *elf_machine_name(int machine, char *buf, size_t len);
/* The e_machine of this host's own build. */
int elf_host_machine(void);

#endif
