package dev.jvllm.launcher;

import dev.jvllm.common.testing.SharedData;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * SIGTERM (what Kubernetes sends) to an all-in-one server in the middle of streaming: the streams already
 * running finish, new requests are refused, and the process exits within --shutdown-timeout.
 */
class DrainOnSigtermTest {
    private static final int SHUTDOWN_TIMEOUT_SECONDS = 120;
    private static final long HANG_GUARD_SECONDS = 120; // only to fail instead of hanging; never a timing claim

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final ExecutorService clients = Executors.newCachedThreadPool();
    private ServeProcess server;

    @AfterEach
    void tearDown() throws Exception {
        clients.shutdownNow();
        if (server != null) server.close();
    }

    record Streamed(int status, int chunks, String finishReason, boolean done, String error) {}

    @Test
    void sigtermDuringStreamingFinishesRunningRequestsRefusesNewOnesAndExits() throws Exception {
        Path logDir = Files.createTempDirectory("jvllm-drain");
        int port = RoleProcesses.freePort();
        server = ServeProcess.start(logDir, "serve", "--model", SharedData.stories260K().toString(), "--host", "127.0.0.1",
                "--port", "" + port, "--kv-cache-space", "0.05", "--max-num-seqs", "4",
                "--shutdown-timeout", "" + SHUTDOWN_TIMEOUT_SECONDS);
        Http gw = new Http(port);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(HANG_GUARD_SECONDS);
        while (status(gw) != 200) {
            if (!server.isAlive() || System.nanoTime() > deadline) fail("server did not become healthy:\n" + server.logText());
            Thread.sleep(100);
        }

        // More long streams than --max-num-seqs: some run, some wait in the engine's queue when SIGTERM arrives.
        CountDownLatch firstChunk = new CountDownLatch(1);
        List<CompletableFuture<Streamed>> running = new ArrayList<>();
        for (int i = 0; i < 12; i++) running.add(streamAsync(port, "Once upon a time", 480, firstChunk));
        assertTrue(firstChunk.await(HANG_GUARD_SECONDS, TimeUnit.SECONDS));
        server.terminate();

        // New requests are refused (503, or no connection at all once the socket is closed) ...
        boolean refused = false;
        List<CompletableFuture<Streamed>> lateButAccepted = new ArrayList<>();
        while (!refused) {
            if (System.nanoTime() > deadline) fail("new requests were still accepted:\n" + server.logText());
            CompletableFuture<Streamed> late = streamAsync(port, "Once upon a time", 4, null);
            Streamed s = late.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS);
            if (s.status() == 503 || s.status() == -1) refused = true;
            else lateButAccepted.add(late); // sent before the signal took effect: must complete like the others
        }
        // ... while every stream that was already running finishes normally.
        for (CompletableFuture<Streamed> f : running) {
            Streamed s = f.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS);
            assertEquals(200, s.status(), s.toString());
            assertTrue(s.done() && s.error() == null, s.toString() + "\n" + server.logText());
            assertEquals("length", s.finishReason(), s.toString());
        }
        for (CompletableFuture<Streamed> f : lateButAccepted) {
            Streamed s = f.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS);
            assertTrue(s.done() && s.error() == null, s.toString());
        }
        Integer exit = server.awaitExit(SHUTDOWN_TIMEOUT_SECONDS);
        assertNotNull(exit, "the server did not exit within --shutdown-timeout:\n" + server.logText());
        assertTrue(server.logText().contains("drained: every running request finished"), server.logText());
    }

    private static int status(Http http) {
        try {
            return http.get("/health").status();
        } catch (IOException | InterruptedException e) {
            return -1;
        }
    }

    private CompletableFuture<Streamed> streamAsync(int port, String prompt, int maxTokens, CountDownLatch firstChunk) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                String body = Http.JSON.writeValueAsString(Map.of("prompt", prompt, "max_tokens", maxTokens,
                        "ignore_eos", true, "stream", true));
                HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                        .timeout(Duration.ofSeconds(HANG_GUARD_SECONDS)).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofInputStream());
                if (r.statusCode() != 200) {
                    return new Streamed(r.statusCode(), 0, null, false, new String(r.body().readAllBytes(), StandardCharsets.UTF_8));
                }
                int chunks = 0;
                String finish = null, error = null;
                boolean done = false;
                try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = in.readLine()) != null) {
                        if (!line.startsWith("data: ")) continue;
                        if (line.equals("data: [DONE]")) {
                            done = true;
                            break;
                        }
                        JsonNode e = Http.JSON.readTree(line.substring(6));
                        if (e.has("error")) error = e.get("error").toString();
                        for (JsonNode c : e.path("choices")) {
                            if (c.hasNonNull("finish_reason")) finish = c.get("finish_reason").asText();
                        }
                        chunks++;
                        if (firstChunk != null) firstChunk.countDown();
                    }
                }
                return new Streamed(200, chunks, finish, done, error);
            } catch (IOException | InterruptedException e) {
                return new Streamed(-1, 0, null, false, e.toString());
            }
        }, clients);
    }
}
