package dev.jvllm.common.gguf;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A memory-mapped GGUF file (versions 2 and 3): metadata key/values and tensor infos, tensors used in
 * place. Every read is bounds-checked, so a truncated or corrupt file fails here with a
 * {@link GgufFormatException} naming the file and what is wrong, not later with an index error.
 *
 * <p>Metadata values are Java objects: unsigned and signed integers of every width as {@code Long}, f32/f64 as
 * {@code Double}, {@code Boolean}, {@code String}, and arrays as {@code List} of those.
 */
public final class GgufFile {
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** GGML tensor types this engine can compute with (ids from ggml.h). */
    public enum TensorType {
        F32(0, 1, 4), F16(1, 1, 2), Q4_0(2, 32, 18), Q4_1(3, 32, 20), Q5_0(6, 32, 22), Q5_1(7, 32, 24), Q8_0(8, 32, 34),
        Q4_K(12, 256, 144), Q5_K(13, 256, 176), Q6_K(14, 256, 210), BF16(30, 1, 2);

        public final int id, blockElements, blockBytes;

        TensorType(int id, int blockElements, int blockBytes) {
            this.id = id;
            this.blockElements = blockElements;
            this.blockBytes = blockBytes;
        }

        static TensorType of(int id) {
            for (TensorType t : values()) {
                if (t.id == id) {
                    return t;
                }
            }
            return null;
        }
    }

    /** dims are GGUF order: dims[0] is the contiguous (column) dimension. */
    public record Tensor(String name, TensorType type, long[] dims, MemorySegment data) {
        public long numElements() {
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            return n;
        }
    }

    private final Path path;
    private final Map<String, Object> metadata = new LinkedHashMap<>();
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private final MemorySegment file;
    private long pos;
    private static final int MAX_ARRAY_DEPTH = 64;   // a recursive reader must not overflow its stack on a crafted file
    private int arrayDepth;

    private GgufFile(Path path, MemorySegment file) {
        this.path = path;
        this.file = file;
    }

    /** Metadata and tensors; the tensors' data stays mapped until {@code arena} closes. */
    public static GgufFile open(Path path, Arena arena) {
        GgufFile g = new GgufFile(path, map(path, arena));
        g.parse(true);
        return g;
    }

    /**
     * The metadata alone (no tensors, so any tensor type is fine): for readers of the vocabulary and chat
     * template, which must not care how the weights are quantized.
     */
    public static Map<String, Object> readMetadata(Path path) {
        try (Arena arena = Arena.ofConfined()) {
            GgufFile g = new GgufFile(path, map(path, arena));
            g.parse(false);
            return g.metadata;
        }
    }

    /**
     * A tensor's data followed by up to {@code n} more bytes of the file (fewer where the file ends sooner):
     * for readers that load a few bytes past the last block they use.
     */
    public MemorySegment dataAndFollowingBytes(Tensor t, long n) {
        long start = t.data().address() - file.address();
        if (start < 0 || start + t.data().byteSize() > file.byteSize()) {
            throw new IllegalArgumentException("tensor '" + t.name() + "' is not one of " + path);
        }
        return file.asSlice(start, Math.min(t.data().byteSize() + n, file.byteSize() - start));
    }

