package dev.jvllm.worker.model;

/** How a weight matrix's elements are stored (in place, as read from the file). */
public enum WeightType {
    F32(4),
    BF16(2),
    /** IEEE half; kernels widen it in registers (finite values only, as weights are). */
    F16(2);

    private final int bytes;

    WeightType(int bytes) {
        this.bytes = bytes;
    }

    public int bytesPerElement() {
        return bytes;
    }
}
