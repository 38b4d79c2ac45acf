/*
 * bench_rag_ann - knowledge bases (issue 18, ADR 0048): the approximate
 * vector index (IVF-Flat, plugins/rag/ann.c) side by side with the exact
 * scan it replaces above `ann_min_vectors`, on generated vectors: a mixture
 * of n/50 Gaussian clusters around random unit centres (tests/support/
 * vecgen.c; many small topics: clusters do not line up with the index's
 * sqrt(n) lists, which makes recall honest), queries drawn the same way,
 * never from the base. Times are wall clock and CPU time of this thread
 * (the machine is shared: CPU time is what the work costs).
 *
 *   build    k-means on a sample and every vector listed: seconds, bytes
 *   exact    query latency p50/p99 of the linear scan (the floor of recall)
 *   ivf      query latency p50/p99 and recall@10 against exact at nprobe
 *            8, 32, 64 and 128 of sqrt(n) lists
 *   disk     the same vectors in the plugin's index on disk (LMDB, ADR
 *            0054): writing them, training in the plugin's slices (ADR 0058:
 *            the longest slice, the switch), the exact scan over the map and
 *            the IVF whose lists are consecutive keys, recall@10 against
 *            the exact search in memory, bytes of file per vector
 *
 *   bench_rag_ann --smoke | --full    (smoke: 20,000 vectors of 64 floats;
 *                                      full: 1,000,000 of 128)
 */
#include "bench.h"

#include "../../plugins/rag/ann.h"
#include "../../plugins/rag/disk.h"
#include "../support/vecgen.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define K 10

/* The vectors written as chunks of empty text (no postings), 1,000 per
 * document, each document one transaction after its embeddings'. */
static int disk_fill(rag_disk *d, rag_analyzer *an, const rag_vecs *s)
{
    enum { PER = 1000 };
    static char hashes[PER][17];
    static const float *vecs[PER];
    static size_t dims[PER];
    static rag_disk_chunk c[PER];
    for (size_t at = 0; at < s->n; at += PER) {
        size_t m = s->n - at < PER ? s->n - at : PER;
        for (size_t i = 0; i < m; i++) {
            snprintf(hashes[i], 17, "%016zx", at + i);
            vecs[i] = s->v + (at + i) * s->dim;
            dims[i] = s->dim;
            c[i] = (rag_disk_chunk){(uint32_t)i, 0, 0, 0, "", 0, "[]", hashes[i]};
        }
        char doc[32];
        snprintf(doc, sizeof doc, "d%zu", at / PER);
        if (rag_disk_emb_put(d, (const char(*)[17])hashes, vecs, dims, m, "") < 0 ||
            rag_disk_index_doc(d, an, "bench", doc, "0000000000000000", c, m, "") < 0)
            return -1;
    }
    return 0;
}

