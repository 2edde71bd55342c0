package dev.jvllm.launcher;

import dev.jvllm.common.testing.SharedData;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jvllm.common.GrpcChannels;
import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.StatsRequest;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Four processes; the worker is SIGKILLed in the middle of a load of concurrent streams and started again
 * (with a different KV cache size). Every request must complete correctly (the scheduler requeues the
 * running ones for recompute), requests sent while no worker was attached complete after the restart,
 * health reports the outage, and the KV cache ends empty.
 */
class WorkerRestartEndToEndTest {
    /** The gateway's --request-timeout: no request may take longer; the client gives up a little after it. */
    private static final int REQUEST_TIMEOUT_SECONDS = 240;
    private static final long HANG_GUARD_SECONDS = 180; // only to fail instead of hanging; never a timing claim

    private final List<ServeProcess> processes = new ArrayList<>();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final ExecutorService clients = Executors.newCachedThreadPool();
    private ManagedChannel schedulerChannel;

    @AfterEach
    void tearDown() throws Exception {
        clients.shutdownNow();
        if (schedulerChannel != null) schedulerChannel.shutdownNow();
        for (ServeProcess p : processes.reversed()) p.close();
    }

    /** What one request ended with: HTTP status, generated text, finish reason, or the error it got. */
    record Outcome(int status, String text, String finishReason, String error) {
        boolean completed() {
            return status == 200 && error == null && finishReason != null;
        }
    }

    @Test
    void killTheWorkerUnderLoadRestartItAndLoseNothing() throws Exception {
        Path model = SharedData.stories260K();
        JsonNode golden = Http.JSON.readTree(Files.readString(model.resolve("golden.json")));
        Path logDir = Files.createTempDirectory("jvllm-worker-restart");
        int workerPort = RoleProcesses.freePort(), tokenizerPort = RoleProcesses.freePort();
        int schedulerPort = RoleProcesses.freePort(), gatewayPort = RoleProcesses.freePort();
        String[] workerArgs = {"--role", "worker", "--model", model.toString(), "--grpc-host", "127.0.0.1",
                "--grpc-port", "" + workerPort, "--kv-cache-space", "0.05"};
        ServeProcess worker = launch(logDir, "worker-1", workerArgs);
        launch(logDir, "tokenizer", "--role", "tokenizer", "--model", model.toString(), "--grpc-host", "127.0.0.1",
                "--grpc-port", "" + tokenizerPort);
        launch(logDir, "scheduler", "--role", "scheduler", "--model", model.toString(), "--grpc-host", "127.0.0.1",
                "--grpc-port", "" + schedulerPort, "--worker-address", "127.0.0.1:" + workerPort, "--max-num-seqs", "8");
        launch(logDir, "gateway", "--role", "gateway", "--model", model.toString(), "--host", "127.0.0.1",
                "--port", "" + gatewayPort, "--tokenizer-address", "127.0.0.1:" + tokenizerPort,
                "--scheduler-address", "127.0.0.1:" + schedulerPort, "--request-timeout", "" + REQUEST_TIMEOUT_SECONDS);
        Http gw = new Http(gatewayPort);
        await("the deployment is healthy", () -> status(gw, "/health") == 200);
        schedulerChannel = GrpcChannels.open("127.0.0.1:" + schedulerPort);
        EngineGrpc.EngineBlockingStub engine = EngineGrpc.newBlockingStub(schedulerChannel);
        HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(schedulerChannel);
        int blocksBefore = engine.getStats(StatsRequest.getDefaultInstance()).getNumTotalBlocks();
        assertEquals(ServingStatus.SERVING, engineHealth(health));

        // Load: per golden prompt, a long ignore_eos stream and a golden-length stream (more than --max-num-seqs at once).
        List<String> expected = new ArrayList<>();
        List<CompletableFuture<Outcome>> load = new ArrayList<>();
        List<Integer> longOnes = new ArrayList<>();
        java.util.concurrent.CountDownLatch firstTokens = new java.util.concurrent.CountDownLatch(1);
        for (int round = 0; round < 2; round++) {
            for (JsonNode g : golden) {
                longOnes.add(load.size());
                expected.add(g.get("greedy_text").asText());
                load.add(streamAsync(gatewayPort, g.get("prompt").asText(), 300, true, firstTokens));
                expected.add(g.get("greedy_text").asText());
                load.add(streamAsync(gatewayPort, g.get("prompt").asText(), 40, false, firstTokens));
            }
        }
        assertTrue(firstTokens.await(HANG_GUARD_SECONDS, TimeUnit.SECONDS), "no stream got a token");
        worker.kill(); // SIGKILL mid-load: no goodbye on the step stream
        await("/health reports the missing worker", () -> status(gw, "/health") == 503);
        await("the Engine's gRPC health is NOT_SERVING", () -> engineHealth(health) == ServingStatus.NOT_SERVING);

        // Requests arriving while no worker is attached wait in the queue.
        List<CompletableFuture<Outcome>> queued = new ArrayList<>();
        List<String> queuedExpected = new ArrayList<>();
        for (JsonNode g : golden) {
            queuedExpected.add(g.get("greedy_text").asText());
            queued.add(streamAsync(gatewayPort, g.get("prompt").asText(), 40, false, null));
        }
        await("the queued requests reached the scheduler",
                () -> engine.getStats(StatsRequest.getDefaultInstance()).getNumWaiting() >= queued.size());

        // The restarted worker offers a smaller KV cache: the scheduler must re-read it and rebuild its block pool.
        workerArgs[workerArgs.length - 1] = "0.03";
        launch(logDir, "worker-2", workerArgs);
        await("healthy again", () -> status(gw, "/health") == 200);
        assertEquals(ServingStatus.SERVING, engineHealth(health));

        for (int i = 0; i < load.size(); i++) {
            Outcome o = load.get(i).get(REQUEST_TIMEOUT_SECONDS + 30, TimeUnit.SECONDS); // none hangs past its deadline
            assertTrue(o.completed(), "request " + i + " did not complete: " + o + "\n" + ServeProcess.logs(processes));
            if (longOnes.contains(i)) {
                assertEquals("length", o.finishReason());
                assertTrue(o.text().startsWith(expected.get(i)), "request " + i + " diverged after recompute: " + o.text());
            } else {
                assertEquals(expected.get(i), o.text(), "request " + i);
            }
        }
        for (int i = 0; i < queued.size(); i++) {
            Outcome o = queued.get(i).get(REQUEST_TIMEOUT_SECONDS + 30, TimeUnit.SECONDS);
            assertTrue(o.completed(), "queued request " + i + ": " + o);
            assertEquals(queuedExpected.get(i), o.text());
        }
        await("the KV cache is empty again", () -> {
            EngineStats s = engine.getStats(StatsRequest.getDefaultInstance());
            return s.getNumRunning() == 0 && s.getNumWaiting() == 0 && s.getNumFreeBlocks() == s.getNumTotalBlocks();
        });
        EngineStats after = engine.getStats(StatsRequest.getDefaultInstance());
        assertNotEquals(blocksBefore, after.getNumTotalBlocks(), "the new worker's capacity was not re-read");
        assertEquals(0.0, after.getKvCacheUsage());
        assertTrue(after.getWorkerConnected());
    }

