package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.WeightType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/**
 * Random inputs for the kernel benchmarks. Weights are random, which does not change the speed of these
 * dense kernels, but kept in a trained model's range (+-sqrt(3 / cols), like {@code --load-format dummy}):
 * no f32/f16 subnormals, infinities or NaNs, which some CPUs handle slowly. Quantized matrices are random
 * quant bytes with small finite f16 scales, in ggml's block layouts.
 */
final class BenchData {
    private BenchData() {}

    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** "ROWSxCOLS", e.g. "576x1536", as {rows, cols}. */
    static int[] shape(String s) {
        String[] p = s.toLowerCase().split("x");
        if (p.length != 2) {
            throw new IllegalArgumentException("shape '" + s + "': expected ROWSxCOLS, e.g. 576x1536");
        }
        return new int[]{Integer.parseInt(p[0].trim()), Integer.parseInt(p[1].trim())};
    }

    static LlamaWeights.Matrix matrix(Arena arena, WeightType type, int rows, int cols, SplittableRandom rng) {
        int block = switch (type) {
            case Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 -> 32;
            case Q4_K, Q5_K, Q6_K -> 256;
            default -> 1;
        };
        if (cols % block != 0 || rows % 4 != 0) {
            throw new IllegalArgumentException(type + " " + rows + "x" + cols + ": rows must be a multiple of 4 and cols of "
                    + block + " (ggml stores such tensors in another type)");
        }
        long rowBytes = type.rowBytes(cols);
        MemorySegment seg = arena.allocate(rowBytes * rows, 64);
        float range = (float) Math.sqrt(3.0 / cols);
        if (!type.blockQuantized()) {
            long n = (long) rows * cols;
            for (long i = 0; i < n; i++) {
                float v = (rng.nextFloat() * 2 - 1) * range;
                switch (type) {
                    case F32 -> seg.set(LlamaWeights.F32, 4 * i, v);
                    case BF16 -> seg.set(HALF, 2 * i, KvCacheDtype.toBf16(v));
                    case F16 -> seg.set(HALF, 2 * i, Float.floatToFloat16(v));
                    default -> throw new AssertionError(type);
                }
            }
            return new LlamaWeights.Matrix(seg, type, rows, cols);
        }
        for (long i = 0; i < seg.byteSize(); i++) {
            seg.set(ValueLayout.JAVA_BYTE, i, (byte) rng.nextInt(256));
        }
        // The f16 scales of each block: offsets and the largest quant magnitude they multiply.
        long blockBytes = rowBytes / (cols / block);
        long[] scaleOffsets = switch (type) {
            case Q8_0, Q4_0, Q5_0 -> new long[]{0};
            case Q4_1, Q5_1 -> new long[]{0, 2};   // d, m
            case Q4_K, Q5_K -> new long[]{0, 2};   // d, dmin (times 6-bit scales and mins)
            case Q6_K -> new long[]{208};          // d (times int8 scales)
            default -> throw new AssertionError(type);
        };
        float maxQuant = switch (type) {
            case Q8_0 -> 127;
            case Q4_0 -> 8;
            case Q5_0 -> 16;
            case Q4_1 -> 15;
            case Q5_1 -> 31;
            case Q4_K -> 63 * 15;
            case Q5_K -> 63 * 31;
            default -> 127 * 32;
        };
        for (long b = 0; b < seg.byteSize() / blockBytes; b++) {
            for (long off : scaleOffsets) {
                seg.set(HALF, b * blockBytes + off, Float.floatToFloat16(range / maxQuant * (0.5f + rng.nextFloat())));
            }
        }
        return new LlamaWeights.Matrix(seg, type, rows, cols);
    }

    static float[] floats(int n, float range, SplittableRandom rng) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (rng.nextFloat() * 2 - 1) * range;
        }
        return a;
    }
}
