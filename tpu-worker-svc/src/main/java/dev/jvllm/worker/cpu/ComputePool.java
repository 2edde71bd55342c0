package dev.jvllm.worker.cpu;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A fixed set of compute threads (created once) that split index ranges between them.
 * The calling thread works too, so {@code threads} is the total parallelism.
 * Which thread computes an index never changes the result: each index is computed whole by one thread.
 */
public final class ComputePool implements AutoCloseable {

    @FunctionalInterface
    public interface RangeTask {
        void run(int from, int to);
    }

    private final int threads;
    private final ExecutorService helpers;

    public ComputePool(int threads) {
        this.threads = Math.max(1, threads);
        AtomicInteger n = new AtomicInteger();
        this.helpers = this.threads == 1 ? null : Executors.newFixedThreadPool(this.threads - 1, r -> {
            Thread t = new Thread(r, "jvllm-compute-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    public int threads() {
        return threads;
    }

    /** Runs {@code task} over [0, n) in chunks of at least {@code minChunk} indices; returns when all are done. */
    public void parallelFor(int n, int minChunk, RangeTask task) {
        if (n <= 0) {
            return;
        }
        int chunks = Math.min(threads * 4, Math.max(1, n / Math.max(1, minChunk)));
        if (threads == 1 || chunks == 1) {
            task.run(0, n);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        Runnable work = () -> {
            for (int c; (c = next.getAndIncrement()) < chunks; ) {
                task.run((int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks));
            }
        };
        int helpersUsed = Math.min(threads - 1, chunks - 1);
        @SuppressWarnings("unchecked")
        Future<?>[] futures = new Future[helpersUsed];
        for (int i = 0; i < helpersUsed; i++) {
            futures[i] = helpers.submit(work);
        }
        RuntimeException failure = null;
        try {
            work.run();
        } catch (RuntimeException e) {
            failure = e;
        }
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (ExecutionException e) {
                if (failure == null) {
                    failure = e.getCause() instanceof RuntimeException re ? re : new RuntimeException(e.getCause());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while computing", e);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public void close() {
        if (helpers != null) {
            helpers.shutdownNow();
        }
    }
}
