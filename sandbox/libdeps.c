/*
 * libdeps.c - the files the dynamic loader will open when the runner
 * dlopens a plugin, so that the minimal root and Landlock can hold exactly
 * those: the plugin's directory, each DT_NEEDED dependency (recursively)
 * that the runner has not loaded already, found the way ld.so finds it
 * (DT_RPATH, DT_RUNPATH with $ORIGIN, /etc/ld.so.cache, the default
 * directories), and the cache itself when a search will read it.
 *
 * The plugin file is untrusted and read before the seccomp filters are on:
 * every offset is checked against the file's size before use.
 */
#include "sandbox_priv.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_MACHINE EM_X86_64
#define CACHE_FLAGS 0x0303 /* FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 */
#define MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define NATIVE_MACHINE EM_AARCH64
#define CACHE_FLAGS 0x0a03 /* FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64 */
#define MULTIARCH "aarch64-linux-gnu"
#else
#error "libdeps.c: add this architecture's ELF machine and loader cache flags"
#endif

#define LD_CACHE "/etc/ld.so.cache"
#define MAX_NEEDED 64
#define MAX_DEPTH 8
#define MAX_ELF_BYTES (1u << 30)

static const char *const default_dirs[] = {
    "/lib/" MULTIARCH, "/usr/lib/" MULTIARCH, "/lib64", "/usr/lib64", "/lib", "/usr/lib"};

typedef struct elf_deps {
    char *needed[MAX_NEEDED];
    size_t n;
    char *rpath, *runpath;
} elf_deps;

static void deps_free(elf_deps *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->needed[i]);
    free(d->rpath);
    free(d->runpath);
    memset(d, 0, sizeof(*d));
}

static bool in_file(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

/* The file offset of a virtual address, through the PT_LOAD segments. */
static int vaddr_to_off(const Elf64_Phdr *ph, size_t n, uint64_t va, uint64_t *off)
{
    for (size_t i = 0; i < n; i++) {
        if (ph[i].p_type != PT_LOAD) continue;
        if (va >= ph[i].p_vaddr && va - ph[i].p_vaddr < ph[i].p_filesz) {
            *off = va - ph[i].p_vaddr + ph[i].p_offset;
            return 0;
        }
    }
    return -1;
}

static char *str_at(const char *strtab, uint64_t strsz, uint64_t at)
{
    if (at >= strsz || !memchr(strtab + at, 0, strsz - at)) return NULL;
    return strdup(strtab + at);
}

static int parse_elf(const unsigned char *m, uint64_t size, elf_deps *d, const char **why)
{
    const Elf64_Ehdr *eh = (const void *)m;
    if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
        *why = "not an ELF file";
        return -1;
    }
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != NATIVE_MACHINE) {
        *why = "an ELF file for another architecture";
        return -1;
    }
    if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
        !in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), size)) {
        *why = "bad program headers";
        return -1;
    }
    if (eh->e_phoff % _Alignof(Elf64_Phdr) != 0) {
        *why = "misaligned program headers";
        return -1;
    }
    const Elf64_Phdr *ph = (const void *)(m + eh->e_phoff);
    const Elf64_Phdr *dyn = NULL;
    for (size_t i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_DYNAMIC) dyn = &ph[i];
    if (!dyn) return 0; /* static: no dependencies */
    if (!in_file(dyn->p_offset, dyn->p_filesz, size) || dyn->p_offset % _Alignof(Elf64_Dyn)) {
        *why = "bad dynamic section";
        return -1;
    }
    const Elf64_Dyn *dt = (const void *)(m + dyn->p_offset);
    size_t ndt = dyn->p_filesz / sizeof(Elf64_Dyn);
    uint64_t strtab_va = 0, strsz = 0, needed[MAX_NEEDED];
    uint64_t rpath = UINT64_MAX, runpath = UINT64_MAX;
    size_t nneeded = 0;
    bool have_strtab = false;
    for (size_t i = 0; i < ndt && dt[i].d_tag != DT_NULL; i++) {
        switch (dt[i].d_tag) {
        case DT_NEEDED:
            if (nneeded == MAX_NEEDED) {
                *why = "too many DT_NEEDED entries";
                return -1;
            }
            needed[nneeded++] = dt[i].d_un.d_val;
            break;
        case DT_STRTAB:
            strtab_va = dt[i].d_un.d_ptr;
            have_strtab = true;
            break;
        case DT_STRSZ:
            strsz = dt[i].d_un.d_val;
            break;
        case DT_RPATH:
            rpath = dt[i].d_un.d_val;
            break;
        case DT_RUNPATH:
            runpath = dt[i].d_un.d_val;
            break;
        }
    }
    if (!nneeded && rpath == UINT64_MAX && runpath == UINT64_MAX) return 0;
    uint64_t stroff;
    if (!have_strtab || vaddr_to_off(ph, eh->e_phnum, strtab_va, &stroff) < 0 ||
        !in_file(stroff, strsz, size)) {
        *why = "bad string table";
        return -1;
    }
    const char *strtab = (const char *)m + stroff;
    for (size_t i = 0; i < nneeded; i++) {
        char *s = str_at(strtab, strsz, needed[i]);
        if (!s || !*s) {
            free(s);
            *why = "bad DT_NEEDED name";
            return -1;
        }
        d->needed[d->n++] = s;
    }
    if (rpath != UINT64_MAX && !(d->rpath = str_at(strtab, strsz, rpath))) {
        *why = "bad DT_RPATH";
        return -1;
    }
    if (runpath != UINT64_MAX && !(d->runpath = str_at(strtab, strsz, runpath))) {
        *why = "bad DT_RUNPATH";
        return -1;
    }
    return 0;
}

