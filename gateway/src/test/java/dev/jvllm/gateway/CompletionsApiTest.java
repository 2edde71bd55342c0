package dev.jvllm.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;

import static dev.jvllm.gateway.GatewayHarness.json;
import static dev.jvllm.gateway.GatewayHarness.sse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Response shapes of /v1/completions and /v1/chat/completions against fake tokenizer/engine services. */
class CompletionsApiTest {
    static GatewayHarness h;
    static final String OUT = "Hello, world. Bye";

    @BeforeAll
    static void start() throws Exception {
        h = new GatewayHarness(GatewayHarness.options());
    }

    @AfterAll
    static void stop() {
        h.close();
    }

    @BeforeEach
    void reset() {
        h.engine.reset();
    }

    @Test
    void completionShape() throws Exception {
        HttpResponse<String> r = h.post("/v1/completions", "{\"model\":\"fake\",\"prompt\":\"Hi\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("content-type").orElseThrow().startsWith("application/json"));
        JsonNode j = json(r);
        assertTrue(j.get("id").asText().startsWith("cmpl-"));
        assertEquals("text_completion", j.get("object").asText());
        assertEquals("fake", j.get("model").asText());
        assertTrue(j.get("created").asLong() > 1_600_000_000L);
        JsonNode c = j.get("choices").get(0);
        assertEquals(0, c.get("index").asInt());
        assertEquals(OUT, c.get("text").asText());
        assertTrue(c.get("logprobs").isNull());
        assertEquals("stop", c.get("finish_reason").asText());
        assertTrue(c.get("stop_reason").isNull(), "EOS gives a null stop_reason");
        assertEquals(3, j.at("/usage/prompt_tokens").asInt()); // BOS + "Hi"
        assertEquals(OUT.length() + 1, j.at("/usage/completion_tokens").asInt()); // + EOS
        assertEquals(3 + OUT.length() + 1, j.at("/usage/total_tokens").asInt());
        // The engine got the prompt ids and the defaults.
        var req = h.engine.requests.peek();
        assertEquals(List.of(1, (int) 'H', (int) 'i'), req.getPromptTokenIdsList());
        assertFalse(req.getSampling().hasTemperature());
    }

    @Test
    void samplingParamsReachTheEngine() throws Exception {
        HttpResponse<String> r = h.post("/v1/completions", """
                {"prompt":"Hi","max_tokens":4,"temperature":0.5,"top_p":0.9,"top_k":7,"min_p":0.1,"seed":42,
                 "presence_penalty":0.5,"frequency_penalty":-0.5,"repetition_penalty":1.2,"min_tokens":2,
                 "logit_bias":{"65":-100,"66":5.5},"allowed_token_ids":[65,66,67],"stop_token_ids":[3],
                 "ignore_eos":true,"priority":3,"cache_salt":"tenant-a","bad_words":["ab"],"user":"u1"}""");
        assertEquals(200, r.statusCode(), r.body());
        var req = h.engine.requests.peek();
        var sp = req.getSampling();
        assertEquals(4, sp.getMaxTokens());
        assertEquals(0.5f, sp.getTemperature());
        assertEquals(0.9f, sp.getTopP());
        assertEquals(7, sp.getTopK());
        assertEquals(0.1f, sp.getMinP(), 1e-6);
        assertEquals(42L, sp.getSeed());
        assertEquals(1.2f, sp.getRepetitionPenalty(), 1e-6);
        assertEquals(2, sp.getMinTokens());
        assertEquals(-100f, sp.getLogitBiasMap().get(65));
        assertEquals(5.5f, sp.getLogitBiasMap().get(66));
        assertEquals(List.of(65, 66, 67), sp.getAllowedTokenIdsList());
        assertEquals(List.of(3), sp.getStopTokenIdsList());
        assertTrue(sp.getIgnoreEos());
        assertEquals(3, req.getPriority());
        assertEquals("tenant-a", req.getCacheSalt());
        // "ab" without special tokens; " ab" tokenizes longer here, so vLLM's rule leaves it out.
        assertEquals(1, sp.getBadWordsIdsCount());
        assertEquals(List.of((int) 'a', (int) 'b'), sp.getBadWordsIds(0).getIdsList());
    }

    @Test
    void maxTokensGivesLength() throws Exception {
        JsonNode j = json(h.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":5}"));
        assertEquals("Hello", j.at("/choices/0/text").asText());
        assertEquals("length", j.at("/choices/0/finish_reason").asText());
        assertEquals(5, j.at("/usage/completion_tokens").asInt());
        assertEquals("fake", j.get("model").asText(), "primary served name when model is omitted");
    }

