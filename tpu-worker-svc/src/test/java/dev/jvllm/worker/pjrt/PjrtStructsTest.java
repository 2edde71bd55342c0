package dev.jvllm.worker.pjrt;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Field;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Expected numbers were worked out by hand from pjrt_c_api.h (PJRT_API_MINOR 33) for LP64: size_t and pointers 8
 * bytes, int and enums 4, each field at its natural alignment; STRUCT_SIZE = offset of the last field + its size.
 */
class PjrtStructsTest {

    @Test
    void structSizesMatchTheHeader() {
        Map<CStruct, Long> expected = Map.ofEntries(
                Map.entry(PjrtStructs.API_VERSION, 24L),              // struct_size, priv, int major @16, int minor @20
                Map.entry(PjrtStructs.ERROR_DESTROY, 24L),
                Map.entry(PjrtStructs.ERROR_MESSAGE, 40L),            // error @16, message @24, message_size @32
                Map.entry(PjrtStructs.ERROR_GET_CODE, 28L),           // code (enum) @24, no tail padding
                Map.entry(PjrtStructs.PLUGIN_INITIALIZE, 16L),        // last field is priv
                Map.entry(PjrtStructs.EVENT_DESTROY, 24L),
                Map.entry(PjrtStructs.EVENT_AWAIT, 24L),
                Map.entry(PjrtStructs.CLIENT_CREATE, 72L),            // ... kv_put_user_arg @56, client @64
                Map.entry(PjrtStructs.CLIENT_DESTROY, 24L),
                Map.entry(PjrtStructs.CLIENT_PLATFORM_NAME, 40L),
                Map.entry(PjrtStructs.CLIENT_PLATFORM_VERSION, 40L),
                Map.entry(PjrtStructs.CLIENT_DEVICES, 40L),
                Map.entry(PjrtStructs.CLIENT_ADDRESSABLE_DEVICES, 40L),
                Map.entry(PjrtStructs.PROGRAM, 48L),                  // code @16, code_size @24, format @32, format_size @40
                Map.entry(PjrtStructs.CLIENT_COMPILE, 56L),           // executable @48
                Map.entry(PjrtStructs.CLIENT_BUFFER_FROM_HOST, 120L), // buffer @112
                Map.entry(PjrtStructs.BUFFER_DESTROY, 24L),
                Map.entry(PjrtStructs.BUFFER_TO_HOST, 56L),           // event @48
                Map.entry(PjrtStructs.EXECUTE_OPTIONS, 52L),          // launch_id (int) @48
                Map.entry(PjrtStructs.LOADED_EXECUTABLE_EXECUTE, 80L),// execute_device @72
                Map.entry(PjrtStructs.LOADED_EXECUTABLE_DESTROY, 24L),
                Map.entry(PjrtStructs.LOADED_EXECUTABLE_GET_EXECUTABLE, 32L),
                Map.entry(PjrtStructs.EXECUTABLE_DESTROY, 24L),
                Map.entry(PjrtStructs.EXECUTABLE_NUM_OUTPUTS, 32L),
                Map.entry(PjrtStructs.EXECUTABLE_SERIALIZE, 56L),     // serialized_executable_deleter @48
                Map.entry(PjrtStructs.EXECUTABLE_DESERIALIZE_AND_LOAD, 48L)); // loaded_executable @40
        expected.forEach((s, size) -> assertEquals(size, s.structSize(), s.name()));
    }

    @Test
    void everyDeclaredStructIsCheckedAbove() throws IllegalAccessException {
        int n = 0;
        for (Field f : PjrtStructs.class.getFields()) if (f.getType() == CStruct.class) n++;
        assertEquals(27, n, "a new struct needs its hand-derived size in structSizesMatchTheHeader");
    }

