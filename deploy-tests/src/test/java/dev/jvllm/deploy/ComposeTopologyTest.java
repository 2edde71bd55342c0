package dev.jvllm.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jvllm.common.testing.SharedData;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The four-process topology compose.yaml describes, run as processes on loopback: the same commands,
 * flags and ports as the compose services (service hostnames mapped to 127.0.0.1; a compose port that
 * is busy on this machine is swapped for a free one everywhere it appears), started in compose's
 * depends_on order, each waited for with the healthcheck compose uses. Then one completion through
 * the gateway must reproduce the model's golden greedy text.
 */
class ComposeTopologyTest {
    static final List<String> START_ORDER = List.of("worker", "tokenizer", "scheduler", "gateway");
    static final List<String> HOSTS = List.of("worker", "tokenizer", "scheduler", "gateway");

    static final List<Process> processes = new ArrayList<>();
    static final Map<String, Path> logs = new HashMap<>();
    static int gatewayPort;
    static Path modelDir;
    /** Why the topology was not started, or null when it runs. */
    static String skipReason;
    static Path downloadDir;

    static Path findModel() {
        try {
            Path model = SharedData.stories260K();
            return Files.isRegularFile(model.resolve("config.json")) ? model : null;
        } catch (IllegalStateException noShared) {
            return null;
        }
    }

    /** Where the launcher's runtime class path comes from: -Djvllm.launcher.dir=DIR, or launcher/target. */
    static Path launcherTarget() {
        String dir = System.getProperty("jvllm.launcher.dir");
        return dir != null && !dir.isBlank() ? Path.of(dir) : Repo.path("launcher/target");
    }

    /**
     * The launcher's runtime class path: launcher-*.jar + lib/* from {@link #launcherTarget()} (what
     * `./mvnw package` leaves there, and what the image ships), or null when that was not built.
     */
    static String classPath() throws IOException {
        Path target = launcherTarget();
        if (Files.isDirectory(target.resolve("lib"))) {
            List<String> cp = new ArrayList<>();
            try (Stream<Path> s = Files.list(target)) {
                s.filter(p -> p.getFileName().toString().matches("launcher-.*\\.jar")).forEach(p -> cp.add(p.toString()));
            }
            cp.add(target.resolve("lib").toString() + File.separator + "*");
            return String.join(File.pathSeparator, cp);
        }
        return null;
    }