    @Test
    void nAndBatchedPromptsArePromptMajor() throws Exception {
        JsonNode j = json(h.post("/v1/completions", "{\"prompt\":[\"Hi\",\"Yo!\"],\"n\":2}"));
        JsonNode cs = j.get("choices");
        assertEquals(4, cs.size());
        for (int i = 0; i < 4; i++) {
            assertEquals(i, cs.get(i).get("index").asInt());
            assertEquals(i % 2 == 0 ? OUT : "#1 " + OUT, cs.get(i).get("text").asText());
        }
        assertEquals(3 + 4, j.at("/usage/prompt_tokens").asInt());
        assertEquals(2 * ((OUT.length() + 1) + (OUT.length() + 4)), j.at("/usage/completion_tokens").asInt());
        assertEquals(2, h.engine.requests.size());
    }

    @Test
    void tokenIdPrompts() throws Exception {
        JsonNode j = json(h.post("/v1/completions", "{\"prompt\":[[1,72,105],[1,89]],\"max_tokens\":2,\"echo\":true}"));
        assertEquals("<s>HiHe", j.at("/choices/0/text").asText());
        assertEquals("<s>YHe", j.at("/choices/1/text").asText());
        JsonNode single = json(h.post("/v1/completions", "{\"prompt\":[72,105],\"max_tokens\":1}"));
        assertEquals("H", single.at("/choices/0/text").asText());
        assertEquals(2, single.at("/usage/prompt_tokens").asInt());
    }

    @Test
    void stopStringSpanningTokens() throws Exception {
        JsonNode j = json(h.post("/v1/completions", "{\"prompt\":\"Hi\",\"stop\":[\"zzz\",\"o, w\"]}"));
        JsonNode c = j.at("/choices/0");
        assertEquals("Hell", c.get("text").asText());
        assertEquals("stop", c.get("finish_reason").asText());
        assertEquals("o, w", c.get("stop_reason").asText());
        assertEquals(8, j.at("/usage/completion_tokens").asInt(), "tokens up to the one completing the stop string");

        JsonNode inc = json(h.post("/v1/completions",
                "{\"prompt\":\"Hi\",\"stop\":\"o, w\",\"include_stop_str_in_output\":true}"));
        assertEquals("Hello, w", inc.at("/choices/0/text").asText());
        assertEquals("o, w", inc.at("/choices/0/stop_reason").asText());

        // vLLM: the text of the first min_tokens tokens is not searched.
        assertEquals("He", json(h.post("/v1/completions", "{\"prompt\":\"Hi\",\"stop\":\"l\"}")).at("/choices/0/text").asText());
        assertEquals("Hel", json(h.post("/v1/completions", "{\"prompt\":\"Hi\",\"stop\":\"l\",\"min_tokens\":3}"))
                .at("/choices/0/text").asText());
    }

    @Test
    void stopStringWhileStreaming() throws Exception {
        for (boolean include : new boolean[]{false, true}) {
            HttpResponse<String> r = h.post("/v1/completions", "{\"prompt\":\"Hi\",\"stream\":true,\"stop\":[\". B\",\"wor\"],"
                    + "\"include_stop_str_in_output\":" + include + "}");
            List<JsonNode> events = sse(r.body());
            StringBuilder text = new StringBuilder();
            for (JsonNode e : events) text.append(e.at("/choices/0/text").asText());
            assertEquals(include ? "Hello, wor" : "Hello, ", text.toString());
            JsonNode last = events.getLast().at("/choices/0");
            assertEquals("stop", last.get("finish_reason").asText());
            assertEquals("wor", last.get("stop_reason").asText());
            for (int i = 0; i < events.size() - 1; i++) {
                assertTrue(events.get(i).at("/choices/0/finish_reason").isNull());
            }
        }
    }

