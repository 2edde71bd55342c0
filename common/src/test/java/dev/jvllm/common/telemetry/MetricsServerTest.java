package dev.jvllm.common.telemetry;

import dev.jvllm.common.metrics.PrometheusTextParser;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Roles without the gateway's HTTP port serve their process metrics on their own port. */
class MetricsServerTest {
    @Test
    void servesTheProcessRegistryInTheTextFormat() throws Exception {
        try (Telemetry t = Telemetry.noTracing("worker")) {
            int port = t.startMetricsServer("127.0.0.1", 0);
            HttpResponse<String> r = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode());
            var families = PrometheusTextParser.parse(r.body());
            assertEquals("gauge", families.get("jvm_threads_current").type());
            assertEquals("counter", families.get("process_cpu_seconds_total").type());
        }
    }
}
