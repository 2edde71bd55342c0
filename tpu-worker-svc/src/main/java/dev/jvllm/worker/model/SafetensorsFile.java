package dev.jvllm.worker.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One memory-mapped {@code .safetensors} file: an 8-byte little-endian header length, a JSON header
 * describing each tensor, then the raw data. Nothing is copied; tensors are slices of the mapping.
 */
public final class SafetensorsFile {

    /** A tensor as stored: its dtype, shape and bytes (a slice of the mapped file). */
    public record StoredTensor(String name, Path file, DType dtype, long[] shape, MemorySegment data) {
        public long numElements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    public enum DType {
        F32(4), F16(2), BF16(2);

        public final int bytes;

        DType(int bytes) {
            this.bytes = bytes;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER = 100L * 1024 * 1024;

    private final Path path;
    private final Map<String, StoredTensor> tensors = new LinkedHashMap<>();

    private SafetensorsFile(Path path) {
        this.path = path;
    }

    public Path path() {
        return path;
    }

    public Map<String, StoredTensor> tensors() {
        return tensors;
    }

    /** Maps the file into {@code arena} and validates the header against the file size. */
    public static SafetensorsFile open(Path path, Arena arena) {
        if (!Files.isRegularFile(path)) {
            throw new ModelLoadException(path + ": file not found");
        }
        MemorySegment whole;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            whole = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (IOException e) {
            throw new ModelLoadException(path + ": cannot map file: " + e.getMessage(), e);
        }
        SafetensorsFile file = new SafetensorsFile(path);
        file.parse(whole);
        return file;
    }

    private void parse(MemorySegment whole) {
        long size = whole.byteSize();
        if (size < 8) {
            throw new ModelLoadException(path + ": too short for a safetensors header (" + size + " bytes)");
        }
        long headerLen = whole.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > size) {
            throw new ModelLoadException(path + ": invalid safetensors header length " + headerLen
                    + " (file has " + size + " bytes)");
        }
        byte[] headerBytes = whole.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new ModelLoadException(path + ": safetensors header is not valid JSON: " + e.getMessage(), e);
        }
        if (header == null || !header.isObject()) {
            throw new ModelLoadException(path + ": safetensors header is not a JSON object");
        }
        long dataStart = 8 + headerLen;
        long dataSize = size - dataStart;
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            if (name.equals("__metadata__")) {
                continue;
            }
            JsonNode t = e.getValue();
            DType dtype = dtypeOf(name, t.path("dtype").asText(""));
            JsonNode shapeNode = t.get("shape");
            JsonNode offsets = t.get("data_offsets");
            if (shapeNode == null || !shapeNode.isArray() || offsets == null || !offsets.isArray()
                    || offsets.size() != 2) {
                throw new ModelLoadException(path + ": tensor '" + name + "' lacks shape or data_offsets");
            }
            long[] shape = new long[shapeNode.size()];
            long numel = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asLong();
                if (shape[i] < 0) {
                    throw new ModelLoadException(path + ": tensor '" + name + "' has a negative dimension");
                }
                numel *= shape[i];
            }
            long begin = offsets.get(0).asLong();
            long end = offsets.get(1).asLong();
            if (begin < 0 || end < begin || end > dataSize) {
                throw new ModelLoadException(path + ": tensor '" + name + "' data_offsets [" + begin + ", " + end
                        + "] lie outside the file's " + dataSize + " data bytes (truncated file?)");
            }
            if (end - begin != numel * dtype.bytes) {
                throw new ModelLoadException(path + ": tensor '" + name + "' has " + (end - begin)
                        + " bytes but its shape and dtype need " + numel * dtype.bytes);
            }
            tensors.put(name, new StoredTensor(name, path, dtype, shape, whole.asSlice(dataStart + begin, end - begin)));
        }
    }

    private DType dtypeOf(String name, String dtype) {
        return switch (dtype) {
            case "F32" -> DType.F32;
            case "F16" -> DType.F16;
            case "BF16" -> DType.BF16;
            default -> throw new ModelLoadException(path + ": tensor '" + name + "' has unsupported dtype '"
                    + dtype + "' (supported: F32, F16, BF16)");
        };
    }
}
