package dev.jvllm.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import io.grpc.Status;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.jvllm.gateway.GatewayHarness.json;
import static dev.jvllm.gateway.GatewayHarness.sse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Server behaviour: auth, limits, request ids, disconnects, back-pressure, upstream failures, small endpoints. */
class GatewayServerTest {
    static GatewayHarness h;

    @BeforeAll
    static void start() throws Exception {
        h = new GatewayHarness(GatewayHarness.options().withMaxRequestBodyBytes(1024));
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
    void apiKeyRequiredOnV1Only() throws Exception {
        try (GatewayHarness secured = new GatewayHarness(GatewayHarness.options().withApiKey("sk-test"))) {
            String body = "{\"prompt\":\"Hi\",\"max_tokens\":1}";
            HttpResponse<String> none = secured.post("/v1/completions", body);
            assertEquals(401, none.statusCode());
            assertEquals("AuthenticationError", json(none).at("/error/type").asText());
            assertEquals(401, json(none).at("/error/code").asInt());
            assertEquals(401, secured.post("/v1/completions", body, "Authorization", "Bearer sk-wrong").statusCode());
            assertEquals(401, secured.get("/v1/models", "Authorization", "sk-test").statusCode());
            assertEquals(200, secured.post("/v1/completions", body, "Authorization", "Bearer sk-test").statusCode());
            assertEquals(200, secured.get("/v1/models", "Authorization", "Bearer sk-test").statusCode());
            assertEquals(200, secured.get("/health").statusCode(), "health needs no key");
        }
    }

    @Test
    void bodyTooLargeIs413() throws Exception {
        String big = "{\"prompt\":\"" + "a".repeat(2000) + "\"}";
        HttpResponse<String> r = h.post("/v1/completions", big, "X-Request-Id", "big-1");
        assertEquals(413, r.statusCode());
        assertEquals(413, json(r).at("/error/code").asInt());
        assertEquals("big-1", r.headers().firstValue("X-Request-Id").orElseThrow());
        assertEquals(200, h.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":1}").statusCode());
        // With "Expect: 100-continue" the refusal comes before the body is sent.
        try (Socket s = new Socket("127.0.0.1", h.port)) {
            s.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Expect: 100-continue\r\nX-Request-Id: big-2\r\nContent-Length: 5000\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            String head = readUntil(s.getInputStream(), "\r\n\r\n");
            assertTrue(head.startsWith("HTTP/1.1 413"), head);
            assertTrue(head.contains("X-Request-Id: big-2") || head.contains("x-request-id: big-2"), head);
        }
    }

