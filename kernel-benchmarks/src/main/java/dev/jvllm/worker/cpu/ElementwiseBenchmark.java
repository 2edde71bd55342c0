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

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The per-token vector kernels: {@code rmsNorm} over a hidden state (SmolLM2-135M: 576) and
 * {@code expInPlace} over {@code n} attention scores (pagedAttention calls it per block of 16;
 * 1024 shows the vector loop's own speed). One op = one call.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx1g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class ElementwiseBenchmark {
    @State(Scope.Thread)
    public static class Norm {
        @Param("576")
        public int hidden;

        private Arena arena;
        private MemorySegment weight;
        private float[] x, out;

        @Setup(Level.Trial)
        public void setUp() {
            SplittableRandom rng = new SplittableRandom(3);
            arena = Arena.ofConfined();
            weight = arena.allocate(4L * hidden, 64);
            for (int i = 0; i < hidden; i++) {
                weight.setAtIndex(dev.jvllm.worker.model.LlamaWeights.F32, i, 0.5f + rng.nextFloat());
            }
            x = BenchData.floats(hidden, 2f, rng);
            out = new float[hidden];
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    @State(Scope.Thread)
    public static class Scores {
        @Param({"16", "1024"})
        public int n;

        private float[] scores, work;

        @Setup(Level.Trial)
        public void setUp() {
            scores = BenchData.floats(n, 10f, new SplittableRandom(5));
            for (int i = 0; i < n; i++) {
                scores[i] -= 10f;   // scores minus the running max: <= 0, as pagedAttention passes them
            }
            work = new float[n];
        }
    }

    @Benchmark
    public float[] rmsNorm(Norm s) {
        VectorKernels.rmsNorm(s.out, 0, s.x, 0, s.weight, s.hidden, 1e-5f);
        return s.out;
    }

    @Benchmark
    public float[] expInPlace(Scores s) {
        System.arraycopy(s.scores, 0, s.work, 0, s.n);
        VectorKernels.expInPlace(s.work, 0, s.n);
        return s.work;
    }
}
