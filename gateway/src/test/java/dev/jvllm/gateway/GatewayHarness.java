package dev.jvllm.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** A gateway on an ephemeral port in front of in-process fake Tokenizer and Engine services. */
final class GatewayHarness implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();

    final FakeTokenizer tokenizer = new FakeTokenizer();
    final FakeEngine engine = new FakeEngine();
    /** In-process name of the fake services' server (a test may restart a server under it). */
    final String name;
    final Server grpcServer;
    final ManagedChannel channel;
    final ManagedChannel engineChannel;
    final GatewayServer gateway;
    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    final int port;

    GatewayHarness(GatewayOptions options) throws Exception {
        this(options, false);
    }

    /** With {@code engineMissing} the engine channel points at no server (every engine call is UNAVAILABLE). */
    GatewayHarness(GatewayOptions options, boolean engineMissing) throws Exception {
        name = "gw-test-" + System.nanoTime();
        grpcServer = InProcessServerBuilder.forName(name).addService(tokenizer).addService(engine).build().start();
        channel = InProcessChannelBuilder.forName(name).build();
        engineChannel = engineMissing ? InProcessChannelBuilder.forName(name + "-nowhere").build() : channel;
        gateway = new GatewayServer(options.withHost("127.0.0.1").withPort(0), channel, engineChannel);
        port = gateway.start();
    }

    static GatewayOptions options() {
        return new GatewayOptions("127.0.0.1", 0, List.of("fake", "fake-alias"), null, 0, 8, 4, 5, 2,
                Duration.ofSeconds(5), Duration.ofSeconds(60));
    }

    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    HttpResponse<String> post(String path, String body, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (headers.length > 0) b.headers(headers);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(String path, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(30)).GET();
        if (headers.length > 0) b.headers(headers);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode json(HttpResponse<String> r) throws IOException {
        return JSON.readTree(r.body());
    }

    /** Parses an SSE body: the JSON events in order; asserts the framing and the final [DONE]. */
    static List<JsonNode> sse(String body) throws IOException {
        if (!body.endsWith("data: [DONE]\n\n")) throw new AssertionError("stream does not end with [DONE]: " + body);
        List<JsonNode> events = new ArrayList<>();
        String[] parts = body.split("\n\n");
        for (int i = 0; i < parts.length; i++) {
            String p = parts[i];
            if (!p.startsWith("data: ")) throw new AssertionError("not an SSE data line: " + p);
            String data = p.substring(6);
            if (data.equals("[DONE]")) {
                if (i != parts.length - 1) throw new AssertionError("[DONE] before the end");
                break;
            }
            events.add(JSON.readTree(data));
        }
        return events;
    }

    @Override
    public void close() {
        gateway.close();
        channel.shutdownNow();
        engineChannel.shutdownNow();
        grpcServer.shutdownNow();
        engine.shutdown();
    }
}