/* Map a file read-only; *size gets its size. NULL with errno on failure. */
static void *map_file(const char *path, uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    void *m = MAP_FAILED;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size <= MAX_ELF_BYTES) {
        m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        *size = (uint64_t)st.st_size;
    } else {
        errno = EINVAL;
    }
    int e = errno;
    close(fd);
    errno = e;
    return m == MAP_FAILED ? NULL : m;
}

static int read_deps(const char *path, elf_deps *d, char *err, size_t errlen)
{
    uint64_t size = 0;
    void *m = map_file(path, &size);
    if (!m) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    const char *why = NULL;
    int rc = parse_elf(m, size, d, &why);
    munmap(m, (size_t)size);
    if (rc < 0) {
        deps_free(d);
        snprintf(err, errlen, "%s: %s", path, why);
    }
    return rc;
}

/* Is this file an ELF object the loader would accept for this process? */
static bool usable(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    Elf64_Ehdr eh;
    bool ok = read(fd, &eh, sizeof(eh)) == (ssize_t)sizeof(eh) &&
              memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
              eh.e_machine == NATIVE_MACHINE;
    close(fd);
    return ok;
}

/* Search a colon-separated list of directories ($ORIGIN expanded). */
static bool search_dirs(const char *list, const char *origin, const char *name, char *out,
                        size_t outlen)
{
    char buf[PATH_MAX];
    if (!list || strlen(list) >= sizeof(buf)) return false;
    snprintf(buf, sizeof(buf), "%s", list);
    char *save = NULL;
    for (char *dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        const char *rest = NULL;
        if (!strncmp(dir, "$ORIGIN", 7))
            rest = dir + 7;
        else if (!strncmp(dir, "${ORIGIN}", 9))
            rest = dir + 9;
        int n = rest ? snprintf(out, outlen, "%s%s/%s", origin, rest, name)
                     : snprintf(out, outlen, "%s/%s", dir, name);
        if (strchr(dir, '$') && !rest) continue; /* $LIB, $PLATFORM: not supported, as if absent */
        if (n > 0 && (size_t)n < outlen && usable(out)) return true;
    }
    return false;
}

/* Look a soname up in the loader cache (the "glibc-ld.so.cache1.1" format,
 * alone or after the old one). */
