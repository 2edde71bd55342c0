package dev.jvllm.worker.cpu;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ComputePoolTest {
    @Test
    void everyIndexRunsExactlyOnceAcrossManyCalls() {
        try (ComputePool pool = new ComputePool(3)) {
            for (int call = 0; call < 2000; call++) {
                int n = 1 + call % 97;
                AtomicIntegerArray hits = new AtomicIntegerArray(n);
                pool.parallelFor(n, 1, (from, to) -> {
                    for (int i = from; i < to; i++) {
                        hits.incrementAndGet(i);
                    }
                });
                for (int i = 0; i < n; i++) {
                    assertEquals(1, hits.get(i), "index " + i + " of call " + call);
                }
            }
        }
    }

    /**
     * Each thread takes its own run of chunks front to back (one sequential stream); a thread that runs out
     * takes the others' last chunks, so a stalled thread only keeps the chunk it is in. Here the helper stalls
     * in its first chunk until the caller has taken the rest of the helper's run, from the back.
     */
    @Test
    void threadsTakeTheirOwnRunInOrderThenTheOthersFromTheBack() throws Exception {
        try (ComputePool pool = new ComputePool(2)) {
            Thread caller = Thread.currentThread();
            java.util.List<Integer> byCaller = new java.util.ArrayList<>();
            java.util.List<Integer> byHelper = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
            java.util.concurrent.CountDownLatch stolen = new java.util.concurrent.CountDownLatch(1);
            pool.parallelFor(8, 1, (from, to) -> {
                if (Thread.currentThread() == caller) {
                    byCaller.add(from);
                    if (from == 5) {
                        stolen.countDown();
                    }
                } else {
                    byHelper.add(from);
                    try {
                        stolen.await(10, java.util.concurrent.TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                }
            });
            // The caller owns chunks 0-3 and the helper 4-7 (8 chunks of one index each).
            assertEquals(java.util.List.of(0, 1, 2, 3, 7, 6, 5), byCaller.subList(0, 7));
            if (byHelper.isEmpty()) {
                assertEquals(java.util.List.of(0, 1, 2, 3, 7, 6, 5, 4), byCaller, "helper never came: the caller took all");
            } else {
                assertEquals(java.util.List.of(4), byHelper);
                assertEquals(7, byCaller.size());
            }
        }
    }

    @Test
    void failureOfAChunkReachesTheCallerAndThePoolKeepsWorking() {
        try (ComputePool pool = new ComputePool(2)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.parallelFor(64, 1, (from, to) -> {
                if (from <= 40 && 40 < to) {
                    throw new IllegalStateException("boom");
                }
            }));
            assertEquals("boom", e.getMessage());
            int[] out = new int[10];
            pool.parallelFor(10, 1, (from, to) -> {
                for (int i = from; i < to; i++) {
                    out[i] = i;
                }
            });
            assertArrayEquals(new int[]{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, out);
        }
    }

    @Test
    void coreListsParseLikeVllmThreadsBind() {
        assertArrayEquals(new int[]{0, 1, 2, 3}, CoreBinding.parse("0-3"));
        assertArrayEquals(new int[]{0, 2, 5, 6}, CoreBinding.parse("0,2,5-6"));
        assertArrayEquals(new int[]{4, 5}, CoreBinding.parse("4-5|6-7"));
        assertEquals(0, CoreBinding.parse("all").length);
        assertEquals(0, CoreBinding.parse(null).length);
        assertThrows(IllegalArgumentException.class, () -> CoreBinding.parse("3-1"));
        assertThrows(IllegalArgumentException.class, () -> CoreBinding.parse("x"));
    }

    @Test
    void boundPoolStillComputes() throws Exception {
        // Binding may be refused (containers); either way the results must be complete. The caller
        // gets bound too, so it is a throwaway thread rather than the test runner's.
        AtomicIntegerArray hits = new AtomicIntegerArray(50);
        Thread caller = new Thread(() -> {
            try (ComputePool pool = new ComputePool(2, "0")) {
                pool.parallelFor(50, 1, (from, to) -> {
                    for (int i = from; i < to; i++) {
                        hits.incrementAndGet(i);
                    }
                });
            }
        });
        caller.start();
        caller.join();
        for (int i = 0; i < 50; i++) {
            assertEquals(1, hits.get(i));
        }
    }
}
