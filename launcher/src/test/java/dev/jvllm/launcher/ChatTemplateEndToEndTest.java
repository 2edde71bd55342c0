package dev.jvllm.launcher;

import dev.jvllm.common.testing.SharedData;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jvllm.worker.model.RandomModelWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A generated Qwen3-architecture model carrying Qwen3's real tokenizer and chat template: every golden
 * conversation renders to exactly the prompt transformers renders, and chat completions run on it.
 */
class ChatTemplateEndToEndTest {
    static Path modelDir;
    static Deployment server;
    static Http http;
    static JsonNode cases;

    @BeforeAll
    static void start() throws Exception {
        Path qwen3 = SharedData.tokenizers("qwen3");
        modelDir = Files.createTempDirectory("jvllm-qwen3-random");
        RandomModelWriter.builder().architecture("qwen3").hidden(32).layers(2).heads(4).kvHeads(2).headDim(16)
                .intermediate(64).vocab(151669).maxPos(4096).tied(true).qkNorm(true)
                .eosTokenIds(List.of(151645, 151643)).seed(7).write(modelDir);
        Files.copy(qwen3.resolve("tokenizer.json"), modelDir.resolve("tokenizer.json"));
        Files.copy(qwen3.resolve("tokenizer_config.json"), modelDir.resolve("tokenizer_config.json"));
        cases = Http.JSON.readTree(Files.readString(qwen3.resolve("chat_golden.json"))).get("cases");
        server = Deployment.start(ServeCommand.parse("--model", modelDir.toString(), "--served-model-name", "qwen3-random",
                "--port", "0", "--host", "127.0.0.1", "--kv-cache-space", "0.05", "--max-model-len", "1024"));
        http = new Http(server.httpPort());
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    static ObjectNode chatBody(JsonNode c) {
        ObjectNode body = Http.JSON.createObjectNode();
        body.put("model", "qwen3-random");
        body.set("messages", c.get("messages"));
        body.put("add_generation_prompt", c.get("add_generation_prompt").asBoolean());
        if (c.has("tools")) {
            body.set("tools", c.get("tools"));
        }
        if (c.has("kwargs")) {
            body.set("chat_template_kwargs", c.get("kwargs"));
        }
        return body;
    }

    @Test
    void everyGoldenConversationRendersExactly() throws Exception {
        for (JsonNode c : cases) {
            Http.Response chat = http.post("/tokenize", chatBody(c));
            assertEquals(200, chat.status(), chat.raw());
            Http.Response text = http.post("/tokenize", Map.of("prompt", c.get("rendered").asText(), "add_special_tokens", false));
            assertEquals(text.body().get("tokens"), chat.body().get("tokens"), c.get("name").asText());
            Http.Response back = http.post("/detokenize", Map.of("tokens", chat.body().get("tokens")));
            assertEquals(c.get("rendered").asText(), back.body().get("prompt").asText(), c.get("name").asText());
        }
    }

    @Test
    void chatCompletionsRunOnTheRenderedPrompt() throws Exception {
        JsonNode c = cases.get(0);
        Http.Response text = http.post("/tokenize", Map.of("prompt", c.get("rendered").asText(), "add_special_tokens", false));
        ObjectNode body = chatBody(c);
        body.put("max_tokens", 4);
        body.put("temperature", 0);
        body.put("ignore_eos", true);
        Http.Response r = http.post("/v1/chat/completions", body);
        assertEquals(200, r.status(), r.raw());
        assertEquals("chat.completion", r.body().get("object").asText());
        assertEquals("assistant", r.body().get("choices").get(0).get("message").get("role").asText());
        assertEquals(text.body().get("count").asInt(), r.body().get("usage").get("prompt_tokens").asInt());
        assertEquals(4, r.body().get("usage").get("completion_tokens").asInt());

        body.put("stream", true);
        StringBuilder streamed = new StringBuilder();
        for (JsonNode e : http.stream("/v1/chat/completions", body)) {
            for (JsonNode ch : e.get("choices")) {
                if (ch.get("delta").hasNonNull("content")) {
                    streamed.append(ch.get("delta").get("content").asText());
                }
            }
        }
        assertEquals(r.body().get("choices").get(0).get("message").get("content").asText(), streamed.toString());
        assertTrue(streamed.length() > 0);
    }
}
