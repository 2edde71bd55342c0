package dev.jvllm.worker.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * The common test {@link dev.jvllm.common.testing.GgufWriter} plus the engine's quantized tensor types:
 * F32/F16/Q8_0/Q4_0 tensors from floats (or any raw type id), and the values the engine reads back.
 */
final class GgufWriter {
    private final dev.jvllm.common.testing.GgufWriter file = new dev.jvllm.common.testing.GgufWriter();

    GgufWriter meta(String key, Object value) {
        file.meta(key, value);
        return this;
    }

    /** A [rows][cols] (or [n]) tensor of floats stored as F32 (0), F16 (1) or Q8_0 (8). */
    GgufWriter tensor(String name, int type, float[] values, long... rowsThenCols) {
        long[] dims = dev.jvllm.common.testing.GgufWriter.reversed(rowsThenCols);
        ByteBuffer b;
        switch (type) {
            case 0 -> {
                b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                for (float v : values) {
                    b.putFloat(v);
                }
            }
            case 1 -> {
                b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
                for (float v : values) {
                    b.putShort(Float.floatToFloat16(v));
                }
            }
            case 8 -> {
                b = ByteBuffer.allocate(values.length / 32 * 34).order(ByteOrder.LITTLE_ENDIAN);
                for (int blk = 0; blk < values.length / 32; blk++) {
                    float amax = 0;
                    for (int j = 0; j < 32; j++) {
                        amax = Math.max(amax, Math.abs(values[blk * 32 + j]));
                    }
                    float d = amax / 127, id = d != 0 ? 1 / d : 0;   // as ggml's quantize_row_q8_0_ref
                    b.putShort(Float.floatToFloat16(d));
                    for (int j = 0; j < 32; j++) {
                        b.put((byte) Math.round(values[blk * 32 + j] * id));
                    }
                }
            }
            case 2 -> {
                b = ByteBuffer.allocate(values.length / 32 * 18).order(ByteOrder.LITTLE_ENDIAN);
                for (int blk = 0; blk < values.length / 32; blk++) {
                    byte[] q = q4(values, blk);
                    b.putShort(Float.floatToFloat16(q4Scale(values, blk)));
                    for (int j = 0; j < 16; j++) {
                        b.put((byte) (q[j] | q[j + 16] << 4));
                    }
                }
            }
            default -> throw new IllegalArgumentException("type " + type);
        }
        file.raw(name, type, b.array(), dims);
        return this;
    }

    /** A tensor with raw bytes and any type id (for unsupported-type tests). */
    GgufWriter raw(String name, int type, byte[] data, long... dims) {
        file.raw(name, type, data, dims);
        return this;
    }

    /** ggml's quantize_row_q4_0_ref: d = (value of largest magnitude) / -8, q = min(15, (int) (x / d + 8.5)). */
    private static float q4Scale(float[] values, int blk) {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) {
            float v = values[blk * 32 + j];
            if (Math.abs(v) > amax) {
                amax = Math.abs(v);
                max = v;
            }
        }
        return max / -8;
    }

    private static byte[] q4(float[] values, int blk) {
        float d = q4Scale(values, blk), id = d != 0 ? 1 / d : 0;
        byte[] q = new byte[32];
        for (int j = 0; j < 32; j++) {
            q[j] = (byte) Math.min(15, (int) (values[blk * 32 + j] * id + 8.5f));
        }
        return q;
    }

    /** Dequantizes values exactly as the engine reads them back (Q8_0: f16 scale times int8; Q4_0: (q - 8) * scale). */
    static float[] roundTrip(int type, float[] values) {
        float[] out = new float[values.length];
        for (int blk = 0; blk < values.length / 32 && type == 2; blk++) {
            byte[] q = q4(values, blk);
            float d = Float.float16ToFloat(Float.floatToFloat16(q4Scale(values, blk)));
            for (int j = 0; j < 32; j++) {
                out[blk * 32 + j] = d * (q[j] - 8);
            }
        }
        if (type == 2) {
            return out;
        }
        for (int blk = 0; blk < values.length / 32 && type == 8; blk++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) {
                amax = Math.max(amax, Math.abs(values[blk * 32 + j]));
            }
            float d = amax / 127, id = d != 0 ? 1 / d : 0;
            float stored = Float.float16ToFloat(Float.floatToFloat16(d));
            for (int j = 0; j < 32; j++) {
                out[blk * 32 + j] = stored * (byte) Math.round(values[blk * 32 + j] * id);
            }
        }
        for (int i = 0; i < values.length && type != 8; i++) {
            out[i] = type == 1 ? Float.float16ToFloat(Float.floatToFloat16(values[i])) : values[i];
        }
        return out;
    }

    void write(Path path) throws IOException {
        file.write(path);
    }
}
