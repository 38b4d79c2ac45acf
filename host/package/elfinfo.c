#include "elfinfo.h"

#include <agenthost/plugin.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__LP64__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "elfinfo.c reads 64-bit little-endian libraries; this host is neither"
#endif

#define MAX_SYMBOLS 1000000u

int elf_host_machine(void)
{
#if defined(__x86_64__)
    return EM_X86_64;
#elif defined(__aarch64__)
    return EM_AARCH64;
#elif defined(__riscv)
    return EM_RISCV;
#elif defined(__powerpc64__)
    return EM_PPC64;
#elif defined(__loongarch64)
    return 258;
#else
#error "elfinfo.c: unknown host machine"
#endif
}

static unsigned relative_type(int machine)
{
    switch (machine) {
    case EM_X86_64:
        return R_X86_64_RELATIVE;
    case EM_AARCH64:
        return R_AARCH64_RELATIVE;
    case EM_RISCV:
        return 3; /* R_RISCV_RELATIVE */
    case EM_PPC64:
        return 22; /* R_PPC64_RELATIVE */
    default:
        return 0;
    }
}

static unsigned abs64_type(int machine)
{
    switch (machine) {
    case EM_X86_64:
        return R_X86_64_64;
    case EM_AARCH64:
        return R_AARCH64_ABS64;
    case EM_RISCV:
        return 2; /* R_RISCV_64 */
    case EM_PPC64:
        return 38; /* R_PPC64_ADDR64 */
    default:
        return 0;
    }
}

const char *elf_machine_name(int machine, char *buf, size_t len)
{
    static const struct {
        int m;
        const char *name;
    } names[] = {{EM_386, "i386"},        {EM_ARM, "arm"},        {EM_X86_64, "x86_64"},
                 {EM_AARCH64, "aarch64"}, {EM_RISCV, "riscv"},    {EM_PPC64, "ppc64"},
                 {EM_PPC, "ppc"},         {EM_S390, "s390x"},     {EM_MIPS, "mips"},
                 {258, "loongarch"},      {EM_SPARCV9, "sparc64"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].m == machine) return names[i].name;
    snprintf(buf, len, "machine %d", machine);
    return buf;
}

/* ---- bounded little-endian reads ------------------------------------------ */

typedef struct img {
    const uint8_t *p;
    size_t len;
} img;

