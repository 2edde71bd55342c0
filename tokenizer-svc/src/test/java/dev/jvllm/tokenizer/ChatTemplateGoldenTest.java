package dev.jvllm.tokenizer;

import dev.jvllm.common.testing.SharedData;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/** Every case of the shared chat_golden.json files, rendered byte for byte as transformers does. */
class ChatTemplateGoldenTest {
    static final ZonedDateTime GOLDEN_DAY = ZonedDateTime.of(2026, 11, 22, 12, 0, 0, 0, ZoneOffset.UTC);

    @TestFactory
    Stream<DynamicTest> qwen3() throws IOException {
        return cases("qwen3");
    }

    @TestFactory
    Stream<DynamicTest> llama3() throws IOException {
        return cases("llama3");
    }

    private static Stream<DynamicTest> cases(String name) throws IOException {
        Path dir = SharedData.tokenizers(name);
        TokenizerConfig config = TokenizerConfig.read(dir, dir);
        ChatTemplate template = new ChatTemplate(config.chatTemplate(), config.specialTokens(), () -> GOLDEN_DAY);
        JsonNode golden = Json.MAPPER.readTree(Files.readString(dir.resolve("chat_golden.json")));
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : golden.get("cases")) {
            tests.add(DynamicTest.dynamicTest(name + ": " + c.get("name").asText(), () -> {
                ChatTemplate.Request request = new ChatTemplate.Request(
                        c.get("messages").toString(),
                        c.has("tools") ? c.get("tools").toString() : "",
                        c.has("documents") ? c.get("documents").toString() : "",
                        c.path("add_generation_prompt").asBoolean(false),
                        c.path("continue_final_message").asBoolean(false),
                        c.has("kwargs") ? c.get("kwargs").toString() : "");
                assertEquals(c.get("rendered").asText(), template.render(request));
            }));
        }
        assertFalse(tests.isEmpty());
        return tests.stream();
    }
}
