package dev.jvllm.worker.model;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A small GGUF v3 writer for tests: string/u32/f32 metadata, F32/F16/Q8_0 tensors (or any raw type id). */
final class GgufWriter {
    private final Map<String, Object> metadata = new LinkedHashMap<>();
    private record T(String name, int type, long[] dims, byte[] data) {}
    private final List<T> tensors = new ArrayList<>();

    GgufWriter meta(String key, Object value) {
        metadata.put(key, value);
        return this;
    }

    /** A [rows][cols] (or [n]) tensor of floats stored as F32 (0), F16 (1) or Q8_0 (8). */
    GgufWriter tensor(String name, int type, float[] values, long... rowsThenCols) {
        long[] dims = new long[rowsThenCols.length];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = rowsThenCols[rowsThenCols.length - 1 - i];
        }
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
        tensors.add(new T(name, type, dims, b.array()));
        return this;
    }

    /** A tensor with raw bytes and any type id (for unsupported-type tests). */
    GgufWriter raw(String name, int type, byte[] data, long... dims) {
        tensors.add(new T(name, type, dims, data));
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

    void write(Path file) throws IOException {
        ByteBuffer h = ByteBuffer.allocate(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(0x46554747).putInt(3).putLong(tensors.size()).putLong(metadata.size());
        for (Map.Entry<String, Object> e : metadata.entrySet()) {
            str(h, e.getKey());
            switch (e.getValue()) {
                case String s -> { h.putInt(8); str(h, s); }
                case Integer i -> h.putInt(4).putInt(i);
                case Float f -> h.putInt(6).putFloat(f);
                default -> throw new IllegalArgumentException(e.getKey());
            }
        }
        long offset = 0;
        for (T t : tensors) {
            str(h, t.name());
            h.putInt(t.dims().length);
            for (long d : t.dims()) {
                h.putLong(d);
            }
            h.putInt(t.type()).putLong(offset);
            offset += (t.data().length + 31) / 32 * 32;
        }
        while (h.position() % 32 != 0) {
            h.put((byte) 0);
        }
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(h.array(), 0, h.position());
            for (T t : tensors) {
                out.write(t.data());
                out.write(new byte[(t.data().length + 31) / 32 * 32 - t.data().length]);
            }
        }
    }

    private static void str(ByteBuffer b, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        b.putLong(bytes.length).put(bytes);
    }
}
