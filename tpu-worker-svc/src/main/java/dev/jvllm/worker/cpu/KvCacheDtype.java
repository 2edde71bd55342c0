package dev.jvllm.worker.cpu;

/**
 * How the paged KV cache stores K and V ({@code --kv-cache-dtype}, vLLM's names). Attention always
 * computes in f32; bf16 and fp8_e5m2 halve or quarter the cache's memory and the bytes each decode
 * step reads, at the cost of rounding the cached keys and values.
 */
public enum KvCacheDtype {
    F32(4), BF16(2), FP8_E5M2(1);

    private final int bytes;

    KvCacheDtype(int bytes) {
        this.bytes = bytes;
    }

    public int bytesPerElement() {
        return bytes;
    }

    /** "auto" (f32: exact, as this engine computes in f32), "float32"/"fp32", "bfloat16"/"bf16", "fp8_e5m2"/"fp8". */
    public static KvCacheDtype parse(String name) {
        return switch (name == null ? "auto" : name.toLowerCase()) {
            case "auto", "float32", "fp32", "float" -> F32;
            case "bfloat16", "bf16" -> BF16;
            case "fp8_e5m2", "fp8" -> FP8_E5M2;
            default -> throw new IllegalArgumentException("unsupported --kv-cache-dtype '" + name
                    + "' (auto, float32, bfloat16, fp8_e5m2)");
        };
    }

    /** f32 to bf16 bits, round to nearest even (finite values). */
    static short toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /**
     * f32 to fp8 e5m2 bits (the top byte of an IEEE half): via the nearest half, then round to nearest even
     * on the dropped 8 bits, saturating at the largest finite value (57344) like vLLM's saturating cast.
     */
    static byte toE5m2(float v) {
        int h = Float.floatToFloat16(v) & 0xFFFF;
        int sign = h & 0x8000, mag = h & 0x7FFF;
        if (mag >= 0x7C00) {
            return (byte) ((sign | 0x7B00) >>> 8);   // inf/overflow: largest finite
        }
        int rounded = (mag + 0x7F + ((mag >>> 8) & 1)) >>> 8;
        if (rounded >= 0x7C) {
            rounded = 0x7B;
        }
        return (byte) ((sign >>> 8) | rounded);
    }

    static float fromE5m2(byte b) {
        return Float.float16ToFloat((short) ((b & 0xFF) << 8));
    }

    static float fromBf16(short s) {
        return Float.intBitsToFloat((s & 0xFFFF) << 16);
    }
}
