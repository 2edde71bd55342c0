package dev.jvllm.worker.pjrt;

/** PJRT_Buffer_Type values (the enum's order in pjrt_c_api.h) with their MLIR spelling and byte width. */
public enum PjrtElementType {
    PRED(1, "i1", 1), S8(2, "i8", 1), S16(3, "i16", 2), S32(4, "i32", 4), S64(5, "i64", 8),
    U8(6, "ui8", 1), U16(7, "ui16", 2), U32(8, "ui32", 4), U64(9, "ui64", 8),
    F16(10, "f16", 2), F32(11, "f32", 4), F64(12, "f64", 8), BF16(13, "bf16", 2);

    public final int code;
    public final String mlir;
    public final int bytes;

    PjrtElementType(int code, String mlir, int bytes) {
        this.code = code;
        this.mlir = mlir;
        this.bytes = bytes;
    }
}