    static boolean free(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(false);
            s.bind(new InetSocketAddress("127.0.0.1", port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static int anyFreePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 0, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @BeforeAll
    static void startTopology() throws Exception {
        String cp = classPath();
        if (cp == null) {
            skipReason = "SKIPPED: " + launcherTarget().resolve("lib") + " does not exist (run ./mvnw -B -DskipTests package "
                    + "first, or point -Djvllm.launcher.dir at a launcher/target); the compose topology was not started";
            return;
        }
        modelDir = findModel();
        if (modelDir == null) {
            skipReason = "SKIPPED: no stories260K model (shared/models/stories260K) found above " + Repo.ROOT;
            return;
        }

        downloadDir = Files.createTempDirectory("jvllm-download-");
        // Ports compose uses, remapped only where this machine already has them taken.
        Map<String, String> portMap = new HashMap<>();
        for (String svc : START_ORDER) {
            List<String> cmd = ComposeFileTest.command(svc);
            String port = ComposeFileTest.flag(cmd, svc.equals("gateway") ? "--port" : "--grpc-port");
            portMap.put(port, free(Integer.parseInt(port)) ? port : String.valueOf(anyFreePort()));
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String jvmFlags = System.getProperty("jvllm.jvm.flags",
                "--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED");
        for (String svc : START_ORDER) {
            List<String> args = new ArrayList<>(List.of(java));
            args.addAll(List.of(jvmFlags.trim().split("\\s+")));
            args.addAll(List.of("-cp", cp, "dev.jvllm.launcher.Main"));
            for (String a : ComposeFileTest.command(svc)) {
                args.add(localize(a, portMap));
            }
            Path log = Files.createTempFile("jvllm-" + svc + "-", ".log");
            logs.put(svc, log);
            Process p = new ProcessBuilder(args).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            processes.add(p);
            String port = portMap.get(ComposeFileTest.flag(ComposeFileTest.command(svc), svc.equals("gateway") ? "--port" : "--grpc-port"));
            if (svc.equals("gateway")) {
                gatewayPort = Integer.parseInt(port);
                awaitHttp200(p, svc, "http://127.0.0.1:" + port + "/health");
            } else {
                awaitGrpcServing(p, svc, Integer.parseInt(port));
            }
        }
    }

    /** Compose's view -> loopback: model path, hostnames, bind addresses and (remapped) ports. */
    static String localize(String arg, Map<String, String> portMap) {
        if (arg.startsWith("--model=")) {
            return "--model=" + modelDir;
        }
        if (arg.startsWith("--download-dir=")) {
            return "--download-dir=" + downloadDir;
        }
        if (arg.startsWith("--host=") || arg.startsWith("--grpc-host=")) {
            return arg.substring(0, arg.indexOf('=') + 1) + "127.0.0.1";
        }
        if (arg.startsWith("--port=") || arg.startsWith("--grpc-port=")) {
            String port = arg.substring(arg.indexOf('=') + 1);
            return arg.substring(0, arg.indexOf('=') + 1) + portMap.getOrDefault(port, port);
        }
        if (arg.matches("--[a-z]+-address=.*")) {
            String value = arg.substring(arg.indexOf('=') + 1);
            int colon = value.lastIndexOf(':');
            String host = value.substring(0, colon);
            String port = value.substring(colon + 1);
            assertTrue(HOSTS.contains(host), arg + " names no compose service");
            return arg.substring(0, arg.indexOf('=') + 1) + "127.0.0.1:" + portMap.getOrDefault(port, port);
        }
        return arg;
    }

    static void awaitGrpcServing(Process p, String svc, int port) throws Exception {
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (System.nanoTime() < deadline) {
                assertAlive(p, svc);
                try {
                    ServingStatus s = HealthGrpc.newBlockingStub(ch).withDeadlineAfter(2, TimeUnit.SECONDS)
                            .check(HealthCheckRequest.getDefaultInstance()).getStatus();
                    if (s == ServingStatus.SERVING) {
                        return;
                    }
                } catch (RuntimeException notYet) {
                    // not listening yet
                }
                Thread.sleep(200);
            }
            fail(svc + " never reported SERVING on grpc.health.v1\n" + tail(svc));
        } finally {
            ch.shutdownNow().awaitTermination(2, TimeUnit.SECONDS);
        }
    }

    static void awaitHttp200(Process p, String svc, String url) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline) {
            assertAlive(p, svc);
            try {
                if (http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        fail(svc + " never answered 200 on " + url + "\n" + tail(svc));
    }

    static void assertAlive(Process p, String svc) throws IOException {
        assertTrue(p.isAlive(), svc + " exited with " + (p.isAlive() ? "" : p.exitValue()) + "\n" + tail(svc));
    }

    static String tail(String svc) throws IOException {
        List<String> lines = Files.readAllLines(logs.get(svc));
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    }

    @AfterAll
    static void stopTopology() throws Exception {
        // Reverse order, gracefully (SIGTERM runs the launcher's shutdown hook), as `docker compose down` does.
        for (int i = processes.size() - 1; i >= 0; i--) {
            Process p = processes.get(i);
            p.destroy();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        }
        for (Path log : logs.values()) {
            Files.deleteIfExists(log);
        }
        if (downloadDir != null) {
            try (Stream<Path> s = Files.walk(downloadDir)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void aCompletionThroughTheGatewayReproducesTheGoldenGreedyText() throws Exception {
        assumeTrue(skipReason == null, skipReason);
        JsonNode golden = Repo.JSON.readTree(modelDir.resolve("golden.json").toFile()).get(0);
        String served = ComposeFileTest.flag(ComposeFileTest.command("gateway"), "--served-model-name");
        String body = Repo.JSON.writeValueAsString(Map.of("model", served, "prompt", golden.get("prompt").asText(),
                "max_tokens", 16, "temperature", 0));
        HttpResponse<String> r = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + gatewayPort + "/v1/completions"))
                        .timeout(Duration.ofSeconds(60))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        String text = Repo.JSON.readTree(r.body()).get("choices").get(0).get("text").asText();
        assertFalse(text.isBlank(), r.body());
        assertTrue(golden.get("greedy_text").asText().startsWith(text),
                "greedy continuation differs from golden.json: got '" + text + "'");
    }

    @Test
    void modelsEndpointAnswersWithTheServedName() throws Exception {
        assumeTrue(skipReason == null, skipReason);
        HttpResponse<String> r = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + gatewayPort + "/v1/models")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(ComposeFileTest.flag(ComposeFileTest.command("gateway"), "--served-model-name"),
                Repo.JSON.readTree(r.body()).get("data").get(0).get("id").asText());
    }
}
