package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.WeightType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The vectorized Q4_K / Q6_K dequantization against ggml's scalar dequantize_row_q4_K /
 * dequantize_row_q6_K written out plainly here, bit for bit, on random super-blocks: every byte
 * random (so all scale bits), and the f16 scales drawn to include negatives, subnormals, zeros and
 * the odd infinity or NaN.
 */
class KQuantDequantizeTest {
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** ggml's get_scale_min_k4 over the 12 unsigned scale bytes: {scale, min}. */
    private static int[] scaleMinK4(int j, int[] q) {
        return j < 4 ? new int[]{q[j] & 63, q[j + 4] & 63}
                : new int[]{(q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)};
    }

    /** dequantize_row_q4_K for one block (bytes unsigned), float arithmetic as ggml does it. */
    private static float[] referenceQ4K(int[] x) {
        float[] y = new float[256];
        float d = Float.float16ToFloat((short) (x[0] | x[1] << 8)), min = Float.float16ToFloat((short) (x[2] | x[3] << 8));
        int[] scales = java.util.Arrays.copyOfRange(x, 4, 16);
        for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
            int[] sm1 = scaleMinK4(is, scales), sm2 = scaleMinK4(is + 1, scales);
            float d1 = d * sm1[0], m1 = min * sm1[1];
            float d2 = d * sm2[0], m2 = min * sm2[1];
            for (int l = 0; l < 32; l++) {
                int q = x[16 + j / 2 + l];
                y[j + l] = d1 * (q & 0xF) - m1;
                y[j + 32 + l] = d2 * (q >> 4) - m2;
            }
        }
        return y;
    }

    /** dequantize_row_q6_K for one block (bytes unsigned; the 16 scales are int8). */
    private static float[] referenceQ6K(int[] x) {
        float[] y = new float[256];
        float d = Float.float16ToFloat((short) (x[208] | x[209] << 8));
        for (int half = 0; half < 2; half++) {
            int ql = half * 64, qh = 128 + half * 32, sc = 192 + half * 8;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((x[ql + l] & 0xF) | ((x[qh + l] & 3) << 4)) - 32;
                int q2 = ((x[ql + l + 32] & 0xF) | (((x[qh + l] >> 2) & 3) << 4)) - 32;
                int q3 = ((x[ql + l] >> 4) | (((x[qh + l] >> 4) & 3) << 4)) - 32;
                int q4 = ((x[ql + l + 32] >> 4) | (((x[qh + l] >> 6) & 3) << 4)) - 32;
                y[half * 128 + l] = d * (byte) x[sc + is] * q1;
                y[half * 128 + l + 32] = d * (byte) x[sc + is + 2] * q2;
                y[half * 128 + l + 64] = d * (byte) x[sc + is + 4] * q3;
                y[half * 128 + l + 96] = d * (byte) x[sc + is + 6] * q4;
            }
        }
        return y;
    }

    /** A random f16: mostly ordinary scales of either sign, often subnormal or zero, sometimes any bit pattern. */
    private static short randomHalf(SplittableRandom rng) {
        int sign = rng.nextBoolean() ? 0x8000 : 0;
        return switch (rng.nextInt(8)) {
            case 0, 1 -> (short) (sign | rng.nextInt(0x400));                 // subnormal (or zero)
            case 2 -> (short) sign;                                           // +-0
            case 3 -> (short) rng.nextInt(0x10000);                           // anything, incl. inf and NaN
            default -> (short) (sign | Float.floatToFloat16((float) rng.nextDouble(1e-5, 1e-1)));
        };
    }

    @ParameterizedTest
    @EnumSource(value = WeightType.class, names = {"Q4_K", "Q6_K"})
    void vectorDequantizationIsBitIdenticalToGgmlScalar(WeightType type) {
        SplittableRandom rng = new SplittableRandom(type.ordinal() * 7919L + 5);
        int size = type == WeightType.Q4_K ? 144 : 210;
        int blocks = 400;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate((long) blocks * size + 1 + LlamaWeights.Matrix.READ_PAST);   // as a Matrix: kernels may read past the end
            int[][] bytes = new int[blocks][size];
            for (int b = 0; b < blocks; b++) {
                for (int i = 0; i < size; i++) {
                    bytes[b][i] = rng.nextInt(256);
                }
                int[] halves = type == WeightType.Q4_K ? new int[]{0, 2} : new int[]{208};
                for (int at : halves) {
                    short h = randomHalf(rng);
                    bytes[b][at] = h & 0xFF;
                    bytes[b][at + 1] = (h >> 8) & 0xFF;
                }
                for (int i = 0; i < size; i++) {
                    seg.set(ValueLayout.JAVA_BYTE, 1 + (long) b * size + i, (byte) bytes[b][i]);   // odd offset: unaligned loads
                }
            }
            float[][] ref = new float[blocks][];
            for (int b = 0; b < blocks; b++) {
                ref[b] = type == WeightType.Q4_K ? referenceQ4K(bytes[b]) : referenceQ6K(bytes[b]);
            }
            // Enough calls, each checked, that C2 compiles the kernel part way through: the interpreted
            // Vector API (its Java fallback) and the SIMD code must both give ggml's bits.
            float[] dst = new float[3 + 256];
            for (int call = 0; call < 40_000; call++) {
                int b = call % blocks;
                VectorKernels.dequantizeSuperBlock(seg, type, 1 + (long) b * size, dst, 3);
                for (int i = 0; i < 256; i++) {
                    if (Float.floatToIntBits(ref[b][i]) != Float.floatToIntBits(dst[3 + i])) {
                        assertEquals(ref[b][i], dst[3 + i], type + " block " + b + " element " + i + " (call " + call + ")");
                    }
                }
            }

            // The same blocks as matrix rows through widenRows, which stages whole rows (2 blocks each).
            int rows = blocks / 2, cols = 512;
            LlamaWeights.Matrix m = new LlamaWeights.Matrix(seg.asSlice(1), type, rows, cols);
            float[] wf = new float[4 * cols];
            for (int r0 = 0; r0 < rows; r0 += 4) {
                VectorKernels.widenRows(m, r0, 4, wf);
                for (int r = 0; r < 4; r++) {
                    for (int half = 0; half < 2; half++) {
                        float[] expected = ref[2 * (r0 + r) + half];
                        for (int i = 0; i < 256; i++) {
                            assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(wf[r * cols + half * 256 + i]));
                        }
                    }
                }
            }
        }
    }
}
