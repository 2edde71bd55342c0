package dev.jvllm.worker.pjrt;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static dev.jvllm.worker.pjrt.PjrtStructs.BUFFER_DESTROY;
import static dev.jvllm.worker.pjrt.PjrtStructs.BUFFER_TO_HOST;

/**
 * A device buffer. A buffer passed to a donated (aliased) executable parameter is consumed by the execution: its
 * handle must still be closed, but its contents now live in the corresponding output buffer.
 */
public final class PjrtBuffer implements AutoCloseable {
    private final PjrtApi api;
    private MemorySegment buffer;

    PjrtBuffer(PjrtApi api, MemorySegment buffer) {
        this.api = api;
        this.buffer = buffer;
    }

    MemorySegment handle() {
        if (buffer == null) throw new IllegalStateException("PJRT buffer is closed");
        return buffer;
    }

    /** Copies the whole buffer into {@code dst} (dense row-major) and waits for the copy. */
    public void toHost(MemorySegment dst) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = BUFFER_TO_HOST.allocate(arena);
            BUFFER_TO_HOST.setPointer(a, "src", handle());
            BUFFER_TO_HOST.setPointer(a, "dst", dst);
            BUFFER_TO_HOST.setLong(a, "dst_size", dst.byteSize());
            api.call(PjrtFunction.PJRT_Buffer_ToHostBuffer, a);
            api.awaitAndDestroy(BUFFER_TO_HOST.getPointer(a, "event"));
        }
    }

    @Override
    public void close() {
        if (buffer == null) return;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = BUFFER_DESTROY.allocate(arena);
            BUFFER_DESTROY.setPointer(a, "buffer", buffer);
            buffer = null;
            api.call(PjrtFunction.PJRT_Buffer_Destroy, a);
        }
    }
}
