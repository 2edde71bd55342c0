package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static dev.jvllm.worker.model.LlamaWeights.F32;

/**
 * The small numeric kernels of the forward pass.
 *
 * <p>Every dot product, whichever kernel computes it, is summed the same way: one vector
 * accumulator over the chunks of L lanes in order, a fixed tree over the lanes, then the scalar
 * tail. So a (weight row, token) result never depends on how many rows or tokens were tiled with it,
 * i.e. on the rest of the batch, nor on whether the JIT has compiled the kernel yet.
 */
final class VectorKernels {
    private VectorKernels() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** L bf16 values: the same lane count as S, half the bits. */
    private static final VectorSpecies<Short> HALF = VectorSpecies.of(short.class, VectorShape.forBitSize(S.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> INTS = VectorSpecies.of(int.class, S.vectorShape());
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    /** Rotations by L/2, L/4, ..., 1 lanes: the fixed reduction tree of {@link #sumLanes}. */
    private static final VectorShuffle<Float>[] HALVING = halvingShuffles();

    @SuppressWarnings("unchecked")
    private static VectorShuffle<Float>[] halvingShuffles() {
        int steps = Integer.numberOfTrailingZeros(L);
        VectorShuffle<Float>[] s = new VectorShuffle[steps];
        for (int i = 0, step = L / 2; i < steps; i++, step /= 2) {
            s[i] = VectorShuffle.iota(S, step, 1, true);
        }
        return s;
    }

    /**
     * Sum of the lanes by a fixed tree. (reduceLanes(ADD) may associate differently once
     * JIT-compiled than when interpreted, which would make logits depend on JVM warm-up.)
     */
    static float sumLanes(FloatVector v) {
        for (VectorShuffle<Float> s : HALVING) {
            v = v.add(v.rearrange(s));
        }
        return v.lane(0);
    }

    /** L weights at element {@code i} of the row starting at byte {@code rowOff}; bf16 widens exactly to f32. */
    private static FloatVector load(MemorySegment w, boolean bf16, long rowOff, int i) {
        if (bf16) {
            return ((IntVector) ShortVector.fromMemorySegment(HALF, w, rowOff + 2L * i, LE)
                    .convertShape(VectorOperators.S2I, INTS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        }
        return FloatVector.fromMemorySegment(S, w, rowOff + 4L * i, LE);
    }

    private static float scalar(MemorySegment w, boolean bf16, long rowOff, int i) {
        return bf16 ? Float.intBitsToFloat((w.get(BF16, rowOff + 2L * i) & 0xFFFF) << 16) : w.get(F32, rowOff + 4L * i);
    }

    private static float tail(MemorySegment w, boolean bf16, long rowOff, float[] x, int xOff, int from, int n) {
        float s = 0f;
        for (int i = from; i < n; i++) {
            s += scalar(w, bf16, rowOff, i) * x[xOff + i];
        }
        return s;
    }

    /** w[row] . x[xOff, xOff + n), with w an f32 or bf16 row starting at byte {@code rowOff}. */
    static float dot(MemorySegment w, boolean bf16, long rowOff, float[] x, int xOff, int n) {
        int upper = S.loopBound(n);
        FloatVector a = FloatVector.zero(S);
        for (int i = 0; i < upper; i += L) {
            a = load(w, bf16, rowOff, i).fma(FloatVector.fromArray(S, x, xOff + i), a);
        }
        return sumLanes(a) + tail(w, bf16, rowOff, x, xOff, upper, n);
    }

    /** f32 dot product with the vector in memory (attention scores against the KV cache). */
    static float dot(MemorySegment w, long off, float[] x, int xOff, int n) {
        return dot(w, false, off, x, xOff, n);
    }

    /** out[t][r] = lanes of the accumulator + the scalar tail of the row. */
    private static void finish(FloatVector acc, LlamaWeights.Matrix m, int r, long rowOff, float[] in, int xOff, int upper,
                               float[] out, int t) {
        out[t * m.rows() + r] = sumLanes(acc) + tail(m.data(), m.bf16(), rowOff, in, xOff, upper, m.cols());
    }

    /**
     * out[t][r] = W[r] . in[t] for r in [r0, r0 + 4) and one token t: each chunk of the token is
     * loaded once for four rows. Called for every token in turn, the four rows stay in L1.
     * (A 4 x 4 register tile measured slower here: too many live vectors.)
     */
    static void dot4x1(LlamaWeights.Matrix m, int r0, float[] in, int t, float[] out) {
        MemorySegment w = m.data();
        boolean bf16 = m.bf16();
        int cols = m.cols(), rows = m.rows();
        long stride = (long) cols * (bf16 ? 2 : 4);
        long w0 = r0 * stride, w1 = w0 + stride, w2 = w1 + stride, w3 = w2 + stride;
        int x0 = t * cols;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int upper = S.loopBound(cols);
        for (int i = 0; i < upper; i += L) {
            FloatVector v = FloatVector.fromArray(S, in, x0 + i);
            a0 = load(w, bf16, w0, i).fma(v, a0);
            a1 = load(w, bf16, w1, i).fma(v, a1);
            a2 = load(w, bf16, w2, i).fma(v, a2);
            a3 = load(w, bf16, w3, i).fma(v, a3);
        }
        finish(a0, m, r0, w0, in, x0, upper, out, t);
        finish(a1, m, r0 + 1, w1, in, x0, upper, out, t);
        finish(a2, m, r0 + 2, w2, in, x0, upper, out, t);
        finish(a3, m, r0 + 3, w3, in, x0, upper, out, t);
    }

    /** dst[off, off + cols) = row {@code row} of the matrix, as f32. */
    static void copyRow(LlamaWeights.Matrix m, int row, float[] dst, int off) {
        int cols = m.cols();
        long rowOff = (long) row * cols * (m.bf16() ? 2 : 4);
        for (int i = 0; i < cols; i++) {
            dst[off + i] = scalar(m.data(), m.bf16(), rowOff, i);
        }
    }

    /** y[yOff + i] += a * v[vOff/4 + i]. */
    static void axpy(float[] y, int yOff, float a, MemorySegment v, long vOff, int n) {
        int i = 0;
        int upper = S.loopBound(n);
        FloatVector av = FloatVector.broadcast(S, a);
        for (; i < upper; i += L) {
            FloatVector.fromMemorySegment(S, v, vOff + (long) i * 4, LE).fma(av, FloatVector.fromArray(S, y, yOff + i))
                    .intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += a * v.get(F32, vOff + (long) i * 4);
        }
    }

    static void scale(float[] y, int off, int n, float s) {
        int i = 0;
        int upper = S.loopBound(n);
        for (; i < upper; i += L) {
            FloatVector.fromArray(S, y, off + i).mul(s).intoArray(y, off + i);
        }
        for (; i < n; i++) {
            y[off + i] *= s;
        }
    }

    static float sumOfSquares(float[] x, int off, int n) {
        int i = 0;
        FloatVector a = FloatVector.zero(S);
        int upper = S.loopBound(n);
        for (; i < upper; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, off + i);
            a = v.fma(v, a);
        }
        float sum = sumLanes(a);
        for (; i < n; i++) {
            sum += x[off + i] * x[off + i];
        }
        return sum;
    }

    /** out = x / rms(x) * weight, over n elements. */
    static void rmsNorm(float[] out, int outOff, float[] x, int xOff, MemorySegment weight, int n, float eps) {
        float inv = (float) (1.0 / Math.sqrt(sumOfSquares(x, xOff, n) / n + eps));
        int i = 0;
        int upper = S.loopBound(n);
        for (; i < upper; i += L) {
            FloatVector.fromArray(S, x, xOff + i).mul(inv).mul(FloatVector.fromMemorySegment(S, weight, (long) i * 4, LE))
                    .intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            out[outOff + i] = x[xOff + i] * inv * weight.get(F32, (long) i * 4);
        }
    }

    /** y[i] += x[i]. */
    static void add(float[] y, float[] x, int n) {
        int i = 0;
        int upper = S.loopBound(n);
        for (; i < upper; i += L) {
            FloatVector.fromArray(S, y, i).add(FloatVector.fromArray(S, x, i)).intoArray(y, i);
        }
        for (; i < n; i++) {
            y[i] += x[i];
        }
    }

    /**
     * Runs the hot kernels on small data until the JIT has compiled them: interpreted Vector API
     * code is orders of magnitude slower, which would make a first long prefill take many seconds.
     */
    static void warmUp() {
        int n = 4 * L + 3;
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(8L * n * 4, 64);
            LlamaWeights.Matrix f32 = new LlamaWeights.Matrix(seg, false, 8, n);
            LlamaWeights.Matrix bf16 = new LlamaWeights.Matrix(seg, true, 8, n);
            float[] in = new float[2 * n], out = new float[2 * 8];
            for (int i = 0; i < 12_000; i++) {
                dot4x1(f32, i & 4, in, i & 1, out);
                dot4x1(bf16, i & 4, in, i & 1, out);
                dot(seg, 0, in, 0, n);
                axpy(in, 0, 0.5f, seg, 0, n);
                rmsNorm(out, 0, in, 0, seg, 8, 1e-5f);
                scale(in, 0, n, 0.5f);
                add(out, in, 8);
            }
        }
    }

    /** gate[i] = silu(gate[i]) * up[i]. */
    static void siluTimes(float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }
}
