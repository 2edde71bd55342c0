package dev.jvllm.worker.pjrt;

import dev.jvllm.common.testing.SharedData;
import dev.jvllm.worker.model.ModelConfig;
import dev.jvllm.worker.model.ModelLoadException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The emitter's shape derived from the worker's {@link ModelConfig}, and what the emitter refuses. */
class LlamaShapeTest {

    static LlamaShape shape(String name) {
        return LlamaShape.of(ModelConfig.read(SharedData.model("shapes/" + name)));
    }

    @Test
    void readsLlama31WithLlama3RopeScaling() {
        LlamaShape s = shape("llama-3.1-8b");
        assertEquals("llama", s.architecture());
        assertEquals(4096, s.hidden());
        assertEquals(32, s.layers());
        assertEquals(8, s.kvHeads());
        assertEquals(128, s.headDim());
        assertEquals(new LlamaShape.Llama3RopeScaling(8.0, 1.0, 4.0, 8192), s.ropeScaling());
        assertFalse(s.tiedEmbeddings());
        assertFalse(s.qkvBias());
    }

    @Test
    void qwenFlavoursAreRecognized() {
        LlamaShape q2 = shape("qwen2.5-0.5b");
        assertTrue(q2.qkvBias());
        assertFalse(q2.qkNorm());
        assertEquals(64, q2.headDim(), "896 / 14 when head_dim is absent");
        LlamaShape q3 = shape("qwen3-0.6b");
        assertTrue(q3.qkNorm());
        assertEquals(128, q3.headDim(), "explicit head_dim, not hidden / heads");
        assertEquals(1_000_000.0, q3.ropeTheta());
    }

    @Test
    void readsTheRealTinyModel() {
        LlamaShape s = LlamaShape.of(ModelConfig.read(SharedData.stories260K()));
        assertEquals(64, s.hidden());
        assertEquals(8, s.headDim());
        assertTrue(s.tiedEmbeddings());
        assertNull(s.ropeScaling());
    }

    private static ModelConfig config(Path dir, String json) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), json);
        return ModelConfig.read(dir);
    }

    private static final String BASE = "\"hidden_size\":8,\"num_attention_heads\":2,\"num_hidden_layers\":1,"
            + "\"intermediate_size\":8,\"vocab_size\":8";

    @Test
    void rejectsWhatTheEmitterCannotRun(@TempDir Path tmp) throws IOException {
        // What no backend can serve is refused by ModelConfig itself.
        assertThrows(ModelLoadException.class, () -> config(tmp.resolve("gpt2"), "{\"model_type\":\"gpt2\"," + BASE + "}"));
        assertThrows(ModelLoadException.class, () -> config(tmp.resolve("yarn"),
                "{\"model_type\":\"llama\"," + BASE + ",\"rope_scaling\":{\"rope_type\":\"yarn\"}}"));
        // What the cpu backend serves but the emitter cannot express yet is refused when the shape is derived.
        ModelConfig oBias = config(tmp.resolve("obias"), "{\"model_type\":\"llama\"," + BASE + ",\"attention_bias\":true}");
        var e = assertThrows(IllegalArgumentException.class, () -> LlamaShape.of(oBias));
        assertTrue(e.getMessage().contains("o_proj"), e.getMessage());
        ModelConfig window = config(tmp.resolve("window"), "{\"model_type\":\"mistral\"," + BASE + ",\"sliding_window\":4}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LlamaShape.of(window)).getMessage().contains("sliding"));
        ModelConfig linear = config(tmp.resolve("linear"),
                "{\"model_type\":\"llama\"," + BASE + ",\"rope_scaling\":{\"rope_type\":\"linear\",\"factor\":2.0}}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LlamaShape.of(linear)).getMessage().contains("linear"));
    }
}
