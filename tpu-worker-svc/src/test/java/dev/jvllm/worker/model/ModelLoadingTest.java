package dev.jvllm.worker.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelLoadingTest {
    @TempDir
    Path tmp;

    private static RandomModelWriter.Builder small() {
        return RandomModelWriter.builder().hidden(16).layers(1).heads(2).kvHeads(1).intermediate(24).vocab(32);
    }

    private Path smallModel(String name) {
        return small().seed(3).write(tmp.resolve(name));
    }

    /** Applies {@code edit} to the bytes of {@code name} in a fresh small model; returns the model. */
    private Path smallModelWithEditedFile(String dirName, String name, java.util.function.UnaryOperator<byte[]> edit)
            throws IOException {
        Path dir = smallModel(dirName);
        Path f = dir.resolve(name);
        Files.write(f, edit.apply(Files.readAllBytes(f)));
        return dir;
    }

    private void assertLoadFails(Path dir, String fileName, String problem) {
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> LlamaWeights.load(dir).close());
        assertTrue(e.getMessage().contains(fileName), "message should name " + fileName + ": " + e.getMessage());
        assertTrue(e.getMessage().contains(problem), "message should say '" + problem + "': " + e.getMessage());
    }

    @Test
    void readsConfigAndGenerationConfig() {
        Path dir = RandomModelWriter.builder().architecture("qwen3").hidden(32).layers(1).heads(4).kvHeads(2)
                .headDim(12).intermediate(24).vocab(40).ropeScalingLlama3(true).eosTokenIds(List.of(7, 9))
                .dtype("bf16").write(tmp.resolve("q3"));
        try (LlamaWeights w = LlamaWeights.load(dir)) {
            ModelConfig c = w.config();
            assertEquals("qwen3", c.architecture());
            assertEquals(12, c.headDim());
            assertEquals(List.of(7, 9), c.eosTokenIds());
            assertEquals("llama3", c.ropeScaling().type());
            assertEquals("bfloat16", c.dtype());
            assertTrue(c.qkNorm());
            assertNotNull(w.layer(0).qNorm());
            assertNull(w.layer(0).bq());
        }
        // Without generation_config.json the EOS id comes from config.json.
        try (LlamaWeights w = LlamaWeights.load(smallModel("plain"))) {
            assertEquals(List.of(2), w.config().eosTokenIds());
        }
    }

    @Test
    void untiedModelWithoutLmHeadIsServedTied() throws IOException {
        Path dir = smallModel("tied");
        try (LlamaWeights w = LlamaWeights.load(dir)) {
            assertTrue(w.lmHead() != w.tokenEmbeddings());
        }
        Path tiedDir = small().tied(true).write(tmp.resolve("t2"));
        try (LlamaWeights w = LlamaWeights.load(tiedDir)) {
            assertTrue(w.lmHead() == w.tokenEmbeddings());
        }
    }

    @Test
    void missingFiles() throws IOException {
        Path dir = smallModel("m1");
        Files.delete(dir.resolve("model.safetensors"));
        assertLoadFails(dir, "model.safetensors", "not found");
        Path dir2 = smallModel("m2");
        Files.delete(dir2.resolve("config.json"));
        assertLoadFails(dir2, "config.json", "not found");
    }

    @Test
    void badConfigJson() throws IOException {
        Path dir = smallModel("c1");
        Files.writeString(dir.resolve("config.json"), "{\"hidden_size\": 16,");
        assertLoadFails(dir, "config.json", "invalid JSON");
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"gpt2\"}");
        assertLoadFails(dir, "config.json", "unsupported model_type");
    }

    @Test
    void corruptHeaderLength() throws IOException {
        Path dir = smallModelWithEditedFile("h1", "model.safetensors", bytes -> {
            ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, bytes.length + 100L);
            return bytes;
        });
        assertLoadFails(dir, "model.safetensors", "header length");
    }

    @Test
    void corruptHeaderJson() throws IOException {
        Path dir = smallModelWithEditedFile("h2", "model.safetensors", bytes -> {
            bytes[8] = 'x';
            return bytes;
        });
        assertLoadFails(dir, "model.safetensors", "not valid JSON");
    }

    @Test
    void truncatedFile() throws IOException {
        Path dir = smallModelWithEditedFile("tr", "model.safetensors",
                bytes -> java.util.Arrays.copyOf(bytes, bytes.length - 10));
        assertLoadFails(dir, "model.safetensors", "outside the file");
    }

    @Test
    void missingTensorAndWrongShape() throws IOException {
        Path dir = smallModel("mt");
        rewriteHeader(dir.resolve("model.safetensors"), h -> h.replace("\"model.norm.weight\"", "\"model.norm.weighX\""));
        assertLoadFails(dir, "model.safetensors", "missing tensor 'model.norm.weight'");
        Path dir2 = smallModel("ws");
        // Same byte size, transposed shape.
        rewriteHeader(dir2.resolve("model.safetensors"), h -> h.replaceFirst("\\[32,16]", "[16,32]"));
        assertLoadFails(dir2, "model.safetensors", "has shape [16, 32], expected [32, 16]");
    }

    @Test
    void shardedModelWithAMissingShard() throws IOException {
        Path dir = RandomModelWriter.builder().hidden(16).layers(2).heads(2).kvHeads(1).intermediate(24).vocab(32)
                .shards(2).write(tmp.resolve("sh"));
        try (LlamaWeights w = LlamaWeights.load(dir)) {
            assertEquals(2, w.config().numLayers());
        }
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        assertLoadFails(dir, "model-00002-of-00002.safetensors", "not found");
    }

    private static void rewriteHeader(Path f, java.util.function.UnaryOperator<String> edit) throws IOException {
        byte[] bytes = Files.readAllBytes(f);
        ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int n = (int) bb.getLong(0);
        String header = new String(bytes, 8, n, StandardCharsets.UTF_8);
        String edited = edit.apply(header);
        assertTrue(!edited.equals(header), "header edit did not apply");
        byte[] h = edited.getBytes(StandardCharsets.UTF_8);
        assertEquals(n, h.length, "test edits must keep the header length");
        System.arraycopy(h, 0, bytes, 8, n);
        Files.write(f, bytes);
    }

    @Test
    void randomModelFromAHuggingFaceConfigKeepsItsShape() throws IOException {
        Path src = tmp.resolve("shape");
        Files.createDirectories(src);
        Files.writeString(src.resolve("config.json"), """
                {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 32, "intermediate_size": 40,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                 "vocab_size": 50, "max_position_embeddings": 128, "rms_norm_eps": 1e-06, "rope_theta": 1000000,
                 "tie_word_embeddings": true, "torch_dtype": "bfloat16", "eos_token_id": [3, 4]}
                """);
        Path dir = RandomModelWriter.fromConfig(src.resolve("config.json")).seed(5).write(tmp.resolve("dummy"));
        try (LlamaWeights w = LlamaWeights.load(dir)) {
            ModelConfig c = w.config();
            assertEquals(List.of("qwen3", 32, 40, 2, 4, 2, 16, 50, 128, 1e6, true, true, "bfloat16"),
                    List.of(c.architecture(), c.hiddenSize(), c.intermediateSize(), c.numLayers(), c.numHeads(),
                            c.numKvHeads(), c.headDim(), c.vocabSize(), c.maxPositionEmbeddings(), c.ropeTheta(),
                            c.tieWordEmbeddings(), c.qkNorm(), c.dtype()));
            assertTrue(w.tokenEmbeddings().bf16());
        }
        // Same seed, same bytes.
        Path again = RandomModelWriter.fromConfig(src.resolve("config.json")).seed(5).write(tmp.resolve("dummy2"));
        assertEquals(-1L, Files.mismatch(dir.resolve("model.safetensors"), again.resolve("model.safetensors")));
    }
}
