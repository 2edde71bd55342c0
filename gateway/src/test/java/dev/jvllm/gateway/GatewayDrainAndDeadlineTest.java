package dev.jvllm.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static dev.jvllm.gateway.GatewayHarness.json;
import static dev.jvllm.gateway.GatewayHarness.sse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** SIGTERM-style drain and the per-request deadline, against the fake engine. */
class GatewayDrainAndDeadlineTest {
    private static final long HANG_GUARD_SECONDS = 30; // only to fail instead of hanging; never a timing claim

    @Test
    void whileDrainingHealthFailsAndNewRequestsGet503WithRetryAfterAndConnectionClose() throws Exception {
        try (GatewayHarness h = new GatewayHarness(GatewayHarness.options())) {
            assertEquals(200, h.get("/health").statusCode());
            h.gateway.services().draining().set(true); // the state drain() enters, without closing the socket
            HttpResponse<String> health = h.get("/health");
            assertEquals(503, health.statusCode());
            HttpResponse<String> r = h.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":1}");
            assertEquals(503, r.statusCode());
            assertEquals("ServiceUnavailableError", json(r).at("/error/type").asText());
            assertTrue(r.headers().firstValue("retry-after").isPresent(), r.headers().map().toString());
            assertEquals("close", r.headers().firstValue("connection").orElse("").toLowerCase());
            assertTrue(h.engine.requests.isEmpty(), "a refused request reached the engine");
        }
    }

    @Test
    void drainLetsTheRunningStreamFinishAndClosesTheListeningSocket() throws Exception {
        try (GatewayHarness h = new GatewayHarness(GatewayHarness.options())) {
            CountDownLatch release = new CountDownLatch(1);
            h.engine.holdAfterEachMessage = release;
            CompletableFuture<HttpResponse<String>> running = h.http.sendAsync(HttpRequest.newBuilder(h.uri("/v1/completions"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"Hi\",\"max_tokens\":5,\"stream\":true}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertTrue(h.engine.started.await(HANG_GUARD_SECONDS, TimeUnit.SECONDS));
            CompletableFuture<Boolean> drained = CompletableFuture.supplyAsync(() -> h.gateway.drain(Duration.ofSeconds(HANG_GUARD_SECONDS)));
            // New connections are refused once the listening socket is closed.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(HANG_GUARD_SECONDS);
            while (true) {
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress("127.0.0.1", h.port), 1000);
                } catch (ConnectException refused) {
                    break;
                }
                if (System.nanoTime() > deadline) throw new AssertionError("the gateway still accepts connections while draining");
                Thread.sleep(10);
            }
            assertFalse(drained.isDone(), "drain returned while a stream was running");
            release.countDown();
            assertTrue(drained.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS));
            HttpResponse<String> r = running.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS);
            assertEquals(200, r.statusCode());
            List<JsonNode> events = sse(r.body());
            assertEquals("length", events.getLast().at("/choices/0/finish_reason").asText(), r.body());
        }
    }

    @Test
    void drainTimesOutOnAStreamThatDoesNotFinish() throws Exception {
        try (GatewayHarness h = new GatewayHarness(GatewayHarness.options())) {
            h.engine.holdAfterEachMessage = new CountDownLatch(1); // never released
            h.http.sendAsync(HttpRequest.newBuilder(h.uri("/v1/completions")).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"Hi\",\"stream\":true}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertTrue(h.engine.started.await(HANG_GUARD_SECONDS, TimeUnit.SECONDS));
            assertFalse(h.gateway.drain(Duration.ofMillis(200)));
        }
    }

    @Test
    void theRequestDeadlineEndsAStuckGenerationAndCancelsItUpstream() throws Exception {
        GatewayOptions o = GatewayHarness.options();
        o = new GatewayOptions(o.host(), 0, o.servedModelNames(), null, 0, 8, 4, 5, 2, o.controlTimeout(), o.idleTimeout(),
                Duration.ofMillis(300));
        try (GatewayHarness h = new GatewayHarness(o)) {
            h.engine.holdAfterEachMessage = new CountDownLatch(1); // the engine never finishes
            HttpResponse<String> r = h.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":5}");
            assertEquals(504, r.statusCode(), r.body());
            assertTrue(json(r).at("/error/message").asText().toLowerCase().contains("deadline"), r.body());
            assertTrue(h.engine.cancelled.await(HANG_GUARD_SECONDS, TimeUnit.SECONDS), "the engine call was not cancelled");

            h.engine.cancelled = new CountDownLatch(1);
            HttpResponse<String> s = h.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":5,\"stream\":true}");
            assertEquals(200, s.statusCode());
            List<JsonNode> events = sse(s.body()); // the stream ends with an error event and [DONE], not a hang
            assertEquals(504, events.getLast().at("/error/code").asInt(), s.body());
            assertTrue(h.engine.cancelled.await(HANG_GUARD_SECONDS, TimeUnit.SECONDS));
        }
    }

    @Test
    void losingTheEngineMidStreamEndsTheStreamWithAnErrorEventAndTheGatewayRecovers() throws Exception {
        try (GatewayHarness h = new GatewayHarness(GatewayHarness.options())) {
            CountDownLatch never = new CountDownLatch(1);
            h.engine.holdAfterEachMessage = never;
            CompletableFuture<HttpResponse<String>> open = h.http.sendAsync(HttpRequest.newBuilder(h.uri("/v1/completions"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"Hi\",\"max_tokens\":5,\"stream\":true}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertTrue(h.engine.started.await(HANG_GUARD_SECONDS, TimeUnit.SECONDS));
            h.grpcServer.shutdownNow(); // the scheduler and tokenizer process die
            HttpResponse<String> r = open.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS);
            assertEquals(200, r.statusCode());
            List<JsonNode> events = sse(r.body());
            assertEquals(503, events.getLast().at("/error/code").asInt(), r.body());
            HttpResponse<String> down = h.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":1}");
            assertEquals(503, down.statusCode());
            assertTrue(down.headers().firstValue("retry-after").isPresent());
            assertEquals(503, h.get("/health").statusCode());

            // They come back (same address): the gateway's channels reconnect and serve again.
            h.engine.holdAfterEachMessage = null;
            io.grpc.Server again = io.grpc.inprocess.InProcessServerBuilder.forName(h.name)
                    .addService(h.tokenizer).addService(h.engine).build().start();
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(HANG_GUARD_SECONDS);
                int status;
                while ((status = h.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":1}").statusCode()) != 200) {
                    assertEquals(503, status);
                    if (System.nanoTime() > deadline) throw new AssertionError("the gateway did not recover");
                    Thread.sleep(50);
                }
                assertEquals(200, h.get("/health").statusCode());
            } finally {
                again.shutdownNow();
            }
        }
    }

    @Test
    void requestTimeoutDefaultsToTenMinutes() throws IOException {
        assertEquals(Duration.ofSeconds(600), GatewayHarness.options().requestTimeout());
        assertEquals(Duration.ofSeconds(600), GatewayOptions.builder().build().requestTimeout());
    }
}
