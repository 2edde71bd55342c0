package dev.jvllm.launcher;

import dev.jvllm.common.testing.SharedData;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.StatsRequest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The all-in-one server on the real stories260K model, end to end over HTTP. */
class ServeStories260KTest {
    static Deployment server;
    static Http http;
    static JsonNode golden;

    @BeforeAll
    static void start() throws Exception {
        golden = Http.JSON.readTree(Files.readString(SharedData.stories260K().resolve("golden.json")));
        server = Deployment.start(ServeCommand.parse("--model", SharedData.stories260K().toString(),
                "--port", "0", "--host", "127.0.0.1", "--kv-cache-space", "0.05", "--served-model-name", "stories"));
        http = new Http(server.httpPort());
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void completionsReproduceTheGoldenGreedyText() throws Exception {
        for (JsonNode g : golden) {
            Http.Response r = http.post("/v1/completions", Map.of("model", "stories", "prompt", g.get("prompt").asText(),
                    "max_tokens", 40, "temperature", 0));
            assertEquals(200, r.status(), r.raw());
            JsonNode choice = r.body().get("choices").get(0);
            assertEquals(g.get("greedy_text").asText(), choice.get("text").asText(), "prompt: " + g.get("prompt"));
            assertEquals("length", choice.get("finish_reason").asText());
            assertEquals(g.get("prompt_ids").size(), r.body().get("usage").get("prompt_tokens").asInt());
            assertEquals(40, r.body().get("usage").get("completion_tokens").asInt());
            assertEquals("text_completion", r.body().get("object").asText());
        }
    }

    @Test
    void streamingGivesTheSameTextAsNonStreaming() throws Exception {
        for (JsonNode g : golden) {
            List<JsonNode> events = http.stream("/v1/completions", Map.of("model", "stories", "prompt", g.get("prompt").asText(),
                    "max_tokens", 40, "temperature", 0, "stream", true));
            StringBuilder text = new StringBuilder();
            String finish = null;
            for (JsonNode e : events) {
                for (JsonNode c : e.get("choices")) {
                    text.append(c.get("text").asText());
                    if (c.hasNonNull("finish_reason")) {
                        finish = c.get("finish_reason").asText();
                    }
                }
            }
            assertEquals(g.get("greedy_text").asText(), text.toString());
            assertEquals("length", finish);
        }
    }

    @Test
    void concurrentRequestsGetTheirOwnGoldenText() throws Exception {
        List<Thread> threads = new java.util.ArrayList<>();
        java.util.concurrent.ConcurrentLinkedQueue<String> failures = new java.util.concurrent.ConcurrentLinkedQueue<>();
        for (int round = 0; round < 2; round++) {
            for (JsonNode g : golden) {
                Thread t = Thread.ofVirtual().start(() -> {
                    try {
                        Http.Response r = http.post("/v1/completions", Map.of("prompt", g.get("prompt").asText(),
                                "max_tokens", 40, "temperature", 0));
                        String text = r.body().get("choices").get(0).get("text").asText();
                        if (!text.equals(g.get("greedy_text").asText())) {
                            failures.add(g.get("prompt") + " -> " + text);
                        }
                    } catch (Exception e) {
                        failures.add(e.toString());
                    }
                });
                threads.add(t);
            }
        }
        for (Thread t : threads) {
            t.join();
        }
        assertTrue(failures.isEmpty(), failures.toString());
    }

    @Test
    void modelsHealthAndVersion() throws Exception {
        Http.Response models = http.get("/v1/models");
        assertEquals(200, models.status());
        assertEquals("stories", models.body().get("data").get(0).get("id").asText());
        assertEquals(200, http.get("/health").status());
        assertEquals(200, http.get("/version").status());
    }

    @Test
    void chatWithoutATemplateIsAClear400() throws Exception {
        Http.Response r = http.post("/v1/chat/completions", Map.of("model", "stories",
                "messages", List.of(Map.of("role", "user", "content", "hi"))));
        assertEquals(400, r.status(), r.raw());
        assertTrue(r.body().get("error").get("message").asText().toLowerCase().contains("template"), r.raw());
    }

    @Test
    void badInputGetsOpenAiErrorsAndTheServerKeepsServing() throws Exception {
        record Case(String body, int status, String param) {}
        String longPrompt = "Once upon a time ".repeat(400);
        List<Case> cases = List.of(
                new Case("{not json", 400, null),
                new Case("{\"model\":\"stories\"}", 400, "prompt"),
                new Case("{\"model\":\"stories\",\"prompt\":42}", 400, "prompt"),
                new Case("{\"model\":\"nope\",\"prompt\":\"hi\"}", 404, "model"),
                new Case("{\"model\":\"stories\",\"prompt\":\"hi\",\"max_tokens\":0}", 400, "max_tokens"),
                new Case("{\"model\":\"stories\",\"prompt\":\"hi\",\"max_tokens\":\"ten\"}", 400, "max_tokens"),
                new Case("{\"model\":\"stories\",\"prompt\":\"hi\",\"temperature\":-1}", 400, "temperature"),
                new Case("{\"model\":\"stories\",\"prompt\":\"" + longPrompt + "\"}", 400, null));
        for (Case c : cases) {
            Http.Response r = http.post("/v1/completions", c.body());
            assertEquals(c.status(), r.status(), c.body() + " -> " + r.raw());
            JsonNode err = r.body().get("error");
            assertTrue(err != null && err.hasNonNull("message") && err.has("type") && err.has("code"), r.raw());
            if (c.param() != null) {
                assertEquals(c.param(), err.get("param").asText(), r.raw());
            }
        }
        Http.Response ok = http.post("/v1/completions", Map.of("prompt", "Once upon a time", "max_tokens", 5, "temperature", 0));
        assertEquals(200, ok.status());
    }

    @Test
    void clientDisconnectMidStreamAbortsAndFreesKvBlocks() throws Exception {
        EngineGrpc.EngineBlockingStub engine = EngineGrpc.newBlockingStub(server.frontChannel());
        String body = Http.JSON.writeValueAsString(Map.of("prompt", "Once upon a time", "max_tokens", 500,
                "temperature", 0, "ignore_eos", true, "stream", true));
        try (Socket s = new Socket("127.0.0.1", server.httpPort())) {
            OutputStream out = s.getOutputStream();
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                    + bytes.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(bytes);
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            int dataLines = 0;
            String line;
            while (dataLines < 3 && (line = in.readLine()) != null) {
                if (line.startsWith("data: ")) {
                    dataLines++;
                }
            }
            assertEquals(3, dataLines);
            EngineStats during = engine.getStats(StatsRequest.getDefaultInstance());
            assertTrue(during.getNumRunning() >= 1 && during.getKvCacheUsage() > 0, during.toString());
        }
        EngineStats after = awaitIdle(engine);
        assertEquals(0, after.getNumRunning(), after.toString());
        assertEquals(0.0, after.getKvCacheUsage(), 1e-9, after.toString());
        assertEquals(after.getNumTotalBlocks(), after.getNumFreeBlocks(), after.toString());
    }

    static EngineStats awaitIdle(EngineGrpc.EngineBlockingStub engine) throws InterruptedException {
        EngineStats s = null;
        for (int i = 0; i < 600; i++) {
            s = engine.getStats(StatsRequest.getDefaultInstance());
            if (s.getNumRunning() == 0 && s.getNumWaiting() == 0 && s.getKvCacheUsage() == 0) {
                return s;
            }
            Thread.sleep(50);
        }
        fail("engine did not become idle: " + s);
        return s;
    }
}