static bool in(const img *f, uint64_t off, uint64_t n)
{
    return off <= f->len && n <= f->len - off;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

typedef struct shdr {
    uint32_t type, link;
    uint64_t offset, size, entsize;
} shdr;

typedef struct elf {
    img f;
    int machine;
    uint64_t shoff, phoff;
    uint16_t shnum, phnum;
} elf;

static bool section(const elf *e, unsigned i, shdr *s)
{
    const uint8_t *p = e->f.p + e->shoff + (uint64_t)i * sizeof(Elf64_Shdr);
    s->type = rd32(p + offsetof(Elf64_Shdr, sh_type));
    s->link = rd32(p + offsetof(Elf64_Shdr, sh_link));
    s->offset = rd64(p + offsetof(Elf64_Shdr, sh_offset));
    s->size = rd64(p + offsetof(Elf64_Shdr, sh_size));
    s->entsize = rd64(p + offsetof(Elf64_Shdr, sh_entsize));
    return s->type == SHT_NOBITS || in(&e->f, s->offset, s->size);
}

/* Map a virtual address range to the file: 1 with *off, 0 when it lies in
 * memory the file does not back (zero-filled), -1 when unmapped. */
static int vaddr_to_off(const elf *e, uint64_t va, uint64_t n, uint64_t *off)
{
    for (unsigned i = 0; i < e->phnum; i++) {
        const uint8_t *p = e->f.p + e->phoff + (uint64_t)i * sizeof(Elf64_Phdr);
        if (rd32(p + offsetof(Elf64_Phdr, p_type)) != PT_LOAD) continue;
        uint64_t pv = rd64(p + offsetof(Elf64_Phdr, p_vaddr));
        uint64_t po = rd64(p + offsetof(Elf64_Phdr, p_offset));
        uint64_t fsz = rd64(p + offsetof(Elf64_Phdr, p_filesz));
        uint64_t msz = rd64(p + offsetof(Elf64_Phdr, p_memsz));
        if (va < pv || va - pv > msz || n > msz - (va - pv)) continue;
        if (va - pv + n <= fsz && in(&e->f, po + (va - pv), n)) {
            *off = po + (va - pv);
            return 1;
        }
        return va - pv >= fsz ? 0 : -1;
    }
    return -1;
}

/* Read a NUL-terminated string at virtual address va. */
static int read_string(const elf *e, uint64_t va, char *out, size_t outlen)
{
    uint64_t off;
    for (size_t n = 0; n < outlen; n++) {
        if (vaddr_to_off(e, va + n, 1, &off) != 1) return -1;
        uint8_t c = e->f.p[off];
        if (c == 0) {
            out[n] = 0;
            return n ? 0 : -1;
        }
        if (c < 0x20 || c == 0x7f) return -1;
        out[n] = (char)c;
    }
    return -1;
}

/* The value the dynamic linker would store at va (a pointer field). */
static int pointer_at(const elf *e, uint64_t va, unsigned dynsym, uint64_t *value)
{
    unsigned rel = relative_type(e->machine), abs64 = abs64_type(e->machine);
    for (unsigned i = 0; i < e->shnum; i++) {
        shdr s;
        if (!section(e, i, &s) || s.type != SHT_RELA || s.entsize != sizeof(Elf64_Rela)) continue;
        for (uint64_t k = 0; k + sizeof(Elf64_Rela) <= s.size; k += sizeof(Elf64_Rela)) {
            const uint8_t *r = e->f.p + s.offset + k;
            if (rd64(r) != va) continue;
            uint64_t info = rd64(r + 8);
            uint64_t addend = rd64(r + 16);
            if ((uint32_t)info == rel) {
                *value = addend;
                return 0;
            }
            if ((uint32_t)info == abs64 && dynsym) {
                shdr ds;
                uint64_t symi = info >> 32;
                if (!section(e, dynsym, &ds) || symi >= ds.size / sizeof(Elf64_Sym)) return -1;
                const uint8_t *sym = e->f.p + ds.offset + symi * sizeof(Elf64_Sym);
                *value = rd64(sym + offsetof(Elf64_Sym, st_value)) + addend;
                return 0;
            }
            return -1;
        }
    }
    /* No relocation: the value stored in place (REL-style or RELR). */
    uint64_t off;
    if (vaddr_to_off(e, va, 8, &off) != 1) return -1;
    *value = rd64(e->f.p + off);
    return 0;
}

static int fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

static int read_descriptor(const elf *e, unsigned dynsym, uint64_t va, uint64_t size,
                           elf_plugin_info *out, char *err, size_t errlen)
{
    uint8_t head[8] = {0};
    uint64_t off;
    int m = vaddr_to_off(e, va, sizeof(head), &off);
    if (m < 0) return fail(err, errlen, "agenthost_plugin lies outside the library's segments");
    if (m == 1) memcpy(head, e->f.p + off, sizeof(head));
    out->has_descriptor = true;
    out->abi_major = rd16(head);
    out->abi_minor = rd16(head + 2);
    out->size = rd32(head + 4);
    if (out->abi_major != AH_ABI_MAJOR || size < offsetof(ah_plugin, version) + sizeof(char *))
        return 0; /* another major: its layout beyond the first 8 bytes is unknown */
    uint64_t name_va, version_va;
    if (pointer_at(e, va + offsetof(ah_plugin, name), dynsym, &name_va) < 0 ||
        pointer_at(e, va + offsetof(ah_plugin, version), dynsym, &version_va) < 0)
        return fail(err, errlen, "cannot read the descriptor's name and version pointers");
    if (name_va && read_string(e, name_va, out->name, sizeof(out->name)) < 0)
        return fail(err, errlen, "the descriptor's name is not a readable string");
    if (version_va && read_string(e, version_va, out->version, sizeof(out->version)) < 0)
        return fail(err, errlen, "the descriptor's version is not a readable string");
    return 0;
}

/* Is the dynamic symbol at s a visible definition of a function? */
static bool visible_function(const uint8_t *s)
{
    uint8_t info = s[offsetof(Elf64_Sym, st_info)], other = s[offsetof(Elf64_Sym, st_other)];
    unsigned bind = ELF64_ST_BIND(info), vis = ELF64_ST_VISIBILITY(other);
    return rd16(s + offsetof(Elf64_Sym, st_shndx)) != SHN_UNDEF &&
           ELF64_ST_TYPE(info) == STT_FUNC && (bind == STB_GLOBAL || bind == STB_WEAK) &&
           (vis == STV_DEFAULT || vis == STV_PROTECTED);
}

int elf_read_plugin(const uint8_t *buf, size_t len, elf_plugin_info *out, char *err, size_t errlen)
{
    return elf_read_plugin_exports(buf, len, out, NULL, NULL, 0, err, errlen);
}

int elf_read_plugin_exports(const uint8_t *buf, size_t len, elf_plugin_info *out,
                            const char *const *want_fn, bool *found, size_t nwant, char *err,
                            size_t errlen)
{
    for (size_t k = 0; k < nwant; k++)
        found[k] = false;
    memset(out, 0, sizeof(*out));
    if (len < EI_NIDENT || memcmp(buf, ELFMAG, SELFMAG) != 0)
        return fail(err, errlen, "not an ELF file");
    out->elf_class = buf[EI_CLASS];
    out->little_endian = buf[EI_DATA] == ELFDATA2LSB;
    if ((out->elf_class != ELFCLASS32 && out->elf_class != ELFCLASS64) ||
        (buf[EI_DATA] != ELFDATA2LSB && buf[EI_DATA] != ELFDATA2MSB))
        return fail(err, errlen, "not a valid ELF file (class or byte order)");
    if (len < 20) return fail(err, errlen, "truncated ELF header");
    out->machine = out->little_endian ? rd16(buf + 18) : (uint16_t)(buf[18] << 8 | buf[19]);
    if (out->elf_class != ELFCLASS64 || !out->little_endian || out->machine != elf_host_machine())
        return 0; /* foreign: the caller names the architecture */
    if (len < sizeof(Elf64_Ehdr)) return fail(err, errlen, "truncated ELF header");
    elf e = {.f = {buf, len}, .machine = out->machine};
    if (rd16(buf + offsetof(Elf64_Ehdr, e_type)) != ET_DYN)
        return fail(err, errlen, "not a shared library (ELF type is not ET_DYN)");
    e.shoff = rd64(buf + offsetof(Elf64_Ehdr, e_shoff));
    e.phoff = rd64(buf + offsetof(Elf64_Ehdr, e_phoff));
    e.shnum = rd16(buf + offsetof(Elf64_Ehdr, e_shnum));
    e.phnum = rd16(buf + offsetof(Elf64_Ehdr, e_phnum));
    if ((e.shnum && rd16(buf + offsetof(Elf64_Ehdr, e_shentsize)) != sizeof(Elf64_Shdr)) ||
        (e.phnum && rd16(buf + offsetof(Elf64_Ehdr, e_phentsize)) != sizeof(Elf64_Phdr)) ||
        !in(&e.f, e.shoff, (uint64_t)e.shnum * sizeof(Elf64_Shdr)) ||
        !in(&e.f, e.phoff, (uint64_t)e.phnum * sizeof(Elf64_Phdr)))
        return fail(err, errlen, "malformed ELF file (section or program headers out of bounds)");
    if (!e.shnum)
        return fail(err, errlen, "no section headers (stripped with sstrip?): cannot be checked");
    if (!e.phnum) return fail(err, errlen, "no program headers: not a loadable library");

    unsigned dynsym = 0;
    shdr syms = {0}, strs = {0};
    for (unsigned i = 0; i < e.shnum; i++) {
        shdr s;
        if (!section(&e, i, &s))
            return fail(err, errlen, "malformed ELF file (a section lies outside the file)");
        if (s.type == SHT_DYNSYM && !dynsym) {
            dynsym = i;
            syms = s;
        }
    }
    if (!dynsym) return 0; /* exports nothing */
    if (syms.entsize != sizeof(Elf64_Sym) || syms.link >= e.shnum ||
        !section(&e, syms.link, &strs) || strs.type != SHT_STRTAB)
        return fail(err, errlen, "malformed ELF file (dynamic symbol table)");
    uint64_t nsyms = syms.size / sizeof(Elf64_Sym);
    if (nsyms > MAX_SYMBOLS) return fail(err, errlen, "more than a million dynamic symbols");
    static const char want[] = AH_PLUGIN_SYMBOL;
    const uint8_t *desc = NULL;
    for (uint64_t i = 1; i < nsyms; i++) {
        const uint8_t *s = buf + syms.offset + i * sizeof(Elf64_Sym);
        uint32_t name = rd32(s + offsetof(Elf64_Sym, st_name));
        if (name >= strs.size) continue;
        const char *nm = (const char *)buf + strs.offset + name;
        size_t room = strs.size - name;
        for (size_t k = 0; k < nwant; k++)
            if (strnlen(nm, room) < room && !strcmp(nm, want_fn[k]) && visible_function(s))
                found[k] = true;
        if (!desc && room >= sizeof(want) && memcmp(nm, want, sizeof(want)) == 0 &&
            rd16(s + offsetof(Elf64_Sym, st_shndx)) != SHN_UNDEF)
            desc = s;
    }
    if (desc) {
        const uint8_t *s = desc;
        uint8_t info = s[offsetof(Elf64_Sym, st_info)], other = s[offsetof(Elf64_Sym, st_other)];
        unsigned bind = ELF64_ST_BIND(info), type = ELF64_ST_TYPE(info),
                 vis = ELF64_ST_VISIBILITY(other);
        if (type != STT_OBJECT || (bind != STB_GLOBAL && bind != STB_WEAK) ||
            (vis != STV_DEFAULT && vis != STV_PROTECTED))
            return fail(err, errlen,
                        "agenthost_plugin is exported but is not a visible data "
                        "object (define it with AH_PLUGIN)");
        uint64_t size = rd64(s + offsetof(Elf64_Sym, st_size));
        if (size < 8)
            return fail(err, errlen, "agenthost_plugin is smaller than a descriptor's header");
        return read_descriptor(&e, dynsym, rd64(s + offsetof(Elf64_Sym, st_value)), size, out, err,
                               errlen);
    }
    return 0;
}

int elf_read_plugin_file(const char *path, elf_plugin_info *out, char *err, size_t errlen)
{
    return elf_read_plugin_file_exports(path, out, NULL, NULL, 0, err, errlen);
}

int elf_read_plugin_file_exports(const char *path, elf_plugin_info *out, const char *const *want_fn,
                                 bool *found, size_t nwant, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    int rc = -1;
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
    } else if ((uint64_t)st.st_size > ELFINFO_MAX_FILE) {
        snprintf(err, errlen, "larger than %u MiB", ELFINFO_MAX_FILE >> 20);
    } else if (st.st_size == 0) {
        snprintf(err, errlen, "not an ELF file (empty)");
    } else {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            snprintf(err, errlen, "cannot read: %s", strerror(errno));
        } else {
            rc = elf_read_plugin_exports(p, (size_t)st.st_size, out, want_fn, found, nwant, err,
                                         errlen);
            munmap(p, (size_t)st.st_size);
        }
    }
    close(fd);
    return rc;
}
