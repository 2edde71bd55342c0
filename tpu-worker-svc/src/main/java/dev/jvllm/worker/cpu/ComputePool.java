package dev.jvllm.worker.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of compute threads (created once) that split index ranges between them.
 * The calling thread works too, so {@code threads} is the total parallelism.
 * Which thread computes an index never changes the result: each index is computed whole by one thread.
 *
 * <p>A step calls {@link #parallelFor} a few hundred times, so the handoff must cost microseconds:
 * helpers spin briefly for the next job before parking, and the caller claims chunks itself, so a
 * helper that the OS has not scheduled yet (a loaded machine) only misses work instead of delaying it.
 * Optional core binding ({@code VLLM_CPU_OMP_THREADS_BIND}-style) is done by {@link CoreBinding}.
 */
public final class ComputePool implements AutoCloseable {

    @FunctionalInterface
    public interface RangeTask {
        void run(int from, int to);
    }

    /**
     * One parallelFor call. Each thread owns a contiguous run of chunks and takes them front to back, so
     * it reads one sequential stream (what the hardware prefetcher follows best); a thread whose run is
     * done takes the last chunk left in another thread's run, so a late or slow thread delays nobody.
     */
    private static final class Job {
        final RangeTask task;
        final int n, chunks;
        /** Per thread: (next chunk << 32) | end of its run. Taking a chunk is one compare-and-set. */
        final AtomicLongArray runs;
        final AtomicInteger done = new AtomicInteger();
        final Thread caller;
        volatile boolean callerParked;
        volatile Throwable failure;

        Job(RangeTask task, int n, int chunks, int threads, Thread caller) {
            this.task = task;
            this.n = n;
            this.chunks = chunks;
            this.caller = caller;
            this.runs = new AtomicLongArray(threads);
            for (int p = 0; p < threads; p++) {
                runs.set(p, (long) (chunks * p / threads) << 32 | (chunks * (p + 1) / threads));
            }
        }

        /** The next chunk for thread p: the front of its own run, else the back of another's; -1 when none is left. */
        private int claim(int p) {
            int threads = runs.length();
            for (int i = 0; i < threads; i++) {
                int owner = (p + i) % threads;
                for (long run; ; ) {
                    run = runs.get(owner);
                    int next = (int) (run >>> 32), end = (int) run;
                    if (next >= end) {
                        break;
                    }
                    if (i == 0 ? runs.compareAndSet(owner, run, (long) (next + 1) << 32 | end)
                            : runs.compareAndSet(owner, run, (long) next << 32 | (end - 1))) {
                        return i == 0 ? next : end - 1;
                    }
                }
            }
            return -1;
        }

        void runChunks(int p) {
            for (int c; (c = claim(p)) >= 0; ) {
                try {
                    task.run((int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks));
                } catch (Throwable t) {
                    if (failure == null) {
                        failure = t;
                    }
                } finally {
                    if (done.incrementAndGet() == chunks && callerParked) {
                        LockSupport.unpark(caller);
                    }
                }
            }
        }
    }

    /**
     * How long an idle thread spins before parking: longer than the gap between two parallelFor calls
     * of a step (so a step never pays a wake-up), short enough not to burn a core between steps.
     */
    private static final long SPIN_NANOS = Long.getLong("jvllm.cpu.spin-micros", 50) * 1000;

    private final int threads;
    private final Thread[] helpers;
    private volatile Job current;
    private volatile boolean closed;
    /** Helpers that are parked (or about to park) waiting for a job; read by the publisher. */
    private final AtomicInteger sleepers = new AtomicInteger();

    public ComputePool(int threads) {
        this(threads, null);
    }

    /** @param cpuList cores to pin the threads to (caller first), e.g. "0-3" or "0,2"; null or "all": no binding */
    public ComputePool(int threads, String cpuList) {
        this.threads = Math.max(1, threads);
        this.helpers = new Thread[this.threads - 1];
        int[] cpus = CoreBinding.parse(cpuList);
        for (int i = 0; i < helpers.length; i++) {
            int cpu = cpus.length == 0 ? -1 : cpus[(i + 1) % cpus.length], index = i + 1;
            helpers[i] = new Thread(() -> helperLoop(index, cpu), "jvllm-compute-" + index);
            helpers[i].setDaemon(true);
            helpers[i].start();
        }
        this.callerCpu = cpus.length == 0 ? -1 : cpus[0];
    }

    private final int callerCpu;
    private Thread boundCaller;

    public int threads() {
        return threads;
    }

    private void helperLoop(int index, int cpu) {
        if (cpu >= 0) {
            CoreBinding.bindCurrentThread(cpu);
        }
        Job seen = null;
        while (!closed) {
            Job j = current;
            if (j == seen) {
                j = awaitJob(seen);
                if (j == null) {
                    return;
                }
            }
            seen = j;
            j.runChunks(index);
        }
    }

    private Job awaitJob(Job seen) {
        long deadline = System.nanoTime() + SPIN_NANOS;
        for (int i = 0; ; i++) {
            Job j = current;
            if (j != seen) {
                return j;
            }
            if ((i & 63) == 0 && System.nanoTime() > deadline) {
                break;
            }
            Thread.onSpinWait();
        }
        sleepers.incrementAndGet();
        try {
            while (true) {
                Job j = current;
                if (j != seen) {
                    return j;
                }
                if (closed) {
                    return null;
                }
                LockSupport.park(this);
            }
        } finally {
            sleepers.decrementAndGet();
        }
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
        Thread me = Thread.currentThread();
        if (callerCpu >= 0 && boundCaller != me) {
            CoreBinding.bindCurrentThread(callerCpu);
            boundCaller = me;
        }
        Job job = new Job(task, n, chunks, threads, me);
        current = job;
        if (sleepers.get() > 0) {
            for (Thread h : helpers) {
                LockSupport.unpark(h);
            }
        }
        job.runChunks(0);
        long deadline = System.nanoTime() + SPIN_NANOS;
        for (int i = 0; job.done.get() < chunks; i++) {
            if ((i & 63) != 0 || System.nanoTime() < deadline) {
                Thread.onSpinWait();
            } else {
                job.callerParked = true;
                if (job.done.get() < chunks) {
                    LockSupport.parkNanos(this, 100_000);
                }
            }
        }
        Throwable failure = job.failure;
        if (failure instanceof RuntimeException re) {
            throw re;
        }
        if (failure instanceof Error e) {
            throw e;
        }
        if (failure != null) {
            throw new RuntimeException(failure);
        }
    }

    @Override
    public void close() {
        closed = true;
        current = new Job((a, b) -> { }, 0, 0, threads, Thread.currentThread());
        for (Thread h : helpers) {
            LockSupport.unpark(h);
        }
    }
}
