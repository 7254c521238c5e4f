/* smaps.c: the process's mappings with their resident bytes, from /proc/self/smaps,
 * classified (brk heap, arena heap, stack, anonymous, file) for the dump. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "shim.h"
#include "dump_parts.h"
#include "arena_stats.h"

static char smaps_buf[64 * 1024];   /* used under the dump lock only */

struct mapping_acc {
    bool open;
    struct st_rec_mapping m;
    char name[256];
};

static void flush_mapping(struct st_dump_writer *w, struct mapping_acc *acc)
{
    if (!acc->open) return;
    acc->open = false;
    struct st_rec_mapping *m = &acc->m;
    const char *name = acc->name;
    if (!strcmp(name, "[heap]")) m->kind = ST_MAP_BRK_HEAP;
    else if (!strncmp(name, "[stack", 6)) m->kind = ST_MAP_STACK;
    else if (name[0] == '/') m->kind = ST_MAP_FILE;
    else if (!name[0] && arena_is_glibc_heap(m->start)) m->kind = ST_MAP_ARENA_HEAP;
    else if (!name[0]) m->kind = ST_MAP_ANON;
    else m->kind = ST_MAP_OTHER;
    dump_put(w, ST_REC_MAPPING, m, sizeof *m, name, (uint32_t)strlen(name));
}

static void parse_header(struct mapping_acc *acc, char *line)
{
    memset(acc, 0, sizeof *acc);
    char *p = line;
    acc->m.start = strtoull(p, &p, 16);
    if (*p == '-') p++;
    acc->m.end = strtoull(p, &p, 16);
    while (*p == ' ') p++;
    uint32_t perms = 0;
    if (p[0] == 'r') perms |= 1;
    if (p[1] == 'w') perms |= 2;
    if (p[2] == 'x') perms |= 4;
    if (p[3] == 's') perms |= 8;
    acc->m.perms = perms;
    /* skip perms, offset, dev, inode: the name is what follows, maybe empty */
    for (int field = 0; field < 4 && *p; field++) {
        while (*p && *p != ' ') p++;
        while (*p == ' ') p++;
    }
    size_t n = strlen(p);
    if (n >= sizeof acc->name) n = sizeof acc->name - 1;
    memcpy(acc->name, p, n);
    acc->name[n] = 0;
    acc->open = true;
}

static void parse_line(struct mapping_acc *acc, char *line)
{
    /* Header lines start with a hex address followed by '-'; field lines with a Name: */
    char *colon = strchr(line, ':');
    char *dash = strchr(line, '-');
    if (dash && (!colon || dash < colon)) { parse_header(acc, line); return; }
    if (!acc->open || !colon) return;
    uint64_t kb = strtoull(colon + 1, NULL, 10) * 1024;
    size_t klen = (size_t)(colon - line);
    if (klen == 3 && !strncmp(line, "Rss", 3)) acc->m.rss = kb;
    else if (klen == 3 && !strncmp(line, "Pss", 3)) acc->m.pss = kb;
    else if (klen == 9 && !strncmp(line, "Anonymous", 9)) acc->m.anonymous = kb;
    else if (klen == 13 && !strncmp(line, "Private_Dirty", 13)) acc->m.private_dirty = kb;
    else if (klen == 4 && !strncmp(line, "Swap", 4)) acc->m.swap = kb;
}

void dump_mapping_records(struct st_dump_writer *w)
{
    int fd = st_open_proc(ST_PROC_SELF "/smaps");
    if (fd < 0) return;
    struct mapping_acc acc = {0};
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, smaps_buf + have, sizeof smaps_buf - 1 - have);
        if (n <= 0) break;
        have += (size_t)n;
        smaps_buf[have] = 0;
        char *line = smaps_buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            char *hdr_dash = strchr(line, '-');
            char *colon = strchr(line, ':');
            if (hdr_dash && (!colon || hdr_dash < colon)) flush_mapping(w, &acc);
            parse_line(&acc, line);
            line = nl + 1;
        }
        have = strlen(line);
        memmove(smaps_buf, line, have);
    }
    st_close_proc(fd);
    flush_mapping(w, &acc);
}
