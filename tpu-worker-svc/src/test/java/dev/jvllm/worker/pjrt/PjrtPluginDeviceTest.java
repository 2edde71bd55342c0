package dev.jvllm.worker.pjrt;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Runs against a real PJRT plugin: PJRT_PLUGIN_LIBRARY_PATH, else whatever {@code --device cuda} or {@code tpu} would
 * find. Skipped (not failed) on machines without one.
 */
class PjrtPluginDeviceTest {

    static PjrtApi api;

    /** Per test, so each one reports as skipped with the reason rather than the class vanishing from the counts. */
    @BeforeEach
    void loadPlugin() {
        if (api != null) return;
        Path plugin = findPlugin();
        if (plugin == null) {
            Assumptions.abort("no PJRT plugin found: set PJRT_PLUGIN_LIBRARY_PATH=/path/to/plugin.so "
                    + "(or TPU_LIBRARY_PATH, or install the jax-cuda13-pjrt / libtpu wheel) to run the PJRT device tests");
        }
        api = PjrtApi.load(plugin);
    }

    static Path findPlugin() {
        String explicit = System.getenv("PJRT_PLUGIN_LIBRARY_PATH");
        if (explicit != null && !explicit.isBlank()) return Path.of(explicit);
        for (String device : List.of("cuda", "tpu")) {
            try {
                return PjrtPluginLocator.system().locate(device).orElseThrow().library();
            } catch (PjrtPluginLocator.PluginNotFoundException e) {
                // try the next kind
            }
        }
        return null;
    }

