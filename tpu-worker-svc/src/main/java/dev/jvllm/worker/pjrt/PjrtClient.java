package dev.jvllm.worker.pjrt;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static dev.jvllm.worker.pjrt.PjrtStructs.*;

/** A PJRT_Client: devices, compilation, host-to-device transfers. Close it last, after its buffers and executables. */
public final class PjrtClient implements AutoCloseable {
    private final PjrtApi api;
    private MemorySegment client;

    private PjrtClient(PjrtApi api, MemorySegment client) {
        this.api = api;
        this.client = client;
    }

    public static PjrtClient create(PjrtApi api) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = CLIENT_CREATE.allocate(arena);
            api.call(PjrtFunction.PJRT_Client_Create, a);
            return new PjrtClient(api, CLIENT_CREATE.getPointer(a, "client"));
        }
    }

    public PjrtApi api() { return api; }

    MemorySegment handle() {
        if (client == null) throw new IllegalStateException("PJRT client is closed");
        return client;
    }

    /** "cpu", "cuda", "tpu", ... */
    public String platformName() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = CLIENT_PLATFORM_NAME.allocate(arena);
            CLIENT_PLATFORM_NAME.setPointer(a, "client", handle());
            api.call(PjrtFunction.PJRT_Client_PlatformName, a);
            return PjrtApi.string(CLIENT_PLATFORM_NAME.getPointer(a, "platform_name"), CLIENT_PLATFORM_NAME.getLong(a, "platform_name_size"));
        }
    }

    /** Plugin-specific version text (CUDA version, libtpu build): part of the compile cache key. */
    public String platformVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = CLIENT_PLATFORM_VERSION.allocate(arena);
            CLIENT_PLATFORM_VERSION.setPointer(a, "client", handle());
            api.call(PjrtFunction.PJRT_Client_PlatformVersion, a);
            return PjrtApi.string(CLIENT_PLATFORM_VERSION.getPointer(a, "platform_version"), CLIENT_PLATFORM_VERSION.getLong(a, "platform_version_size"));
        }
    }

    /** Opaque PJRT_Device pointers owned by the client. */
    public List<MemorySegment> addressableDevices() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = CLIENT_ADDRESSABLE_DEVICES.allocate(arena);
            CLIENT_ADDRESSABLE_DEVICES.setPointer(a, "client", handle());
            api.call(PjrtFunction.PJRT_Client_AddressableDevices, a);
            long n = CLIENT_ADDRESSABLE_DEVICES.getLong(a, "num_addressable_devices");
            MemorySegment arr = CLIENT_ADDRESSABLE_DEVICES.getPointer(a, "addressable_devices").reinterpret(8 * n);
            List<MemorySegment> out = new ArrayList<>();
            for (long i = 0; i < n; i++) out.add(arr.getAtIndex(ValueLayout.ADDRESS, i));
            return out;
        }
    }

    /** Compiles StableHLO text (format "mlir") into an executable loaded on this client's devices. */
    public PjrtLoadedExecutable compile(String mlir, CompileOptions options) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment code = arena.allocateFrom(mlir); // NUL-terminated; code_size excludes the NUL
            MemorySegment format = arena.allocateFrom("mlir");
            MemorySegment program = PROGRAM.allocate(arena);
            PROGRAM.setPointer(program, "code", code);
            PROGRAM.setLong(program, "code_size", mlir.getBytes(StandardCharsets.UTF_8).length);
            PROGRAM.setPointer(program, "format", format);
            PROGRAM.setLong(program, "format_size", 4);
            byte[] opts = options.toBytes();
            MemorySegment optSeg = arena.allocate(Math.max(1, opts.length));
            MemorySegment.copy(opts, 0, optSeg, ValueLayout.JAVA_BYTE, 0, opts.length);
            MemorySegment a = CLIENT_COMPILE.allocate(arena);
            CLIENT_COMPILE.setPointer(a, "client", handle());
            CLIENT_COMPILE.setPointer(a, "program", program);
            CLIENT_COMPILE.setPointer(a, "compile_options", optSeg);
            CLIENT_COMPILE.setLong(a, "compile_options_size", opts.length);
            api.call(PjrtFunction.PJRT_Client_Compile, a);
            return new PjrtLoadedExecutable(this, CLIENT_COMPILE.getPointer(a, "executable"));
        }
    }

    /** Loads an executable serialized by {@link PjrtLoadedExecutable#serialize()} with the same plugin version. */
    public PjrtLoadedExecutable deserialize(byte[] serialized) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(Math.max(1, serialized.length));
            MemorySegment.copy(serialized, 0, bytes, ValueLayout.JAVA_BYTE, 0, serialized.length);
            MemorySegment a = EXECUTABLE_DESERIALIZE_AND_LOAD.allocate(arena);
            EXECUTABLE_DESERIALIZE_AND_LOAD.setPointer(a, "client", handle());
            EXECUTABLE_DESERIALIZE_AND_LOAD.setPointer(a, "serialized_executable", bytes);
            EXECUTABLE_DESERIALIZE_AND_LOAD.setLong(a, "serialized_executable_size", serialized.length);
            api.call(PjrtFunction.PJRT_Executable_DeserializeAndLoad, a);
            return new PjrtLoadedExecutable(this, EXECUTABLE_DESERIALIZE_AND_LOAD.getPointer(a, "loaded_executable"));
        }
    }

    /**
     * Copies a dense row-major host array to the device and waits until the host memory may be reused
     * (kImmutableOnlyDuringCall semantics are not universally supported, so we use kImmutableUntilTransferCompletes
     * and await done_with_host_buffer).
     */
    public PjrtBuffer bufferFromHost(MemorySegment data, PjrtElementType type, long[] dims, MemorySegment device) {
        long expected = type.bytes;
        for (long d : dims) expected *= d;
        if (data.byteSize() < expected) {
            throw new IllegalArgumentException("host data has " + data.byteSize() + " bytes, shape needs " + expected);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment dimSeg = arena.allocate(ValueLayout.JAVA_LONG, Math.max(1, dims.length));
            for (int i = 0; i < dims.length; i++) dimSeg.setAtIndex(ValueLayout.JAVA_LONG, i, dims[i]);
            MemorySegment a = CLIENT_BUFFER_FROM_HOST.allocate(arena);
            CLIENT_BUFFER_FROM_HOST.setPointer(a, "client", handle());
            CLIENT_BUFFER_FROM_HOST.setPointer(a, "data", data);
            CLIENT_BUFFER_FROM_HOST.setInt(a, "type", type.code);
            CLIENT_BUFFER_FROM_HOST.setPointer(a, "dims", dimSeg);
            CLIENT_BUFFER_FROM_HOST.setLong(a, "num_dims", dims.length);
            CLIENT_BUFFER_FROM_HOST.setInt(a, "host_buffer_semantics", 1); // kImmutableUntilTransferCompletes
            CLIENT_BUFFER_FROM_HOST.setPointer(a, "device", device);
            api.call(PjrtFunction.PJRT_Client_BufferFromHostBuffer, a);
            PjrtBuffer buffer = new PjrtBuffer(api, CLIENT_BUFFER_FROM_HOST.getPointer(a, "buffer"));
            try {
                api.awaitAndDestroy(CLIENT_BUFFER_FROM_HOST.getPointer(a, "done_with_host_buffer"));
            } catch (RuntimeException e) {
                buffer.close();
                throw e;
            }
            return buffer;
        }
    }

    @Override
    public void close() {
        if (client == null) return;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = CLIENT_DESTROY.allocate(arena);
            CLIENT_DESTROY.setPointer(a, "client", client);
            client = null;
            api.call(PjrtFunction.PJRT_Client_Destroy, a);
        }
    }
}
