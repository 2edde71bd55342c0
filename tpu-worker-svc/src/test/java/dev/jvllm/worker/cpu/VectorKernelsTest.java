package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.WeightType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each kernel against a plain float64 reference: dequantize (widen) the stored weights, then multiply in double. */
class VectorKernelsTest {
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Stores random values (including f16 subnormals and bf16 tiny values) and returns their exact float64 decodings. */
    private static double[] fill(MemorySegment seg, WeightType type, int n, SplittableRandom rng) {
        double[] exact = new double[n];
        for (int i = 0; i < n; i++) {
            float v = (float) (rng.nextDouble(-2, 2) * (i % 17 == 0 ? 1e-6 : 1));
            switch (type) {
                case F32 -> {
                    seg.set(F32, 4L * i, v);
                    exact[i] = v;
                }
                case BF16 -> {
                    short b = (short) (Float.floatToRawIntBits(v) >>> 16);
                    seg.set(HALF, 2L * i, b);
                    exact[i] = Float.intBitsToFloat((b & 0xFFFF) << 16);
                }
                case F16 -> {
                    short h = Float.floatToFloat16(v);
                    seg.set(HALF, 2L * i, h);
                    exact[i] = Float.float16ToFloat(h);
                }
            }
        }
        return exact;
    }

    @ParameterizedTest
    @EnumSource(WeightType.class)
    void tiledMatmulKernelsMatchFloat64Reference(WeightType type) {
        SplittableRandom rng = new SplittableRandom(type.ordinal() + 11);
        int rows = 8, T = 7;
        for (int cols : new int[]{VectorKernels.S.length() * 3, VectorKernels.S.length() * 2 + 5, 7}) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment seg = arena.allocate((long) rows * cols * type.bytesPerElement(), 64);
                double[] w = fill(seg, type, rows * cols, rng);
                LlamaWeights.Matrix m = new LlamaWeights.Matrix(seg, type, rows, cols);
                float[] in = new float[T * cols];
                for (int i = 0; i < in.length; i++) {
                    in[i] = (float) rng.nextDouble(-1, 1);
                }
                float[] tiled = new float[T * rows], single = new float[T * rows], wf = new float[4 * cols];
                float[] acc = new float[VectorKernels.ACC_SCRATCH];
                for (int r0 = 0; r0 < rows; r0 += 4) {
                    VectorKernels.widenRows(m, r0, 4, wf);
                    for (int j = 0; j < 4 * cols; j++) {
                        assertEquals(w[r0 * cols + j], wf[j], 0.0, "widening must be exact");
                    }
                    VectorKernels.dot4x4(wf, cols, r0, rows, in, 0, tiled, acc);
                    for (int t = 4; t < T; t++) {
                        VectorKernels.dot4x1(wf, cols, r0, rows, in, t, tiled, acc);
                    }
                    for (int t = 0; t < T; t++) {
                        VectorKernels.dot4x1(wf, cols, r0, rows, in, t, single, acc);
                    }
                }
                for (int t = 0; t < T; t++) {
                    for (int r = 0; r < rows; r++) {
                        double ref = 0, mag = 0;
                        for (int i = 0; i < cols; i++) {
                            ref += w[r * cols + i] * in[t * cols + i];
                            mag += Math.abs(w[r * cols + i] * in[t * cols + i]);
                        }
                        float got = tiled[t * rows + r];
                        assertTrue(Math.abs(got - ref) <= 1e-6 * mag + 1e-30, type + " cols " + cols + ": " + got + " vs " + ref);
                        assertEquals(single[t * rows + r], got, 0.0, "4x4 tile and 4x1 must sum identically");
                        float plain = VectorKernels.dot(wf, (r % 4) * cols, in, t * cols, cols);
                        if (r >= rows - 4) {
                            assertEquals(plain, got, 0.0, "plain dot must sum like the tiles");
                        }
                    }
                }
            }
        }
    }

    @Test
    void expMatchesMathExpAndScalarMatchesVectorLanes() {
        int n = 1000;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = -100f + 190f * i / n;
        }
        float[] v = x.clone();
        VectorKernels.expInPlace(v, 0, n);
        for (int i = 0; i < n; i++) {
            assertEquals(VectorKernels.exp(x[i]), v[i], 0.0, "scalar and vector exp differ at " + x[i]);
            double ref = Math.exp(x[i]);
            if (x[i] > -87f && x[i] < 88f) {
                assertTrue(Math.abs(v[i] - ref) <= 3e-7 * ref, x[i] + ": " + v[i] + " vs " + ref);
            } else {
                assertTrue(Double.isFinite(v[i]) && v[i] >= 0, "clamped exp must stay finite: " + v[i]);
            }
        }
    }

    @Test
    void siluTimesMatchesFloat64() {
        int n = 37;
        float[] gate = new float[n + 3], up = new float[n + 3], scratch = new float[n];
        SplittableRandom rng = new SplittableRandom(5);
        for (int i = 0; i < gate.length; i++) {
            gate[i] = (float) rng.nextDouble(-30, 30);
            up[i] = (float) rng.nextDouble(-2, 2);
        }
        float[] orig = gate.clone();
        VectorKernels.siluTimes(gate, up, 3, n, scratch);
        for (int i = 3; i < n + 3; i++) {
            double g = orig[i];
            double ref = g / (1 + Math.exp(-g)) * up[i];
            assertEquals(ref, gate[i], 1e-6 * Math.max(1, Math.abs(ref)));
        }
        assertEquals(orig[0], gate[0], 0.0);
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {24, 67})
    void blockAttentionKernelsMatchFloat64(int hd) {
        int bs = 16, kvHeads = 2;
        SplittableRandom rng = new SplittableRandom(9);
        try (Arena arena = Arena.ofConfined()) {
            // One block, transposed keys [head][dim][slot], values [slot][head][dim].
            MemorySegment keys = arena.allocate(4L * bs * kvHeads * hd), values = arena.allocate(4L * bs * kvHeads * hd);
            double[] k = new double[bs * kvHeads * hd], val = new double[bs * kvHeads * hd];
            for (int i = 0; i < k.length; i++) {
                k[i] = (float) rng.nextDouble(-1, 1);
                keys.set(F32, 4L * i, (float) k[i]);
                val[i] = (float) rng.nextDouble(-1, 1);
                values.set(F32, 4L * i, (float) val[i]);
            }
            float[] q = new float[hd + 2];
            for (int i = 0; i < q.length; i++) {
                q[i] = (float) rng.nextDouble(-1, 1);
            }
            int head = 1;
            float[] scores = new float[bs];
            VectorKernels.blockScores(keys, 4L * head * hd * bs, bs, q, 2, hd, 0.5f, scores);
            for (int s = 0; s < bs; s++) {
                double ref = 0;
                for (int d = 0; d < hd; d++) {
                    ref += k[(head * hd + d) * bs + s] * q[2 + d];
                }
                assertEquals(ref * 0.5, scores[s], 1e-6);
            }
            float[] out = new float[hd + 1];
            out[1] = 0.25f;
            VectorKernels.accumulateValues(out, 1, hd, scores, 3, 9, values, 4L * head * hd, 4L * kvHeads * hd);
            for (int d = 0; d < hd; d++) {
                double ref = d == 0 ? 0.25 : 0;
                for (int j = 3; j <= 9; j++) {
                    ref += scores[j] * val[j * kvHeads * hd + head * hd + d];
                }
                assertEquals(ref, out[1 + d], 1e-6);
            }
        }
    }
}