    @Test
    void fieldOffsetsMatchTheHeaderIncludingEnumPadding() {
        CStruct b = PjrtStructs.CLIENT_BUFFER_FROM_HOST;
        assertEquals(16, b.offset("client"));
        assertEquals(24, b.offset("data"));
        assertEquals(32, b.offset("type"));                  // enum, then 4 bytes of padding
        assertEquals(40, b.offset("dims"));
        assertEquals(48, b.offset("num_dims"));
        assertEquals(56, b.offset("byte_strides"));
        assertEquals(64, b.offset("num_byte_strides"));
        assertEquals(72, b.offset("host_buffer_semantics")); // enum, then padding
        assertEquals(80, b.offset("device"));
        assertEquals(88, b.offset("memory"));
        assertEquals(96, b.offset("device_layout"));
        assertEquals(104, b.offset("done_with_host_buffer"));
        assertEquals(112, b.offset("buffer"));
        CStruct e = PjrtStructs.LOADED_EXECUTABLE_EXECUTE;
        assertEquals(32, e.offset("argument_lists"));
        assertEquals(56, e.offset("output_lists"));
        assertEquals(64, e.offset("device_complete_events"));
        assertEquals(20, PjrtStructs.API_VERSION.offset("minor_version"));
        assertEquals(32, PjrtStructs.API_HEADER.offset("major_version"));
        assertEquals(36, PjrtStructs.API_HEADER.offset("minor_version"));
    }

    @Test
    void offsetsAgreeWithTheFfmStructLayout() throws IllegalAccessException {
        for (Field f : PjrtStructs.class.getFields()) {
            if (f.getType() != CStruct.class) continue;
            CStruct s = (CStruct) f.get(null);
            for (MemoryLayout member : s.layout().memberLayouts()) {
                if (member.name().isEmpty()) continue; // padding
                String name = member.name().get();
                assertEquals(s.layout().byteOffset(MemoryLayout.PathElement.groupElement(name)), s.offset(name), s.name() + "." + name);
            }
            assertTrue(s.layout().byteSize() >= s.structSize());
            assertEquals(0, s.layout().byteSize() % 8, s.name() + " sizeof is a multiple of its 8-byte alignment");
        }
    }

    @Test
    void allocateSetsStructSizeAndZeroesTheRest() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = PjrtStructs.CLIENT_COMPILE.allocate(arena);
            assertEquals(56, seg.get(ValueLayout.JAVA_LONG, 0));
            for (long off = 8; off < seg.byteSize(); off++) assertEquals(0, seg.get(ValueLayout.JAVA_BYTE, off));
            PjrtStructs.CLIENT_COMPILE.setLong(seg, "compile_options_size", 7);
            assertEquals(7, seg.get(ValueLayout.JAVA_LONG, 40));
            assertThrows(IllegalArgumentException.class, () -> PjrtStructs.CLIENT_COMPILE.setInt(seg, "compile_options_size", 1));
            assertThrows(IllegalArgumentException.class, () -> PjrtStructs.CLIENT_COMPILE.offset("nope"));
        }
    }

    @Test
    void functionTableOffsetsFollowHeaderOrder() {
        assertEquals(40, PjrtFunction.TABLE_START);            // struct_size, extension_start, 24-byte PJRT_Api_Version
        assertEquals(40, PjrtFunction.PJRT_Error_Destroy.offset());
        assertEquals(64, PjrtFunction.PJRT_Plugin_Initialize.offset());
        assertEquals(104, PjrtFunction.PJRT_Event_Await.offset());
        assertEquals(120, PjrtFunction.PJRT_Client_Create.offset());
        assertEquals(200, PjrtFunction.PJRT_Client_Compile.offset());
        assertEquals(216, PjrtFunction.PJRT_Client_BufferFromHostBuffer.offset());
        assertEquals(360, PjrtFunction.PJRT_Executable_Destroy.offset());
        assertEquals(432, PjrtFunction.PJRT_Executable_Serialize.offset());
        assertEquals(480, PjrtFunction.PJRT_LoadedExecutable_Execute.offset());
        assertEquals(488, PjrtFunction.PJRT_Executable_DeserializeAndLoad.offset());
        assertEquals(504, PjrtFunction.PJRT_Buffer_Destroy.offset());
        assertEquals(600, PjrtFunction.PJRT_Buffer_ToHostBuffer.offset());
        assertEquals(752, PjrtFunction.PJRT_Compile.offset());
        assertEquals(792, PjrtFunction.apiStructSize());       // PJRT_Api_STRUCT_SIZE at minor 33: 94 entries
        assertEquals(94, PjrtFunction.values().length);
    }
}
