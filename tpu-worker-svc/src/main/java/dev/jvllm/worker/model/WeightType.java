package dev.jvllm.worker.model;

/** How a weight matrix's elements are stored (in place, as read from the file). */
public enum WeightType {
    F32(4),
    BF16(2),
    /** IEEE half; kernels widen it in registers (finite values only, as weights are). */
    F16(2),
    /** GGML Q8_0: blocks of 32 weights, an f16 scale then 32 int8 (34 bytes); dequantized 4 rows at a time. */
    Q8_0(0),
    /** GGML Q4_0: blocks of 32 weights, an f16 scale then 16 bytes of 4-bit quants (q - 8) * scale (18 bytes). */
    Q4_0(0),
    /** GGML Q4_K: super-blocks of 256 (f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles; 144 bytes). */
    Q4_K(0),
    /** GGML Q6_K: super-blocks of 256 (128 bytes low nibbles, 64 bytes high 2 bits, 16 int8 scales, f16 d; 210 bytes). */
    Q6_K(0),
    /** GGML Q4_1: blocks of 32, f16 scale d and f16 min m then 16 bytes of 4-bit quants, q * d + m (20 bytes). */
    Q4_1(0),
    /** GGML Q5_0: blocks of 32, f16 scale, 4 bytes of 5th bits, 16 bytes of nibbles, (q - 16) * d (22 bytes). */
    Q5_0(0),
    /** GGML Q5_1: blocks of 32, f16 d and m, 4 bytes of 5th bits, 16 bytes of nibbles, q * d + m (24 bytes). */
    Q5_1(0),
    /** GGML Q5_K: super-blocks of 256 (f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 32 bytes of 5th bits, 128 bytes of nibbles; 176 bytes). */
    Q5_K(0);

    private final int bytes;

    WeightType(int bytes) {
        this.bytes = bytes;
    }

    public boolean blockQuantized() {
        return bytes == 0;
    }

    /** Bytes per element of the plain float types (0 for block-quantized ones: see {@link #rowBytes}). */
    public int bytesPerElement() {
        return bytes;
    }

    /** Bytes of one row of {@code cols} elements. */
    public long rowBytes(long cols) {
        return switch (this) {
            case Q8_0 -> cols / 32 * 34;
            case Q4_0 -> cols / 32 * 18;
            case Q4_K -> cols / 256 * 144;
            case Q6_K -> cols / 256 * 210;
            case Q4_1 -> cols / 32 * 20;
            case Q5_0 -> cols / 32 * 22;
            case Q5_1 -> cols / 32 * 24;
            case Q5_K -> cols / 256 * 176;
            default -> cols * bytes;
        };
    }
}
