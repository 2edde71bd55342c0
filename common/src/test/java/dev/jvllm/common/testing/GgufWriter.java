package dev.jvllm.common.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF v3 writer for tests: metadata of every kind a model file carries, and tensors given as raw bytes.
 * Metadata values map to GGUF types by their Java type: String (string), Integer (u32), Long (u64), Float (f32),
 * Double (f64), Boolean (bool), List of String (array of string), float[] (array of f32), int[] (array of i32),
 * boolean[] (array of bool), or a {@link Typed} value for any other type id (for tests of wrongly typed keys).
 */
public final class GgufWriter {
    /** A value written with an explicit GGUF type id; {@code value} as for the plain types. */
    public record Typed(int type, Object value) {}

    private final Map<String, Object> metadata = new LinkedHashMap<>();
    private record T(String name, int type, long[] dims, byte[] data) {}
    private final List<T> tensors = new ArrayList<>();

    public GgufWriter meta(String key, Object value) {
        metadata.put(key, value);
        return this;
    }

    public GgufWriter meta(Map<String, Object> values) {
        metadata.putAll(values);
        return this;
    }

    public GgufWriter remove(String key) {
        metadata.remove(key);
        return this;
    }

    /** A tensor with raw bytes and any GGML type id; {@code dims} in GGUF order (contiguous dimension first). */
    public GgufWriter raw(String name, int type, byte[] data, long... dims) {
        tensors.add(new T(name, type, dims, data));
        return this;
    }

    /** A [rows][cols] (or [n]) F32 tensor; {@code rowsThenCols} in row-major order as HF lists shapes. */
    public GgufWriter f32(String name, float[] values, long... rowsThenCols) {
        Le b = new Le();
        for (float v : values) {
            b.i32(Float.floatToRawIntBits(v));
        }
        return raw(name, 0, b.toByteArray(), reversed(rowsThenCols));
    }

    public static long[] reversed(long[] rowsThenCols) {
        long[] dims = new long[rowsThenCols.length];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = rowsThenCols[rowsThenCols.length - 1 - i];
        }
        return dims;
    }

    public void write(Path file) throws IOException {
        Le h = new Le();
        h.i32(0x46554747).i32(3).i64(tensors.size()).i64(metadata.size());
        for (Map.Entry<String, Object> e : metadata.entrySet()) {
            h.str(e.getKey());
            Object v = e.getValue();
            int type = v instanceof Typed t ? t.type() : typeOf(v, e.getKey());
            h.i32(type);
            value(h, type, v instanceof Typed t ? t.value() : v, e.getKey());
        }
        long offset = 0;
        for (T t : tensors) {
            h.str(t.name());
            h.i32(t.dims().length);
            for (long d : t.dims()) {
                h.i64(d);
            }
            h.i32(t.type()).i64(offset);
            offset += (t.data().length + 31) / 32 * 32;
        }
        while (h.size() % 32 != 0) {
            h.write(0);
        }
        try (OutputStream out = Files.newOutputStream(file)) {
            h.writeTo(out);
            for (T t : tensors) {
                out.write(t.data());
                out.write(new byte[(t.data().length + 31) / 32 * 32 - t.data().length]);
            }
        }
    }

    private static int typeOf(Object v, String key) {
        return switch (v) {
            case String s -> 8;
            case Integer i -> 4;
            case Long l -> 10;
            case Float f -> 6;
            case Double d -> 12;
            case Boolean b -> 7;
            case List<?> l -> 9;
            case float[] f -> 9;
            case int[] i -> 9;
            case boolean[] b -> 9;
            default -> throw new IllegalArgumentException(key + ": no GGUF type for " + v.getClass());
        };
    }

    private static void value(Le h, int type, Object v, String key) {
        switch (type) {
            case 0, 1 -> h.write(((Number) v).intValue());
            case 2, 3 -> h.i16(((Number) v).intValue());
            case 4, 5 -> h.i32(((Number) v).intValue());
            case 6 -> h.i32(Float.floatToRawIntBits(((Number) v).floatValue()));
            case 7 -> h.write((Boolean) v ? 1 : 0);
            case 8 -> h.str((String) v);
            case 10, 11 -> h.i64(((Number) v).longValue());
            case 12 -> h.i64(Double.doubleToRawLongBits(((Number) v).doubleValue()));
            case 9 -> {
                switch (v) {
                    case List<?> l -> {
                        int elem = l.isEmpty() ? 8 : typeOf(l.getFirst(), key);
                        h.i32(elem).i64(l.size());
                        l.forEach(x -> value(h, elem, x, key));
                    }
                    case float[] f -> {
                        h.i32(6).i64(f.length);
                        for (float x : f) {
                            h.i32(Float.floatToRawIntBits(x));
                        }
                    }
                    case int[] a -> {
                        h.i32(5).i64(a.length);
                        for (int x : a) {
                            h.i32(x);
                        }
                    }
                    case boolean[] a -> {
                        h.i32(7).i64(a.length);
                        for (boolean x : a) {
                            h.write(x ? 1 : 0);
                        }
                    }
                    default -> throw new IllegalArgumentException(key + ": not an array: " + v.getClass());
                }
            }
            default -> throw new IllegalArgumentException(key + ": GGUF type " + type);
        }
    }

    /** A growable little-endian byte buffer. */
    private static final class Le extends ByteArrayOutputStream {
        Le i16(int v) {
            write(v);
            write(v >>> 8);
            return this;
        }

        Le i32(int v) {
            for (int i = 0; i < 4; i++) {
                write(v >>> (8 * i));
            }
            return this;
        }

        Le i64(long v) {
            for (int i = 0; i < 8; i++) {
                write((int) (v >>> (8 * i)));
            }
            return this;
        }

        Le str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            write(b, 0, b.length);
            return this;
        }
    }
}
