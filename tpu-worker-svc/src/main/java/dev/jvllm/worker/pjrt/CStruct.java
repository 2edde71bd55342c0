package dev.jvllm.worker.pjrt;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A C struct of the PJRT C API laid out as an LP64 C compiler does (each field at its natural alignment), with the
 * header's {@code STRUCT_SIZE}: offset of the last field plus its size, i.e. without tail padding. The plugin reads
 * {@code struct_size} to learn which fields the caller knows, so the value must be exactly what the header computes.
 */
public final class CStruct {

    /** The C types the PJRT structs use, with their LP64 size (= alignment). */
    public enum CType {
        SIZE_T(8), POINTER(8), INT64(8), INT(4), ENUM(4), BOOL(1);
        final int size;
        CType(int size) { this.size = size; }
    }

    private final String name;
    private final Map<String, Long> offsets = new LinkedHashMap<>();
    private final Map<String, CType> types = new LinkedHashMap<>();
    private final long structSize;
    private final StructLayout layout;

    private CStruct(String name, Object... fieldPairs) {
        this.name = name;
        long off = 0;
        String last = null;
        List<MemoryLayout> members = new ArrayList<>();
        for (int i = 0; i < fieldPairs.length; i += 2) {
            String field = (String) fieldPairs[i];
            CType t = (CType) fieldPairs[i + 1];
            long aligned = (off + t.size - 1) / t.size * t.size;
            if (aligned > off) members.add(MemoryLayout.paddingLayout(aligned - off));
            members.add(valueLayout(t).withName(field));
            offsets.put(field, aligned);
            types.put(field, t);
            off = aligned + t.size;
            last = field;
        }
        this.structSize = offsets.get(last) + types.get(last).size;
        long align = types.values().stream().mapToLong(t -> t.size).max().orElse(1);
        long full = (off + align - 1) / align * align;
        if (full > off) members.add(MemoryLayout.paddingLayout(full - off));
        this.layout = MemoryLayout.structLayout(members.toArray(MemoryLayout[]::new)).withName(name);
    }

    /** A PJRT args struct: every one starts with {@code size_t struct_size; void* priv;}. */
    public static CStruct args(String name, Object... fieldPairs) {
        Object[] all = new Object[fieldPairs.length + 4];
        all[0] = "struct_size";
        all[1] = CType.SIZE_T;
        all[2] = "priv";
        all[3] = CType.POINTER;
        System.arraycopy(fieldPairs, 0, all, 4, fieldPairs.length);
        return new CStruct(name, all);
    }

    public static CStruct plain(String name, Object... fieldPairs) {
        return new CStruct(name, fieldPairs);
    }

    private static ValueLayout valueLayout(CType t) {
        return switch (t) {
            case SIZE_T, INT64 -> ValueLayout.JAVA_LONG;
            case POINTER -> ValueLayout.ADDRESS;
            case INT, ENUM -> ValueLayout.JAVA_INT;
            case BOOL -> ValueLayout.JAVA_BYTE;
        };
    }

    public String name() { return name; }

    /** The header's {@code <name>_STRUCT_SIZE}. */
    public long structSize() { return structSize; }

    /** The full C layout, tail padding included (what sizeof would say). */
    public StructLayout layout() { return layout; }

    public long offset(String field) {
        Long o = offsets.get(field);
        if (o == null) throw new IllegalArgumentException(name + " has no field " + field);
        return o;
    }

    /** Zeroed memory for the struct with {@code struct_size} set, as every PJRT call expects. */
    public MemorySegment allocate(Arena arena) {
        MemorySegment s = arena.allocate(layout);
        if (offsets.containsKey("struct_size")) s.set(ValueLayout.JAVA_LONG, 0, structSize);
        return s;
    }

    public void setLong(MemorySegment s, String field, long v) { check(field, CType.SIZE_T, CType.INT64); s.set(ValueLayout.JAVA_LONG, offset(field), v); }

    public void setInt(MemorySegment s, String field, int v) { check(field, CType.INT, CType.ENUM); s.set(ValueLayout.JAVA_INT, offset(field), v); }

    public void setPointer(MemorySegment s, String field, MemorySegment p) { check(field, CType.POINTER); s.set(ValueLayout.ADDRESS, offset(field), p); }

    public long getLong(MemorySegment s, String field) { check(field, CType.SIZE_T, CType.INT64); return s.get(ValueLayout.JAVA_LONG, offset(field)); }

    public int getInt(MemorySegment s, String field) { check(field, CType.INT, CType.ENUM); return s.get(ValueLayout.JAVA_INT, offset(field)); }

    public boolean getBool(MemorySegment s, String field) { check(field, CType.BOOL); return s.get(ValueLayout.JAVA_BYTE, offset(field)) != 0; }

    public MemorySegment getPointer(MemorySegment s, String field) { check(field, CType.POINTER); return s.get(ValueLayout.ADDRESS, offset(field)); }

    private void check(String field, CType... allowed) {
        CType t = types.get(field);
        if (t == null) throw new IllegalArgumentException(name + " has no field " + field);
        for (CType a : allowed) if (a == t) return;
        throw new IllegalArgumentException(name + "." + field + " is " + t);
    }
}