    private static MemorySegment map(Path path, Arena arena) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (IOException e) {
            throw new GgufFormatException(path + ": cannot read: " + e.getMessage(), e);
        }
    }

    public Path path() {
        return path;
    }

    public Map<String, Object> metadata() {
        return metadata;
    }

    public Map<String, Tensor> tensors() {
        return tensors;
    }

    private GgufFormatException corrupt(String what) {
        return new GgufFormatException(path + ": not a valid GGUF file: " + what);
    }

    private void need(long n, String what) {
        if (n < 0 || pos + n > file.byteSize()) {
            throw corrupt("truncated at byte " + pos + " while reading " + what + " (file is " + file.byteSize() + " bytes)");
        }
    }

    private int u32(String what) {
        need(4, what);
        int v = file.get(U32, pos);
        pos += 4;
        return v;
    }

    private long u64(String what) {
        need(8, what);
        long v = file.get(U64, pos);
        pos += 8;
        return v;
    }

    private String string(String what) {
        long len = u64(what + " length");
        if (len > Integer.MAX_VALUE) {
            throw corrupt(what + " has an impossible length " + len);
        }
        need(len, what);
        byte[] b = file.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
        pos += len;
        return new String(b, StandardCharsets.UTF_8);
    }

    private Object value(int type, String key) {
        String what = "value of '" + key + "'";
        return switch (type) {
            case 0, 1 -> { need(1, what); yield (long) (type == 0 ? file.get(ValueLayout.JAVA_BYTE, pos++) & 0xFF : file.get(ValueLayout.JAVA_BYTE, pos++)); }
            case 2, 3 -> { need(2, what); short s = file.get(U16, pos); pos += 2; yield (long) (type == 2 ? s & 0xFFFF : s); }
            case 4 -> u32(what) & 0xFFFFFFFFL;
            case 5 -> (long) u32(what);
            case 6 -> { need(4, what); float f = file.get(F32, pos); pos += 4; yield (double) f; }
            case 7 -> { need(1, what); yield file.get(ValueLayout.JAVA_BYTE, pos++) != 0; }
            case 8 -> string(what);
            case 9 -> {
                int elemType = u32(what + " element type");
                long n = u64(what + " element count");
                if (n < 0 || n > file.byteSize()) {
                    throw corrupt(what + " has an impossible element count " + n);
                }
                if (++arrayDepth > MAX_ARRAY_DEPTH) {
                    throw corrupt(what + " nests arrays more than " + MAX_ARRAY_DEPTH + " deep");
                }
                List<Object> list = new ArrayList<>((int) Math.min(n, 1 << 20));
                for (long i = 0; i < n; i++) {
                    list.add(value(elemType, key));
                }
                arrayDepth--;
                yield list;
            }
            case 10, 11 -> u64(what);
            case 12 -> { need(8, what); double d = file.get(F64, pos); pos += 8; yield d; }
            default -> throw corrupt("metadata '" + key + "' has unknown value type " + type);
        };
    }

    private void parse(boolean withTensors) {
        need(4, "magic");
        if (file.get(U32, 0) != 0x46554747) {   // "GGUF" little-endian
            throw corrupt("bad magic (expected 'GGUF')");
        }
        pos = 4;
        int version = u32("version");
        if (version != 2 && version != 3) {
            throw new GgufFormatException(path + ": unsupported GGUF version " + version + " (2 and 3 are supported)");
        }
        long tensorCount = u64("tensor count"), kvCount = u64("metadata count");
        if (tensorCount < 0 || kvCount < 0 || tensorCount > file.byteSize() || kvCount > file.byteSize()) {
            throw corrupt("impossible tensor/metadata counts " + tensorCount + "/" + kvCount);
        }
        for (long i = 0; i < kvCount; i++) {
            String key = string("metadata key");
            metadata.put(key, value(u32("type of '" + key + "'"), key));
        }
        if (!withTensors) {
            return;
        }
        record Info(String name, int type, long[] dims, long offset) {}
        List<Info> infos = new ArrayList<>();
        for (long i = 0; i < tensorCount; i++) {
            String name = string("tensor name");
            int nDims = u32("dimensions of " + name);
            if (nDims < 1 || nDims > 4) {
                throw corrupt("tensor '" + name + "' has " + nDims + " dimensions");
            }
            long[] dims = new long[nDims];
            for (int d = 0; d < nDims; d++) {
                dims[d] = u64("shape of " + name);
                if (dims[d] < 0) {
                    throw corrupt("tensor '" + name + "' has a negative dimension");
                }
            }
            infos.add(new Info(name, u32("type of " + name), dims, u64("offset of " + name)));
        }
        long alignment = metadata.get("general.alignment") instanceof Long a ? a : 32;
        if (alignment <= 0 || Long.bitCount(alignment) != 1) {
            throw corrupt("general.alignment " + alignment + " is not a power of two");
        }
        long dataStart = (pos + alignment - 1) / alignment * alignment;
        for (Info info : infos) {
            TensorType type = TensorType.of(info.type());
            if (type == null) {
                throw new GgufFormatException(path + ": tensor '" + info.name() + "' has unsupported GGML type " + info.type()
                        + " (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)");
            }
            if (info.dims()[0] % type.blockElements != 0) {
                throw corrupt("tensor '" + info.name() + "': row of " + info.dims()[0] + " is not a whole number of "
                        + type + " blocks");
            }
            long bytes, start;
            try {
                long n = 1;
                for (long d : info.dims()) {
                    n = Math.multiplyExact(n, d);
                }
                bytes = Math.multiplyExact(n / type.blockElements, (long) type.blockBytes);
                start = Math.addExact(dataStart, info.offset());
                Math.addExact(start, bytes);
            } catch (ArithmeticException e) {
                throw corrupt("tensor '" + info.name() + "' has an impossible size or offset (shape "
                        + java.util.Arrays.toString(info.dims()) + ", offset " + info.offset() + ")");
            }
            if (info.offset() < 0 || start + bytes > file.byteSize()) {
                throw corrupt("tensor '" + info.name() + "' (" + bytes + " bytes at " + start + ") lies past the end of the file ("
                        + file.byteSize() + " bytes): truncated?");
            }
            tensors.put(info.name(), new Tensor(info.name(), type, info.dims(), file.asSlice(start, bytes)));
        }
    }
}
