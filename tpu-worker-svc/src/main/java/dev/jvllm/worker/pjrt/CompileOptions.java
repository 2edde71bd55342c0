package dev.jvllm.worker.pjrt;

import com.google.protobuf.CodedOutputStream;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The serialized {@code xla.CompileOptionsProto} that PJRT_Client_Compile takes, written by hand so we need no XLA
 * protos. Field numbers from openxla/xla {@code xla/pjrt/proto/compile_options.proto}:
 * <pre>
 * CompileOptionsProto:          executable_build_options = 3 (ExecutableBuildOptionsProto)
 * ExecutableBuildOptionsProto:  device_ordinal = 1 (int64, -1 = unset), num_replicas = 4 (int64),
 *                               num_partitions = 5 (int64), use_spmd_partitioning = 6 (bool)
 * </pre>
 * Tensor parallelism later sets num_partitions = TP degree and use_spmd_partitioning = true; the emitted module then
 * carries {@code mhlo.sharding} attributes.
 */
public record CompileOptions(int numReplicas, int numPartitions, long deviceOrdinal, boolean useSpmdPartitioning) {

    public static final int COMPILE_OPTIONS_EXECUTABLE_BUILD_OPTIONS = 3;
    public static final int BUILD_DEVICE_ORDINAL = 1;
    public static final int BUILD_NUM_REPLICAS = 4;
    public static final int BUILD_NUM_PARTITIONS = 5;
    public static final int BUILD_USE_SPMD_PARTITIONING = 6;

    public static CompileOptions singleDevice() { return new CompileOptions(1, 1, -1, false); }

    public byte[] toBytes() {
        try {
            ByteArrayOutputStream build = new ByteArrayOutputStream();
            CodedOutputStream b = CodedOutputStream.newInstance(build);
            b.writeInt64(BUILD_DEVICE_ORDINAL, deviceOrdinal);
            b.writeInt64(BUILD_NUM_REPLICAS, numReplicas);
            b.writeInt64(BUILD_NUM_PARTITIONS, numPartitions);
            if (useSpmdPartitioning) b.writeBool(BUILD_USE_SPMD_PARTITIONING, true);
            b.flush();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            CodedOutputStream o = CodedOutputStream.newInstance(out);
            o.writeByteArray(COMPILE_OPTIONS_EXECUTABLE_BUILD_OPTIONS, build.toByteArray());
            o.flush();
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
