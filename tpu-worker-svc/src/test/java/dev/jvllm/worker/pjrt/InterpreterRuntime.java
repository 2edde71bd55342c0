package dev.jvllm.worker.pjrt;

import dev.jvllm.worker.pjrt.StableHloInterpreter.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** A {@link DeviceRuntime} whose "device" is {@link StableHloInterpreter}; counts live buffers to catch leaks. */
public final class InterpreterRuntime implements DeviceRuntime {

    final AtomicInteger liveBuffers = new AtomicInteger();
    final AtomicInteger compiles = new AtomicInteger();
    final AtomicInteger executions = new AtomicInteger();

    final class Buf implements Buffer {
        final Tensor tensor;
        boolean closed;

        Buf(Tensor t) {
            this.tensor = t;
            liveBuffers.incrementAndGet();
        }

        public void close() {
            if (!closed) liveBuffers.decrementAndGet();
            closed = true;
        }
    }

    record Exe(String mlir) implements Executable {
        public void close() { }
    }

    /** Buffers uploaded or produced and not yet closed (a leak check for tests in other packages). */
    public int liveBufferCount() { return liveBuffers.get(); }

    public String platformName() { return "interpreter"; }

    public String platformVersion() { return "test"; }

    public Buffer upload(PjrtElementType type, long[] shape, MemorySegment host) {
        Tensor t = Tensor.zeros(type.mlir, shape);
        for (int i = 0; i < t.size(); i++) {
            t.data()[i] = switch (type) {
                case BF16 -> Float.intBitsToFloat((host.getAtIndex(ValueLayout.JAVA_SHORT, i) & 0xFFFF) << 16);
                case F32 -> host.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                case S32 -> host.getAtIndex(ValueLayout.JAVA_INT, i);
                case U32 -> Integer.toUnsignedLong(host.getAtIndex(ValueLayout.JAVA_INT, i));
                default -> throw new UnsupportedOperationException(type.toString());
            };
        }
        return new Buf(t);
    }

    public Executable compile(String mlir) {
        compiles.incrementAndGet();
        MlirTextChecker.check(mlir);
        return new Exe(mlir);
    }

    public byte[] serialize(Executable e) { return ((Exe) e).mlir().getBytes(StandardCharsets.UTF_8); }

    public Executable deserialize(byte[] serialized) { return new Exe(new String(serialized, StandardCharsets.UTF_8)); }

    public List<Buffer> execute(Executable e, List<Buffer> args) {
        executions.incrementAndGet();
        List<Tensor> in = new ArrayList<>();
        for (Buffer b : args) {
            Buf buf = (Buf) b;
            if (buf.closed) throw new IllegalStateException("execute with a closed buffer");
            in.add(buf.tensor);
        }
        List<Buffer> out = new ArrayList<>();
        for (Tensor t : new StableHloInterpreter().run(((Exe) e).mlir(), in)) out.add(new Buf(t));
        return out;
    }

    public void toHost(Buffer b, MemorySegment dst) {
        Tensor t = ((Buf) b).tensor;
        for (int i = 0; i < t.size(); i++) dst.setAtIndex(ValueLayout.JAVA_INT, i, (int) t.data()[i]);
    }

    public void close() { }
}
