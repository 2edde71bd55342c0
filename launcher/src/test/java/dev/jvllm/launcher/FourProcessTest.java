package dev.jvllm.launcher;

import dev.jvllm.common.testing.SharedData;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The four roles as four JVMs on loopback ports, talking Netty gRPC: the same golden text as all-in-one. */
class FourProcessTest {
    static RoleProcesses roles;
    static Http http;

    @BeforeAll
    static void start() throws Exception {
        roles = RoleProcesses.start(SharedData.stories260K().toString(), Map.of());
        http = new Http(roles.gateway);
    }

    @AfterAll
    static void stop() throws Exception {
        if (roles != null) {
            roles.close();
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
