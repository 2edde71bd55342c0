package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.WeightType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Int8 data at this JVM's vector width (the build runs the kernel tests at 512, 256 and 128 bits): with
 * 128-bit vectors a byte load takes 8 bytes for 4 lanes, so the kernels may read {@link LlamaWeights.Matrix#READ_PAST}
 * bytes past a quantized matrix's data, and nothing further.
 */
class VectorWidthTest {
    @ParameterizedTest
    @EnumSource(value = WeightType.class, names = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"})
    void quantizedRowsAtTheVeryEndOfTheirMemoryReadAsAnywhereElse(WeightType type) {
        int rows = 9, cols = 512;   // two groups of four rows and a partial one
        long bytes = rows * type.rowBytes(cols);
        byte[] data = new byte[(int) bytes];
        SplittableRandom rng = new SplittableRandom(7);
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) rng.nextInt(0x3C);   // every f16 scale finite
        }
        try (Arena arena = Arena.ofConfined()) {
            // The data and exactly READ_PAST bytes after it: a load one byte further fails its bounds check.
            MemorySegment tight = arena.allocate(bytes + LlamaWeights.Matrix.READ_PAST);
            MemorySegment roomy = arena.allocate(bytes + 4096);
            MemorySegment.copy(data, 0, tight, ValueLayout.JAVA_BYTE, 0, data.length);
            MemorySegment.copy(data, 0, roomy, ValueLayout.JAVA_BYTE, 0, data.length);
            LlamaWeights.Matrix atEnd = new LlamaWeights.Matrix(tight, type, rows, cols);
            LlamaWeights.Matrix inside = new LlamaWeights.Matrix(roomy, type, rows, cols);
            assertSame(tight, atEnd.data(), "enough bytes follow: used in place");

            float[] a = new float[rows * cols], b = new float[rows * cols];
            for (int r0 = 0; r0 < rows; r0 += 4) {
                VectorKernels.widenRows(atEnd, r0, Math.min(4, rows - r0), a, r0 * cols);
                VectorKernels.widenRows(inside, r0, Math.min(4, rows - r0), b, r0 * cols);
            }
            assertArrayEquals(b, a);
            if (VectorKernels.readsRowsDirectly(type)) {
                float[] in = new float[4 * cols], acc = new float[VectorKernels.ACC_SCRATCH];
                for (int i = 0; i < in.length; i++) {
                    in[i] = (float) rng.nextDouble(-1, 1);
                }
                for (int T = 1; T <= VectorKernels.DIRECT_MAX_TOKENS; T++) {
                    float[] outA = new float[T * rows], outB = new float[T * rows];
                    VectorKernels.dotRows(atEnd, 0, rows, in, T, outA, acc);
                    VectorKernels.dotRows(inside, 0, rows, in, T, outB, acc);
                    assertArrayEquals(outB, outA, T + " tokens");
                }
            }
        }
    }

    @Test
    void aQuantizedMatrixWithoutReadableBytesAfterItIsCopiedIntoOneWithThem() {
        try (Arena arena = Arena.ofConfined()) {
            long bytes = 2 * WeightType.Q8_0.rowBytes(64);
            MemorySegment exact = arena.allocate(bytes);
            for (long i = 0; i < bytes; i++) {
                exact.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7));
            }
            LlamaWeights.Matrix m = new LlamaWeights.Matrix(exact, WeightType.Q8_0, 2, 64);
            assertTrue(m.data().byteSize() >= bytes + LlamaWeights.Matrix.READ_PAST, m.data().byteSize() + " bytes");
            assertEquals(-1, m.data().asSlice(0, bytes).mismatch(exact));
            if (LlamaWeights.Matrix.READ_PAST == 0) {
                assertSame(exact, m.data());
            }
            // Float matrices are read exactly as stored, at any width.
            MemorySegment f16 = arena.allocate(2 * 64 * 2);
            assertSame(f16, new LlamaWeights.Matrix(f16, WeightType.F16, 2, 64).data());
        }
    }
}
