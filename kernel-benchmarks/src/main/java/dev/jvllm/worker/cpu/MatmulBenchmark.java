package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.WeightType;
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

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * One weight matrix times activations, on one thread, the way CpuModelRunner.matmulGroups does it:
 * <ul>
 *   <li>{@code decode}: one token (a matrix-vector product) as the runner computes it: rows read straight
 *       from memory one at a time by {@code dotRows} for the types it handles, else staged 4 rows at a time
 *       through {@code widenRows} + {@code dot4x1};
 *   <li>{@code decodeStaged}: one token, always widenRows + dot4x1 (the path of the other types, for comparison);
 *   <li>{@code widen}: widenRows alone over the whole matrix (the dequantization cost of the staged paths);
 *   <li>{@code prefill}: {@code tokens} tokens, each 4-row group widened once per token block and
 *       multiplied in 4 x 4 register tiles ({@code dot4x4}, {@code dot4x1} for leftovers).
 * </ul>
 * One op = the whole matrix. {@code copies} distinct matrices (one per layer of SmolLM2-135M) are used in
 * turn, so the weights stream from memory or L3 as in a real step instead of sitting in L1/L2.
 * Secondary metrics: {@code gflop} (10^9 FLOP/s, a multiply-add counted as 2) and {@code weightGB}
 * (GB/s of stored weights read; decode only).
 * <p>Shapes of SmolLM2-135M (rows x cols): q/o 576x576, k/v 192x576, gate/up 1536x576, down 576x1536,
 * lm_head 49152x576 (use {@code -p copies=1}). Q4_K/Q5_K/Q6_K need cols divisible by 256, so of these only down.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx2g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Thread)
public class MatmulBenchmark {
    @Param({"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"})
    public WeightType type;
    /** rows x cols; the default is SmolLM2-135M's down_proj, the one shape every type can store. */
    @Param("576x1536")
    public String shape;
    @Param("30")
    public int copies;
    /** Tokens of the prefill benchmark. */
    @Param("64")
    public int tokens;

    private Arena arena;
    private LlamaWeights.Matrix[] matrices;
    private int rows, cols, next;
    private boolean direct;
    private float[] in, out, wf, acc;

    /** Secondary metrics of the decode benchmarks: per second, as JMH normalizes OPERATIONS counters. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class MatvecRates {
        public double gflop;
        public double weightGB;

        @Setup(Level.Iteration)
        public void reset() {
            gflop = 0;
            weightGB = 0;
        }
    }

    /** Secondary metric of the widen benchmark. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class WidenRates {
        public double weightGB;

        @Setup(Level.Iteration)
        public void reset() {
            weightGB = 0;
        }
    }

    /** Secondary metric of the prefill benchmark. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class TileRates {
        public double gflop;

        @Setup(Level.Iteration)
        public void reset() {
            gflop = 0;
        }
    }

    @Setup(Level.Trial)
    public void setUp() {
        int[] s = BenchData.shape(shape);
        rows = s[0];
        cols = s[1];
        arena = Arena.ofShared();
        SplittableRandom rng = new SplittableRandom(42);
        matrices = new LlamaWeights.Matrix[copies];
        for (int i = 0; i < copies; i++) {
            matrices[i] = BenchData.matrix(arena, type, rows, cols, rng);
        }
        in = BenchData.floats(tokens * cols, 1f, rng);
        out = new float[tokens * rows];
        wf = new float[4 * cols];
        acc = new float[VectorKernels.ACC_SCRATCH];
        direct = VectorKernels.readsRowsDirectly(type);
        System.out.println("# decode reads " + type + " rows " + (direct ? "directly (dotRows)" : "staged (widenRows + dot4x1)"));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    private void matvec(LlamaWeights.Matrix m, boolean fromMemory) {
        if (fromMemory) {
            VectorKernels.dotRows(m, 0, rows, in, 1, out, acc);
            return;
        }
        for (int r0 = 0; r0 < rows; r0 += 4) {
            VectorKernels.widenRows(m, r0, 4, wf);
            VectorKernels.dot4x1(wf, 0, cols, r0, rows, in, 0, out, acc);
        }
    }

    private LlamaWeights.Matrix nextMatrix() {
        LlamaWeights.Matrix m = matrices[next];
        next = next + 1 == copies ? 0 : next + 1;
        return m;
    }

    @Benchmark
    public float[] decode(MatvecRates rates) {
        return matvecOfNext(rates, direct);
    }

    @Benchmark
    public float[] decodeStaged(MatvecRates rates) {
        return matvecOfNext(rates, false);
    }

    private float[] matvecOfNext(MatvecRates rates, boolean fromMemory) {
        LlamaWeights.Matrix m = nextMatrix();
        matvec(m, fromMemory);
        rates.gflop += 2e-9 * rows * cols;
        rates.weightGB += 1e-9 * m.data().byteSize();
        return out;
    }

    @Benchmark
    public float[] prefill(TileRates rates) {
        LlamaWeights.Matrix m = nextMatrix();
        int tokenBlock = Math.max(4, (64 * 1024 / cols) & ~3);   // as matmulGroups: the block's inputs stay in cache
        for (int t0 = 0; t0 < tokens; t0 += tokenBlock) {
            int t1 = Math.min(tokens, t0 + tokenBlock);
            for (int r0 = 0; r0 < rows; r0 += 4) {
                VectorKernels.widenRows(m, r0, 4, wf);
                int t = t0;
                for (; t + 4 <= t1; t += 4) {
                    VectorKernels.dot4x4(wf, 0, cols, r0, rows, in, t, out, acc);
                }
                for (; t < t1; t++) {
                    VectorKernels.dot4x1(wf, 0, cols, r0, rows, in, t, out, acc);
                }
            }
        }
        rates.gflop += 2e-9 * rows * cols * tokens;
        return out;
    }

    @Benchmark
    public float[] widen(WidenRates rates) {
        LlamaWeights.Matrix m = nextMatrix();
        for (int r0 = 0; r0 < rows; r0 += 4) {
            VectorKernels.widenRows(m, r0, 4, wf);
        }
        rates.weightGB += 1e-9 * m.data().byteSize();
        return wf;
    }
}
