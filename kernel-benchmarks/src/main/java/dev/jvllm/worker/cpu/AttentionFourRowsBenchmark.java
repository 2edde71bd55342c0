package dev.jvllm.worker.cpu;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The four-row attention kernels over a {@link PagedKvCache} of each storage type (shapes as {@link AttentionBenchmark}):
 * {@code blockScores4} and {@code accumulateValues4} for four query rows that share a kv head, one op = the
 * whole context for the four rows. {@code cacheGB}: GB/s of cached
 * keys or values read (each vector once for the four rows). Compare with four ops of {@link AttentionBenchmark}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx2g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Thread)
public class AttentionFourRowsBenchmark {
    @Param("1024")
    public int context;
    @Param("16")
    public int blockSize;
    @Param("64")
    public int headDim;
    @Param("3")
    public int kvHeads;
    @Param({"F32", "BF16", "F16", "FP8_E5M2"})
    public KvCacheDtype dtype;

    private PagedKvCache cache;
    private float[] q, p, scores, out;
    private long headBytes;

    @Setup(Level.Trial)
    public void setUp() {
        int blocks = (context + blockSize - 1) / blockSize;
        SplittableRandom rng = new SplittableRandom(7);
        cache = AttentionBenchmark.filledCache(blocks, blockSize, kvHeads * headDim, dtype, rng);
        q = BenchData.floats(4 * headDim, 1f, rng);
        p = BenchData.floats(4 * blockSize, 1f / blockSize, rng);
        scores = new float[4 * blockSize];
        out = new float[4 * headDim];
        headBytes = (long) blocks * blockSize * headDim * dtype.bytesPerElement();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        cache.close();
    }

    @Benchmark
    public float blockScores4(AttentionBenchmark.CacheRates rates) {
        long headOff = (long) headDim * blockSize * dtype.bytesPerElement();
        float scale = (float) (1.0 / Math.sqrt(headDim)), sink = 0;
        for (int b = 0; b * blockSize < context; b++) {
            VectorKernels.blockScores4(cache.keys(0), cache.keyBlockOffset(b) + headOff, blockSize, q, 0, headDim, 2 * headDim,
                    3 * headDim, headDim, scale, scores, dtype);
            sink += scores[0];
        }
        rates.cacheGB += 1e-9 * headBytes;
        return sink;
    }

    @Benchmark
    public float[] accumulateValues4(AttentionBenchmark.CacheRates rates) {
        long rowBytes = (long) kvHeads * headDim * dtype.bytesPerElement(), headOff = (long) headDim * dtype.bytesPerElement();
        java.util.Arrays.fill(out, 0f);
        for (int b = 0; b * blockSize < context; b++) {
            int last = Math.min(blockSize, context - b * blockSize) - 1;
            VectorKernels.accumulateValues4(out, 0, headDim, 2 * headDim, 3 * headDim, headDim, p, 0, blockSize, 2 * blockSize,
                    3 * blockSize, 0, last, cache.values(0), (long) b * blockSize * rowBytes + headOff, rowBytes, dtype);
        }
        rates.cacheGB += 1e-9 * headBytes;
        return out;
    }
}
