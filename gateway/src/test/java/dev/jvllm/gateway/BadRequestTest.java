package dev.jvllm.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static dev.jvllm.gateway.GatewayHarness.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Table of invalid requests: each gets the right status, error type and param; the server keeps serving. */
class BadRequestTest {
    static GatewayHarness h;

    @BeforeAll
    static void start() throws Exception {
        h = new GatewayHarness(GatewayHarness.options()); // maxN 8, 4 stop strings, 5 logprobs
    }

    @AfterAll
    static void stop() {
        h.close();
    }

    record Case(String path, String body, int status, String type, String param) {
        @Override
        public String toString() {
            return status + " " + param + " <- " + path + " " + body;
        }
    }

    static final String CMPL = "/v1/completions", CHAT = "/v1/chat/completions";
    static final String MSG = "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]";

    static Case bad(String path, String body, String param) {
        return new Case(path, body, 400, "BadRequestError", param);
    }

    static Case cmpl(String fields, String param) {
        return bad(CMPL, "{\"prompt\":\"Hi\"," + fields + "}", param);
    }

    static Case chat(String fields, String param) {
        return bad(CHAT, "{" + MSG + "," + fields + "}", param);
    }

    static List<Case> cases() {
        List<Case> c = new ArrayList<>();
        c.add(bad(CMPL, "{", null));
        c.add(bad(CMPL, "[]", null));
        c.add(bad(CMPL, "", null));
        c.add(bad(CMPL, "{}", "prompt"));
        c.add(bad(CMPL, "{\"prompt\":5}", "prompt"));
        c.add(bad(CMPL, "{\"prompt\":[]}", "prompt"));
        c.add(bad(CMPL, "{\"prompt\":[1,\"a\"]}", "prompt"));
        c.add(bad(CMPL, "{\"prompt\":[[]]}", "prompt"));
        c.add(bad(CMPL, "{\"prompt\":[-1]}", "prompt"));
        c.add(bad(CMPL, "{\"prompt\":[500]}", "prompt"));
        c.add(bad(CMPL, "{\"prompt\":{}}", "prompt"));
        c.add(cmpl("\"model\":5", "model"));
        c.add(new Case(CMPL, "{\"prompt\":\"Hi\",\"model\":\"nope\"}", 404, "NotFoundError", "model"));
        c.add(cmpl("\"max_tokens\":0", "max_tokens"));
        c.add(cmpl("\"max_tokens\":\"10\"", "max_tokens"));
        c.add(cmpl("\"max_tokens\":1.5", "max_tokens"));
        c.add(cmpl("\"temperature\":-0.1", "temperature"));
        c.add(cmpl("\"temperature\":\"hot\"", "temperature"));
        c.add(cmpl("\"top_p\":0", "top_p"));
        c.add(cmpl("\"top_p\":1.5", "top_p"));
        c.add(cmpl("\"top_k\":-2", "top_k"));
        c.add(cmpl("\"min_p\":1.5", "min_p"));
        c.add(cmpl("\"presence_penalty\":3", "presence_penalty"));
        c.add(cmpl("\"frequency_penalty\":-2.5", "frequency_penalty"));
        c.add(cmpl("\"repetition_penalty\":0", "repetition_penalty"));
        c.add(cmpl("\"n\":0", "n"));
        c.add(cmpl("\"n\":9", "n"));
        c.add(cmpl("\"best_of\":3", "best_of"));
        c.add(cmpl("\"logprobs\":6", "logprobs"));
        c.add(cmpl("\"logprobs\":true", "logprobs"));
        c.add(cmpl("\"stop\":5", "stop"));
        c.add(cmpl("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop"));
        c.add(cmpl("\"stop\":[\"\"]", "stop"));
        c.add(cmpl("\"stop_token_ids\":\"x\"", "stop_token_ids"));
        c.add(cmpl("\"logit_bias\":{\"abc\":1}", "logit_bias"));
        c.add(cmpl("\"logit_bias\":{\"5\":200}", "logit_bias"));
        c.add(cmpl("\"stream\":\"yes\"", "stream"));
        c.add(cmpl("\"stream_options\":{\"include_usage\":true}", "stream_options"));
        c.add(cmpl("\"stream\":true,\"stream_options\":{\"foo\":true}", "stream_options"));
        c.add(cmpl("\"min_tokens\":10,\"max_tokens\":5", "min_tokens"));
        c.add(cmpl("\"seed\":\"x\"", "seed"));
        c.add(cmpl("\"echo\":\"yes\"", "echo"));
        c.add(cmpl("\"suffix\":\"x\"", "suffix"));
        c.add(cmpl("\"stream\":true,\"prompt_logprobs\":1", "prompt_logprobs"));
        c.add(cmpl("\"use_beam_search\":true", "use_beam_search"));
        c.add(cmpl("\"response_format\":{\"type\":\"json_object\"}", "response_format"));
        c.add(cmpl("\"allowed_token_ids\":[]", "allowed_token_ids"));
        c.add(cmpl("\"bad_words\":\"x\"", "bad_words"));
        c.add(cmpl("\"skip_special_tokens\":1", "skip_special_tokens"));
        c.add(cmpl("\"cache_salt\":\"\"", "cache_salt"));
        c.add(bad(CHAT, "{}", "messages"));
        c.add(bad(CHAT, "{\"messages\":\"hi\"}", "messages"));
        c.add(bad(CHAT, "{\"messages\":[]}", "messages"));
        c.add(bad(CHAT, "{\"messages\":[{\"content\":\"x\"}]}", "messages"));
        c.add(bad(CHAT, "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", "messages"));
        c.add(bad(CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages"));
        c.add(bad(CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}", "messages"));
        c.add(bad(CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":null}]}", "messages"));
        c.add(chat("\"top_logprobs\":2", "top_logprobs"));
        c.add(chat("\"logprobs\":true,\"top_logprobs\":9", "top_logprobs"));
        c.add(chat("\"max_completion_tokens\":0", "max_completion_tokens"));
        c.add(chat("\"add_generation_prompt\":true,\"continue_final_message\":true", "continue_final_message"));
        c.add(chat("\"tools\":\"x\"", "tools"));
        c.add(chat("\"chat_template_kwargs\":[]", "chat_template_kwargs"));
        c.add(chat("\"tool_choice\":\"required\"", "tool_choice"));
        c.add(new Case(CHAT, "{" + MSG + ",\"model\":\"gpt-4\"}", 404, "NotFoundError", "model"));
        c.add(bad("/tokenize", "{\"model\":\"fake\"}", "prompt"));
        c.add(bad("/detokenize", "{\"tokens\":\"x\"}", "tokens"));
        c.add(bad("/detokenize", "{}", "tokens"));
        c.add(new Case("/v1/nope", "{}", 404, "NotFoundError", null));
        return c;
    }

    @TestFactory
    Stream<DynamicTest> badRequestsThenAGoodOne() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Case c : cases()) {
            tests.add(DynamicTest.dynamicTest(c.toString(), () -> {
                HttpResponse<String> r = h.post(c.path(), c.body());
                assertEquals(c.status(), r.statusCode(), r.body());
                JsonNode err = json(r).get("error");
                assertEquals(c.type(), err.get("type").asText(), r.body());
                if (c.param() == null) assertTrue(err.get("param").isNull(), r.body());
                else assertEquals(c.param(), err.get("param").asText(), r.body());
                assertEquals(c.status(), err.get("code").asInt());
                assertFalse(err.get("message").asText().isBlank());
            }));
        }
        tests.add(DynamicTest.dynamicTest("a good request still succeeds", () -> {
            HttpResponse<String> r = h.post(CMPL, "{\"prompt\":\"Hi\",\"max_tokens\":2}");
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("He", json(r).at("/choices/0/text").asText());
        }));
        assertTrue(tests.size() > 40);
        return tests.stream();
    }
}
