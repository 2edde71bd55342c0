package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.WeightType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Q4_1, Q5_0, Q5_1 and Q5_K rows (what Q4_K_M / Q5_K_M files hold beside Q4_K and Q6_K) against ggml's
 * dequantize_row_q4_1 / _q5_0 / _q5_1 / _q5_K written out plainly here: bit for bit on random blocks (every
 * byte random, f16 scales of either sign, subnormal, zero, or any bit pattern), and the widened rows
 * multiplied like a float64 dequantize-then-multiply reference.
 */
class Q5AndQ4_1DequantizeTest {
    private static int blockElements(WeightType type) {
        return type == WeightType.Q5_K ? 256 : 32;
    }

    private static int blockBytes(WeightType type) {
        return (int) type.rowBytes(blockElements(type));
    }

    private static float half(int[] x, int at) {
        return Float.float16ToFloat((short) (x[at] | x[at + 1] << 8));
    }

    /** One block (bytes unsigned) dequantized as ggml does it, in float; {@code exact} holds the float64 value. */
    private static float[] reference(WeightType type, int[] x, double[] exact) {
        return switch (type) {
            case Q4_1 -> {
                float[] y = new float[32];
                float d = half(x, 0), m = half(x, 2);
                for (int j = 0; j < 16; j++) {
                    int x0 = x[4 + j] & 0x0F, x1 = x[4 + j] >> 4;
                    y[j] = x0 * d + m;
                    y[j + 16] = x1 * d + m;
                    exact[j] = (double) x0 * d + m;
                    exact[j + 16] = (double) x1 * d + m;
                }
                yield y;
            }
            case Q5_0, Q5_1 -> {
                boolean withMin = type == WeightType.Q5_1;
                int qsAt = withMin ? 8 : 6, qhAt = withMin ? 4 : 2;
                float d = half(x, 0), m = withMin ? half(x, 2) : 0;
                int qh = x[qhAt] | x[qhAt + 1] << 8 | x[qhAt + 2] << 16 | x[qhAt + 3] << 24;
                float[] y = new float[32];
                for (int j = 0; j < 16; j++) {
                    int xh0 = ((qh >>> j) << 4) & 0x10, xh1 = (qh >>> (j + 12)) & 0x10;
                    int x0 = (x[qsAt + j] & 0x0F) | xh0, x1 = (x[qsAt + j] >> 4) | xh1;
                    if (withMin) {
                        y[j] = x0 * d + m;
                        y[j + 16] = x1 * d + m;
                        exact[j] = (double) x0 * d + m;
                        exact[j + 16] = (double) x1 * d + m;
                    } else {
                        y[j] = (x0 - 16) * d;
                        y[j + 16] = (x1 - 16) * d;
                        exact[j] = (double) (x0 - 16) * d;
                        exact[j + 16] = (double) (x1 - 16) * d;
                    }
                }
                yield y;
            }
            case Q5_K -> {
                float[] y = new float[256];
                float d = half(x, 0), min = half(x, 2);
                int[] scales = java.util.Arrays.copyOfRange(x, 4, 16);
                int ql = 48, u1 = 1, u2 = 2, at = 0;
                for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
                    int[] sm1 = scaleMinK4(is, scales), sm2 = scaleMinK4(is + 1, scales);
                    float d1 = d * sm1[0], m1 = min * sm1[1];
                    float d2 = d * sm2[0], m2 = min * sm2[1];
                    for (int l = 0; l < 32; l++) {
                        int q = (x[ql + l] & 0xF) + ((x[16 + l] & u1) != 0 ? 16 : 0);
                        exact[at] = (double) d * sm1[0] * q - (double) min * sm1[1];
                        y[at++] = d1 * q - m1;
                    }
                    for (int l = 0; l < 32; l++) {
                        int q = (x[ql + l] >> 4) + ((x[16 + l] & u2) != 0 ? 16 : 0);
                        exact[at] = (double) d * sm2[0] * q - (double) min * sm2[1];
                        y[at++] = d2 * q - m2;
                    }
                    ql += 32;
                    u1 <<= 2;
                    u2 <<= 2;
                }
                yield y;
            }
            default -> throw new IllegalArgumentException(type.toString());
        };
    }

    /** ggml's get_scale_min_k4 over the 12 unsigned scale bytes: {scale, min}. */
    private static int[] scaleMinK4(int j, int[] q) {
        return j < 4 ? new int[]{q[j] & 63, q[j + 4] & 63}
                : new int[]{(q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)};
    }

    /** A random f16: mostly ordinary scales of either sign, often subnormal or zero, sometimes any bit pattern. */
    private static short randomHalf(SplittableRandom rng, boolean finite) {
        int sign = rng.nextBoolean() ? 0x8000 : 0;
        return switch (rng.nextInt(8)) {
            case 0, 1 -> (short) (sign | rng.nextInt(0x400));                         // subnormal (or zero)
            case 2 -> (short) sign;                                                   // +-0
            case 3 -> finite ? (short) (sign | rng.nextInt(0x7C00)) : (short) rng.nextInt(0x10000);   // incl. inf, NaN
            default -> (short) (sign | Float.floatToFloat16((float) rng.nextDouble(1e-5, 1e-1)));
        };
    }

    /** Random blocks stored from byte {@code at}: their bytes, with the f16 scales (and mins) replaced by randomHalf. */
    private static int[][] randomBlocks(MemorySegment seg, long at, WeightType type, int blocks, SplittableRandom rng,
                                        boolean finite) {
        int size = blockBytes(type);
        int[][] bytes = new int[blocks][size];
        int[] halves = type == WeightType.Q5_0 ? new int[]{0} : new int[]{0, 2};
        for (int b = 0; b < blocks; b++) {
            for (int i = 0; i < size; i++) {
                bytes[b][i] = rng.nextInt(256);
            }
            for (int h : halves) {
                short v = randomHalf(rng, finite);
                bytes[b][h] = v & 0xFF;
                bytes[b][h + 1] = (v >> 8) & 0xFF;
            }
            for (int i = 0; i < size; i++) {
                seg.set(ValueLayout.JAVA_BYTE, at + (long) b * size + i, (byte) bytes[b][i]);
            }
        }
        return bytes;
    }

    @ParameterizedTest
    @EnumSource(value = WeightType.class, names = {"Q4_1", "Q5_0", "Q5_1", "Q5_K"})
    void rowsDequantizeBitIdenticallyToGgmlScalar(WeightType type) {
        SplittableRandom rng = new SplittableRandom(type.ordinal() * 7919L + 17);
        int n = blockElements(type), size = blockBytes(type);
        int blocksPerRow = 2, rows = type == WeightType.Q5_K ? 200 : 400, cols = blocksPerRow * n;
        int blocks = rows * blocksPerRow;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate((long) blocks * size + 1);
            int[][] bytes = randomBlocks(seg, 1, type, blocks, rng, false);   // odd offset: unaligned loads
            float[][] ref = new float[blocks][];
            for (int b = 0; b < blocks; b++) {
                ref[b] = reference(type, bytes[b], new double[n]);
            }
            LlamaWeights.Matrix m = new LlamaWeights.Matrix(seg.asSlice(1), type, rows, cols);
            // Enough calls, each checked, that C2 compiles widenRows part way through: the interpreted Vector
            // API (its Java fallback) and the SIMD code must both give ggml's bits.
            float[] wf = new float[3 + 4 * cols];
            int calls = type == WeightType.Q5_K ? 8_000 : 30_000;
            for (int call = 0; call < calls; call++) {
                int r0 = 4 * (call % (rows / 4));
                VectorKernels.widenRows(m, r0, 4, wf, 3);
                for (int r = 0; r < 4; r++) {
                    for (int k = 0; k < blocksPerRow; k++) {
                        float[] expected = ref[(r0 + r) * blocksPerRow + k];
                        for (int i = 0; i < n; i++) {
                            float got = wf[3 + r * cols + k * n + i];
                            if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(got)) {
                                assertEquals(expected[i], got, type + " row " + (r0 + r) + " block " + k + " element " + i
                                        + " (call " + call + ")");
                            }
                        }
                    }
                }
            }
            float[] row = new float[cols];
            VectorKernels.copyRow(m, rows - 1, row, 0);
            for (int i = 0; i < cols; i++) {
                assertEquals(Float.floatToIntBits(ref[(rows - 1) * blocksPerRow + i / n][i % n]), Float.floatToIntBits(row[i]));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = WeightType.class, names = {"Q4_1", "Q5_0", "Q5_1", "Q5_K"})
    void widenedRowsMultiplyLikeFloat64(WeightType type) {
        SplittableRandom rng = new SplittableRandom(type.ordinal() + 41);
        int n = blockElements(type), rows = 8, T = 6, cols = 3 * n;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(type.rowBytes(cols) * rows);
            int blocks = rows * cols / n;
            int[][] bytes = randomBlocks(seg, 0, type, blocks, rng, true);
            double[] w = new double[rows * cols];
            for (int b = 0; b < blocks; b++) {
                double[] exact = new double[n];
                reference(type, bytes[b], exact);
                System.arraycopy(exact, 0, w, b * n, n);
            }
            LlamaWeights.Matrix m = new LlamaWeights.Matrix(seg, type, rows, cols);
            float[] in = new float[T * cols], out = new float[T * rows], wf = new float[4 * cols];
            float[] acc = new float[VectorKernels.ACC_SCRATCH];
            for (int i = 0; i < in.length; i++) {
                in[i] = (float) rng.nextDouble(-1, 1);
            }
            for (int r0 = 0; r0 < rows; r0 += 4) {
                VectorKernels.widenRows(m, r0, 4, wf);
                VectorKernels.dot4x4(wf, 0, cols, r0, rows, in, 0, out, acc);
                for (int t = 4; t < T; t++) {
                    VectorKernels.dot4x1(wf, 0, cols, r0, rows, in, t, out, acc);
                }
            }
            for (int t = 0; t < T; t++) {
                for (int r = 0; r < rows; r++) {
                    double ref = 0, mag = 0;
                    for (int i = 0; i < cols; i++) {
                        ref += w[r * cols + i] * in[t * cols + i];
                        // A weight d * q + m is rounded twice in float: bound its error by its terms, not its value.
                        mag += (Math.abs(w[r * cols + i]) + termMagnitude(type, bytes, r * cols + i)) * Math.abs(in[t * cols + i]);
                    }
                    float got = out[t * rows + r];
                    assertTrue(Math.abs(got - ref) <= 2e-6 * mag + 1e-30, type + " row " + r + " token " + t + ": " + got + " vs " + ref);
                }
            }
        }
    }

    /** |m| (Q4_1, Q5_1) or |dmin * min| (Q5_K, at most 63 |dmin|) of the element's block: the term cancellation can hide. */
    private static double termMagnitude(WeightType type, int[][] bytes, int element) {
        int[] x = bytes[element / blockElements(type)];
        return switch (type) {
            case Q4_1, Q5_1 -> Math.abs(half(x, 2));
            case Q5_K -> 63 * Math.abs(half(x, 2));
            default -> 0;
        };
    }
}
