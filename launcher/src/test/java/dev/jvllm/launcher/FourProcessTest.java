package dev.jvllm.launcher;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** The four roles as four JVMs on loopback ports, talking Netty gRPC: the same golden text as all-in-one. */
class FourProcessTest {
    static final List<Process> processes = new ArrayList<>();
    static Path logDir;
    static Http http;

    @BeforeAll
    static void start() throws Exception {
        logDir = Files.createTempDirectory("jvllm-4proc");
        String model = SharedData.stories260K().toString();
        int worker = freePort(), tokenizer = freePort(), scheduler = freePort(), gateway = freePort();
        launch("worker", "--role", "worker", "--model", model, "--grpc-host", "127.0.0.1", "--grpc-port", "" + worker,
                "--kv-cache-space", "0.05");
        launch("tokenizer", "--role", "tokenizer", "--model", model, "--grpc-host", "127.0.0.1", "--grpc-port", "" + tokenizer);
        launch("scheduler", "--role", "scheduler", "--model", model, "--grpc-host", "127.0.0.1", "--grpc-port", "" + scheduler,
                "--worker-address", "127.0.0.1:" + worker);
        launch("gateway", "--role", "gateway", "--model", model, "--host", "127.0.0.1", "--port", "" + gateway,
                "--tokenizer-address", "127.0.0.1:" + tokenizer, "--scheduler-address", "127.0.0.1:" + scheduler);
        http = new Http(gateway);
        awaitHealthy();
    }

    static void launch(String name, String... serveArgs) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(Arrays.asList(System.getProperty("jvllm.jvm.flags",
                "--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED").trim().split("\\s+")));
        cmd.add("-Xmx512m");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.add("serve");
        cmd.addAll(Arrays.asList(serveArgs));
        Process p = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(logDir.resolve(name + ".log").toFile())
                .start();
        processes.add(p);
    }

    static void awaitHealthy() throws Exception {
        for (int i = 0; i < 1200; i++) {
            for (Process p : processes) {
                if (!p.isAlive()) {
                    fail("a role exited early (exit " + p.exitValue() + "); logs:\n" + logs());
                }
            }
            try {
                if (http.get("/health").status() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // gateway not listening yet
            }
            Thread.sleep(100);
        }
        fail("four-process deployment did not become healthy; logs:\n" + logs());
    }

    static String logs() throws IOException {
        StringBuilder sb = new StringBuilder();
        try (var files = Files.list(logDir)) {
            for (Path f : files.sorted().toList()) {
                sb.append("== ").append(f.getFileName()).append('\n').append(Files.readString(f));
            }
        }
        return sb.toString();
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @AfterAll
    static void stop() throws Exception {
        for (Process p : processes.reversed()) {
            p.destroy();
        }
        for (Process p : processes) {
            if (!p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    @Test
    void goldenTextThroughFourProcesses() throws Exception {
        JsonNode golden = Http.JSON.readTree(Files.readString(SharedData.stories260K().resolve("golden.json")));
        for (JsonNode g : golden) {
            Map<String, Object> req = Map.of("prompt", g.get("prompt").asText(), "max_tokens", 40, "temperature", 0);
            Http.Response r = http.post("/v1/completions", req);
            assertEquals(200, r.status(), r.raw());
            assertEquals(g.get("greedy_text").asText(), r.body().get("choices").get(0).get("text").asText());

            Map<String, Object> streamed = new java.util.HashMap<>(req);
            streamed.put("stream", true);
            StringBuilder text = new StringBuilder();
            for (JsonNode e : http.stream("/v1/completions", streamed)) {
                for (JsonNode c : e.get("choices")) {
                    text.append(c.get("text").asText());
                }
            }
            assertEquals(g.get("greedy_text").asText(), text.toString());
        }
    }
}
