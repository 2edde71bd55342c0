package dev.jvllm.worker.pjrt;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * What {@link PjrtWorkerBackend} needs from a device: upload, compile, run, read back. {@link #pjrt} is the real one;
 * tests plug in a reference interpreter so the backend's logic runs end to end without an accelerator.
 */
public interface DeviceRuntime extends AutoCloseable {

    interface Buffer extends AutoCloseable {
        @Override
        void close();
    }

    interface Executable extends AutoCloseable {
        @Override
        void close();
    }

    String platformName();

    String platformVersion();

    /** Copies dense row-major host data to the device. */
    Buffer upload(PjrtElementType type, long[] shape, MemorySegment host);

    Executable compile(String mlir);

    byte[] serialize(Executable e);

    Executable deserialize(byte[] serialized);

    /** Runs; aliased inputs are donated (their handles must still be closed by the caller). */
    List<Buffer> execute(Executable e, List<Buffer> args);

    void toHost(Buffer b, MemorySegment dst);

    @Override
    void close();

    /** The PJRT implementation on the client's first addressable device. */
    static DeviceRuntime pjrt(PjrtClient client, CompileOptions options) {
        MemorySegment device = client.addressableDevices().getFirst();
        record PjrtBuf(PjrtBuffer b) implements Buffer { public void close() { b.close(); } }
        record PjrtExe(PjrtLoadedExecutable e) implements Executable { public void close() { e.close(); } }
        return new DeviceRuntime() {
            public String platformName() { return client.platformName(); }

            public String platformVersion() { return client.platformVersion(); }

            public Buffer upload(PjrtElementType type, long[] shape, MemorySegment host) {
                return new PjrtBuf(client.bufferFromHost(host, type, shape, device));
            }

            public Executable compile(String mlir) { return new PjrtExe(client.compile(mlir, options)); }

            public byte[] serialize(Executable e) { return ((PjrtExe) e).e().serialize(); }

            public Executable deserialize(byte[] serialized) { return new PjrtExe(client.deserialize(serialized)); }

            public List<Buffer> execute(Executable e, List<Buffer> args) {
                PjrtBuffer[] out = ((PjrtExe) e).e().execute(args.stream().map(a -> ((PjrtBuf) a).b()).toList());
                return java.util.Arrays.stream(out).<Buffer>map(PjrtBuf::new).toList();
            }

            public void toHost(Buffer b, MemorySegment dst) { ((PjrtBuf) b).b().toHost(dst); }

            public void close() { client.close(); }
        };
    }
}
