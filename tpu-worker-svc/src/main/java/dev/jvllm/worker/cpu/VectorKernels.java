package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.WeightType;
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

    /**
     * The same sum as {@link #sumLanes} for lanes stored at a[off, off + L): identical additions in
     * identical order. Kernels with many accumulators store them and sum here, because a vector
     * passed to a method C2 did not inline is boxed on the heap (and big kernels hit its inlining limits).
     */
    static float treeSum(float[] a, int off) {
        for (int step = L / 2; step >= 1; step /= 2) {
            for (int i = 0; i < step; i++) {
                a[off + i] += a[off + i + step];
            }
        }
        return a[off];
    }

    /** Floats of scratch a 4 x 4 tile needs for its accumulators. */
    static final int ACC_SCRATCH = 16 * L;

    private static float scalar(MemorySegment w, WeightType type, long rowOff, int i) {
        return switch (type) {
            case F32 -> w.get(F32, rowOff + 4L * i);
            case BF16 -> Float.intBitsToFloat((w.get(BF16, rowOff + 2L * i) & 0xFFFF) << 16);
            case F16 -> Float.float16ToFloat(w.get(BF16, rowOff + 2L * i));
        };
    }

    /** The scalar tail of a dot product: elements [from, n), summed in order. */
    private static float tail(float[] w, int wOff, float[] x, int xOff, int from, int n) {
        float s = 0f;
        for (int i = from; i < n; i++) {
            s += w[wOff + i] * x[xOff + i];
        }
        return s;
    }

    /** w[wOff, wOff + n) . x[xOff, xOff + n). */
    static float dot(float[] w, int wOff, float[] x, int xOff, int n) {
        int upper = S.loopBound(n);
        FloatVector a = FloatVector.zero(S);
        for (int i = 0; i < upper; i += L) {
            a = FloatVector.fromArray(S, w, wOff + i).fma(FloatVector.fromArray(S, x, xOff + i), a);
        }
        return sumLanes(a) + tail(w, wOff, x, xOff, upper, n);
    }

    /**
     * scores[j] = (K[j] . q) * scale for every slot j of one block and kv head of the transposed key
     * cache ({@code [dim][slot]} floats from byte {@code off}): L slots at once, summed over the head
     * dimension in order. Slots beyond the sequence hold stale (finite) keys; callers ignore them.
     */
    static void blockScores(MemorySegment keys, long off, int blockSize, float[] q, int qOff, int headDim, float scale,
                            float[] scores) {
        int upper = S.loopBound(blockSize);
        long dimStride = 4L * blockSize;
        for (int s0 = 0; s0 < upper; s0 += L) {
            FloatVector acc = FloatVector.zero(S);
            long base = off + 4L * s0;
            for (int d = 0; d < headDim; d++) {
                acc = FloatVector.fromMemorySegment(S, keys, base + d * dimStride, LE).fma(FloatVector.broadcast(S, q[qOff + d]), acc);
            }
            acc.mul(scale).intoArray(scores, s0);
        }
        for (int s0 = upper; s0 < blockSize; s0++) {
            float acc = 0f;
            for (int d = 0; d < headDim; d++) {
                acc = Math.fma(keys.get(F32, off + 4L * s0 + d * dimStride), q[qOff + d], acc);
            }
            scores[s0] = acc * scale;
        }
    }

    /** out[off, off + n) += sum over j in [first, last] of p[j] * V[j], V[j] at byte {@code vOff + j * vStride}. */
    static void accumulateValues(float[] out, int off, int n, float[] p, int first, int last, MemorySegment v, long vOff,
                                 long vStride) {
        int upper = S.loopBound(n);
        for (int i = 0; i < upper; i += L) {
            FloatVector acc = FloatVector.fromArray(S, out, off + i);
            for (int j = first; j <= last; j++) {
                acc = FloatVector.fromMemorySegment(S, v, vOff + j * vStride + 4L * i, LE).fma(FloatVector.broadcast(S, p[j]), acc);
            }
            acc.intoArray(out, off + i);
        }
        for (int i = upper; i < n; i++) {
            float acc = out[off + i];
            for (int j = first; j <= last; j++) {
                acc = Math.fma(v.get(F32, vOff + j * vStride + 4L * i), p[j], acc);
            }
            out[off + i] = acc;
        }
    }

    /**
     * dst[0, n * cols) = rows [r0, r0 + n) of the matrix widened to f32. Every matmul goes through
     * this 4-row staging buffer (it stays in L1): the weights are read from memory once per step,
     * and the dot-product kernels see one storage type only.
     */
    static void widenRows(LlamaWeights.Matrix m, int r0, int n, float[] dst) {
        MemorySegment w = m.data();
        int cols = m.cols();
        int upper = S.loopBound(cols);
        for (int r = 0; r < n; r++) {
            long rowOff = (r0 + r) * m.rowBytes();
            int d = r * cols;
            // Vector code is written out in each loop rather than in helpers: a helper that C2 does not
            // inline (its size limits are easily hit by Vector API code) boxes every vector it returns.
            switch (m.type()) {
                case F32 -> {
                    for (int i = 0; i < upper; i += L) {
                        FloatVector.fromMemorySegment(S, w, rowOff + 4L * i, LE).intoArray(dst, d + i);
                    }
                }
                case BF16 -> {
                    for (int i = 0; i < upper; i += L) {
                        ((IntVector) ShortVector.fromMemorySegment(HALF, w, rowOff + 2L * i, LE)
                                .convertShape(VectorOperators.S2I, INTS, 0))
                                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, d + i);
                    }
                }
                case F16 -> {
                    // Exact for finite halves: exponent and mantissa shifted into place and rescaled by
                    // 2^112 (which also turns subnormals into normals), then the sign copied.
                    for (int i = 0; i < upper; i += L) {
                        IntVector h = (IntVector) ShortVector.fromMemorySegment(HALF, w, rowOff + 2L * i, LE)
                                .convertShape(VectorOperators.S2I, INTS, 0);
                        FloatVector magnitude = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats()
                                .mul(0x1p112f);
                        magnitude.reinterpretAsInts().or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16))
                                .reinterpretAsFloats().intoArray(dst, d + i);
                    }
                }
            }
            for (int i = upper; i < cols; i++) {
                dst[d + i] = scalar(w, m.type(), rowOff, i);
            }
        }
    }

    /**
     * out[t][r0 + j] = wf[j] . in[t] for 4 widened rows j and the 4 tokens t0..t0+3: a 4 x 4 register
     * tile, so each loaded chunk feeds four FMAs. Same per-(row, token) summation as {@link #dot4x1}.
     */
    static void dot4x4(float[] wf, int cols, int r0, int rows, float[] in, int t0, float[] out, float[] acc) {
        int w0 = 0, w1 = cols, w2 = 2 * cols, w3 = 3 * cols;
        int x0 = t0 * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int upper = S.loopBound(cols);
        for (int i = 0; i < upper; i += L) {
            FloatVector v0 = FloatVector.fromArray(S, in, x0 + i);
            FloatVector v1 = FloatVector.fromArray(S, in, x1 + i);
            FloatVector v2 = FloatVector.fromArray(S, in, x2 + i);
            FloatVector v3 = FloatVector.fromArray(S, in, x3 + i);
            FloatVector w = FloatVector.fromArray(S, wf, w0 + i);
            a00 = w.fma(v0, a00);
            a01 = w.fma(v1, a01);
            a02 = w.fma(v2, a02);
            a03 = w.fma(v3, a03);
            w = FloatVector.fromArray(S, wf, w1 + i);
            a10 = w.fma(v0, a10);
            a11 = w.fma(v1, a11);
            a12 = w.fma(v2, a12);
            a13 = w.fma(v3, a13);
            w = FloatVector.fromArray(S, wf, w2 + i);
            a20 = w.fma(v0, a20);
            a21 = w.fma(v1, a21);
            a22 = w.fma(v2, a22);
            a23 = w.fma(v3, a23);
            w = FloatVector.fromArray(S, wf, w3 + i);
            a30 = w.fma(v0, a30);
            a31 = w.fma(v1, a31);
            a32 = w.fma(v2, a32);
            a33 = w.fma(v3, a33);
        }
        a00.intoArray(acc, 0);
        a01.intoArray(acc, L);
        a02.intoArray(acc, 2 * L);
        a03.intoArray(acc, 3 * L);
        a10.intoArray(acc, 4 * L);
        a11.intoArray(acc, 5 * L);
        a12.intoArray(acc, 6 * L);
        a13.intoArray(acc, 7 * L);
        a20.intoArray(acc, 8 * L);
        a21.intoArray(acc, 9 * L);
        a22.intoArray(acc, 10 * L);
        a23.intoArray(acc, 11 * L);
        a30.intoArray(acc, 12 * L);
        a31.intoArray(acc, 13 * L);
        a32.intoArray(acc, 14 * L);
        a33.intoArray(acc, 15 * L);
        finishTile(wf, cols, r0, rows, in, t0, out, acc, upper);
    }

    private static void finishTile(float[] wf, int cols, int r0, int rows, float[] in, int t0, float[] out, float[] acc, int upper) {
        for (int j = 0; j < 4; j++) {
            for (int k = 0; k < 4; k++) {
                int t = t0 + k;
                out[t * rows + r0 + j] = treeSum(acc, (4 * j + k) * L) + tail(wf, j * cols, in, t * cols, upper, cols);
            }
        }
    }

    /** out[t][r0 + j] = wf[j] . in[t] for 4 widened rows and one token (the tokens left over by 4 x 4 tiles). */
    static void dot4x1(float[] wf, int cols, int r0, int rows, float[] in, int t, float[] out, float[] acc) {
        int x0 = t * cols;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int upper = S.loopBound(cols);
        for (int i = 0; i < upper; i += L) {
            FloatVector v = FloatVector.fromArray(S, in, x0 + i);
            a0 = FloatVector.fromArray(S, wf, i).fma(v, a0);
            a1 = FloatVector.fromArray(S, wf, cols + i).fma(v, a1);
            a2 = FloatVector.fromArray(S, wf, 2 * cols + i).fma(v, a2);
            a3 = FloatVector.fromArray(S, wf, 3 * cols + i).fma(v, a3);
        }
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        for (int j = 0; j < 4; j++) {
            out[t * rows + r0 + j] = treeSum(acc, j * L) + tail(wf, j * cols, in, x0, upper, cols);
        }
    }

    /** dst[off, off + cols) = row {@code row} of the matrix, as f32. */
    static void copyRow(LlamaWeights.Matrix m, int row, float[] dst, int off) {
        int cols = m.cols();
        long rowOff = (long) row * m.rowBytes();
        for (int i = 0; i < cols; i++) {
            dst[off + i] = scalar(m.data(), m.type(), rowOff, i);
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
            LlamaWeights.Matrix f32 = new LlamaWeights.Matrix(seg, WeightType.F32, 8, n);
            LlamaWeights.Matrix bf16 = new LlamaWeights.Matrix(seg, WeightType.BF16, 8, n);
            LlamaWeights.Matrix f16 = new LlamaWeights.Matrix(seg, WeightType.F16, 8, n);
            float[] in = new float[4 * n], out = new float[4 * 8], wf = new float[4 * n], e = new float[n];
            float[] acc = new float[ACC_SCRATCH];
            LlamaWeights.Matrix[] types = {f32, bf16, f16};
            for (int i = 0; i < 12_000; i++) {
                widenRows(types[i % 3], i & 4, 4, wf);
                dot(wf, 0, in, i & 1, n);
                dot4x4(wf, n, i & 4, 8, in, 0, out, acc);
                dot4x1(wf, n, i & 4, 8, in, i & 3, out, acc);
                java.util.Arrays.fill(e, -0.5f);
                expInPlace(e, 0, n);
                siluTimes(e, in, 0, n, wf);
                blockScores(seg, 0, 16, in, 0, n / 2, 0.5f, e);
                accumulateValues(in, 0, n, e, 0, 3, seg, 0, 4L * n);
                axpy(in, 0, 0.5f, seg, 0, n);
                rmsNorm(out, 0, in, 0, seg, 8, 1e-5f);
                scale(in, 0, n, 0.5f);
                add(out, in, 8);
            }
        }
    }

    // exp(x) as Cephes' expf: x = n ln2 + r, a degree-7 polynomial for e^r, times 2^n. Plain IEEE
    // mul/add/fma in a fixed order, so the vector lanes and the scalar version give identical bits
    // (lanewise(EXP) would not: its intrinsic and its fallback differ in the last bits).
    private static final float EXP_HI = 88.3762626647949f, EXP_LO = -87.3365447504019f;
    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float P0 = 1.9875691500E-4f, P1 = 1.3981999507E-3f, P2 = 8.3334519073E-3f,
            P3 = 4.1665795894E-2f, P4 = 1.6666665459E-1f, P5 = 5.0000001201E-1f;
    /** 1.5 * 2^23: adding and subtracting it rounds a float to the nearest integer. */
    private static final float ROUNDER = 12582912f;

    /** Bit for bit the same as one lane of the vector loop in {@link #expInPlace}. */
    static float exp(float x) {
        x = Math.min(Math.max(x, EXP_LO), EXP_HI);
        float n = (x * LOG2E + ROUNDER) - ROUNDER;
        float r = (x - n * LN2_HI) - n * LN2_LO;
        float p = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(r, P0, P1), r, P2), r, P3), r, P4), r, P5);
        p = Math.fma(p, r * r, r) + 1f;
        return p * Float.intBitsToFloat(((int) n + 127) << 23);
    }

    /** x[off + i] = exp(x[off + i]) for i < n. */
    static void expInPlace(float[] x, int off, int n) {
        int i = 0;
        int upper = S.loopBound(n);
        for (; i < upper; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, off + i).max(EXP_LO).min(EXP_HI);
            FloatVector k = v.mul(LOG2E).add(ROUNDER).sub(ROUNDER);
            FloatVector r = v.sub(k.mul(LN2_HI)).sub(k.mul(LN2_LO));
            FloatVector p = r.fma(P0, P1);
            p = p.fma(r, FloatVector.broadcast(S, P2));
            p = p.fma(r, FloatVector.broadcast(S, P3));
            p = p.fma(r, FloatVector.broadcast(S, P4));
            p = p.fma(r, FloatVector.broadcast(S, P5));
            p = p.fma(r.mul(r), r).add(1f);
            IntVector pow2 = ((IntVector) k.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
            p.mul(pow2.reinterpretAsFloats()).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            x[off + i] = exp(x[off + i]);
        }
    }

    /**
     * gate[off + i] = silu(gate[off + i]) * up[off + i] for i < n: one token's row, with
     * {@code scratch} (n floats) for exp(-gate).
     */
    static void siluTimes(float[] gate, float[] up, int off, int n, float[] scratch) {
        int upper = S.loopBound(n);
        for (int i = 0; i < upper; i += L) {
            FloatVector.fromArray(S, gate, off + i).neg().intoArray(scratch, i);
        }
        for (int i = upper; i < n; i++) {
            scratch[i] = -gate[off + i];
        }
        expInPlace(scratch, 0, n);
        for (int i = 0; i < upper; i += L) {
            FloatVector g = FloatVector.fromArray(S, gate, off + i);
            g.div(FloatVector.fromArray(S, scratch, i).add(1f)).mul(FloatVector.fromArray(S, up, off + i))
                    .intoArray(gate, off + i);
        }
        for (int i = upper; i < n; i++) {
            gate[off + i] = gate[off + i] / (scratch[i] + 1f) * up[off + i];
        }
    }
}
