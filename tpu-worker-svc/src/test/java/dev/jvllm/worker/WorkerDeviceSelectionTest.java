package dev.jvllm.worker;

import dev.jvllm.common.testing.SharedData;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jvllm.proto.DescribeRequest;
import dev.jvllm.proto.InitCacheRequest;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.proto.SeqSampling;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.WorkerInfo;
import dev.jvllm.worker.pjrt.InterpreterRuntime;
import dev.jvllm.worker.pjrt.PjrtElementType;
import dev.jvllm.worker.pjrt.PjrtException;
import dev.jvllm.worker.pjrt.PjrtPluginLocator;
import dev.jvllm.worker.pjrt.PjrtWorkerBackend;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --device} picks the backend: non-cpu devices fail at load with a message that says what is
 * missing, and a pjrt backend is served through the same gRPC service and step validation as the
 * cpu one (with the reference StableHLO interpreter standing in for the device).
 */
class WorkerDeviceSelectionTest {
    static final Path MODEL = SharedData.stories260K();

    @TempDir
    Path tmp;

    /** A plugin search that sees nothing of this machine: no env, an empty home, one empty prefix. */
    private PjrtPluginLocator emptyMachine() {
        return new PjrtPluginLocator(Map.of(), tmp.resolve("home"), List.of(tmp.resolve("usr")));
    }

    private WorkerOptions on(String device) {
        return WorkerOptions.defaults(MODEL).withDevice(device).withCompileCacheDir(tmp.resolve("xla"));
    }

