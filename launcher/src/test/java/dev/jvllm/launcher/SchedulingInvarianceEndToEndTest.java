package dev.jvllm.launcher;

import dev.jvllm.common.testing.SharedData;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.StatsRequest;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * With the real stories260K model, greedy output does not depend on how the scheduler batches: prefix caching
 * on or off, chunked prefill at budgets 16, 64 and 2048, and preemption forced by a tiny KV cache all give the
 * golden text for every prompt, run concurrently. Each request asks for n = 3 greedy choices, which all equal the
 * golden text and are admitted together, so a small KV cache forces preemption whatever the timing.
 */
class SchedulingInvarianceEndToEndTest {
    static JsonNode golden;

    @BeforeAll
    static void readGolden() throws Exception {
        golden = Http.JSON.readTree(Files.readString(SharedData.stories260K().resolve("golden.json")));
    }

    /** Runs every golden prompt twice, all at once, against a server started with {@code flags}; returns its stats. */
    static EngineStats runGoldenConcurrently(String... flags) throws Exception {
        List<String> args = new ArrayList<>(List.of("--model", SharedData.stories260K().toString(),
                "--port", "0", "--host", "127.0.0.1", "--kv-cache-space", "0.05"));
        args.addAll(List.of(flags));
        try (Deployment server = Deployment.start(ServeCommand.parse(args.toArray(String[]::new)))) {
            Http http = new Http(server.httpPort());
            List<CompletableFuture<Void>> all = new ArrayList<>();
            for (int copy = 0; copy < 2; copy++) {
                for (JsonNode g : golden) {
                    all.add(CompletableFuture.runAsync(() -> {
                        try {
                            Http.Response r = http.post("/v1/completions", Map.of("prompt", g.get("prompt").asText(),
                                    "max_tokens", 40, "temperature", 0, "n", 3));
                            assertEquals(200, r.status(), r.raw());
                            assertEquals(3, r.body().get("choices").size(), r.raw());
                            for (JsonNode choice : r.body().get("choices")) {
                                assertEquals(g.get("greedy_text").asText(), choice.get("text").asText(),
                                        String.join(" ", flags) + ": " + g.get("prompt"));
                            }
                        } catch (Exception e) {
                            throw new RuntimeException(e);
                        }
                    }));
                }
            }
            CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).join();
            return EngineGrpc.newBlockingStub(server.frontChannel()).getStats(StatsRequest.getDefaultInstance());
        }
    }

    @Test
    void prefixCachingOnAndOff() throws Exception {
        EngineStats on = runGoldenConcurrently("--enable-prefix-caching");
        EngineStats off = runGoldenConcurrently("--no-enable-prefix-caching");
        assertEquals(0, off.getPrefixCacheHits(), off.toString());
        assertTrue(on.getPrefixCacheQueries() > 0, on.toString());
    }

    @Test
    void chunkedPrefillBudgets() throws Exception {
        for (String budget : List.of("16", "64", "2048")) {
            runGoldenConcurrently("--max-num-batched-tokens", budget, "--max-num-seqs", "16");
        }
    }

    @Test
    void preemptionForcedByATinyKvCache() throws Exception {
        // One request's 3 sequences of up to 52 tokens need about 36 blocks of 4; 30 blocks force preemption.
        EngineStats stats = runGoldenConcurrently("--block-size", "4", "--num-gpu-blocks-override", "30",
                "--max-model-len", "120");
        assertTrue(stats.getNumPreemptions() > 0, stats.toString());
    }

    @Test
    void startupFailsWhenNoMaxLengthSequenceFits() {
        RuntimeException e = assertThrows(RuntimeException.class, () -> Deployment.start(ServeCommand.parse(
                "--model", SharedData.stories260K().toString(), "--port", "0", "--host", "127.0.0.1",
                "--num-gpu-blocks-override", "8")).close());
        assertTrue(e.getMessage().contains("max model length"), e.getMessage());
    }
}
