package dev.jvllm.worker.pjrt;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * Startup warmup: one executable per bucket, loaded from the compile cache when present, else emitted, compiled and
 * stored. Buckets compile on a small pool (PJRT clients accept concurrent compiles), and a progress line with an ETA
 * is redrawn on the console as they finish.
 */
public final class BucketWarmup {

    /** The compiler side, so warmup runs against a real PJRT client or a test double. */
    public interface ProgramCompiler<E> {
        E compile(String mlir);

        byte[] serialize(E executable);

        /** Throws if the bytes are not loadable (corrupt, another plugin build): warmup then recompiles. */
        E deserialize(byte[] serialized);
    }

    /** PJRT-backed compiler. */
    public static ProgramCompiler<PjrtLoadedExecutable> pjrt(PjrtClient client, CompileOptions options) {
        return new ProgramCompiler<>() {
            public PjrtLoadedExecutable compile(String mlir) { return client.compile(mlir, options); }

            public byte[] serialize(PjrtLoadedExecutable e) { return e.serialize(); }

            public PjrtLoadedExecutable deserialize(byte[] b) { return client.deserialize(b); }
        };
    }

    public record Stats(int compiled, int loadedFromCache, long millis) {}

    public record Result<E>(Map<BucketPlanner.Bucket, E> executables, Stats stats) {}

    private BucketWarmup() {}

    public static <E> Result<E> run(List<BucketPlanner.Bucket> buckets, Function<BucketPlanner.Bucket, String> emit,
                                    Function<BucketPlanner.Bucket, CompileCacheKey> keyOf, CompileCache cache,
                                    ProgramCompiler<E> compiler, int parallelism, PrintStream console) {
        long start = System.nanoTime();
        Progress progress = new Progress(buckets.size(), console, start);
        AtomicInteger compiled = new AtomicInteger(), loaded = new AtomicInteger();
        Map<BucketPlanner.Bucket, E> out = new LinkedHashMap<>();
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, parallelism), r -> {
            Thread t = new Thread(r, "pjrt-warmup");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<E>> futures = new ArrayList<>();
            for (BucketPlanner.Bucket b : buckets) {
                futures.add(pool.submit(() -> {
                    CompileCacheKey key = keyOf.apply(b);
                    E exe = null;
                    byte[] cached = cache.load(key).orElse(null);
                    if (cached != null) {
                        try {
                            exe = compiler.deserialize(cached);
                            loaded.incrementAndGet();
                        } catch (RuntimeException stale) {
                            exe = null; // unusable entry: recompile and overwrite it
                        }
                    }
                    if (exe == null) {
                        exe = compiler.compile(emit.apply(b));
                        cache.store(key, compiler.serialize(exe));
                        compiled.incrementAndGet();
                    }
                    progress.done();
                    return exe;
                }));
            }
            for (int i = 0; i < buckets.size(); i++) out.put(buckets.get(i), futures.get(i).get());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("warmup interrupted", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
        } finally {
            pool.shutdownNow();
            progress.finish();
        }
        return new Result<>(out, new Stats(compiled.get(), loaded.get(), (System.nanoTime() - start) / 1_000_000));
    }

    /** "warmup [=======>      ] 5/12 buckets  elapsed 12s  eta 17s", redrawn in place. */
    static final class Progress {
        private final int total;
        private final PrintStream console;
        private final long start;
        private int done;

        Progress(int total, PrintStream console, long start) {
            this.total = total;
            this.console = console;
            this.start = start;
            draw();
        }

        synchronized void done() {
            done++;
            draw();
        }

        synchronized void finish() {
            if (console != null) console.println();
        }

        private void draw() {
            if (console == null) return;
            console.print("\r" + line(done, total, (System.nanoTime() - start) / 1e9));
            console.flush();
        }

        static String line(int done, int total, double elapsedSeconds) {
            int width = 24;
            int filled = total == 0 ? width : done * width / total;
            StringBuilder bar = new StringBuilder("warmup [");
            for (int i = 0; i < width; i++) bar.append(i < filled ? '=' : i == filled ? '>' : ' ');
            bar.append("] ").append(done).append('/').append(total).append(" buckets  elapsed ").append(Math.round(elapsedSeconds)).append('s');
            if (done > 0 && done < total) bar.append("  eta ").append(Math.round(elapsedSeconds / done * (total - done))).append('s');
            return bar.toString();
        }
    }
}
