package dev.jvllm.worker.pjrt;

import dev.jvllm.worker.model.SafetensorsFile;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Turns a memory-mapped checkpoint tensor into the element type the device program stores its weights in, right
 * before its one host-to-device copy, so no second full copy of the model lives in host memory.
 */
final class HostTensors {
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort HALF_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private HostTensors() {}

    /** Element {@code i} of a stored tensor, widened to float. */
    static float get(SafetensorsFile.StoredTensor t, long i) {
        return switch (t.dtype()) {
            case F32 -> t.data().get(F32_LE, 4 * i);
            case BF16 -> Float.intBitsToFloat((t.data().get(HALF_LE, 2 * i) & 0xFFFF) << 16);
            case F16 -> Float.float16ToFloat(t.data().get(HALF_LE, 2 * i));
        };
    }

    /** Writes the tensor into {@code dst} (native order, {@code numElements * storage.bytes} bytes) as {@code storage}. */
    static void copyAs(SafetensorsFile.StoredTensor t, PjrtElementType storage, MemorySegment dst) {
        long n = t.numElements();
        boolean same = (storage == PjrtElementType.BF16 && t.dtype() == SafetensorsFile.DType.BF16)
                || (storage == PjrtElementType.F32 && t.dtype() == SafetensorsFile.DType.F32);
        if (same && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
            MemorySegment.copy(t.data(), 0, dst, 0, n * storage.bytes);
        } else if (storage == PjrtElementType.BF16) {
            for (long i = 0; i < n; i++) dst.setAtIndex(ValueLayout.JAVA_SHORT, i, toBf16Bits(get(t, i)));
        } else if (storage == PjrtElementType.F32) {
            for (long i = 0; i < n; i++) dst.setAtIndex(ValueLayout.JAVA_FLOAT, i, get(t, i));
        } else {
            throw new IllegalArgumentException("weights cannot be stored as " + storage + " (bf16 or f32)");
        }
    }

    /** Round-to-nearest-even float -> bfloat16 bit pattern (NaN stays NaN). */
    static short toBf16Bits(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }
}
