package dev.jvllm.deploy;

import com.sun.net.httpserver.HttpServer;
import io.grpc.Server;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.ToolProvider;
import java.io.File;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The image's health checks (docker/GrpcHealthProbe.java, docker/jvllm-health.sh) against real servers. */
class HealthProbeTest {
    @TempDir
    static Path classes;

    @BeforeAll
    static void compileProbe() {
        int rc = ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", classes.toString(),
                "-cp", System.getProperty("java.class.path"), Repo.path("docker/GrpcHealthProbe.java").toString());
        assertEquals(0, rc, "docker/GrpcHealthProbe.java does not compile against grpc-java");
    }

    static ComposeFileTest.Result probe(String target) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        // The flags jvllm-health.sh starts the probe with: a short-lived JVM, C1 only.
        return ComposeFileTest.run(List.of(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx64m",
                "--enable-native-access=ALL-UNNAMED", "-cp", classes + File.pathSeparator + System.getProperty("java.class.path"),
                "GrpcHealthProbe", target));
    }

    @Test
    void grpcProbeFollowsTheServersHealthStatus() throws Exception {
        HealthStatusManager health = new HealthStatusManager();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(health.getHealthService()).build().start();
        String target = "127.0.0.1:" + server.getPort();
        try {
            health.setStatus("", ServingStatus.SERVING);
            ComposeFileTest.Result ok = probe(target);
            assertEquals(0, ok.code(), ok.output());
            health.setStatus("", ServingStatus.NOT_SERVING);
            ComposeFileTest.Result notServing = probe(target);
            assertEquals(1, notServing.code(), notServing.output());
        } finally {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        ComposeFileTest.Result down = probe(target);
        assertEquals(1, down.code(), "a closed port must be unhealthy: " + down.output());
        assertEquals(2, probe("no-port").code());
    }

    @Test
    void httpCheckWantsA200FromHealth() throws Exception {
        assumeTrue(ComposeFileTest.onPath("bash"), "SKIPPED: no bash");
        HttpServer http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        int[] status = {200};
        http.createContext("/health", ex -> {
            byte[] body = "ok".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(status[0], body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        http.start();
        String script = Repo.path("docker/jvllm-health.sh").toString();
        String url = "http://127.0.0.1:" + http.getAddress().getPort() + "/health";
        try {
            assertEquals(0, ComposeFileTest.run(List.of("bash", script, url)).code());
            status[0] = 503;
            assertEquals(1, ComposeFileTest.run(List.of("bash", script, url)).code());
        } finally {
            http.stop(0);
        }
        assertEquals(1, ComposeFileTest.run(List.of("bash", script, url)).code(), "nothing listening: unhealthy");
    }
}
