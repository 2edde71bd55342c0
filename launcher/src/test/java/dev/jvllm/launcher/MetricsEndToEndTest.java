package dev.jvllm.launcher;

import dev.jvllm.common.testing.SharedData;
import dev.jvllm.common.metrics.PrometheusTextParser;
import dev.jvllm.common.metrics.VllmMetricNames;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * /metrics while a saturating load runs and after it: vLLM's families (names, types, labels, buckets) parsed with a
 * strict exposition parser; waiting and KV usage above 0 and counters rising under load; gauges back to 0 afterwards,
 * including after requests aborted by disconnecting clients.
 */
class MetricsEndToEndTest {
    private static final long HANG_GUARD_SECONDS = 120; // only to fail instead of hanging; no timing claim
    private static final String MODEL = "stories";
    private static final Map<String, String> LABEL = Map.of("model_name", MODEL);
    static Deployment server;
    static Http http;
    static int maxModelLen;

    @BeforeAll
    static void start() throws Exception {
        // Two sequences at a time: a handful of concurrent clients is enough to make requests wait.
        server = Deployment.start(ServeCommand.parse("--model", SharedData.stories260K().toString(), "--port", "0",
                "--host", "127.0.0.1", "--kv-cache-space", "0.05", "--served-model-name", MODEL, "--max-num-seqs", "2"));
        http = new Http(server.httpPort());
        maxModelLen = http.get("/v1/models").body().get("data").get(0).get("max_model_len").asInt();
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
    }

    static Map<String, PrometheusTextParser.Family> scrape() throws Exception {
        Http.Response r = http.get("/metrics");
        assertEquals(200, r.status(), r.raw());
        return PrometheusTextParser.parse(r.raw());
    }

    static double value(Map<String, PrometheusTextParser.Family> f, String name) {
        return f.get(name).value(LABEL);
    }

    static Map<String, PrometheusTextParser.Family> scrapeUntil(String what, Predicate<Map<String, PrometheusTextParser.Family>> p)
            throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(HANG_GUARD_SECONDS);
        while (true) {
            Map<String, PrometheusTextParser.Family> f = scrape();
            if (p.test(f)) return f;
            if (System.nanoTime() > deadline) throw new AssertionError("gave up waiting for " + what);
            Thread.sleep(5);
        }
    }

    @Test
    void scrapedDuringAndAfterASaturatingLoad() throws Exception {
        Map<String, PrometheusTextParser.Family> idle = scrape();
        VllmMetricNames.assertConforms(idle, MODEL, maxModelLen);

        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger completed = new AtomicInteger();
        ExecutorService clients = Executors.newFixedThreadPool(6);
        List<Future<?>> load = new ArrayList<>();
        for (int c = 0; c < 6; c++) {
            int client = c;
            load.add(clients.submit(() -> {
                for (int i = 0; !stop.get(); i++) {
                    Http.Response r = http.post("/v1/completions", Map.of("model", MODEL, "prompt", "Once upon a time " + client + " " + i,
                            "max_tokens", 64, "temperature", 0, "ignore_eos", true));
                    assertEquals(200, r.status(), r.raw());
                    completed.incrementAndGet();
                }
                return null;
            }));
        }
        try {
            Map<String, PrometheusTextParser.Family> busy = scrapeUntil("requests waiting and KV cache in use",
                    f -> value(f, "vllm:num_requests_waiting") > 0 && value(f, "vllm:kv_cache_usage_perc") > 0
                            && value(f, "vllm:generation_tokens_total") > value(idle, "vllm:generation_tokens_total"));
            VllmMetricNames.assertConforms(busy, MODEL, maxModelLen);
            assertTrue(value(busy, "vllm:num_requests_running") > 0);
            assertEquals(value(busy, "vllm:kv_cache_usage_perc"), value(busy, "vllm:gpu_cache_usage_perc"));
            // Counters keep rising while the load runs.
            scrapeUntil("counters rising under load", f ->
                    value(f, "vllm:generation_tokens_total") > value(busy, "vllm:generation_tokens_total")
                            && value(f, "vllm:prompt_tokens_total") > value(busy, "vllm:prompt_tokens_total")
                            && value(f, "vllm:avg_generation_throughput_toks_per_s") > 0);
        } finally {
            stop.set(true);
            for (Future<?> f : load) f.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS);
            clients.shutdown();
        }

        // Clients that go away mid-stream: their requests are aborted.
        List<Socket> dropped = new ArrayList<>();
        for (int i = 0; i < 4; i++) dropped.add(startStreamAndReadSome("A story number " + i));
        for (Socket s : dropped) s.close();

        Map<String, PrometheusTextParser.Family> after = scrapeUntil("gauges back to 0", f ->
                value(f, "vllm:num_requests_running") == 0 && value(f, "vllm:num_requests_waiting") == 0
                        && value(f, "vllm:kv_cache_usage_perc") == 0);
        VllmMetricNames.assertConforms(after, MODEL, maxModelLen);
        assertEquals(0, value(after, "vllm:gpu_cache_usage_perc"));
        double finishedByLength = after.get("vllm:request_success_total").value(Map.of("model_name", MODEL, "finished_reason", "length"));
        assertTrue(finishedByLength - idle.get("vllm:request_success_total")
                .value(Map.of("model_name", MODEL, "finished_reason", "length")) >= completed.get());
        double e2e = after.get("vllm:e2e_request_latency_seconds").series("_count", LABEL).getFirst().value();
        assertTrue(e2e >= completed.get(), "e2e histogram counted " + e2e + " of " + completed.get());
        assertTrue(after.get("vllm:iteration_tokens_total").series("_count", LABEL).getFirst().value() > 0);
        assertTrue(after.get("vllm:request_queue_time_seconds").series("_count", LABEL).getFirst().value() >= completed.get());
        // The process's own metrics, from the same scrape.
        assertEquals("counter", after.get("grpc_client_handled_total").type());
        assertEquals("counter", after.get("grpc_server_handled_total").type());
        assertEquals("gauge", after.get("jvm_memory_used_bytes").type());

        // The throughput gauges fall back to 0 once idle for the averaging window; waiting that long would slow the
        // suite, so that part is covered by VllmMetricsTest in common.
    }

    /** A streaming completion over a raw socket, read until the first event arrives. */
    private static Socket startStreamAndReadSome(String prompt) throws Exception {
        Socket s = new Socket("127.0.0.1", server.httpPort());
        String body = Http.JSON.writeValueAsString(Map.of("model", MODEL, "prompt", prompt, "max_tokens", 200,
                "ignore_eos", true, "stream", true));
        OutputStream out = s.getOutputStream();
        out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
        out.flush();
        InputStream in = s.getInputStream();
        StringBuilder seen = new StringBuilder();
        while (!seen.toString().contains("data: ")) {
            int b = in.read();
            if (b < 0) break;
            seen.append((char) b);
        }
        return s;
    }
}