static void disk_section(bench *b, const rag_vecs *s, const float *q, size_t nq,
                         const rag_hit *exact)
{
    char dir[] = "/tmp/ah-bench-rag-ann-XXXXXX", err[300], path[64];
    rag_disk *d = NULL;
    rag_analyzer *an = rag_analyzer_new(1);
    size_t map_mb = s->n * s->dim * sizeof(float) * 6 / (1u << 20) + 256;
    bench_section(b, "disk", "the plugin's index on disk (LMDB): exact scan and IVF lists as keys");
    if (!an || !mkdtemp(dir) || rag_disk_open(&d, dir, map_mb, err, sizeof err) < 0) {
        bench_fail(b, "cannot open an index in %s", dir);
        goto out;
    }
    uint64_t t0 = bench_now_ns(), c0 = bench_cpu_thread_ns();
    if (disk_fill(d, an, s) < 0) {
        bench_fail(b, "writing the vectors failed: %s", rag_disk_error(d));
        goto out;
    }
    bench_row(b, "disk", "write_seconds", (double)(bench_now_ns() - t0) / 1e9, "s", "%s",
              "embeddings and chunks, a transaction per 1,000 (each synced)");
    bench_row(b, "disk", "used_bytes_per_vector_untrained",
              (double)rag_disk_used_bytes(d) / (double)s->n, "B", "%s",
              "pages in use before the IVF: embedding by hash, vector, chunk record, keys");
    bench_row(b, "disk", "write_cpu_us_per_vector",
              (double)(bench_cpu_thread_ns() - c0) / 1e3 / (double)s->n, "us", "%s", "CPU time");
    /* Trained as the plugin does (ADR 0058): in slices of its default
     * budget, the loop free between them; the longest slice is how long a
     * search or an ingestion can wait behind the training. */
    t0 = bench_now_ns(), c0 = bench_cpu_thread_ns();
    uint64_t slice_max = 0, switch_cpu = 0, slices = 0;
    int rc = rag_disk_train_begin(d, "bench", NULL);
    while (rc == 0) {
        uint64_t c = bench_cpu_thread_ns();
        int r = rag_disk_train_step(d, (size_t)1 << 24);
        uint64_t used = bench_cpu_thread_ns() - c;
        slices++;
        if (r <= 0) { /* the last slice is the switch: every vector listed in one transaction */
            switch_cpu = used;
            rc = r < 0 ? -1 : 1;
        } else if (used > slice_max) {
            slice_max = used;
        }
    }
    if (rc < 0) {
        bench_fail(b, "training failed: %s", rag_disk_error(d));
        goto out;
    }
    bench_row(b, "disk", "train_cpu_seconds", (double)(bench_cpu_thread_ns() - c0) / 1e9, "s",
              "k-means as above in %llu slices of 2^24 multiply-adds, then every vector listed "
              "in one transaction (wall %.1f s)",
              (unsigned long long)slices, (double)(bench_now_ns() - t0) / 1e9);
    bench_row(b, "disk", "train_slice_max_cpu_ms", (double)slice_max / 1e6, "ms",
              "the longest slice before the switch: how long the loop waits behind training");
    bench_row(b, "disk", "train_switch_cpu_ms", (double)switch_cpu / 1e6, "ms",
              "the switch: the lists written in one transaction");
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (stat(path, &st) == 0)
        bench_row(
            b, "disk", "file_bytes_per_vector", (double)st.st_size / (double)s->n, "B",
            "embedding by hash, the vector once (in its list; vec its number), chunk record, keys");
    bench_row(b, "disk", "used_bytes_per_vector", (double)rag_disk_used_bytes(d) / (double)s->n,
              "B", "%s", "the pages in use (the file is their high-water mark, free pages reused)");
    rag_hit got[K];
    bench_lat lat = {0}, cpu = {0};
    rag_vsearch_opts ex = {SIZE_MAX, 0};
    for (size_t i = 0; i < nq; i++) {
        int approx;
        uint64_t t = bench_now_ns(), c = bench_cpu_thread_ns();
        int m =
            rag_disk_vsearch(d, "bench", q + i * s->dim, s->dim, &ex, NULL, NULL, got, K, &approx);
        bench_lat_add(&lat, bench_now_ns() - t);
        bench_lat_add(&cpu, bench_cpu_thread_ns() - c);
        if (m != K || approx) bench_fail(b, "the exact scan on disk failed");
    }
    bench_row(b, "disk", "exact_p50_us", bench_lat_us(&lat, 0.5), "us", "%s", "");
    bench_row(b, "disk", "exact_cpu_ns_per_vector", bench_lat_us(&cpu, 0.5) * 1000.0 / (double)s->n,
              "ns", "%s", "CPU time per vector, read in key order from the map");
    bench_lat_free(&lat);
    bench_lat_free(&cpu);
    rag_disk_stats ds;
    rag_disk_stats_get(d, "bench", &ds);
    static const size_t probes[] = {8, 32, 128};
    for (size_t p = 0; p < 3; p++) {
        rag_vsearch_opts o = {0, probes[p]};
        double recall = 0;
        for (size_t i = 0; i < nq; i++) {
            int approx;
            uint64_t t = bench_now_ns(), c = bench_cpu_thread_ns();
            int m = rag_disk_vsearch(d, "bench", q + i * s->dim, s->dim, &o, NULL, NULL, got, K,
                                     &approx);
            bench_lat_add(&lat, bench_now_ns() - t);
            bench_lat_add(&cpu, bench_cpu_thread_ns() - c);
            if (m < 0 || !approx) bench_fail(b, "the IVF search on disk failed");
            recall += vecgen_recall(exact + i * K, K, got, m < 0 ? 0 : (size_t)m, K);
        }
        char key[64];
        snprintf(key, sizeof key, "ivf_nprobe%zu_recall10", probes[p]);
        bench_row(b, "disk", key, recall / (double)nq, "", "nprobe %zu of %u lists", probes[p],
                  ds.nlist);
        snprintf(key, sizeof key, "ivf_nprobe%zu_p50_us", probes[p]);
        bench_row(b, "disk", key, bench_lat_us(&lat, 0.5), "us", "%s", "");
        double scanned = (double)s->n * (double)probes[p] / (double)ds.nlist;
        snprintf(key, sizeof key, "ivf_nprobe%zu_cpu_ns_per_vector", probes[p]);
        bench_row(b, "disk", key, bench_lat_us(&cpu, 0.5) * 1000.0 / scanned, "ns", "%s",
                  "CPU time per vector in the probed lists");
        bench_lat_free(&lat);
        bench_lat_free(&cpu);
    }
out:
    rag_disk_close(d);
    rag_analyzer_free(an);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (dir[sizeof dir - 2] != 'X' && system(cmd) != 0) bench_fail(b, "cannot remove %s", dir);
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "rag_ann", argc, argv);
    size_t n = (size_t)bench_pick(&b, 20000, 1000000);
    size_t dim = (size_t)bench_pick(&b, 64, 128);
    size_t nq = (size_t)bench_pick(&b, 50, 100);
    vecgen g;
    rag_vecs s = {0};
    if (vecgen_init(&g, dim, n / 50, 1.0, 18) < 0 || vecgen_fill(&g, &s, n) < 0) {
        bench_fail(&b, "cannot generate %zu vectors", n);
        return bench_finish(&b);
    }
    float *q = malloc(nq * dim * sizeof *q);
    rag_hit *exact = malloc(nq * K * sizeof *exact), got[K];
    for (size_t i = 0; i < nq; i++)
        vecgen_next(&g, q + i * dim);

    char title[160];
    snprintf(title, sizeof title, "%zu vectors of %zu floats (%zu clusters), %zu queries, top %d",
             n, dim, n / 50, nq, K);
    bench_section(&b, "build", title);
    uint64_t t0 = bench_now_ns(), c0 = bench_cpu_thread_ns();
    rag_ann *a = rag_ann_build(&s, NULL);
    if (!a) {
        bench_fail(&b, "cannot build the index");
        return bench_finish(&b);
    }
    bench_row(&b, "build", "seconds", (double)(bench_now_ns() - t0) / 1e9, "s",
              "k-means (8 rounds, 64 vectors per list sampled) and every vector listed");
    bench_row(&b, "build", "cpu_seconds", (double)(bench_cpu_thread_ns() - c0) / 1e9, "s", "%s",
              "CPU time of the same");
    bench_row(&b, "build", "lists", (double)rag_ann_nlist(a), "", "sqrt(n)");
    bench_row(&b, "build", "index_bytes_per_vector", (double)rag_ann_bytes(a) / (double)n, "B",
              "ids, the lists' copies of the vectors (%zu B each) and centroids",
              dim * sizeof(float));

    bench_section(&b, "exact", "linear scan (the floor: recall 1)");
    bench_lat lat = {0}, cpu = {0};
    for (size_t i = 0; i < nq; i++) {
        uint64_t t = bench_now_ns(), c = bench_cpu_thread_ns();
        if (rag_vecs_search(&s, q + i * dim, NULL, NULL, exact + i * K, K) != K)
            bench_fail(&b, "exact search failed");
        bench_lat_add(&lat, bench_now_ns() - t);
        bench_lat_add(&cpu, bench_cpu_thread_ns() - c);
    }
    bench_row(&b, "exact", "p50_us", bench_lat_us(&lat, 0.5), "us", "%s", "");
    bench_row(&b, "exact", "p99_us", bench_lat_us(&lat, 0.99), "us", "%s", "");
    bench_row(&b, "exact", "cpu_p50_us", bench_lat_us(&cpu, 0.5), "us", "%s", "CPU time");
    bench_row(&b, "exact", "cpu_ns_per_vector", bench_lat_us(&cpu, 0.5) * 1000.0 / (double)n, "ns",
              "%s", "CPU time per vector scanned");
    bench_lat_free(&lat);
    bench_lat_free(&cpu);

    bench_section(&b, "ivf", "IVF-Flat: latency and recall@10 against exact");
    static const size_t probes[] = {8, 32, 64, 128};
    for (size_t p = 0; p < 4; p++) {
        double recall = 0;
        for (size_t i = 0; i < nq; i++) {
            uint64_t t = bench_now_ns(), c = bench_cpu_thread_ns();
            int m = rag_ann_search(a, &s, q + i * dim, probes[p], NULL, NULL, got, K);
            bench_lat_add(&lat, bench_now_ns() - t);
            bench_lat_add(&cpu, bench_cpu_thread_ns() - c);
            if (m < 0) bench_fail(&b, "ivf search failed");
            recall += vecgen_recall(exact + i * K, K, got, m < 0 ? 0 : (size_t)m, K);
        }
        char key[64];
        snprintf(key, sizeof key, "nprobe%zu_recall10", probes[p]);
        bench_row(&b, "ivf", key, recall / (double)nq, "", "nprobe %zu of %zu lists", probes[p],
                  rag_ann_nlist(a));
        snprintf(key, sizeof key, "nprobe%zu_p50_us", probes[p]);
        bench_row(&b, "ivf", key, bench_lat_us(&lat, 0.5), "us", "%s", "");
        snprintf(key, sizeof key, "nprobe%zu_p99_us", probes[p]);
        bench_row(&b, "ivf", key, bench_lat_us(&lat, 0.99), "us", "%s", "");
        snprintf(key, sizeof key, "nprobe%zu_cpu_p50_us", probes[p]);
        bench_row(&b, "ivf", key, bench_lat_us(&cpu, 0.5), "us", "%s", "CPU time");
        /* lists average n / nlist vectors: the centroids' scoring included */
        double scanned = (double)n * (double)probes[p] / (double)rag_ann_nlist(a);
        snprintf(key, sizeof key, "nprobe%zu_cpu_ns_per_vector", probes[p]);
        bench_row(&b, "ivf", key, bench_lat_us(&cpu, 0.5) * 1000.0 / scanned, "ns", "%s",
                  "CPU time per vector in the probed lists (about n * nprobe / lists)");
        bench_lat_free(&lat);
        bench_lat_free(&cpu);
    }
    rag_ann_free(a);
    disk_section(&b, &s, q, nq, exact);
    free(q);
    free(exact);
    rag_vecs_free(&s);
    vecgen_free(&g);
    return bench_finish(&b);
}
