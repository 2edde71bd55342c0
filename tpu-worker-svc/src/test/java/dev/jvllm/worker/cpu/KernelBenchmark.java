package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.WeightType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Not a test: single-thread kernel speed (widen + 4x4 tiles, and the batch-1 matvec) on one matrix. */
public final class KernelBenchmark {
    public static void main(String[] args) {
        int rows = 1536 * 8, cols = 576, T = args.length > 0 ? Integer.parseInt(args[0]) : 64;
        WeightType type = WeightType.valueOf(args.length > 1 ? args[1] : "BF16");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate((long) rows * cols * type.bytesPerElement(), 64);
            for (long i = 0; i < seg.byteSize() / 2; i++) {
                seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, i, (short) 0x3c00);
            }
            LlamaWeights.Matrix m = new LlamaWeights.Matrix(seg, type, rows, cols);
            float[] in = new float[T * cols], out = new float[T * rows], wf = new float[4 * cols], acc = new float[VectorKernels.ACC_SCRATCH];
            VectorKernels.warmUp();
            for (int rep = 0; rep < Integer.getInteger("reps", 5); rep++) {
                long t0 = System.nanoTime();
                for (int r0 = 0; r0 < rows; r0 += 4) {
                    VectorKernels.widenRows(m, r0, 4, wf);
                    int t = 0;
                    for (; t + 4 <= T; t += 4) {
                        VectorKernels.dot4x4(wf, cols, r0, rows, in, t, out, acc);
                    }
                    for (; t < T; t++) {
                        VectorKernels.dot4x1(wf, cols, r0, rows, in, t, out, acc);
                    }
                }
                double s = (System.nanoTime() - t0) / 1e9;
                System.out.printf("%s T=%d: %.1f GFLOP/s, %.2f GB/s weights%n", type, T, 2.0 * rows * cols * T / s / 1e9,
                        seg.byteSize() / s / 1e9);
            }
        }
    }
}
