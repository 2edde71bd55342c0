package dev.jvllm.worker.pjrt;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class StableHloModelEmitterTest {

    /** 1 layer, GQA 2:1, head_dim 4, tied embeddings: small enough to read the golden file by eye. */
    static final LlamaShape TINY = new LlamaShape("llama", 8, 1, 2, 1, 4, 16, 16, 64, 1e-5, 10000.0, null, false, false, true);
    static final BucketPlanner.Bucket TINY_BUCKET = new BucketPlanner.Bucket(4, 2, 2);
    static final String GOLDEN = "tiny_llama_t4_s2_b2.mlir";

    private final StableHloModelEmitter emitter = new StableHloModelEmitter();

    @Test
    void tinyModelMatchesGoldenText() throws IOException {
        String mlir = emitter.emit(TINY, TINY_BUCKET, 2, 4).mlir();
        String update = System.getProperty("jvllm.updateGolden");
        if (update != null) {
            Files.writeString(Path.of(update).resolve(GOLDEN), mlir);
        }
        try (InputStream in = getClass().getResourceAsStream(GOLDEN)) {
            assertNotNull(in, "golden file missing; regenerate with -Djvllm.updateGolden=src/test/resources/dev/jvllm/worker/pjrt");
            assertEquals(new String(in.readAllBytes(), StandardCharsets.UTF_8), mlir,
                    "emitted MLIR changed: if intended, bump EMITTER_VERSION and regenerate the golden file");
        }
    }

    @Test
    void emissionIsDeterministic() {
        String a = emitter.emit(TINY, TINY_BUCKET, 2, 4).mlir();
        String b = new StableHloModelEmitter().emit(TINY, TINY_BUCKET, 2, 4).mlir();
        assertEquals(a, b);
        assertNotEquals(a, emitter.emit(TINY, new BucketPlanner.Bucket(8, 2, 2), 2, 4).mlir());
    }

    @Test
    void tinyModelTextIsWellFormedAndSignatureMatchesParams() {
        StableHloModelEmitter.Program p = emitter.emit(TINY, TINY_BUCKET, 2, 4);
        MlirTextChecker.Report r = MlirTextChecker.check(p.mlir());
        assertEquals(p.params().size(), r.argTypes().size());
        for (int i = 0; i < p.params().size(); i++) {
            StableHloModelEmitter.Param param = p.params().get(i);
            assertEquals(MlirBuilder.Type.of(param.type().mlir, param.shape()).toString(), r.argTypes().get(i), param.name());
        }
        assertEquals(List.of("tensor<2xi32>", "tensor<8x1x4xbf16>", "tensor<8x1x4xbf16>"), r.resultTypes());
        assertTrue(r.ops() > 100, "a full forward pass, not a stub: " + r.ops());
    }

    @Test
    void cacheParamsAliasTheirUpdatedResults() {
        LlamaShape twoLayers = new LlamaShape("llama", 8, 2, 2, 1, 4, 16, 16, 64, 1e-5, 10000.0, null, false, false, false);
        StableHloModelEmitter.Program p = emitter.emit(twoLayers, TINY_BUCKET, 2, 4);
        List<StableHloModelEmitter.Param> caches = p.params().stream().filter(x -> x.role() == StableHloModelEmitter.Role.KV_CACHE).toList();
        assertEquals(4, caches.size());
        for (StableHloModelEmitter.Param c : caches) {
            StableHloModelEmitter.Result out = p.results().get(c.aliasedOutput());
            assertEquals(c.name(), out.name());
            assertArrayEquals(c.shape(), out.shape());
            assertTrue(p.mlir().contains("%" + c.name() + ": tensor<8x1x4xbf16> {tf.aliasing_output = " + c.aliasedOutput() + " : i32}"));
        }
        assertEquals(1, p.params().stream().filter(x -> x.name().equals("lm_head.weight")).count(), "untied model takes lm_head");
        assertTrue(p.params().stream().noneMatch(x -> x.aliasedOutput() >= 0 && x.role() != StableHloModelEmitter.Role.KV_CACHE));
    }

    @Test
    void everyRealShapeEmitsWellFormedTextWithItsWeights() {
        for (String name : List.of("llama-3.2-1b", "qwen2.5-0.5b", "qwen3-0.6b", "smollm2-135m")) {
            LlamaShape shape = LlamaShapeTest.shape(name);
            StableHloModelEmitter.Program p = emitter.emit(shape, new BucketPlanner.Bucket(16, 8, 4), 16, 64);
            MlirTextChecker.check(p.mlir());
            long weights = p.params().stream().filter(x -> x.role() == StableHloModelEmitter.Role.WEIGHT).count();
            assertEquals(StableHloModelEmitter.weightNames(shape).size(), weights, name);
            assertEquals(shape.qkvBias(), p.mlir().contains("q_proj.bias"), name);
            assertEquals(shape.qkNorm(), p.mlir().contains("q_norm.weight"), name);
            assertEquals(1 + 2 * shape.layers(), p.results().size(), name);
        }
    }

    @Test
    void llama3RopeScalingKeepsHighFrequenciesAndDividesLowOnes() {
        LlamaShape l = LlamaShapeTest.shape("llama-3.1-8b");
        float[] scaled = StableHloModelEmitter.inverseFrequencies(l);
        LlamaShape plain = new LlamaShape(l.architecture(), l.hidden(), l.layers(), l.heads(), l.kvHeads(), l.headDim(), l.intermediate(),
                l.vocab(), l.maxPositions(), l.rmsEps(), l.ropeTheta(), null, false, false, false);
        float[] base = StableHloModelEmitter.inverseFrequencies(plain);
        assertEquals(64, scaled.length);
        assertEquals(base[0], scaled[0], 0f, "wavelength 2*pi is far below 8192/4: unchanged");
        assertEquals(base[63] / 8.0f, scaled[63], base[63] * 1e-5f, "longest wavelength is beyond 8192/1: divided by factor 8");
        for (int i = 0; i < 64; i++) {
            assertTrue(scaled[i] <= base[i] && scaled[i] >= base[i] / 8.0f * (1 - 1e-6f), "between unscaled and fully scaled at " + i);
        }
    }

    @Test
    void rejectsBadCacheGeometry() {
        assertThrows(IllegalArgumentException.class, () -> emitter.emit(TINY, TINY_BUCKET, 0, 4));
    }

    @Test
    void checkerCatchesBrokenText() {
        String good = emitter.emit(TINY, TINY_BUCKET, 2, 4).mlir();
        assertThrows(AssertionError.class, () -> MlirTextChecker.check(good.replace("\"stablehlo.exponential\"", "\"stablehlo.exp\"")));
        assertThrows(AssertionError.class, () -> MlirTextChecker.check(good.replaceFirst("%5 = ", "%4 = ")));
        assertThrows(AssertionError.class, () -> MlirTextChecker.check(good.replaceFirst("\\(tensor<4xi32>\\) -> tensor<4x1xi32>", "(tensor<4xi64>) -> tensor<4x1xi32>")));
        assertThrows(AssertionError.class, () -> MlirTextChecker.check(good.substring(0, good.length() - 3)));
        assertTrue(Arrays.asList(good.split("\n")).stream().anyMatch(s -> s.contains("tf.aliasing_output")));
    }
}
