package dev.jvllm.worker.pjrt;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import static dev.jvllm.worker.pjrt.PjrtStructs.*;

/** A compiled program loaded on the client's device(s): run it, serialize it for the compile cache. */
public final class PjrtLoadedExecutable implements AutoCloseable {
    private final PjrtClient client;
    private MemorySegment executable;
    private final int numOutputs;

    PjrtLoadedExecutable(PjrtClient client, MemorySegment executable) {
        this.client = client;
        this.executable = executable;
        this.numOutputs = Math.toIntExact(this.<Long>withExecutable(e -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment a = EXECUTABLE_NUM_OUTPUTS.allocate(arena);
                EXECUTABLE_NUM_OUTPUTS.setPointer(a, "executable", e);
                client.api().call(PjrtFunction.PJRT_Executable_NumOutputs, a);
                return EXECUTABLE_NUM_OUTPUTS.getLong(a, "num_outputs");
            }
        }));
    }

    public int numOutputs() { return numOutputs; }

    /**
     * Runs on one device. Inputs bound to aliased parameters are donated: after this call their handles are dead
     * (close them) and the aliased outputs hold the updated values. Outputs are returned in result order.
     */
    public PjrtBuffer[] execute(List<PjrtBuffer> args) {
        PjrtApi api = client.api();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment argList = arena.allocate(ValueLayout.ADDRESS, Math.max(1, args.size()));
            for (int i = 0; i < args.size(); i++) argList.setAtIndex(ValueLayout.ADDRESS, i, args.get(i).handle());
            MemorySegment argLists = arena.allocate(ValueLayout.ADDRESS, 1);
            argLists.setAtIndex(ValueLayout.ADDRESS, 0, argList);
            MemorySegment outList = arena.allocate(ValueLayout.ADDRESS, Math.max(1, numOutputs));
            MemorySegment outLists = arena.allocate(ValueLayout.ADDRESS, 1);
            outLists.setAtIndex(ValueLayout.ADDRESS, 0, outList);
            MemorySegment options = EXECUTE_OPTIONS.allocate(arena);
            MemorySegment a = LOADED_EXECUTABLE_EXECUTE.allocate(arena);
            LOADED_EXECUTABLE_EXECUTE.setPointer(a, "executable", handle());
            LOADED_EXECUTABLE_EXECUTE.setPointer(a, "options", options);
            LOADED_EXECUTABLE_EXECUTE.setPointer(a, "argument_lists", argLists);
            LOADED_EXECUTABLE_EXECUTE.setLong(a, "num_devices", 1);
            LOADED_EXECUTABLE_EXECUTE.setLong(a, "num_args", args.size());
            LOADED_EXECUTABLE_EXECUTE.setPointer(a, "output_lists", outLists);
            // device_complete_events stays NULL: reading the sampled ids back already waits for the step.
            api.call(PjrtFunction.PJRT_LoadedExecutable_Execute, a);
            PjrtBuffer[] out = new PjrtBuffer[numOutputs];
            for (int i = 0; i < numOutputs; i++) out[i] = new PjrtBuffer(api, outList.getAtIndex(ValueLayout.ADDRESS, i));
            return out;
        }
    }

    /** Plugin-specific bytes for {@link PjrtClient#deserialize}; valid only for the same plugin build. */
    public byte[] serialize() {
        PjrtApi api = client.api();
        return withExecutable(e -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment a = EXECUTABLE_SERIALIZE.allocate(arena);
                EXECUTABLE_SERIALIZE.setPointer(a, "executable", e);
                api.call(PjrtFunction.PJRT_Executable_Serialize, a);
                long n = EXECUTABLE_SERIALIZE.getLong(a, "serialized_bytes_size");
                byte[] bytes = EXECUTABLE_SERIALIZE.getPointer(a, "serialized_bytes").reinterpret(n).toArray(ValueLayout.JAVA_BYTE);
                MemorySegment deleter = EXECUTABLE_SERIALIZE.getPointer(a, "serialized_executable_deleter");
                if (!deleter.equals(MemorySegment.NULL)) {
                    try {
                        Linker.nativeLinker().downcallHandle(deleter, FunctionDescriptor.ofVoid(ValueLayout.ADDRESS))
                                .invokeExact(EXECUTABLE_SERIALIZE.getPointer(a, "serialized_executable"));
                    } catch (Throwable t) {
                        throw new PjrtException("serialized_executable_deleter failed: " + t);
                    }
                }
                return bytes;
            }
        });
    }

    private interface ExecutableFn<T> { T apply(MemorySegment executable); }

    /** Runs {@code fn} on the PJRT_Executable behind this loaded executable, releasing it afterwards. */
    private <T> T withExecutable(ExecutableFn<T> fn) {
        PjrtApi api = client.api();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment g = LOADED_EXECUTABLE_GET_EXECUTABLE.allocate(arena);
            LOADED_EXECUTABLE_GET_EXECUTABLE.setPointer(g, "loaded_executable", handle());
            api.call(PjrtFunction.PJRT_LoadedExecutable_GetExecutable, g);
            MemorySegment e = LOADED_EXECUTABLE_GET_EXECUTABLE.getPointer(g, "executable");
            try {
                return fn.apply(e);
            } finally {
                MemorySegment d = EXECUTABLE_DESTROY.allocate(arena);
                EXECUTABLE_DESTROY.setPointer(d, "executable", e);
                api.call(PjrtFunction.PJRT_Executable_Destroy, d);
            }
        }
    }

    MemorySegment handle() {
        if (executable == null) throw new IllegalStateException("PJRT executable is closed");
        return executable;
    }

    @Override
    public void close() {
        if (executable == null) return;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = LOADED_EXECUTABLE_DESTROY.allocate(arena);
            LOADED_EXECUTABLE_DESTROY.setPointer(a, "executable", executable);
            executable = null;
            client.api().call(PjrtFunction.PJRT_LoadedExecutable_Destroy, a);
        }
    }
}
