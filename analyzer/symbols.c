/* symbols.c: offline symbolisation of site frames with elfutils libdwfl, using the dump's
 * MODULE records; falls back to "module+0xoff" when a file is gone or its build id differs. */
#include <elfutils/libdwfl.h>

/* libiberty's demangler (binutils' and gdb's): C++ and both Rust manglings (legacy
 * _ZN..17h<hash>E and v0 _R..). */
#include <libiberty/demangle.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report.h"

/* Sites share most of their frames: names are cached by address and module map epoch
 * (open addressing). */
struct sym_cache_entry { uint64_t addr; uint32_t epoch; char *text; };

struct st_symbolizer {
    const struct st_dump *d;
    Dwfl *dwfl;
    Dwfl_Module **mods;     /* per MODULE record; NULL: not usable, fall back */
    struct sym_cache_entry *cache;
    size_t cache_cap, cache_used;
};

static size_t cache_slot(const struct st_symbolizer *s, uint64_t addr, uint32_t epoch)
{
    size_t i = (size_t)(((addr ^ epoch) * 0x9E3779B97F4A7C15ull) >> 20) & (s->cache_cap - 1);
    while (s->cache[i].text && (s->cache[i].addr != addr || s->cache[i].epoch != epoch))
        i = (i + 1) & (s->cache_cap - 1);
    return i;
}

static void cache_grow(struct st_symbolizer *s)
{
    size_t old_cap = s->cache_cap, cap = old_cap ? old_cap * 2 : 1024;
    struct sym_cache_entry *old = s->cache, *fresh = calloc(cap, sizeof *fresh);
    if (!fresh) return;
    s->cache = fresh;
    s->cache_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].text) s->cache[cache_slot(s, old[i].addr, old[i].epoch)] = old[i];
    free(old);
}

static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The file on disk must be the one that was mapped: same build id when the dump has one. */
static bool build_id_matches(Dwfl_Module *mod, const struct st_rec_module *m)
{
    if (m->build_id_len == 0) return true;
    const unsigned char *bits = NULL;
    GElf_Addr vaddr = 0;
    int n = dwfl_module_build_id(mod, &bits, &vaddr);
    return n > 0 && (uint32_t)n == m->build_id_len && memcmp(bits, m->build_id, (size_t)n) == 0;
}

struct st_symbolizer *symbolizer_new(const struct st_dump *d)
{
    struct st_symbolizer *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->d = d;
    if (!d || d->n_modules == 0) return s;
    s->mods = calloc(d->n_modules, sizeof *s->mods);
    s->dwfl = dwfl_begin(&offline_callbacks);
    if (!s->mods || !s->dwfl) return s;
    dwfl_report_begin(s->dwfl);
    for (size_t i = 0; i < d->n_modules; i++) {
        const struct st_dump_module *m = &d->modules[i];
        if (m->path[0] != '/') continue;
        /* base is where the file's first PT_LOAD was mapped (add_p_vaddr false). Named by
         * the whole path: libdwfl reuses a module of the same name and range, and a library
         * loaded where another was unloaded may share both a base name and a range. */
        s->mods[i] = dwfl_report_elf(s->dwfl, m->path, m->path, -1, m->m.base, false);
    }
    if (dwfl_report_end(s->dwfl, NULL, NULL) != 0) {
        memset(s->mods, 0, d->n_modules * sizeof *s->mods);
        return s;
    }
    for (size_t i = 0; i < d->n_modules; i++)
        if (s->mods[i] && !build_id_matches(s->mods[i], &d->modules[i].m)) s->mods[i] = NULL;
    return s;
}

struct st_symbolizer *symbolizer_new_offsets(const struct st_dump *d)
{
    struct st_symbolizer *s = calloc(1, sizeof *s);
    if (s) s->d = d;
    return s;
}

struct st_symbolizer *symbolizer_for(const struct st_dump *d, const struct st_report_opts *o)
{
    return o && !o->symbolize ? symbolizer_new_offsets(d) : symbolizer_new(d);
}

/* Was module m loaded in module map epoch `epoch`? UINT64_MAX: at dump time. */
static bool loaded_in(const struct st_rec_module *m, uint64_t epoch)
{
    if (epoch == UINT64_MAX) return m->gone_epoch == 0;
    return m->first_epoch <= epoch && (m->gone_epoch == 0 || epoch < m->gone_epoch);
}

