package dev.jvllm.worker.cpu;

import org.openjdk.jmh.annotations.AuxCounters;
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

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The paged-attention kernels for one query head over a {@code context}-token sequence of a
 * {@link PagedKvCache} (SmolLM2-135M: 3 kv heads of 64, blocks of 16): {@code blockScores} (q . K of
 * every block) and {@code accumulateValues} (sum of p_j V_j), one op = the whole context. Secondary
 * metric {@code cacheGB}: GB/s of cached keys or values read.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx2g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Thread)
public class AttentionBenchmark {
    @Param({"F32", "BF16", "F16", "FP8_E5M2"})
    public KvCacheDtype kvDtype;
    @Param("1024")
    public int context;
    @Param("16")
    public int blockSize;
    @Param("64")
    public int headDim;
    @Param("3")
    public int kvHeads;

    private PagedKvCache cache;
    private float[] q, p, scores, out;
    private long headBytes;

    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class CacheRates {
        public double cacheGB;

        @Setup(Level.Iteration)
        public void reset() {
            cacheGB = 0;
        }
    }

    @Setup(Level.Trial)
    public void setUp() {
        int blocks = (context + blockSize - 1) / blockSize;
        SplittableRandom rng = new SplittableRandom(7);
        cache = filledCache(blocks, blockSize, kvHeads * headDim, kvDtype, rng);
        q = BenchData.floats(headDim, 1f, rng);
        p = BenchData.floats(blockSize, 1f / blockSize, rng);
        scores = new float[blockSize];
        out = new float[headDim];
        headBytes = (long) blocks * blockSize * headDim * kvDtype.bytesPerElement();
    }

    /** A one-layer cache of {@code blocks} blocks, keys and values random (see {@link #fill}). */
    static PagedKvCache filledCache(int blocks, int blockSize, int width, KvCacheDtype kvDtype, SplittableRandom rng) {
        PagedKvCache cache = new PagedKvCache(1, blocks, blockSize, width, kvDtype);
        fill(cache.keys(0), kvDtype, rng);
        fill(cache.values(0), kvDtype, rng);
        return cache;
    }

    /** Random values in [-2, 2), stored as {@code kvDtype}, over the whole segment. */
    static void fill(MemorySegment m, KvCacheDtype kvDtype, SplittableRandom rng) {
        ValueLayout.OfShort half = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        long n = m.byteSize() / kvDtype.bytesPerElement();
        for (long i = 0; i < n; i++) {
            float v = rng.nextFloat() * 4 - 2;
            switch (kvDtype) {
                case F32 -> m.set(dev.jvllm.worker.model.LlamaWeights.F32, 4 * i, v);
                case BF16 -> m.set(half, 2 * i, KvCacheDtype.toBf16(v));
                case F16 -> m.set(half, 2 * i, KvCacheDtype.toF16(v));
                case FP8_E5M2 -> m.set(ValueLayout.JAVA_BYTE, i, KvCacheDtype.toE5m2(v));
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        cache.close();
    }

    /** Scores of kv head 1 (of the middle of the token's row) for every block, as pagedAttention does per block. */
    @Benchmark
    public float blockScores(CacheRates rates) {
        int eb = kvDtype.bytesPerElement();
        long headOff = (long) headDim * blockSize * eb;
        float scale = (float) (1.0 / Math.sqrt(headDim)), sink = 0;
        for (int b = 0; b * blockSize < context; b++) {
            VectorKernels.blockScores(cache.keys(0), cache.keyBlockOffset(b) + headOff, blockSize, q, 0, headDim, scale, scores, kvDtype);
            sink += scores[0];
        }
        rates.cacheGB += 1e-9 * headBytes;
        return sink;
    }

    @Benchmark
    public float[] accumulateValues(CacheRates rates) {
        int eb = kvDtype.bytesPerElement();
        long rowBytes = (long) kvHeads * headDim * eb, headOff = (long) headDim * eb;
        java.util.Arrays.fill(out, 0f);
        for (int b = 0; b * blockSize < context; b++) {
            int last = Math.min(blockSize, context - b * blockSize) - 1;
            VectorKernels.accumulateValues(out, 0, headDim, p, 0, last, cache.values(0), (long) b * blockSize * rowBytes + headOff,
                    rowBytes, kvDtype);
        }
        rates.cacheGB += 1e-9 * headBytes;
        return out;
    }
}
