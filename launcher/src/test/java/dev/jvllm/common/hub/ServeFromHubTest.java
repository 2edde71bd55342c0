package dev.jvllm.common.hub;

import dev.jvllm.common.testing.SharedData;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jvllm.launcher.Deployment;
import dev.jvllm.launcher.ServeCommand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code serve --model org/stories260K} against a local fake hub serves the golden text; a gated repo fails clearly. */
class ServeFromHubTest {

    @Test
    void servesAHubModelAndReportsGatedOnes(@TempDir Path tmp) throws Exception {
        ObjectMapper json = new ObjectMapper();
        JsonNode golden = json.readTree(Files.readString(SharedData.stories260K().resolve("golden.json"))).get(0);
        FakeHub.Repo gated = new FakeHub.Repo("org/gated").file("config.json", "{}");
        gated.access = FakeHub.Access.GATED;
        try (FakeHub hub = new FakeHub().add(new FakeHub.Repo("org/stories260K").folder(SharedData.stories260K())).add(gated)) {
            HubOptions options = HubOptions.fromEnvironment(Map.of("HF_ENDPOINT", hub.endpoint().toString(),
                    "HF_TOKEN", FakeHub.GOOD_TOKEN, "HOME", tmp.toString()));
            Path cache = tmp.resolve("cache");
            try (Deployment d = Deployment.start(ServeCommand.parse("--model", "org/stories260K", "--download-dir", cache.toString(),
                    "--port", "0", "--host", "127.0.0.1", "--kv-cache-space", "0.05"), options)) {
                HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + d.httpPort() + "/v1/completions"))
                        .timeout(Duration.ofSeconds(60))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(Map.of("model", "org/stories260K",
                                "prompt", golden.get("prompt").asText(), "max_tokens", 40, "temperature", 0))))
                        .build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), r.body());
                assertEquals(golden.get("greedy_text").asText(), json.readTree(r.body()).get("choices").get(0).get("text").asText());
            }
            assertTrue(Files.isDirectory(cache.resolve("models--org--stories260K/snapshots")));

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Deployment.start(ServeCommand.parse(
                    "--model", "org/gated", "--download-dir", cache.toString(), "--port", "0"), options).close());
            assertTrue(e.getMessage().contains("gated"), e.getMessage());
        }
    }
}