const struct st_dump_module *symbols_module_of(const struct st_dump *d, const struct st_dump_site *site,
                                               uint64_t addr, size_t *index)
{
    size_t unused;
    if (!index) index = &unused;
    /* Against the modules loaded when the site was captured: an address of a library
     * unloaded since may now be another library's. */
    uint64_t epoch = site ? site->s.module_epoch : UINT64_MAX;
    const struct st_dump_module *best = NULL;
    for (size_t i = 0; i < d->n_modules; i++) {
        const struct st_dump_module *m = &d->modules[i];
        if (addr < m->m.base || !loaded_in(&m->m, epoch)) continue;
        if (m->m.size ? addr - m->m.base < m->m.size : (!best || m->m.base > best->m.base)) {
            best = m;
            *index = i;
            if (m->m.size) break;
        }
    }
    return best;
}

static void symbolize_uncached(struct st_symbolizer *s, const struct st_dump_site *site, uint64_t addr,
                               char *out, size_t outlen);

/* A Python frame: its location from the dump's PYFRAME records (no debug info needed). */
static void python_frame(const struct st_dump *d, uint64_t frame, char *out, size_t outlen)
{
    const struct st_dump_pyframe *f = d ? st_dump_pyframe(d, frame) : NULL;
    if (!f) snprintf(out, outlen, "python frame #%u (location not in the dump)", ST_PYFRAME_ID(frame));
    else if (f->p.line > 0) snprintf(out, outlen, "%s (%s:%d)", f->func, f->file, f->p.line);
    else snprintf(out, outlen, "%s (%s)", f->func, f->file);
}

void symbolize_frame(struct st_symbolizer *s, const struct st_dump_site *site, uint32_t f, char *out, size_t outlen)
{
    if (outlen == 0) return;
    uint64_t addr = site && f < site->s.nframes && site->frames ? site->frames[f] : 0;
    if (st_is_pyframe(addr)) {
        python_frame(s ? s->d : NULL, addr, out, outlen);
        return;
    }
    if (!s) {
        snprintf(out, outlen, "0x%llx", (unsigned long long)addr);
        return;
    }
    if (s->cache_used * 2 >= s->cache_cap) cache_grow(s);
    uint32_t epoch = site ? site->s.module_epoch : 0;
    if (s->cache_cap) {
        size_t i = cache_slot(s, addr, epoch);
        if (s->cache[i].text) {
            snprintf(out, outlen, "%s", s->cache[i].text);
            return;
        }
        char buf[512];
        symbolize_uncached(s, site, addr, buf, sizeof buf);
        snprintf(out, outlen, "%s", buf);
        if ((s->cache[i].text = strdup(buf))) {
            s->cache[i].addr = addr;
            s->cache[i].epoch = epoch;
            s->cache_used++;
        }
        return;
    }
    symbolize_uncached(s, site, addr, out, outlen);
}

static void symbolize_uncached(struct st_symbolizer *s, const struct st_dump_site *site, uint64_t addr,
                               char *out, size_t outlen)
{
    if (outlen == 0) return;
    snprintf(out, outlen, "0x%llx", (unsigned long long)addr);
    if (!s || !s->d) return;
    size_t idx = 0;
    const struct st_dump_module *m = symbols_module_of(s->d, site, addr, &idx);
    if (!m) return;
    snprintf(out, outlen, "%s+0x%llx", base_name(m->path[0] ? m->path : "?"),
             (unsigned long long)(addr - m->m.base));
    Dwfl_Module *mod = s->mods ? s->mods[idx] : NULL;
    if (!mod) return;
    /* Frames are return addresses: the call is the instruction before. */
    Dwarf_Addr pc = addr > 0 ? addr - 1 : addr;
    const char *func = dwfl_module_addrname(mod, pc);
    if (!func) return;
    /* C++ and Rust servers are common users: ht_create(unsigned int), not _Z9ht_createj. */
    char *demangled = demangle_symbol(func);
    if (demangled) func = demangled;
    Dwfl_Line *line = dwfl_module_getsrc(mod, pc);
    int lineno = 0;
    const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    if (file && lineno > 0)
        snprintf(out, outlen, "%s (%s:%d)", func, base_name(file), lineno);
    else
        snprintf(out, outlen, "%s (%s)", func, base_name(m->path));
    free(demangled);
}

char *demangle_symbol(const char *name)
{
    if (!name || name[0] != '_' || (name[1] != 'Z' && name[1] != 'R')) return NULL;
    /* AUTO tries Rust first: legacy Rust names are valid C++ names with a hash suffix. */
    return cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
}

void symbolizer_free(struct st_symbolizer *s)
{
    if (!s) return;
    if (s->dwfl) dwfl_end(s->dwfl);
    for (size_t i = 0; i < s->cache_cap; i++) free(s->cache[i].text);
    free(s->cache);
    free(s->mods);
    free(s);
}