    @Test
    void compilesRunsSerializesAndReloadsASmallProgram() {
        String mlir = """
                module @add_one attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
                  func.func public @main(%x: tensor<4xf32> {tf.aliasing_output = 0 : i32}) -> (tensor<4xf32>) {
                    %0 = "stablehlo.constant"() {value = dense<1.0> : tensor<4xf32>} : () -> tensor<4xf32>
                    %1 = "stablehlo.add"(%x, %0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
                    "func.return"(%1) : (tensor<4xf32>) -> ()
                  }
                }
                """;
        try (PjrtClient client = PjrtClient.create(api); Arena arena = Arena.ofConfined()) {
            assertFalse(client.platformName().isEmpty());
            MemorySegment device = client.addressableDevices().getFirst();
            MemorySegment host = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1f, 2f, 3f, 4f);
            byte[] serialized;
            try (PjrtLoadedExecutable exe = client.compile(mlir, CompileOptions.singleDevice());
                 PjrtBuffer in = client.bufferFromHost(host, PjrtElementType.F32, new long[] {4}, device)) {
                assertEquals(1, exe.numOutputs());
                PjrtBuffer[] out = exe.execute(List.of(in));
                try (PjrtBuffer result = out[0]) {
                    MemorySegment back = arena.allocate(16);
                    result.toHost(back);
                    assertArrayEquals(new float[] {2f, 3f, 4f, 5f}, back.toArray(ValueLayout.JAVA_FLOAT));
                }
                serialized = exe.serialize();
            }
            assertTrue(serialized.length > 0);
            try (PjrtLoadedExecutable again = client.deserialize(serialized);
                 PjrtBuffer in = client.bufferFromHost(host, PjrtElementType.F32, new long[] {4}, device)) {
                try (PjrtBuffer result = again.execute(List.of(in))[0]) {
                    MemorySegment back = arena.allocate(16);
                    result.toHost(back);
                    assertArrayEquals(new float[] {2f, 3f, 4f, 5f}, back.toArray(ValueLayout.JAVA_FLOAT));
                }
            }
        }
    }

    @Test
    void invalidProgramBecomesAnExceptionWithThePluginsMessage() {
        try (PjrtClient client = PjrtClient.create(api)) {
            PjrtException e = assertThrows(PjrtException.class, () -> client.compile("this is not mlir", CompileOptions.singleDevice()));
            assertTrue(e.getMessage().contains("PJRT_Client_Compile"), e.getMessage());
            assertNotEquals(0, e.code());
        }
    }

    @Test
    void tinyModelStepSamplesValidTokensReproducibly() {
        LlamaShape shape = StableHloModelEmitterTest.TINY;
        StableHloModelEmitter.Program program = new StableHloModelEmitter().emit(shape, StableHloModelEmitterTest.TINY_BUCKET, 2, 4);
        try (PjrtClient client = PjrtClient.create(api);
             PjrtLoadedExecutable exe = client.compile(program.mlir(), CompileOptions.singleDevice())) {
            assertEquals(program.results().size(), exe.numOutputs());
            int[] greedyA = runStep(client, exe, program, 0f);
            int[] greedyB = runStep(client, exe, program, 0f);
            assertArrayEquals(greedyA, greedyB, "greedy is deterministic");
            int[] sampledA = runStep(client, exe, program, 1f);
            int[] sampledB = runStep(client, exe, program, 1f);
            assertArrayEquals(sampledA, sampledB, "same seeds, same draws");
            for (int id : sampledA) assertTrue(id >= 0 && id < shape.vocab(), "token id " + id);
        }
    }

    /** The full backend on the real device: stories260K greedy ids must match golden.json (f32 storage). */
    @Test
    void backendReproducesStories260kGoldenOnTheDevice(@org.junit.jupiter.api.io.TempDir Path cacheDir) throws Exception {
        var golden = new com.fasterxml.jackson.databind.ObjectMapper().readTree(PjrtWorkerBackendTest.MODEL.resolve("golden.json").toFile()).get(0);
        int[] prompt = PjrtWorkerBackendTest.ids(golden.get("prompt_ids"));
        int[] expected = java.util.Arrays.copyOf(PjrtWorkerBackendTest.ids(golden.get("greedy_ids")), 20);
        PjrtClient client = PjrtClient.create(api);
        try (PjrtWorkerBackend backend = new PjrtWorkerBackend(PjrtWorkerBackendTest.options(cacheDir).withConsole(System.err),
                DeviceRuntime.pjrt(client, CompileOptions.singleDevice()))) {
            backend.initCache(16, 8);
            List<Integer> out = new ArrayList<>();
            out.add(backend.step(dev.jvllm.proto.StepRequest.newBuilder().setStepId(1)
                    .addSeqs(PjrtWorkerBackendTest.seq(0, prompt, 0, true)).build()).getOutputs(0).getTokenId());
            while (out.size() < expected.length) {
                out.add(backend.step(dev.jvllm.proto.StepRequest.newBuilder().setStepId(out.size() + 1)
                        .addSeqs(PjrtWorkerBackendTest.seq(0, new int[] {out.getLast()}, prompt.length + out.size() - 1, false)).build())
                        .getOutputs(0).getTokenId());
            }
            assertArrayEquals(expected, out.stream().mapToInt(Integer::intValue).toArray());
        }
    }

    /** Seq 0: prompt of 3 tokens at positions 0..2 (blocks 0,1); seq 1: one token at position 0 (block 2). */
    private static int[] runStep(PjrtClient client, PjrtLoadedExecutable exe, StableHloModelEmitter.Program p, float temperature) {
        MemorySegment device = client.addressableDevices().getFirst();
        Random rnd = new Random(42);
        List<PjrtBuffer> args = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            for (StableHloModelEmitter.Param param : p.params()) {
                long n = 1;
                for (long d : param.shape()) n *= d;
                MemorySegment host = arena.allocate(n * param.type().bytes);
                switch (param.role()) {
                    case WEIGHT -> {
                        for (long i = 0; i < n; i++) {
                            float v = param.shape().length == 1 ? 1f : (float) (rnd.nextGaussian() * 0.2);
                            host.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) (Float.floatToIntBits(v) >>> 16));
                        }
                    }
                    case KV_CACHE -> { } // zeros
                    case STEP_INPUT -> fillStepInput(param.name(), host, temperature);
                }
                args.add(client.bufferFromHost(host, param.type(), param.shape(), device));
            }
            PjrtBuffer[] out = exe.execute(args);
            try {
                MemorySegment ids = arena.allocate(4L * p.results().getFirst().shape()[0]);
                out[0].toHost(ids);
                return ids.toArray(ValueLayout.JAVA_INT);
            } finally {
                for (PjrtBuffer b : out) b.close();
            }
        } finally {
            for (PjrtBuffer b : args) b.close();
        }
    }

    private static void fillStepInput(String name, MemorySegment host, float temperature) {
        int[] ints = switch (name) {
            case "token_ids" -> new int[] {1, 5, 7, 3};
            case "positions" -> new int[] {0, 1, 2, 0};
            case "token_seq" -> new int[] {0, 0, 0, 1};
            case "slot_mapping" -> new int[] {0, 1, 2, 4};
            case "block_tables" -> new int[] {0, 1, 2, 0};
            case "context_lens" -> new int[] {3, 1};
            case "logits_indices" -> new int[] {2, 3};
            case "top_k" -> new int[] {0, 4};
            case "seeds" -> new int[] {1234, 99};
            default -> null;
        };
        if (ints != null) {
            MemorySegment.copy(ints, 0, host, ValueLayout.JAVA_INT, 0, ints.length);
            return;
        }
        float[] floats = switch (name) {
            case "temperature" -> new float[] {temperature, temperature};
            case "top_p" -> new float[] {1f, 0.9f};
            default -> throw new IllegalArgumentException(name);
        };
        MemorySegment.copy(floats, 0, host, ValueLayout.JAVA_FLOAT, 0, floats.length);
    }
}
