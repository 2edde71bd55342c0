package dev.jvllm.worker.cpu;

/**
 * How the paged KV cache stores K and V ({@code --kv-cache-dtype}, vLLM's names). Attention always
 * computes in f32; bf16 / f16 and fp8_e5m2 halve or quarter the cache's memory and the bytes each decode
 * step reads, at the cost of rounding the cached keys and values (f16 keeps 3 more mantissa bits than bf16,
 * bf16 keeps f32's range).
 */
public enum KvCacheDtype {
    F32(4), BF16(2), F16(2), FP8_E5M2(1);

    private final int bytes;

    KvCacheDtype(int bytes) {
        this.bytes = bytes;
    }

    public int bytesPerElement() {
        return bytes;
    }

    /**
     * The cache type for {@code --kv-cache-dtype name} and a model whose attention weights are stored as
     * {@code weights}. "auto" is the model's own type, as in vLLM: f32 for f32 models, bf16 for bf16 models, f16
     * for f16 and for quantized (GGUF) models, which is llama.cpp's default cache type.
     */
    public static KvCacheDtype resolve(String name, dev.jvllm.worker.model.WeightType weights) {
        if (name != null && !name.equalsIgnoreCase("auto")) {
            return parse(name);
        }
        return switch (weights) {
            case F32 -> F32;
            case BF16 -> BF16;
            default -> F16;
        };
    }

    /**
     * An explicit type: "float32"/"fp32", "bfloat16"/"bf16", "float16"/"fp16", "fp8_e5m2"/"fp8"; "auto" (checked
     * here, chosen by {@link #resolve}) is f32 when no model is at hand.
     */
    public static KvCacheDtype parse(String name) {
        return switch (name == null ? "auto" : name.toLowerCase()) {
            case "auto", "float32", "fp32", "float" -> F32;
            case "bfloat16", "bf16" -> BF16;
            case "float16", "fp16", "f16", "half" -> F16;
            case "fp8_e5m2", "fp8" -> FP8_E5M2;
            default -> throw new IllegalArgumentException("unsupported --kv-cache-dtype '" + name
                    + "' (auto, float32, bfloat16, float16, fp8_e5m2)");
        };
    }

    /** f32 to bf16 bits, round to nearest even (finite values). */
    static short toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** f32 to f16 bits, round to nearest even, saturating at the largest finite half (65504) rather than inf. */
    static short toF16(float v) {
        return Float.floatToFloat16(Math.max(-65504f, Math.min(65504f, v)));
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
