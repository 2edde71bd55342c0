package dev.jvllm.worker.pjrt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads tensors from a {@code .safetensors} file (8-byte little-endian header length, JSON header, raw data), mapped
 * read-only. The pjrt backend converts each tensor to the upload type ({@link #toBf16Bits}) right before its one
 * host-to-device copy, so no second full copy of the model lives on the heap.
 */
public final class SafetensorsReader implements AutoCloseable {

    public record TensorInfo(String name, String dtype, long[] shape, long begin, long end) {
        public long elements() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    private final Arena arena = Arena.ofShared();
    private final MemorySegment data;
    private final Map<String, TensorInfo> tensors = new LinkedHashMap<>();

    public SafetensorsReader(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            long headerLen = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (headerLen <= 0 || 8 + headerLen > all.byteSize()) throw new IllegalArgumentException(file + " is not a safetensors file");
            String header = new String(all.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            data = all.asSlice(8 + headerLen);
            JsonNode root = new ObjectMapper().readTree(header);
            for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) continue;
                JsonNode t = e.getValue();
                long[] shape = new long[t.get("shape").size()];
                for (int i = 0; i < shape.length; i++) shape[i] = t.get("shape").get(i).asLong();
                TensorInfo info = new TensorInfo(e.getKey(), t.get("dtype").asText(), shape,
                        t.get("data_offsets").get(0).asLong(), t.get("data_offsets").get(1).asLong());
                long width = switch (info.dtype()) {
                    case "F32" -> 4;
                    case "F16", "BF16" -> 2;
                    default -> throw new IllegalArgumentException(e.getKey() + ": unsupported dtype " + info.dtype());
                };
                if (info.end() - info.begin() != width * info.elements() || info.end() > data.byteSize()) {
                    throw new IllegalArgumentException(e.getKey() + ": data offsets do not match its shape");
                }
                tensors.put(e.getKey(), info);
            }
        } catch (IOException e) {
            arena.close();
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    public Map<String, TensorInfo> tensors() { return java.util.Collections.unmodifiableMap(tensors); }

    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException("model has no tensor " + name);
        return t;
    }

    /** Element {@code i} of a tensor as a float. */
    public float get(TensorInfo t, long i) {
        return switch (t.dtype()) {
            case "F32" -> data.get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), t.begin() + 4 * i);
            case "BF16" -> Float.intBitsToFloat((data.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), t.begin() + 2 * i) & 0xFFFF) << 16);
            default -> Float.float16ToFloat(data.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), t.begin() + 2 * i));
        };
    }

    /** Round-to-nearest-even float -> bfloat16 bit pattern (NaN stays NaN). */
    public static short toBf16Bits(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    @Override
    public void close() { arena.close(); }
}
