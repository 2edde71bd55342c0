package dev.jvllm.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Random;

import static dev.jvllm.gateway.GatewayHarness.JSON;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Random bytes and mutated valid bodies against every JSON endpoint: each gets a success or a 4xx with an
 * OpenAI error body (never a 5xx, a hang or a dropped connection), and the server serves a good request after.
 */
class RequestBodyFuzzTest {
    private static final String[] PATHS = {"/v1/completions", "/v1/chat/completions", "/tokenize", "/detokenize"};
    private static final List<String> VALID = List.of(
            "{\"model\":\"fake\",\"prompt\":\"Hi there\",\"max_tokens\":5,\"temperature\":0.7,\"top_p\":0.9,\"n\":2,\"stop\":[\"x\"],\"logprobs\":2,\"seed\":3}",
            "{\"prompt\":[1,2,3],\"max_tokens\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true},\"echo\":true}",
            "{\"prompt\":[\"a\",\"b\"],\"best_of\":1,\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,\"logit_bias\":{\"5\":1.5},\"user\":\"u\"}",
            "{\"model\":\"fake\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief\"},{\"role\":\"user\",\"content\":\"Hi\"}],\"max_completion_tokens\":4,\"logprobs\":true,\"top_logprobs\":2}",
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]}],\"stream\":true,\"n\":1,\"stop\":\"x\",\"response_format\":{\"type\":\"text\"}}",
            "{\"prompt\":\"Hello\",\"add_special_tokens\":true}",
            "{\"tokens\":[72,105,33]}");

    @Test
    void randomAndMutatedBodiesGetSuccessOrA4xxWithAnOpenAiError() throws Exception {
        try (GatewayHarness h = new GatewayHarness(GatewayHarness.options())) {
            Random rnd = new Random(42);
            int ok = 0, clientErrors = 0;
            for (int iter = 0; iter < 360; iter++) {
                String path = PATHS[rnd.nextInt(PATHS.length)];
                byte[] body = switch (iter % 4) {
                    case 0 -> randomBytes(rnd);
                    case 1 -> textMutation(rnd, VALID.get(rnd.nextInt(VALID.size()))).getBytes(java.nio.charset.StandardCharsets.UTF_8);
                    default -> JSON.writeValueAsBytes(valueMutation(rnd, (ObjectNode) JSON.readTree(VALID.get(rnd.nextInt(VALID.size())))));
                };
                HttpResponse<String> r = h.http.send(HttpRequest.newBuilder(h.uri(path)).timeout(Duration.ofSeconds(30))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
                String what = path + " " + new String(body, java.nio.charset.StandardCharsets.UTF_8);
                int s = r.statusCode();
                if (s == 200) {
                    ok++;
                    if (r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"))
                        assertTrue(r.body().endsWith("data: [DONE]\n\n"), what + " -> unterminated stream: " + r.body());
                    continue;
                }
                if (s < 400 || s >= 500) fail(what + " -> " + s + " " + r.body());
                JsonNode err = JSON.readTree(r.body()).path("error");
                assertTrue(err.path("message").isTextual() && !err.path("message").asText().isBlank(), what + " -> " + r.body());
                assertEquals(s, err.path("code").asInt(), what + " -> " + r.body());
                clientErrors++;
            }
            assertTrue(clientErrors > 100 && ok > 10, "fuzzing did not reach both outcomes: ok " + ok + ", 4xx " + clientErrors);
            HttpResponse<String> good = h.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":3}");
            assertEquals(200, good.statusCode(), good.body());
        }
    }

    private static byte[] randomBytes(Random rnd) {
        byte[] b = new byte[rnd.nextInt(200)];
        rnd.nextBytes(b);
        return b;
    }

    private static final String NOISE = "{}[]\",:0123456789-.eEtrufalsn\\ \u00e9\ud83d\ude00\u0000";

    private static String textMutation(Random rnd, String s) {
        StringBuilder b = new StringBuilder(s);
        int edits = 1 + rnd.nextInt(3);
        for (int i = 0; i < edits && !b.isEmpty(); i++) {
            int at = rnd.nextInt(b.length());
            switch (rnd.nextInt(4)) {
                case 0 -> b.deleteCharAt(at);
                case 1 -> b.insert(at, NOISE.charAt(rnd.nextInt(NOISE.length())));
                case 2 -> b.setLength(at); // truncated
                default -> b.insert(at, b.substring(at, Math.min(b.length(), at + rnd.nextInt(20))));
            }
        }
        return b.toString();
    }

    /** Valid JSON, but one field (possibly nested) gets a value of a random type or out of range. */
    private static ObjectNode valueMutation(Random rnd, ObjectNode body) {
        List<ObjectNode> objects = new ArrayList<>();
        collect(body, objects);
        ObjectNode target = objects.get(rnd.nextInt(objects.size()));
        List<String> names = new ArrayList<>();
        for (Iterator<String> it = target.fieldNames(); it.hasNext(); ) names.add(it.next());
        String field = names.isEmpty() || rnd.nextInt(5) == 0 ? "x_" + rnd.nextInt(3) : names.get(rnd.nextInt(names.size()));
        JsonNodeFactory f = JsonNodeFactory.instance;
        JsonNode v = switch (rnd.nextInt(12)) {
            case 0 -> f.nullNode();
            case 1 -> f.numberNode(-1);
            case 2 -> f.numberNode(Long.MAX_VALUE);
            case 3 -> f.numberNode(new java.math.BigInteger("123456789012345678901234567890"));
            case 4 -> f.numberNode(1e308 * 10); // Infinity is not JSON: Jackson writes it as a string-ish token
            case 5 -> f.numberNode(-0.5);
            case 6 -> f.textNode("");
            case 7 -> f.textNode("\u0000\ud800x");
            case 8 -> f.booleanNode(rnd.nextBoolean());
            case 9 -> f.arrayNode().add(f.objectNode()).add(-7).add("s");
            case 10 -> f.objectNode().put("k", 1);
            default -> {
                ArrayNode big = f.arrayNode();
                for (int i = 0; i < 300; i++) big.add(rnd.nextInt(Integer.MAX_VALUE) - 1000);
                yield big;
            }
        };
        if (rnd.nextInt(6) == 0) target.remove(field);
        else target.set(field, v);
        return body;
    }

    private static void collect(JsonNode n, List<ObjectNode> out) {
        if (n instanceof ObjectNode o) out.add(o);
        for (JsonNode c : n) collect(c, out);
    }
}