    private ServeProcess launch(Path logDir, String name, String... args) throws IOException {
        ServeProcess p = ServeProcess.start(logDir, name, args);
        processes.add(p);
        return p;
    }

    private static ServingStatus engineHealth(HealthGrpc.HealthBlockingStub health) {
        return health.withDeadlineAfter(10, TimeUnit.SECONDS)
                .check(HealthCheckRequest.newBuilder().setService(EngineGrpc.SERVICE_NAME).build()).getStatus();
    }

    private static int status(Http http, String path) {
        try {
            return http.get(path).status();
        } catch (IOException | InterruptedException e) {
            return -1;
        }
    }

    private void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(HANG_GUARD_SECONDS);
        while (!condition.getAsBoolean()) {
            for (ServeProcess p : processes) {
                if (!p.isAlive() && !p.name.equals("worker-1")) fail(p.name + " exited; logs:\n" + ServeProcess.logs(processes));
            }
            if (System.nanoTime() > deadline) fail("gave up waiting for: " + what + "; logs:\n" + ServeProcess.logs(processes));
            Thread.sleep(50);
        }
    }

    /** A greedy SSE completion on a client thread; counts {@code firstToken} down at its first text chunk. */
    private CompletableFuture<Outcome> streamAsync(int port, String prompt, int maxTokens, boolean ignoreEos,
                                                   java.util.concurrent.CountDownLatch firstToken) {
        return CompletableFuture.supplyAsync(() -> {
            Map<String, Object> body = new HashMap<>(Map.of("prompt", prompt, "max_tokens", maxTokens, "temperature", 0,
                    "stream", true));
            if (ignoreEos) body.put("ignore_eos", true);
            try {
                HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                        .timeout(Duration.ofSeconds(REQUEST_TIMEOUT_SECONDS + 20))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(Http.JSON.writeValueAsString(body))).build(),
                        HttpResponse.BodyHandlers.ofInputStream());
                if (r.statusCode() != 200) {
                    return new Outcome(r.statusCode(), "", null, new String(r.body().readAllBytes(), StandardCharsets.UTF_8));
                }
                StringBuilder text = new StringBuilder();
                String finish = null, error = null;
                boolean done = false;
                try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = in.readLine()) != null) {
                        if (!line.startsWith("data: ")) continue;
                        String data = line.substring(6);
                        if (data.equals("[DONE]")) {
                            done = true;
                            break;
                        }
                        JsonNode e = Http.JSON.readTree(data);
                        if (e.has("error")) {
                            error = e.get("error").toString();
                            continue;
                        }
                        for (JsonNode c : e.get("choices")) {
                            text.append(c.get("text").asText());
                            if (!c.path("finish_reason").isNull() && !c.path("finish_reason").isMissingNode())
                                finish = c.get("finish_reason").asText();
                        }
                        if (firstToken != null && !text.isEmpty()) firstToken.countDown();
                    }
                }
                if (!done) error = "stream ended without [DONE]";
                return new Outcome(200, text.toString(), finish, error);
            } catch (IOException | InterruptedException e) {
                return new Outcome(-1, "", null, e.toString());
            }
        }, clients);
    }
}
