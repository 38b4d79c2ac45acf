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
 *
 *   bench_rag_ann --smoke | --full    (smoke: 20,000 vectors of 64 floats;
 *                                      full: 1,000,000 of 128)
 */
#include "bench.h"

#include "../../plugins/rag/ann.h"
#include "../support/vecgen.h"

#include <stdio.h>
#include <stdlib.h>

#define K 10

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
              "ids and centroids, beside the vector's own %zu B", dim * sizeof(float));

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
        bench_lat_free(&lat);
        bench_lat_free(&cpu);
    }
    rag_ann_free(a);
    free(q);
    free(exact);
    rag_vecs_free(&s);
    vecgen_free(&g);
    return bench_finish(&b);
}