    @Test
    void requestIdIsEchoedOrGenerated() throws Exception {
        HttpResponse<String> r = h.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":1}", "X-Request-Id", "abc-123");
        assertEquals("abc-123", r.headers().firstValue("X-Request-Id").orElseThrow());
        assertEquals("cmpl-abc-123", json(r).get("id").asText());
        assertTrue(h.engine.requests.peek().getRequestId().startsWith("cmpl-abc-123"));
        HttpResponse<String> err = h.post("/v1/completions", "{}", "X-Request-Id", "e-1");
        assertEquals("e-1", err.headers().firstValue("X-Request-Id").orElseThrow());
        HttpResponse<String> stream = h.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":1,\"stream\":true}",
                "X-Request-Id", "s-1");
        assertEquals("s-1", stream.headers().firstValue("X-Request-Id").orElseThrow());
        String generated = h.get("/version").headers().firstValue("X-Request-Id").orElseThrow();
        assertFalse(generated.isBlank());
        assertFalse(generated.equals(h.get("/version").headers().firstValue("X-Request-Id").orElseThrow()));
    }

    @Test
    void disconnectMidStreamCancelsTheEngineCall() throws Exception {
        h.engine.endless.set(true);
        try (Socket s = new Socket("127.0.0.1", h.port)) {
            send(s, "/v1/completions", "{\"prompt\":\"Hi\",\"stream\":true}");
            readUntil(s.getInputStream(), "data: ");
        }
        assertTrue(h.engine.cancelled.await(10, TimeUnit.SECONDS), "engine saw the cancellation");
    }

    @Test
    void disconnectBeforeNonStreamingResponseCancels() throws Exception {
        h.engine.endless.set(true);
        try (Socket s = new Socket("127.0.0.1", h.port)) {
            send(s, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
            assertTrue(h.engine.started.await(10, TimeUnit.SECONDS));
        }
        assertTrue(h.engine.cancelled.await(10, TimeUnit.SECONDS), "engine saw the cancellation");
    }

    @Test
    void slowReaderStallsTheEngineStream() throws Exception {
        h.engine.endless.set(true);
        try (Socket s = new Socket()) {
            s.setReceiveBufferSize(4096);
            s.connect(new InetSocketAddress("127.0.0.1", h.port));
            send(s, "/v1/completions", "{\"prompt\":\"Hi\",\"stream\":true}");
            // Never read: production must stop once the socket and Netty's buffers are full.
            long last = -1;
            int stable = 0;
            for (int i = 0; i < 200 && stable < 5; i++) {
                Thread.sleep(100);
                long now = h.engine.produced.get();
                stable = now == last ? stable + 1 : 0;
                last = now;
            }
            assertEquals(5, stable, "engine kept producing for a client that does not read: " + last);
            assertEquals(1, h.engine.cancelled.getCount(), "stalled, not cancelled");
        }
        assertTrue(h.engine.cancelled.await(10, TimeUnit.SECONDS));
    }

    @Test
    void engineUnavailableIs503() throws Exception {
        try (GatewayHarness broken = new GatewayHarness(GatewayHarness.options(), true)) {
            HttpResponse<String> r = broken.post("/v1/completions", "{\"prompt\":\"Hi\"}");
            assertEquals(503, r.statusCode(), r.body());
            assertTrue(r.headers().firstValue("Retry-After").isPresent());
            assertEquals(503, json(r).at("/error/code").asInt());
            assertEquals(503, broken.get("/health").statusCode());
            assertEquals(503, broken.get("/ping").statusCode());
        }
    }

    @Test
    void engineStatusesMapToHttp() throws Exception {
        h.engine.failWith.set(Status.RESOURCE_EXHAUSTED.withDescription("queue full"));
        HttpResponse<String> full = h.post("/v1/completions", "{\"prompt\":\"Hi\"}");
        assertEquals(503, full.statusCode());
        assertTrue(full.headers().firstValue("Retry-After").isPresent());
        h.engine.failWith.set(Status.UNAVAILABLE.withDescription("worker gone"));
        assertEquals(503, h.post("/v1/completions", "{\"prompt\":\"Hi\"}").statusCode());
        h.engine.failWith.set(Status.INVALID_ARGUMENT.withDescription("bad logit bias"));
        HttpResponse<String> bad = h.post("/v1/completions", "{\"prompt\":\"Hi\"}");
        assertEquals(400, bad.statusCode());
        assertEquals("bad logit bias", json(bad).at("/error/message").asText());
        h.engine.failWith.set(Status.NOT_FOUND);
        assertEquals(404, h.post("/v1/completions", "{\"prompt\":\"Hi\"}").statusCode());
        h.engine.failWith.set(Status.INTERNAL.withDescription("boom"));
        assertEquals(500, h.post("/v1/completions", "{\"prompt\":\"Hi\"}").statusCode());
        // Once headers are out, errors travel in-band and the stream still ends with [DONE].
        HttpResponse<String> stream = h.post("/v1/completions", "{\"prompt\":\"Hi\",\"stream\":true}");
        assertEquals(200, stream.statusCode());
        List<JsonNode> events = sse(stream.body());
        assertEquals(500, events.getLast().at("/error/code").asInt());
        h.engine.failWith.set(null);
        assertEquals(200, h.post("/v1/completions", "{\"prompt\":\"Hi\"}").statusCode());
    }

    @Test
    void healthFollowsWorkerConnection() throws Exception {
        assertEquals(200, h.get("/health").statusCode());
        assertEquals(200, h.get("/ping").statusCode());
        h.engine.workerConnected.set(false);
        assertEquals(503, h.get("/health").statusCode());
    }

    @Test
    void modelsVersionTokenize() throws Exception {
        JsonNode models = json(h.get("/v1/models"));
        assertEquals("list", models.get("object").asText());
        assertEquals(2, models.get("data").size());
        JsonNode m = models.at("/data/0");
        assertEquals("fake", m.get("id").asText());
        assertEquals("model", m.get("object").asText());
        assertEquals("jvllm", m.get("owned_by").asText());
        assertEquals("/models/fake", m.get("root").asText());
        assertEquals(FakeEngine.MAX_MODEL_LEN, m.get("max_model_len").asInt());
        assertEquals("fake-alias", models.at("/data/1/id").asText());

        assertEquals(HttpRouter.VERSION, json(h.get("/version")).get("version").asText());

        JsonNode tok = json(h.post("/tokenize", "{\"model\":\"fake\",\"prompt\":\"Hi\"}"));
        assertEquals(3, tok.get("count").asInt());
        assertEquals(FakeEngine.MAX_MODEL_LEN, tok.get("max_model_len").asInt());
        assertEquals("[1,72,105]", tok.get("tokens").toString());
        JsonNode noSpecial = json(h.post("/tokenize", "{\"prompt\":\"Hi\",\"add_special_tokens\":false}"));
        assertEquals(2, noSpecial.get("count").asInt());
        JsonNode chat = json(h.post("/tokenize", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"));
        assertEquals("user: Hi\nassistant: ".length(), chat.get("count").asInt());
        assertEquals("<s>Hi", json(h.post("/detokenize", "{\"tokens\":[1,72,105]}")).get("prompt").asText());
        assertEquals(405, h.get("/v1/completions").statusCode());
    }

    @Test
    void metricsAndCors() throws Exception {
        HttpResponse<String> m = h.get("/metrics");
        assertEquals(200, m.statusCode());
        assertTrue(m.body().contains("vllm:num_requests_running{model_name=\"fake\"} 3.0\n"), m.body());
        assertTrue(m.body().contains("vllm:request_success_total{finished_reason=\"stop\",model_name=\"fake\"} 7.0\n"), m.body());
        // Per-request histograms, observed by the gateway; parsed strictly, with vLLM's names, types and buckets.
        var fam = dev.jvllm.common.metrics.PrometheusTextParser.parse(m.body());
        java.util.Map<String, String> label = java.util.Map.of("model_name", "fake");
        double before = fam.get("vllm:e2e_request_latency_seconds").series("_count", label).getFirst().value();
        double ttftBefore = fam.get("vllm:time_to_first_token_seconds").series("_count", label).getFirst().value();
        h.post("/v1/completions", "{\"prompt\":[\"Hi\",\"Yo\"],\"max_tokens\":3}");
        String after = h.get("/metrics").body();
        var fam2 = dev.jvllm.common.metrics.PrometheusTextParser.parse(after);
        assertEquals(before + 2, fam2.get("vllm:e2e_request_latency_seconds").series("_count", label).getFirst().value(), after);
        assertEquals(ttftBefore + 2, fam2.get("vllm:time_to_first_token_seconds").series("_count", label).getFirst().value(), after);
        assertEquals("gauge", fam2.get("vllm:avg_generation_throughput_toks_per_s").type());
        assertEquals("counter", fam2.get("vllm:request_success_total").type());
        assertEquals("gauge", fam2.get("jvm_memory_used_bytes").type()); // the gateway process's own metrics
        HttpResponse<String> pre = h.http.send(java.net.http.HttpRequest.newBuilder(h.uri("/v1/chat/completions"))
                .method("OPTIONS", java.net.http.HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, pre.statusCode());
        assertEquals("*", pre.headers().firstValue("Access-Control-Allow-Origin").orElseThrow());
        assertTrue(pre.headers().firstValue("Access-Control-Allow-Methods").orElseThrow().contains("POST"));
    }

    @Test
    void keepAliveServesSequentialRequestsOnOneConnection() throws Exception {
        try (Socket s = new Socket("127.0.0.1", h.port)) {
            for (int i = 1; i <= 3; i++) {
                send(s, "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":" + i + "}");
                assertEquals(OUT_PREFIX.substring(0, i), readCompletionText(s));
            }
            // Pipelined: three requests written at once are answered in order.
            for (int i = 3; i >= 1; i--) send(s, "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":" + i + "}");
            for (int i = 3; i >= 1; i--) assertEquals(OUT_PREFIX.substring(0, i), readCompletionText(s));
        }
    }

    private static final String OUT_PREFIX = "Hello";

    private static String readCompletionText(Socket s) throws Exception {
        String head = readUntil(s.getInputStream(), "\r\n\r\n");
        assertTrue(head.startsWith("HTTP/1.1 200"), head);
        int len = Integer.parseInt(head.lines().filter(l -> l.toLowerCase().startsWith("content-length:"))
                .findFirst().orElseThrow().substring(15).trim());
        byte[] body = s.getInputStream().readNBytes(len);
        return GatewayHarness.JSON.readTree(body).at("/choices/0/text").asText();
    }

    @Test
    void bindFailureIsReportedAndBuilderDefaults() {
        GatewayOptions o = GatewayOptions.builder().servedModelNames(List.of("m")).build();
        assertEquals("0.0.0.0", o.host());
        assertEquals(8000, o.port());
        assertEquals(GatewayOptions.DEFAULT_MAX_BODY, o.maxRequestBodyBytes());
        assertEquals(null, o.apiKey());
        GatewayServer clash = new GatewayServer(GatewayOptions.builder().host("127.0.0.1").port(h.port).build(),
                h.channel, h.channel);
        try {
            org.junit.jupiter.api.Assertions.assertThrows(java.io.UncheckedIOException.class, clash::start);
        } finally {
            clash.close();
        }
    }

    @Test
    void idleConnectionsAreClosed() throws Exception {
        GatewayOptions o = GatewayHarness.options();
        o = new GatewayOptions(o.host(), 0, o.servedModelNames(), null, 0, 8, 4, 5, 1, o.controlTimeout(),
                java.time.Duration.ofMillis(200));
        try (GatewayHarness quick = new GatewayHarness(o); Socket s = new Socket("127.0.0.1", quick.port)) {
            s.setSoTimeout(10_000);
            assertEquals(-1, s.getInputStream().read(), "closed by the server");
        }
    }

    private static void send(Socket s, String path, String body) throws Exception {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                + b.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
    }

    private static String readUntil(InputStream in, String marker) throws Exception {
        ByteArrayOutputStream seen = new ByteArrayOutputStream();
        while (true) {
            int c = in.read();
            if (c < 0) throw new AssertionError("connection closed before " + marker + ": " + seen);
            seen.write(c);
            if (seen.toString(StandardCharsets.UTF_8).endsWith(marker)) return seen.toString(StandardCharsets.UTF_8);
        }
    }
}