    @Test
    void optionsDefaultToCpuAndRejectUnknownDevices() {
        WorkerOptions legacy = new WorkerOptions(MODEL, 0, 1.0, 1, 0, "auto");
        assertEquals("cpu", legacy.device());
        assertTrue(legacy.cpu());
        assertTrue(legacy.compileCacheDir() != null);
        var e = assertThrows(IllegalArgumentException.class, () -> WorkerOptions.defaults(MODEL).withDevice("gpu"));
        assertTrue(e.getMessage().contains("cpu, tpu, cuda or pjrt:/path/to/plugin.so"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> WorkerOptions.defaults(MODEL).withDevice("pjrt:"));
    }

    @Test
    void missingPluginFileFailsAtLoad() {
        var e = assertThrows(PjrtPluginLocator.PluginNotFoundException.class,
                () -> WorkerService.load(on("pjrt:/nonexistent.so"), emptyMachine()));
        assertTrue(e.getMessage().contains("/nonexistent.so") && e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void tpuWithoutLibtpuFailsAtLoadListingWhereItLooked() {
        var e = assertThrows(PjrtPluginLocator.PluginNotFoundException.class,
                () -> WorkerService.load(on("tpu"), emptyMachine()));
        assertTrue(e.getMessage().contains("no PJRT plugin for --device tpu"), e.getMessage());
        assertTrue(e.getMessage().contains("TPU_LIBRARY_PATH"), e.getMessage());
        assertTrue(e.getMessage().contains(tmp.resolve("usr").resolve("lib/libtpu.so").toString()), e.getMessage());
    }

    @Test
    void libraryWithoutGetPjrtApiFailsAtLoad() {
        Path libm = Stream.of("/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6",
                        "/lib/aarch64-linux-gnu/libm.so.6", "/usr/lib/aarch64-linux-gnu/libm.so.6", "/lib64/libm.so.6")
                .map(Path::of).filter(Files::isRegularFile).findFirst().orElse(null);
        Assumptions.assumeTrue(libm != null, "no libm.so.6 at the usual places");
        var e = assertThrows(PjrtException.class, () -> WorkerService.load(on("pjrt:" + libm), emptyMachine()));
        assertTrue(e.getMessage().contains("does not export GetPjrtApi"), e.getMessage());
    }

    @Test
    void pluginOfAnotherPjrtMajorVersionFailsAtLoad() throws Exception {
        // A stand-in plugin whose GetPjrtApi reports PJRT C API 1.0; built with the system C compiler when there is one.
        Path src = Files.writeString(tmp.resolve("fake_pjrt.c"), """
                #include <stddef.h>
                typedef struct { size_t struct_size; void* priv; int major_version; int minor_version; } Version;
                typedef struct { size_t struct_size; void* extension_start; Version version; void* fns[128]; } Api;
                static Api api = { sizeof(Api), 0, { sizeof(Version), 0, 1, 0 } };
                const Api* GetPjrtApi(void) { return &api; }
                """);
        Path lib = tmp.resolve("libfake_pjrt.so");
        int rc;
        try {
            Process cc = new ProcessBuilder("cc", "-shared", "-fPIC", "-Wl,-z,noexecstack", "-o", lib.toString(), src.toString())
                    .redirectErrorStream(true).start();
            cc.getInputStream().readAllBytes();
            rc = cc.waitFor(60, TimeUnit.SECONDS) ? cc.exitValue() : -1;
        } catch (IOException noCompiler) {
            rc = -1;
        }
        Assumptions.assumeTrue(rc == 0 && Files.isRegularFile(lib), "no C compiler (cc) to build a stand-in plugin");
        var e = assertThrows(PjrtException.class, () -> WorkerService.load(on("pjrt:" + lib), emptyMachine()));
        assertTrue(e.getMessage().contains("implements PJRT C API 1.0") && e.getMessage().contains("jvllm speaks major 0"),
                e.getMessage());
    }

    @Test
    void pjrtBackendIsServedAndValidatedLikeTheCpuOne() throws Exception {
        PjrtWorkerBackend.Options options = PjrtWorkerBackend.Options.defaults(MODEL, tmp.resolve("xla"))
                .withLimits(64, 16, 8).withStorage(PjrtElementType.F32).withConsole(null);
        InterpreterRuntime device = new InterpreterRuntime();
        JsonNode golden = new ObjectMapper().readTree(MODEL.resolve("golden.json").toFile()).get(0);
        try (WorkerTestClient client = new WorkerTestClient(new WorkerService(new PjrtWorkerBackend(options, device)))) {
            WorkerInfo info = client.blocking.describe(DescribeRequest.getDefaultInstance());
            assertEquals("pjrt:interpreter", info.getBackend());
            assertEquals(64, info.getMaxModelLen());

            try (WorkerTestClient.StepStream s = client.openStream()) {
                var early = assertThrows(StatusRuntimeException.class, () -> s.step(step(0, seq(1, 0, true, 5))));
                assertEquals(Status.Code.FAILED_PRECONDITION, early.getStatus().getCode());
            }
            assertEquals(8, client.blocking.initCache(InitCacheRequest.newBuilder().setBlockSize(16).setNumBlocks(8).build())
                    .getNumBlocks());

            // The service's own validation: out-of-vocabulary token, block outside the cache, unknown sequence.
            assertRejected(client, seq(1, 0, true, 512), "outside the vocabulary");
            assertRejected(client, seq(1, 0, true, 5).toBuilder().setBlockTable(0, 8).build(), "block id 8");
            assertRejected(client, seq(1, 0, false, 5), "unknown sequence");
            // The backend's refusal of what it cannot compute yet becomes INVALID_ARGUMENT too.
            assertRejected(client, seq(1, 0, true, 5).toBuilder().setWantPromptLogprobs(true).build(), "prompt_logprobs");

            int[] prompt = new int[golden.get("prompt_ids").size()];
            for (int i = 0; i < prompt.length; i++) {
                prompt[i] = golden.get("prompt_ids").get(i).asInt();
            }
            try (WorkerTestClient.StepStream s = client.openStream()) {
                int first = s.step(step(1, seq(7, 0, true, prompt))).getOutputs(0).getTokenId();
                assertEquals(golden.get("greedy_ids").get(0).asInt(), first);
                int second = s.step(step(2, seq(7, prompt.length, false, first))).getOutputs(0).getTokenId();
                assertEquals(golden.get("greedy_ids").get(1).asInt(), second);
            }
        }
        assertEquals(0, device.liveBufferCount(), "closing the service released every device buffer");
    }

    private static void assertRejected(WorkerTestClient client, ScheduledSeq seq, String message) {
        try (WorkerTestClient.StepStream s = client.openStream()) {
            var e = assertThrows(StatusRuntimeException.class, () -> s.step(step(9, seq)));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains(message), e.getStatus().getDescription());
        }
    }

    private static StepRequest step(long id, ScheduledSeq... seqs) {
        return StepRequest.newBuilder().setStepId(id).addAllSeqs(List.of(seqs)).build();
    }

    private static ScheduledSeq seq(long id, int start, boolean first, int... tokens) {
        ScheduledSeq.Builder b = ScheduledSeq.newBuilder().setSeqId(id).setStartPos(start).setDoSample(true);
        for (int t : tokens) {
            b.addTokenIds(t);
        }
        for (int i = 0; i < Math.ceilDiv(start + tokens.length, 16); i++) {
            b.addBlockTable(i);
        }
        if (first) {
            b.setNewSeq(SeqSampling.newBuilder().setParams(SamplingParams.newBuilder().setTemperature(0f)));
        }
        return b.build();
    }
}
