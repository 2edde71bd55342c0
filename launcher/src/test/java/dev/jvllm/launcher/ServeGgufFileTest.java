package dev.jvllm.launcher;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jvllm.common.testing.GgufWriter;
import dev.jvllm.common.testing.HfToGguf;
import dev.jvllm.common.testing.SharedData;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A single .gguf file (stories260K's weights and its SentencePiece tokenizer, as llama.cpp's converter writes
 * them) served with {@code --model file.gguf} and no {@code --tokenizer}: the golden greedy text comes back.
 */
class ServeGgufFileTest {
    static Path dir;
    static Path gguf;
    static Deployment server;
    static Http http;
    static JsonNode golden;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("jvllm-gguf-serve");
        gguf = dir.resolve("stories260K-f32.gguf");
        writeStoriesGguf(gguf);
        golden = Http.JSON.readTree(Files.readString(SharedData.stories260K().resolve("golden.json")));
        server = Deployment.start(ServeCommand.parse("--model", gguf.toString(),
                "--port", "0", "--host", "127.0.0.1", "--kv-cache-space", "0.05"));
        http = new Http(server.httpPort());
    }

    @AfterAll
    static void stop() throws IOException {
        if (server != null) {
            server.close();
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    @Test
    void completionsFromTheGgufFileAloneReproduceTheGoldenGreedyText() throws Exception {
        for (JsonNode g : golden) {
            Http.Response r = http.post("/v1/completions", Map.of("model", gguf.toString(), "prompt", g.get("prompt").asText(),
                    "max_tokens", 40, "temperature", 0));
            assertEquals(200, r.status(), r.raw());
            assertEquals(g.get("greedy_text").asText(), r.body().get("choices").get(0).get("text").asText(), g.get("prompt").asText());
            assertEquals(g.get("prompt_ids").size(), r.body().get("usage").get("prompt_tokens").asInt(), "BOS added, as the GGUF says");
        }
    }

    @Test
    void theModelIsNamedByItsPathAndLimitedByItsContextLength() throws Exception {
        assertEquals(gguf.toString(), http.get("/v1/models").body().get("data").get(0).get("id").asText());
        // llama.context_length = 512: a longer prompt is refused, as for the HF directory.
        Http.Response tooLong = http.post("/v1/completions", Map.of("prompt", "Once upon a time ".repeat(200), "max_tokens", 4));
        assertEquals(400, tooLong.status(), tooLong.raw());
        assertEquals(true, tooLong.body().get("error").get("message").asText().contains("512"), tooLong.raw());
    }

    // ---------------------------------------------------------------- the GGUF file

    /** llama.cpp's tensor names, and its q/k row permutation (rotary pairs adjacent), for stories260K's config. */
    static void writeStoriesGguf(Path file) throws IOException {
        Path model = SharedData.stories260K();
        JsonNode config = Http.JSON.readTree(Files.readString(model.resolve("config.json")));
        int hidden = config.get("hidden_size").asInt(), heads = config.get("num_attention_heads").asInt();
        int kvHeads = config.get("num_key_value_heads").asInt(), layers = config.get("num_hidden_layers").asInt();
        GgufWriter w = new GgufWriter().meta("general.architecture", "llama").meta("general.name", "stories260K")
                .meta("llama.embedding_length", hidden).meta("llama.block_count", layers)
                .meta("llama.feed_forward_length", config.get("intermediate_size").asInt())
                .meta("llama.attention.head_count", heads).meta("llama.attention.head_count_kv", kvHeads)
                .meta("llama.context_length", config.get("max_position_embeddings").asInt())
                .meta("llama.rope.freq_base", (float) config.get("rope_theta").asDouble())
                .meta("llama.attention.layer_norm_rms_epsilon", (float) config.get("rms_norm_eps").asDouble())
                .meta(HfToGguf.sentencePiece(model))
                .meta("tokenizer.ggml.bos_token_id", config.get("bos_token_id").asInt())
                .meta("tokenizer.ggml.eos_token_id", config.get("eos_token_id").asInt())
                .meta("tokenizer.ggml.unknown_token_id", 0)
                .meta("tokenizer.ggml.add_bos_token", true);
        Map<String, Tensor> st = readSafetensors(model.resolve("model.safetensors"));
        for (Map.Entry<String, Tensor> e : st.entrySet()) {
            String name = e.getKey();
            float[] values = e.getValue().values();
            if (name.endsWith("q_proj.weight")) {
                values = HfToGguf.permuteRotary(values, heads, hidden);
            } else if (name.endsWith("k_proj.weight")) {
                values = HfToGguf.permuteRotary(values, kvHeads, (int) e.getValue().shape()[0]);
            }
            w.f32(HfToGguf.tensorName(name), values, e.getValue().shape());
        }
        w.write(file);
    }

    private record Tensor(long[] shape, float[] values) {}

    private static Map<String, Tensor> readSafetensors(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        int headerLen = (int) b.getLong(0);
        JsonNode header = Http.JSON.readTree(new String(b.array(), 8, headerLen, StandardCharsets.UTF_8));
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : header.properties()) {
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            assertEquals("F32", e.getValue().get("dtype").asText(), e.getKey());
            long[] shape = new long[e.getValue().get("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = e.getValue().get("shape").get(i).asLong();
            }
            int start = 8 + headerLen + e.getValue().get("data_offsets").get(0).asInt();
            float[] values = new float[(e.getValue().get("data_offsets").get(1).asInt()
                    - e.getValue().get("data_offsets").get(0).asInt()) / 4];
            for (int i = 0; i < values.length; i++) {
                values[i] = b.getFloat(start + 4 * i);
            }
            out.put(e.getKey(), new Tensor(shape, values));
        }
        return out;
    }
}
