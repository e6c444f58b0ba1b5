/*
 * block_counts: how often the guest executed each translation block, for
 * `make profile` (harness/cosim/profile.py).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Snapshots on request: the harness writes "dump FILE" lines into the FIFO
 * named by ctl=, and the plugin writes one line per block that has run so
 * far, "vaddr executions instructions" (vaddr in hex), to FILE.tmp and
 * renames it to FILE when complete.  Counts are kept per vCPU (an
 * execution callback, not an inline add, which two vCPUs running the same
 * kernel code would race on) and summed when written.  A block translated
 * again (after a flush, or code patched in place) adds to the same entry.
 */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

struct block {
    uint64_t vaddr;
    unsigned int insns;
    uint64_t count[];       /* per vCPU */
};

static GHashTable *blocks;  /* (vaddr, insns) -> struct block */
static GMutex lock;
static int vcpus;
static char *ctl_path;

static void block_exec(unsigned int vcpu_index, void *udata)
{
    struct block *b = udata;

    b->count[vcpu_index]++;
}

static void block_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    uint64_t vaddr = qemu_plugin_tb_vaddr(tb);
    unsigned int insns = qemu_plugin_tb_n_insns(tb);
    /* one block per start and length: a patched block may change length */
    uint64_t key = vaddr ^ ((uint64_t)insns << 52);
    struct block *b;

    g_mutex_lock(&lock);
    b = g_hash_table_lookup(blocks, &key);
    if (!b) {
        uint64_t *k = g_new(uint64_t, 1);

        b = g_malloc0(sizeof(*b) + vcpus * sizeof(b->count[0]));
        b->vaddr = vaddr;
        b->insns = insns;
        *k = key;
        g_hash_table_insert(blocks, k, b);
    }
    g_mutex_unlock(&lock);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, block_exec, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void write_counts(const char *path)
{
    g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
    FILE *f = fopen(tmp, "w");
    GHashTableIter it;
    gpointer key, value;

    if (!f) {
        qemu_plugin_outs("block_counts: cannot write the counts\n");
        return;
    }
    g_mutex_lock(&lock);
    g_hash_table_iter_init(&it, blocks);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        struct block *b = value;
        uint64_t n = 0;
        int i;

        for (i = 0; i < vcpus; i++) {
            n += b->count[i];
        }
        if (n) {
            fprintf(f, "%" PRIx64 " %" PRIu64 " %u\n", b->vaddr, n, b->insns);
        }
    }
    g_mutex_unlock(&lock);
    if (fclose(f) == 0) {
        rename(tmp, path);
    }
}

/* Opening a FIFO for reading waits for a writer: one open per harness write. */
static gpointer control(gpointer data)
{
    char line[4096];

    for (;;) {
        FILE *f = fopen(ctl_path, "r");

        if (!f) {
            qemu_plugin_outs("block_counts: cannot open ctl=\n");
            return NULL;
        }
        while (fgets(line, sizeof(line), f)) {
            g_strchomp(line);
            if (g_str_has_prefix(line, "dump ")) {
                write_counts(line + 5);
            }
        }
        fclose(f);
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    int i;

    for (i = 0; i < argc; i++) {
        if (g_str_has_prefix(argv[i], "ctl=")) {
            ctl_path = g_strdup(argv[i] + 4);
        }
    }
    if (!ctl_path || !info->system_emulation) {
        fprintf(stderr, "block_counts: needs ctl=FIFO, and system emulation\n");
        return -1;
    }
    vcpus = info->system.max_vcpus;
    blocks = g_hash_table_new(g_int64_hash, g_int64_equal);
    qemu_plugin_register_vcpu_tb_trans_cb(id, block_trans);
    g_thread_unref(g_thread_new("block_counts", control, NULL));
    return 0;
}
