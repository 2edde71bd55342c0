package dev.jvllm.worker.pjrt;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class LlamaShapeTest {

    static LlamaShape shape(String name) {
        return LlamaShape.fromConfigJson(Path.of("/work/shared/models/shapes", name, "config.json"));
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
        LlamaShape s = LlamaShape.fromConfigJson(Path.of("/work/shared/models/stories260K/config.json"));
        assertEquals(64, s.hidden());
        assertEquals(8, s.headDim());
        assertTrue(s.tiedEmbeddings());
        assertNull(s.ropeScaling());
    }

    @Test
    void rejectsWhatTheEmitterCannotRun(@TempDir Path tmp) throws IOException {
        Path bad = Files.writeString(tmp.resolve("config.json"), "{\"model_type\":\"gpt2\",\"hidden_size\":8}");
        assertThrows(IllegalArgumentException.class, () -> LlamaShape.fromConfigJson(bad));
        Path gqa = Files.writeString(tmp.resolve("c2.json"), "{\"model_type\":\"llama\",\"hidden_size\":12,\"num_attention_heads\":3,"
                + "\"num_key_value_heads\":2,\"num_hidden_layers\":1,\"intermediate_size\":8,\"vocab_size\":8}");
        assertThrows(IllegalArgumentException.class, () -> LlamaShape.fromConfigJson(gqa));
        Path yarn = Files.writeString(tmp.resolve("c3.json"), "{\"model_type\":\"llama\",\"hidden_size\":8,\"num_attention_heads\":2,"
                + "\"num_hidden_layers\":1,\"intermediate_size\":8,\"vocab_size\":8,\"rope_scaling\":{\"rope_type\":\"yarn\"}}");
        assertThrows(IllegalArgumentException.class, () -> LlamaShape.fromConfigJson(yarn));
    }
}