static bool search_cache(const char *name, char *out, size_t outlen)
{
    static const char old_magic[] = "ld.so-1.7.0", new_magic[] = "glibc-ld.so.cache1.1";
    uint64_t size = 0;
    unsigned char *m = map_file(LD_CACHE, &size);
    if (!m) return false;
    uint64_t at = 0;
    if (size > 16 && !memcmp(m, old_magic, sizeof(old_magic) - 1)) {
        uint32_t nold;
        memcpy(&nold, m + 12, 4);
        at = (16 + (uint64_t)nold * 12 + 7) & ~(uint64_t)7;
    }
    bool found = false;
    const uint64_t hdr = 48, ent = 24;
    if (in_file(at, hdr, size) && !memcmp(m + at, new_magic, sizeof(new_magic) - 1)) {
        uint32_t nlibs;
        memcpy(&nlibs, m + at + 20, 4);
        for (uint64_t i = 0; i < nlibs && in_file(at + hdr + i * ent, ent, size) && !found; i++) {
            const unsigned char *e = m + at + hdr + i * ent;
            int32_t flags;
            uint32_t key, value;
            uint64_t hwcap;
            memcpy(&flags, e, 4);
            memcpy(&key, e + 4, 4);
            memcpy(&value, e + 8, 4);
            memcpy(&hwcap, e + 16, 8);
            if (flags != CACHE_FLAGS || hwcap != 0) continue;
            uint64_t k = at + key, v = at + value;
            if (k >= size || v >= size || !memchr(m + k, 0, size - k) ||
                !memchr(m + v, 0, size - v))
                continue;
            if (strcmp((const char *)m + k, name) != 0) continue;
            if ((size_t)snprintf(out, outlen, "%s", (const char *)m + v) < outlen && usable(out))
                found = true;
        }
    }
    munmap(m, (size_t)size);
    return found;
}

static bool already_loaded(const char *name)
{
    void *h = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
    if (h) dlclose(h);
    dlerror();
    return h != NULL;
}

typedef struct walk {
    sb_paths *out;
    bool searched;
    char *err;
    size_t errlen;
} walk;

static int visit(walk *w, const char *path, int depth);

static int resolve(walk *w, const char *name, const elf_deps *d, const char *origin, int depth)
{
    if (already_loaded(name)) return 0;
    char found[PATH_MAX];
    if (strchr(name, '/')) {
        snprintf(found, sizeof(found), "%s", name);
        if (!usable(found)) {
            snprintf(w->err, w->errlen, "dependency %s cannot be loaded", name);
            return -1;
        }
    } else {
        w->searched = true;
        bool ok = (!d->runpath && search_dirs(d->rpath, origin, name, found, sizeof(found))) ||
                  search_dirs(d->runpath, origin, name, found, sizeof(found)) ||
                  search_cache(name, found, sizeof(found));
        for (size_t i = 0; !ok && i < sizeof(default_dirs) / sizeof(default_dirs[0]); i++)
            ok = search_dirs(default_dirs[i], origin, name, found, sizeof(found));
        if (!ok) {
            snprintf(w->err, w->errlen, "dependency %s not found", name);
            return -1;
        }
    }
    return visit(w, found, depth + 1);
}

static int visit(walk *w, const char *path, int depth)
{
    if (depth > MAX_DEPTH) {
        snprintf(w->err, w->errlen, "dependencies nested deeper than %d", MAX_DEPTH);
        return -1;
    }
    for (size_t i = 0; i < w->out->n; i++)
        if (!strcmp(w->out->v[i], path)) return 0;
    if (sb_paths_add(w->out, path, false) < 0) {
        snprintf(w->err, w->errlen, "more than %d files to expose", SB_MAX_PATHS);
        return -1;
    }
    elf_deps d = {0};
    if (read_deps(path, &d, w->err, w->errlen) < 0) return -1;
    char origin[PATH_MAX];
    snprintf(origin, sizeof(origin), "%s", path);
    char *slash = strrchr(origin, '/');
    if (slash) *(slash == origin ? slash + 1 : slash) = 0;
    int rc = 0;
    for (size_t i = 0; i < d.n && rc == 0; i++)
        rc = resolve(w, d.needed[i], &d, origin, depth);
    deps_free(&d);
    return rc;
}

int libdeps_collect(const char *library, sb_paths *out, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", library);
    char *slash = strrchr(dir, '/');
    if (library[0] != '/' || !slash || slash == dir) {
        snprintf(err, errlen, "%s: the plugin library must be an absolute path", library);
        return -1;
    }
    *slash = 0;
    if (sb_paths_add(out, dir, true) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    walk w = {.out = out, .err = err, .errlen = errlen};
    if (visit(&w, library, 0) < 0) return -1;
    if (w.searched && access(LD_CACHE, R_OK) == 0 && sb_paths_add(out, LD_CACHE, false) < 0) {
        snprintf(err, errlen, "more than %d files to expose", SB_MAX_PATHS);
        return -1;
    }
    return 0;
}