    @Test
    void severalTokensPerEngineMessage() throws Exception {
        h.engine.tokensPerStep = 3;
        JsonNode j = json(h.post("/v1/completions", "{\"prompt\":\"Hi\",\"stop\":\"o, w\",\"logprobs\":1,\"n\":2}"));
        assertEquals("Hell", j.at("/choices/0/text").asText());
        assertEquals(List.of("H", "e", "l", "l", "o", ",", " ", "w"), strings(j.at("/choices/0/logprobs/tokens")));
        assertEquals("#1 Hell", j.at("/choices/1/text").asText());
        HttpResponse<String> r = h.post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                + "\"stream\":true,\"stop\":[\"Bye\"]}");
        StringBuilder text = new StringBuilder();
        for (JsonNode e : sse(r.body())) text.append(e.at("/choices/0/delta/content").asText());
        assertEquals("Hello, world. ", text.toString());
    }

    @Test
    void concurrentRequestsDoNotMix() throws Exception {
        List<java.util.concurrent.CompletableFuture<HttpResponse<String>>> futures = new ArrayList<>();
        for (int i = 1; i <= 16; i++) {
            String body = "{\"prompt\":\"Hi\",\"max_tokens\":" + i + ",\"stream\":" + (i % 2 == 0) + "}";
            futures.add(h.http.sendAsync(java.net.http.HttpRequest.newBuilder(h.uri("/v1/completions"))
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
        for (int i = 1; i <= 16; i++) {
            String body = futures.get(i - 1).get(30, java.util.concurrent.TimeUnit.SECONDS).body();
            String text;
            if (i % 2 == 0) {
                StringBuilder sb = new StringBuilder();
                for (JsonNode e : sse(body)) sb.append(e.at("/choices/0/text").asText());
                text = sb.toString();
            } else {
                text = GatewayHarness.JSON.readTree(body).at("/choices/0/text").asText();
            }
            assertEquals(OUT.substring(0, i), text);
        }
    }

    @Test
    void stopTokenIds() throws Exception {
        JsonNode j = json(h.post("/v1/completions", "{\"prompt\":\"Hi\",\"stop_token_ids\":[119]}"));
        assertEquals("Hello, ", j.at("/choices/0/text").asText());
        assertEquals(119, j.at("/choices/0/stop_reason").asInt());
        assertEquals(8, j.at("/usage/completion_tokens").asInt());
        JsonNode inc = json(h.post("/v1/completions",
                "{\"prompt\":\"Hi\",\"stop_token_ids\":[119],\"include_stop_str_in_output\":true}"));
        assertEquals("Hello, w", inc.at("/choices/0/text").asText());
    }

    @Test
    void streamingCompletionChunksAndUsage() throws Exception {
        HttpResponse<String> r = h.post("/v1/completions",
                "{\"prompt\":\"Hi\",\"stream\":true,\"n\":2,\"stream_options\":{\"include_usage\":true}}");
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("content-type").orElseThrow().startsWith("text/event-stream"));
        List<JsonNode> events = sse(r.body());
        StringBuilder[] texts = {new StringBuilder(), new StringBuilder()};
        String[] finish = new String[2];
        String id = events.getFirst().get("id").asText();
        for (JsonNode e : events.subList(0, events.size() - 1)) {
            assertEquals(id, e.get("id").asText());
            assertEquals("text_completion", e.get("object").asText());
            JsonNode c = e.at("/choices/0");
            int idx = c.get("index").asInt();
            texts[idx].append(c.get("text").asText());
            if (!c.get("finish_reason").isNull()) finish[idx] = c.get("finish_reason").asText();
            assertFalse(e.has("usage"));
        }
        assertEquals(OUT, texts[0].toString());
        assertEquals("#1 " + OUT, texts[1].toString());
        assertEquals("stop", finish[0]);
        assertEquals("stop", finish[1]);
        JsonNode usage = events.getLast();
        assertEquals(0, usage.get("choices").size());
        assertEquals(3, usage.at("/usage/prompt_tokens").asInt());
        assertEquals(2 * OUT.length() + 3 + 2, usage.at("/usage/completion_tokens").asInt());
    }

    @Test
    void continuousUsageStats() throws Exception {
        HttpResponse<String> r = h.post("/v1/completions", "{\"prompt\":\"Hi\",\"stream\":true,\"max_tokens\":4,"
                + "\"stream_options\":{\"include_usage\":true,\"continuous_usage_stats\":true}}");
        List<JsonNode> events = sse(r.body());
        int previous = 0;
        for (JsonNode e : events) {
            int completion = e.at("/usage/completion_tokens").asInt();
            assertTrue(completion >= previous);
            previous = completion;
            assertEquals(3 + completion, e.at("/usage/total_tokens").asInt());
        }
        assertEquals(4, previous);
    }

    @Test
    void completionLogprobs() throws Exception {
        JsonNode j = json(h.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":3,\"logprobs\":2}"));
        JsonNode lp = j.at("/choices/0/logprobs");
        assertEquals(List.of("H", "e", "l"), strings(lp.get("tokens")));
        assertEquals(3, lp.get("token_logprobs").size());
        assertEquals(-0.25, lp.get("token_logprobs").get(0).asDouble(), 1e-6);
        JsonNode top0 = lp.get("top_logprobs").get(0);
        assertEquals(2, top0.size());
        assertEquals(-0.25, top0.get("H").asDouble(), 1e-6);
        assertEquals(-2.0, top0.get("b").asDouble(), 1e-6);
        assertEquals(List.of(0, 1, 2), ints(lp.get("text_offset")));
        assertEquals(2, h.engine.requests.peek().getSampling().getLogprobs());
    }

    @Test
    void echoWithLogprobsIncludesPromptTokens() throws Exception {
        JsonNode j = json(h.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":2,\"logprobs\":1,\"echo\":true}"));
        JsonNode c = j.at("/choices/0");
        assertEquals("HiHe", c.get("text").asText());
        JsonNode lp = c.get("logprobs");
        assertEquals(List.of("<s>", "H", "i", "H", "e"), strings(lp.get("tokens")));
        assertTrue(lp.get("token_logprobs").get(0).isNull());
        assertTrue(lp.get("top_logprobs").get(0).isNull());
        assertEquals(-0.25, lp.get("token_logprobs").get(1).asDouble(), 1e-6);
        assertEquals(List.of(0, 0, 1, 2, 3), ints(lp.get("text_offset")));
    }

    @Test
    void promptLogprobs() throws Exception {
        JsonNode j = json(h.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":1,\"prompt_logprobs\":1}"));
        JsonNode plp = j.at("/choices/0/prompt_logprobs");
        assertEquals(3, plp.size());
        assertTrue(plp.get(0).isNull());
        assertEquals("H", plp.get(1).get("72").get("decoded_token").asText());
        assertEquals(1, plp.get(1).get("72").get("rank").asInt());
    }

    @Test
    void tokensAsTokenIds() throws Exception {
        JsonNode j = json(h.post("/v1/completions",
                "{\"prompt\":\"Hi\",\"max_tokens\":2,\"logprobs\":0,\"return_tokens_as_token_ids\":true}"));
        assertEquals(List.of("token_id:72", "token_id:101"), strings(j.at("/choices/0/logprobs/tokens")));
    }

    @Test
    void chatCompletion() throws Exception {
        HttpResponse<String> r = h.post("/v1/chat/completions",
                "{\"model\":\"fake-alias\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode j = json(r);
        assertTrue(j.get("id").asText().startsWith("chatcmpl-"));
        assertEquals("chat.completion", j.get("object").asText());
        assertEquals("fake-alias", j.get("model").asText());
        JsonNode c = j.at("/choices/0");
        assertEquals("assistant", c.at("/message/role").asText());
        assertEquals(OUT, c.at("/message/content").asText());
        assertEquals("stop", c.get("finish_reason").asText());
        assertEquals("user: Hi\nassistant: ".length(), j.at("/usage/prompt_tokens").asInt());
    }

    @Test
    void chatStreaming() throws Exception {
        HttpResponse<String> r = h.post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":"
                + "[{\"type\":\"text\",\"text\":\"Hi\"}]}],\"stream\":true,\"max_completion_tokens\":5}");
        List<JsonNode> events = sse(r.body());
        assertEquals("assistant", events.getFirst().at("/choices/0/delta/role").asText());
        StringBuilder text = new StringBuilder();
        for (JsonNode e : events) {
            assertEquals("chat.completion.chunk", e.get("object").asText());
            text.append(e.at("/choices/0/delta/content").asText());
        }
        assertEquals("Hello", text.toString());
        assertEquals("length", events.getLast().at("/choices/0/finish_reason").asText());
    }

    @Test
    void chatLogprobs() throws Exception {
        JsonNode j = json(h.post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                + "\"max_tokens\":2,\"logprobs\":true,\"top_logprobs\":2}"));
        JsonNode content = j.at("/choices/0/logprobs/content");
        assertEquals(2, content.size());
        JsonNode first = content.get(0);
        assertEquals("H", first.get("token").asText());
        assertEquals(-0.25, first.get("logprob").asDouble(), 1e-6);
        assertEquals(List.of(72), ints(first.get("bytes")));
        assertEquals(2, first.get("top_logprobs").size());
        assertEquals("b", first.at("/top_logprobs/1/token").asText());
    }

    @Test
    void chatTemplateFailureIs400WithTokenizerMessage() throws Exception {
        HttpResponse<String> r = h.post("/v1/chat/completions",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"chat_template\":\"broken\"}");
        assertEquals(400, r.statusCode());
        assertTrue(json(r).at("/error/message").asText().contains("chat template failed to render"));
    }

    @Test
    void contextLengthOverflow() throws Exception {
        HttpResponse<String> r = h.post("/v1/completions", "{\"prompt\":\"" + "a".repeat(40) + "\",\"max_tokens\":30}");
        assertEquals(400, r.statusCode());
        assertEquals("This model's maximum context length is 64 tokens. However, you requested 71 tokens (41 in the "
                + "messages, 30 in the completion). Please reduce the length of the messages or completion.",
                json(r).at("/error/message").asText());
        HttpResponse<String> tooLong = h.post("/v1/completions", "{\"prompt\":\"" + "a".repeat(70) + "\"}");
        assertEquals(400, tooLong.statusCode());
        assertTrue(h.engine.requests.isEmpty(), "nothing reaches the engine");
    }

    private static List<String> strings(JsonNode arr) {
        List<String> out = new ArrayList<>();
        arr.forEach(n -> out.add(n.asText()));
        return out;
    }

    private static List<Integer> ints(JsonNode arr) {
        List<Integer> out = new ArrayList<>();
        arr.forEach(n -> out.add(n.asInt()));
        return out;
    }
}
