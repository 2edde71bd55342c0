package dev.jvllm.launcher;

import dev.jvllm.common.testing.SharedData;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A seeded request gives the same text whatever else is in the batch: alone, beside other requests, and when
 * the KV cache is small enough that its sequences are preempted and recomputed.
 */
class SeededSamplingEndToEndTest {
    static Deployment server;
    static Http http;

    @BeforeAll
    static void start() throws Exception {
        server = Deployment.start(ServeCommand.parse("--model", SharedData.stories260K().toString(),
                "--port", "0", "--host", "127.0.0.1", "--kv-cache-space", "0.05", "--max-num-batched-tokens", "64"));
        http = new Http(server.httpPort());
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    static Map<String, Object> seeded(String prompt, long seed) {
        Map<String, Object> m = new HashMap<>();
        m.put("prompt", prompt);
        m.put("max_tokens", 60);
        m.put("temperature", 1.0);
        m.put("top_p", 0.9);
        m.put("seed", seed);
        m.put("ignore_eos", true);
        m.put("repetition_penalty", 1.1);
        m.put("presence_penalty", 0.2);
        return m;
    }

    static String text(Map<String, Object> body) throws Exception {
        Http.Response r = http.post("/v1/completions", body);
        assertEquals(200, r.status(), r.raw());
        return r.body().get("choices").get(0).get("text").asText();
    }

    @Test
    void sameSeedSameTextWhateverTheBatch() throws Exception {
        Map<String, Object> probe = seeded("Once upon a time", 42);
        String alone = text(probe);
        assertNotEquals(text(seeded("Once upon a time", 43)), alone, "a different seed should change the text");

        List<CompletableFuture<String>> crowd = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            Map<String, Object> other = seeded("The little dog " + i, 1000 + i);
            crowd.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return text(other);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }));
        }
        CompletableFuture<String> inBatch = CompletableFuture.supplyAsync(() -> {
            try {
                return text(probe);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        CompletableFuture.allOf(crowd.toArray(CompletableFuture[]::new)).join();
        assertEquals(alone, inBatch.join());

    }

    @Test
    void seededChoicesSurvivePreemption() throws Exception {
        // n = 6 sequences of 65 tokens admitted together need about 100 blocks of 4; 40 force preemption and recompute.
        Map<String, Object> body = seeded("Once upon a time", 99);
        body.put("n", 6);
        List<String> roomy = new ArrayList<>();
        for (JsonNode c : http.post("/v1/completions", body).body().get("choices")) {
            roomy.add(c.get("text").asText());
        }
        try (Deployment tight = Deployment.start(ServeCommand.parse("--model", SharedData.stories260K().toString(),
                "--port", "0", "--host", "127.0.0.1", "--block-size", "4", "--num-gpu-blocks-override", "40",
                "--max-model-len", "160"))) {
            Http.Response r = new Http(tight.httpPort()).post("/v1/completions", body);
            assertEquals(200, r.status(), r.raw());
            List<String> squeezed = new ArrayList<>();
            for (JsonNode c : r.body().get("choices")) {
                squeezed.add(c.get("text").asText());
            }
            assertEquals(roomy, squeezed);
            dev.jvllm.proto.EngineStats stats = dev.jvllm.proto.EngineGrpc.newBlockingStub(tight.frontChannel())
                    .getStats(dev.jvllm.proto.StatsRequest.getDefaultInstance());
            assertTrue(stats.getNumPreemptions() > 0, "40 blocks were meant to force preemption: " + stats);
        }
    }

    @Test
    void streamedSeededTextEqualsNonStreamed() throws Exception {
        Map<String, Object> body = seeded("Lily and Tom went to the park", 7);
        String full = text(body);
        body.put("stream", true);
        StringBuilder streamed = new StringBuilder();
        for (JsonNode e : http.stream("/v1/completions", body)) {
            for (JsonNode c : e.get("choices")) {
                streamed.append(c.get("text").asText());
            }
        }
        assertEquals(full, streamed.toString());
    }
}
