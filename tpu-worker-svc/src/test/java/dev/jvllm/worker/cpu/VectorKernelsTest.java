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
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
    @EnumSource(value = WeightType.class, names = {"F32", "BF16", "F16"})
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
                    VectorKernels.dot4x4(wf, 0, cols, r0, rows, in, 0, tiled, acc);
                    for (int t = 4; t < T; t++) {
                        VectorKernels.dot4x1(wf, 0, cols, r0, rows, in, t, tiled, acc);
                    }
                    for (int t = 0; t < T; t++) {
                        VectorKernels.dot4x1(wf, 0, cols, r0, rows, in, t, single, acc);
                    }
                }
                assertProductsMatchFloat64(w, in, tiled, rows, cols, T, 1e-6, type + " cols " + cols);
                for (int t = 0; t < T; t++) {
                    for (int r = 0; r < rows; r++) {
                        float got = tiled[t * rows + r];
                        assertEquals(single[t * rows + r], got, 0.0, "4x4 tile and 4x1 must sum identically");
                        if (r % 4 == 0) {
                            float[] direct = new float[T * rows], alone = new float[rows];
                            VectorKernels.dotRows(m, r, r + 4, in, T, direct, acc);
                            VectorKernels.dotRows(m, r, r + 4, java.util.Arrays.copyOfRange(in, t * cols, (t + 1) * cols), 1, alone, acc);
                            for (int j = 0; j < 4; j++) {
                                assertEquals(tiled[t * rows + r + j], direct[t * rows + r + j], 0.0,
                                        "reading the rows straight from memory for 7 tokens must sum like the staged kernels");
                                assertEquals(tiled[t * rows + r + j], alone[r + j], 0.0,
                                        "reading the rows straight from memory for one token must sum like the staged kernels");
                            }
                        }
                        float plain = VectorKernels.dot(wf, (r % 4) * cols, in, t * cols, cols);
                        if (r >= rows - 4) {
                            assertEquals(plain, got, 0.0, "plain dot must sum like the tiles");
                        }
                    }
                }
            }
        }
    }

    /**
     * Decode steps (one token, or three) over many rows read them two at a time, half the range apart: every
     * (row, token) must still get the staged kernels' bits (widened row, dot4x1), whatever the range, its start
     * and the leftover groups.
     */
    @ParameterizedTest
    @EnumSource(value = WeightType.class, names = {"F32", "BF16", "F16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"})
    void decodeRowsReadInPairsSumLikeTheStagedKernels(WeightType type) {
        assumeTrue(VectorKernels.readsRowsDirectly(type), type + " rows are staged with " + VectorKernels.S.length() + "-float vectors");
        SplittableRandom rng = new SplittableRandom(type.ordinal() + 31);
        int rows = 44;
        boolean superBlocks = type == WeightType.Q4_K || type == WeightType.Q5_K || type == WeightType.Q6_K;
        int[] colsCases = superBlocks ? new int[]{512, 256} : type.blockQuantized() ? new int[]{96, 64}
                : new int[]{VectorKernels.S.length() * 3, VectorKernels.S.length() * 2 + 5};
        for (int cols : colsCases) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment seg = arena.allocate(type.rowBytes(cols) * rows, 64);
                if (type == WeightType.Q5_K) {
                    // Every byte random but the f16 d and dmin (finite, of either sign).
                    for (long i = 0; i < seg.byteSize(); i++) {
                        seg.set(ValueLayout.JAVA_BYTE, i, (byte) rng.nextInt(256));
                    }
                    for (long b = 0; b < rows * cols / 256; b++) {
                        seg.set(HALF, b * 176, Float.floatToFloat16((float) rng.nextDouble(-1e-2, 1e-2)));
                        seg.set(HALF, b * 176 + 2, Float.floatToFloat16((float) rng.nextDouble(-1e-2, 1e-2)));
                    }
                } else if (superBlocks) {
                    fillKQuant(seg, type, rows * cols / 256, rng);
                } else if (type.blockQuantized()) {
                    int blockBytes = (int) (type.rowBytes(cols) / (cols / 32));
                    for (int b = 0; b < rows * cols / 32; b++) {
                        seg.set(HALF, (long) b * blockBytes, Float.floatToFloat16((float) rng.nextDouble(1e-3, 0.05)));
                        for (int j = 2; j < blockBytes; j++) {
                            seg.set(ValueLayout.JAVA_BYTE, (long) b * blockBytes + j, (byte) rng.nextInt(-127, 128));
                        }
                    }
                } else {
                    fill(seg, type, rows * cols, rng);
                }
                LlamaWeights.Matrix m = new LlamaWeights.Matrix(seg, type, rows, cols);
                float[] x = new float[cols], staged = new float[rows], wf = new float[4 * cols];
                float[] acc = new float[VectorKernels.ACC_SCRATCH];
                for (int i = 0; i < cols; i++) {
                    x[i] = (float) rng.nextDouble(-1, 1);
                }
                for (int r0 = 0; r0 < rows; r0 += 4) {
                    VectorKernels.widenRows(m, r0, 4, wf);
                    VectorKernels.dot4x1(wf, 0, cols, r0, rows, x, 0, staged, acc);
                }
                // Three tokens (the several-token kernels): token t's staged sums from its own row of xs.
                int T = 3;
                float[] xs = new float[T * cols], stagedT = new float[T * rows];
                for (int i = 0; i < xs.length; i++) {
                    xs[i] = (float) rng.nextDouble(-1, 1);
                }
                for (int r0 = 0; r0 < rows; r0 += 4) {
                    VectorKernels.widenRows(m, r0, 4, wf);
                    for (int t = 0; t < T; t++) {
                        VectorKernels.dot4x1(wf, 0, cols, r0, rows, xs, t, stagedT, acc);
                    }
                }
                for (int[] range : new int[][]{{0, rows}, {4, rows}, {0, 8}, {8, 28}, {12, 40}, {0, 36}}) {
                    float[] direct = new float[rows], directT = new float[T * rows];
                    VectorKernels.dotRows(m, range[0], range[1], x, 1, direct, acc);
                    VectorKernels.dotRows(m, range[0], range[1], xs, T, directT, acc);
                    for (int r = range[0]; r < range[1]; r++) {
                        assertEquals(staged[r], direct[r], 0.0, type + " cols " + cols + " rows " + range[0] + "-" + range[1] + ": row " + r);
                        for (int t = 0; t < T; t++) {
                            assertEquals(stagedT[t * rows + r], directT[t * rows + r], 0.0,
                                    type + " cols " + cols + " rows " + range[0] + "-" + range[1] + ": row " + r + " token " + t);
                        }
                    }
                }
            }
        }
    }

    @Test
    void q8_0RowsDequantizeExactlyAndMultiplyLikeFloat64() {
        SplittableRandom rng = new SplittableRandom(21);
        int rows = 4, cols = 96, T = 5;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(WeightType.Q8_0.rowBytes(cols) * rows);
            double[] w = new double[rows * cols];
            for (int b = 0; b < rows * cols / 32; b++) {
                short d = Float.floatToFloat16((float) rng.nextDouble(1e-3, 0.05));
                seg.set(HALF, b * 34L, d);
                for (int j = 0; j < 32; j++) {
                    byte q = (byte) rng.nextInt(-127, 128);
                    seg.set(ValueLayout.JAVA_BYTE, b * 34L + 2 + j, q);
                    w[b * 32 + j] = (double) Float.float16ToFloat(d) * q;   // ggml: fp16 scale times int8
                }
            }
            LlamaWeights.Matrix m = new LlamaWeights.Matrix(seg, WeightType.Q8_0, rows, cols);
            float[] wf = new float[rows * cols];
            VectorKernels.widenRows(m, 0, rows, wf);
            for (int i = 0; i < wf.length; i++) {
                assertEquals(w[i], wf[i], Math.ulp((float) w[i]) / 2, "element " + i);
            }
            float[] in = new float[T * cols], out = new float[T * rows], acc = new float[VectorKernels.ACC_SCRATCH];
            for (int i = 0; i < in.length; i++) {
                in[i] = (float) rng.nextDouble(-1, 1);
            }
            VectorKernels.dot4x4(wf, 0, cols, 0, rows, in, 0, out, acc);
            VectorKernels.dot4x1(wf, 0, cols, 0, rows, in, 4, out, acc);
            assertProductsMatchFloat64(w, in, out, rows, cols, T, 1e-6, "Q8_0");
            assertDirectRowsSumLikeTiles(m, wf, rng);
            float[] row = new float[cols];
            VectorKernels.copyRow(m, 2, row, 0);
            for (int i = 0; i < cols; i++) {
                assertEquals(wf[2 * cols + i], row[i], 0.0, "scalar and vector dequantization must agree");
            }
        }
    }

    @Test
    void q4_0RowsDequantizeExactlyLikeGgml() {
        SplittableRandom rng = new SplittableRandom(23);
        int rows = 4, cols = 64;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(WeightType.Q4_0.rowBytes(cols) * rows);
            double[] w = new double[rows * cols];
            for (int b = 0; b < rows * cols / 32; b++) {
                short d = Float.floatToFloat16((float) rng.nextDouble(-0.05, 0.05));
                seg.set(HALF, b * 18L, d);
                for (int j = 0; j < 16; j++) {
                    int lo = rng.nextInt(16), hi = rng.nextInt(16);
                    seg.set(ValueLayout.JAVA_BYTE, b * 18L + 2 + j, (byte) (lo | hi << 4));
                    w[b * 32 + j] = (double) Float.float16ToFloat(d) * (lo - 8);        // ggml: element j: low nibble
                    w[b * 32 + j + 16] = (double) Float.float16ToFloat(d) * (hi - 8);   // element j + 16: high nibble
                }
            }
            LlamaWeights.Matrix m = new LlamaWeights.Matrix(seg, WeightType.Q4_0, rows, cols);
            float[] wf = new float[rows * cols], row = new float[cols];
            VectorKernels.widenRows(m, 0, rows, wf);
            for (int i = 0; i < wf.length; i++) {
                assertEquals(w[i], wf[i], 0.0, "element " + i);
            }
            VectorKernels.copyRow(m, 3, row, 0);
            for (int i = 0; i < cols; i++) {
                assertEquals(wf[3 * cols + i], row[i], 0.0);
            }
            assertDirectRowsSumLikeTiles(m, wf, rng);
        }
    }

    /** out[t][r] = w[r] . in[t] within {@code tol} times the sum of the products' magnitudes, for T tokens. */
    private static void assertProductsMatchFloat64(double[] w, float[] in, float[] out, int rows, int cols, int T, double tol,
                                                   String label) {
        for (int t = 0; t < T; t++) {
            for (int r = 0; r < rows; r++) {
                double ref = 0, mag = 0;
                for (int i = 0; i < cols; i++) {
                    ref += w[r * cols + i] * in[t * cols + i];
                    mag += Math.abs(w[r * cols + i] * in[t * cols + i]);
                }
                assertTrue(Math.abs(out[t * rows + r] - ref) <= tol * mag, label + ": " + out[t * rows + r] + " vs " + ref);
            }
        }
    }

    /** The decode kernels (rows read from memory) give the tiles' bits on the widened rows {@code wf}. */
    private static void assertDirectRowsSumLikeTiles(LlamaWeights.Matrix m, float[] wf, SplittableRandom rng) {
        int rows = m.rows(), cols = m.cols(), T = 3;
        float[] in = new float[4 * cols], tiled = new float[4 * rows], direct = new float[T * rows];
        float[] acc = new float[VectorKernels.ACC_SCRATCH];
        for (int i = 0; i < in.length; i++) {
            in[i] = (float) rng.nextDouble(-1, 1);
        }
        for (int r0 = 0; r0 < rows; r0 += 4) {
            VectorKernels.dot4x4(wf, 0, cols, r0, rows, java.util.Arrays.copyOf(in, 4 * cols), 0, tiled, acc);
        }
        VectorKernels.dotRows(m, 0, rows, in, T, direct, acc);
        for (int i = 0; i < T * rows; i++) {
            assertEquals(tiled[i], direct[i], 0.0, m.type() + " row " + i % rows + " token " + i / rows);
        }
        for (int t = 0; t < T; t++) {
            float[] alone = new float[rows];
            VectorKernels.dotRows(m, 0, rows, java.util.Arrays.copyOfRange(in, t * cols, (t + 1) * cols), 1, alone, acc);
            for (int r = 0; r < rows; r++) {
                assertEquals(tiled[t * rows + r], alone[r], 0.0, m.type() + " row " + r + " token " + t + " alone");
            }
        }
    }

    /** ggml's get_scale_min_k4, written out again for the reference. */
    private static int[] scaleMinK4(int j, int[] q) {
        return j < 4 ? new int[]{q[j] & 63, q[j + 4] & 63}
                : new int[]{(q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)};
    }

    /** Random super-blocks of Q4_K or Q6_K and their float64 dequantization (ggml's block layouts and formulas). */
    private static double[] fillKQuant(MemorySegment seg, WeightType type, int blocks, SplittableRandom rng) {
        double[] y = new double[blocks * 256];
        int size = type == WeightType.Q4_K ? 144 : 210;
        for (int b = 0; b < blocks; b++) {
            long base = (long) b * size;
            int[] bytes = new int[size];
            for (int i = 0; i < size; i++) {
                bytes[i] = rng.nextInt(256);
                seg.set(ValueLayout.JAVA_BYTE, base + i, (byte) bytes[i]);
            }
            if (type == WeightType.Q4_K) {
                short d = Float.floatToFloat16((float) rng.nextDouble(1e-4, 1e-2)), dmin = Float.floatToFloat16((float) rng.nextDouble(1e-4, 1e-2));
                seg.set(HALF, base, d);
                seg.set(HALF, base + 2, dmin);
                int[] scales = java.util.Arrays.copyOfRange(bytes, 4, 16);
                for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
                    int[] sm1 = scaleMinK4(is, scales), sm2 = scaleMinK4(is + 1, scales);
                    for (int l = 0; l < 32; l++) {
                        int q = bytes[16 + j / 2 + l];
                        y[b * 256 + j + l] = (double) Float.float16ToFloat(d) * sm1[0] * (q & 0xF) - (double) Float.float16ToFloat(dmin) * sm1[1];
                        y[b * 256 + j + 32 + l] = (double) Float.float16ToFloat(d) * sm2[0] * (q >> 4) - (double) Float.float16ToFloat(dmin) * sm2[1];
                    }
                }
            } else {
                short d = Float.floatToFloat16((float) rng.nextDouble(1e-4, 1e-2));
                seg.set(HALF, base + 208, d);
                for (int half = 0; half < 2; half++) {
                    for (int l = 0; l < 32; l++) {
                        int ql0 = bytes[half * 64 + l], ql32 = bytes[half * 64 + l + 32], qh = bytes[128 + half * 32 + l];
                        int[] q = {(ql0 & 0xF) | ((qh & 3) << 4), (ql32 & 0xF) | (((qh >> 2) & 3) << 4),
                                (ql0 >> 4) | (((qh >> 4) & 3) << 4), (ql32 >> 4) | (((qh >> 6) & 3) << 4)};
                        for (int k = 0; k < 4; k++) {
                            byte sc = (byte) bytes[192 + half * 8 + l / 16 + 2 * k];
                            y[b * 256 + half * 128 + l + 32 * k] = (double) Float.float16ToFloat(d) * sc * (q[k] - 32);
                        }
                    }
                }
            }
        }
        return y;
    }

    @ParameterizedTest
    @EnumSource(value = WeightType.class, names = {"Q4_K", "Q6_K"})
    void kQuantRowsDequantizeAndMultiplyLikeFloat64(WeightType type) {
        SplittableRandom rng = new SplittableRandom(type.ordinal() + 31);
        int rows = 4, cols = 512, T = 4;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(type.rowBytes(cols) * rows);
            double[] w = fillKQuant(seg, type, rows * cols / 256, rng);
            LlamaWeights.Matrix m = new LlamaWeights.Matrix(seg, type, rows, cols);
            float[] wf = new float[rows * cols], row = new float[cols];
            VectorKernels.widenRows(m, 0, rows, wf);
            for (int i = 0; i < wf.length; i++) {
                assertEquals(w[i], wf[i], 1e-6 * Math.max(1e-3, Math.abs(w[i])), "element " + i);
            }
            VectorKernels.copyRow(m, 1, row, 0);
            for (int i = 0; i < cols; i++) {
                assertEquals(wf[cols + i], row[i], 0.0);
            }
            float[] in = new float[T * cols], out = new float[T * rows], acc = new float[VectorKernels.ACC_SCRATCH];
            for (int i = 0; i < in.length; i++) {
                in[i] = (float) rng.nextDouble(-1, 1);
            }
            VectorKernels.dot4x4(wf, 0, cols, 0, rows, in, 0, out, acc);
            assertProductsMatchFloat64(w, in, out, rows, cols, T, 2e-6, type.toString());
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
    void blockSoftmaxHelpersMatchFloat64() {
        SplittableRandom rng = new SplittableRandom(5);
        for (int n : new int[]{1, 5, VectorKernels.S.length(), VectorKernels.S.length() * 2 + 3}) {
            float[] x = new float[n + 2];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rng.nextDouble(-30, 30);
            }
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 1; i <= n; i++) {
                max = Math.max(max, x[i]);
            }
            assertEquals((float) max, VectorKernels.maxOf(x, 1, n), 0.0, "max of " + n);
            float[] before = x.clone();
            double sum = 0;
            float got = VectorKernels.expShiftedSum(x, 1, n, (float) max);
            for (int i = 1; i <= n; i++) {
                double ref = Math.exp(before[i] - (float) max);   // of the float difference the kernel exponentiates
                assertEquals(ref, x[i], 4e-7 * ref + 1e-30, "exp at " + i);
                assertEquals(VectorKernels.exp(before[i] - (float) max), x[i], 0.0, "vector and scalar exp differ at " + i);
                sum += ref;
            }
            assertEquals(sum, got, 1e-6 * sum, "sum of " + n);
            assertEquals(before[0], x[0], 0.0, "outside the range");
            assertEquals(before[n + 1], x[n + 1], 0.0, "outside the range");
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

    /** The four-row softmax step of a full block gives each row the bits of the row-by-row step (max, exp, sum). */
    @Test
    void fourRowSoftmaxStepGivesTheRowByRowBits() {
        org.junit.jupiter.api.Assumptions.assumeTrue(VectorKernels.softmaxFullBlock4Fits(16), "needs 16-lane vectors");
        SplittableRandom rng = new SplittableRandom(5);
        for (int trial = 0; trial < 50; trial++) {
            float[] scores = new float[64];
            for (int i = 0; i < 64; i++) {
                scores[i] = (float) rng.nextDouble(-8, 8);
            }
            // Row states: a first block (sum 0), a running max above the block's, below it, and equal to it.
            float[] max = {Float.NEGATIVE_INFINITY, 20f, (float) rng.nextDouble(-8, 0), 0f};
            float[] sum = {0f, (float) rng.nextDouble(1, 50), (float) rng.nextDouble(1, 50), (float) rng.nextDouble(1, 50)};
            max[3] = VectorKernels.maxOf(scores, 48, 16);
            float[] max1 = max.clone(), sum1 = sum.clone(), scores1 = scores.clone(), correction1 = new float[4];
            for (int r = 0; r < 4; r++) {   // the row-by-row step, as CpuModelRunner.softmaxStep
                float newMax = Math.max(max1[r], VectorKernels.maxOf(scores1, 16 * r, 16));
                correction1[r] = 1f;
                if (newMax > max1[r] && sum1[r] > 0f) {
                    correction1[r] = VectorKernels.exp(max1[r] - newMax);
                    sum1[r] *= correction1[r];
                }
                max1[r] = newMax;
                sum1[r] += VectorKernels.expShiftedSum(scores1, 16 * r, 16, newMax);
            }
            float[] correction = new float[4];
            VectorKernels.softmaxFullBlock4(scores, max, sum, correction, new float[64]);
            assertArrayEquals(scores1, scores);
            assertArrayEquals(max1, max);
            assertArrayEquals(sum1, sum);
            assertArrayEquals(correction1, correction);
        }
    }

    /** Four query rows at once (repeated rows included, as a group of 3 passes them) give each row the one-row kernels' bits. */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"8,4,F32", "24,16,F32", "64,16,F32", "80,20,F32", "128,16,F32",
            "8,4,BF16", "64,16,BF16", "80,20,BF16", "64,16,F16", "80,20,F16", "24,16,FP8_E5M2", "64,16,FP8_E5M2", "80,20,FP8_E5M2"})
    void fourRowAttentionKernelsGiveEachRowTheOneRowBits(int hd, int bs, KvCacheDtype dtype) {
        int kvHeads = 2, head = 1, eb = dtype.bytesPerElement();
        SplittableRandom rng = new SplittableRandom(hd * 31 + bs);
        try (Arena arena = Arena.ofConfined()) {
            // As PagedKvCache: READ_PAST bytes after the entries (fp8 loads may read past the last one).
            long bytes = (long) eb * bs * kvHeads * hd;
            MemorySegment keys = arena.allocate(bytes + LlamaWeights.Matrix.READ_PAST);
            MemorySegment values = arena.allocate(bytes + LlamaWeights.Matrix.READ_PAST);
            for (long i = 0; i < bytes / eb; i++) {
                for (MemorySegment m : new MemorySegment[] {keys, values}) {
                    float x = (float) rng.nextDouble(-1, 1);
                    switch (dtype) {
                        case F32 -> m.set(F32, 4 * i, x);
                        case BF16 -> m.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i, (short) (Float.floatToRawIntBits(x) >>> 16));
                        case F16 -> m.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i, Float.floatToFloat16(x));
                        case FP8_E5M2 -> m.set(ValueLayout.JAVA_BYTE, i, (byte) (Float.floatToFloat16(x) >> 8));
                    }
                }
            }
            float[] q = new float[4 * hd + 5];
            for (int i = 0; i < q.length; i++) {
                q[i] = (float) rng.nextDouble(-1, 1);
            }
            int[] qOff = {5, 5 + hd, 5 + 3 * hd, 5 + 3 * hd};   // the last row repeated
            long keyOff = (long) eb * head * hd * bs, valueOff = (long) eb * head * hd, stride = (long) eb * kvHeads * hd;
            float[] scores4 = new float[4 * bs];
            VectorKernels.blockScores4(keys, keyOff, bs, q, qOff[0], qOff[1], qOff[2], qOff[3], hd, 0.125f, scores4, dtype);
            float[] out4 = new float[4 * hd + 2], out1 = new float[4 * hd + 2];
            for (int i = 0; i < out4.length; i++) {
                out4[i] = out1[i] = (float) rng.nextDouble(-1, 1);
            }
            int first = 1, last = bs - 2;
            for (int r = 0; r < 3; r++) {
                float[] scores = new float[bs];
                VectorKernels.blockScores(keys, keyOff, bs, q, qOff[r], hd, 0.125f, scores, dtype);
                assertArrayEquals(scores, Arrays.copyOfRange(scores4, r * bs, (r + 1) * bs), "scores of row " + r);
                // Row r's own slots are [first + r, last]; its weights outside them are 0 in the four-row call.
                for (int j = 0; j < bs; j++) {
                    scores4[r * bs + j] = j < first + r ? 0f : scores[j];
                }
                VectorKernels.accumulateValues(out1, 2 + (qOff[r] - 5), hd, scores, first + r, last, values, valueOff, stride, dtype);
            }
            VectorKernels.accumulateValues4(out4, 2, 2 + hd, 2 + 3 * hd, 2 + 3 * hd, hd, scores4, 0, bs, 2 * bs, 2 * bs,
                    first, last, values, valueOff, stride, dtype);
            assertArrayEquals(out1, out4);
        }
    }

    /**
     * The narrow caches' kernels widen every stored element to the float the scalar decoding gives (random bit
     * patterns: subnormals, both signs, the largest finite values; only inf/NaN encodings left out) and sum as
     * the f32 kernels do: on the same values widened beforehand into an f32 cache, those give the same bits.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"64,16,BF16", "67,20,BF16", "64,16,F16", "67,20,F16", "24,16,FP8_E5M2", "67,20,FP8_E5M2"})
    void narrowCacheKernelsWidenEveryElementExactly(int hd, int bs, KvCacheDtype dtype) {
        int eb = dtype.bytesPerElement();
        SplittableRandom rng = new SplittableRandom(hd * 7L + bs);
        try (Arena arena = Arena.ofConfined()) {
            long n = (long) bs * hd;
            MemorySegment keys = arena.allocate(eb * n + LlamaWeights.Matrix.READ_PAST);
            MemorySegment values = arena.allocate(eb * n + LlamaWeights.Matrix.READ_PAST);
            int expMask = switch (dtype) {
                case BF16 -> 0x7F80;
                case F16 -> 0x7C00;
                default -> 0x7C;
            };
            float[] k = new float[(int) n], v = new float[(int) n];
            for (int i = 0; i < n; i++) {
                for (int which = 0; which < 2; which++) {
                    int bits;
                    do {
                        bits = rng.nextInt(1 << (8 * eb));
                    } while ((bits & expMask) == expMask);   // every encoding but inf and NaN
                    MemorySegment m = which == 0 ? keys : values;
                    if (eb == 2) {
                        m.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2L * i, (short) bits);
                    } else {
                        m.set(ValueLayout.JAVA_BYTE, i, (byte) bits);
                    }
                    float x = switch (dtype) {
                        case BF16 -> Float.intBitsToFloat(bits << 16);
                        case F16 -> Float.float16ToFloat((short) bits);
                        default -> Float.float16ToFloat((short) (bits << 8));
                    };
                    (which == 0 ? k : v)[i] = x;
                }
            }
            float[] q = new float[hd], p = new float[bs];
            for (int i = 0; i < hd; i++) {
                q[i] = (float) rng.nextDouble(-1, 1) / 1024;
            }
            for (int j = 0; j < bs; j++) {
                p[j] = (float) rng.nextDouble(0, 1) / 1024;
            }
            // Keys transposed [dim][slot]; values [slot][dim]. The same values widened beforehand into an f32 cache.
            MemorySegment keysF32 = arena.allocate(4 * n), valuesF32 = arena.allocate(4 * n);
            VectorKernels.widenKv(keys, 0, (int) n, dtype, keysF32, 0);
            VectorKernels.widenKv(values, 0, (int) n, dtype, valuesF32, 0);
            for (int i = 0; i < n; i++) {
                assertEquals(k[i], keysF32.get(F32, 4L * i), dtype + " key " + i + " widened");
                assertEquals(v[i], valuesF32.get(F32, 4L * i), dtype + " value " + i + " widened");
            }
            float[] scores = new float[bs], scoresF32 = new float[bs];
            VectorKernels.blockScores(keys, 0, bs, q, 0, hd, 0.25f, scores, dtype);
            VectorKernels.blockScores(keysF32, 0, bs, q, 0, hd, 0.25f, scoresF32, KvCacheDtype.F32);
            assertArrayEquals(scoresF32, scores, dtype + " scores");
            float[] out = new float[hd], outF32 = new float[hd];
            VectorKernels.accumulateValues(out, 0, hd, p, 0, bs - 1, values, 0, (long) eb * hd, dtype);
            VectorKernels.accumulateValues(outF32, 0, hd, p, 0, bs - 1, valuesF32, 0, 4L * hd, KvCacheDtype.F32);
            assertArrayEquals(outF32, out, dtype + " outputs");
            for (int s0 = 0; s0 < bs; s0++) {   // and the sums are the keys' (a loose check of the widening itself)
                double want = 0, magnitude = 0;
                for (int d = 0; d < hd; d++) {
                    want += (double) k[d * bs + s0] * q[d];
                    magnitude += Math.abs((double) k[d * bs + s0] * q[d]);
                }
                assertEquals(want * 0.25, scores[s0], 1e-6 * magnitude, dtype + " score of slot " + s0);
            }
        }
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
            VectorKernels.blockScores(keys, 4L * head * hd * bs, bs, q, 2, hd, 0.5f, scores, KvCacheDtype.F32);
            for (int s = 0; s < bs; s++) {
                double ref = 0;
                for (int d = 0; d < hd; d++) {
                    ref += k[(head * hd + d) * bs + s] * q[2 + d];
                }
                assertEquals(ref * 0.5, scores[s], 1e-6);
            }
            float[] out = new float[hd + 1];
            out[1] = 0.25f;
            VectorKernels.accumulateValues(out, 1, hd, scores, 3, 9, values, 4L * head * hd, 4L * kvHeads * hd, KvCacheDtype.F32);
            for (int d = 0; d < hd; d++) {
                double ref = d == 0 ? 0.25 : 0;
                for (int j = 3; j <= 9; j++) {
                    ref += scores[j] * val[j * kvHeads * hd + head * hd + d];
                }
                assertEquals(ref, out[1 + d], 1e-6);
            }
        }
    }

    @org.junit.jupiter.api.Test
    void halfWideningIsExactForEveryFiniteHalf() {
        int cols = 1 << 16;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(2L * cols, 64);
            for (int h = 0; h < cols; h++) {
                seg.set(HALF, 2L * h, (short) h);
            }
            float[] wf = new float[cols];
            VectorKernels.widenRows(new LlamaWeights.Matrix(seg, WeightType.F16, 1, cols), 0, 1, wf);
            for (int h = 0; h < cols; h++) {
                if ((h & 0x7C00) != 0x7C00) {   // weights are finite
                    assertEquals(Float.floatToRawIntBits(Float.float16ToFloat((short) h)), Float.floatToRawIntBits(wf[h]),
                            "half 0x" + Integer.toHexString(h));
                }
            }
        }
    }

    @org.junit.jupiter.api.Test
    void e5m2CacheWideningIsExactForEveryFiniteByte() {
        int n = 256, bs = 16;
        try (Arena arena = Arena.ofConfined()) {
            // Values: n positions of one dimension; keys: one dimension over n slots (transposed layout).
            MemorySegment cache = arena.allocate(n + LlamaWeights.Matrix.READ_PAST, 64);   // as PagedKvCache: kernels may read past the last entry
            for (int b = 0; b < n; b++) {
                cache.set(ValueLayout.JAVA_BYTE, b, (byte) b);
            }
            float[] ones = new float[n];
            java.util.Arrays.fill(ones, 1f);
            for (int b = 0; b < n; b++) {
                if ((b & 0x7C) == 0x7C) {
                    continue;   // inf/nan never stored: conversion saturates
                }
                float exact = KvCacheDtype.fromE5m2((byte) b);
                float[] out = new float[1];
                VectorKernels.accumulateValues(out, 0, 1, ones, b, b, cache, 0, 1, KvCacheDtype.FP8_E5M2);
                assertEquals(Float.floatToRawIntBits(exact + 0f), Float.floatToRawIntBits(out[0]), "value byte 0x" + Integer.toHexString(b));
            }
            float[] q = {1f}, scores = new float[bs];
            for (int s0 = 0; s0 < n; s0 += bs) {
                VectorKernels.blockScores(cache, s0, bs, q, 0, 1, 1f, scores, KvCacheDtype.FP8_E5M2);
                for (int j = 0; j < bs; j++) {
                    int b = s0 + j;
                    if ((b & 0x7C) != 0x7C) {
                        assertEquals(Float.floatToRawIntBits(KvCacheDtype.fromE5m2((byte) b) + 0f), Float.floatToRawIntBits(scores[j] + 0f),
                                "key byte 0x" + Integer.toHexString(b));
                    }
                }
            }
        }
    }
}
