package dev.jvllm.launcher;

import dev.jvllm.common.testing.SharedData;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Two independently written official clients against a running server: the OpenAI Java SDK, and the
 * {@code openai} npm package (clients/node), so neither can tell it is not talking to vLLM.
 */
class OpenAiClientsTest {
    static Deployment server;
    static OpenAIClient client;
    static JsonNode golden;
    static Path goldenFile;

    @BeforeAll
    static void start() throws Exception {
        goldenFile = SharedData.stories260K().resolve("golden.json");
        golden = Http.JSON.readTree(Files.readString(goldenFile));
        Path template = Path.of(OpenAiClientsTest.class.getResource("/stories-chat-template.jinja").toURI());
        server = Deployment.start(ServeCommand.parse("--model", SharedData.stories260K().toString(),
                "--served-model-name", "stories", "--chat-template", template.toString(),
                "--port", "0", "--host", "127.0.0.1", "--kv-cache-space", "0.05"));
        client = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + server.httpPort() + "/v1")
                .apiKey("unused")
                .maxRetries(0)
                .build();
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static CompletionCreateParams.Builder greedy(String prompt, long maxTokens) {
        return CompletionCreateParams.builder().model("stories").prompt(prompt).maxTokens(maxTokens).temperature(0.0);
    }

    @Test
    void javaSdkCompletionsMatchGolden() {
        for (JsonNode g : golden) {
            Completion c = client.completions().create(greedy(g.get("prompt").asText(), 40).build());
            assertEquals(g.get("greedy_text").asText(), c.choices().get(0).text());
            assertEquals(CompletionChoice.FinishReason.LENGTH, c.choices().get(0).finishReason());
            assertEquals(40, c.usage().orElseThrow().completionTokens());
        }
    }

    @Test
    void javaSdkStreamingCompletion() {
        JsonNode g = golden.get(1);
        StringBuilder text = new StringBuilder();
        try (StreamResponse<Completion> s = client.completions().createStreaming(greedy(g.get("prompt").asText(), 40).build())) {
            s.stream().forEach(chunk -> chunk.choices().forEach(c -> text.append(c.text())));
        }
        assertEquals(g.get("greedy_text").asText(), text.toString());
    }

    @Test
    void javaSdkChatStreamedAndNot() {
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model("stories")
                .addUserMessage("Tell me a story.").maxCompletionTokens(16).temperature(0.0).build();
        ChatCompletion full = client.chat().completions().create(params);
        String content = full.choices().get(0).message().content().orElse("");
        assertFalse(content.isEmpty());
        StringBuilder streamed = new StringBuilder();
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(params)) {
            s.stream().forEach(chunk -> chunk.choices().forEach(c -> c.delta().content().ifPresent(streamed::append)));
        }
        assertEquals(content, streamed.toString());
    }

    @Test
    void javaSdkNWithSeedIsReproducible() {
        CompletionCreateParams params = CompletionCreateParams.builder().model("stories").prompt("The little dog")
                .maxTokens(12).temperature(1.0).n(3).seed(77).build();
        List<String> a = client.completions().create(params).choices().stream().map(CompletionChoice::text).toList();
        List<String> b = client.completions().create(params).choices().stream().map(CompletionChoice::text).toList();
        assertEquals(3, a.size());
        assertEquals(a, b);
    }

    @Test
    void javaSdkLogprobsAndStop() {
        Completion c = client.completions().create(greedy("Once upon a time", 5).logprobs(2).build());
        var lp = c.choices().get(0).logprobs().orElseThrow();
        assertEquals(5, lp.tokens().orElseThrow().size());
        assertTrue(lp.tokenLogprobs().orElseThrow().stream().allMatch(x -> x <= 0));

        JsonNode g = golden.get(0);
        String full = g.get("greedy_text").asText();
        Completion stopped = client.completions().create(greedy(g.get("prompt").asText(), 40).stop(" girl").build());
        assertEquals(full.substring(0, full.indexOf(" girl")), stopped.choices().get(0).text());
        assertEquals(CompletionChoice.FinishReason.STOP, stopped.choices().get(0).finishReason());
    }

    @Test
    void javaSdkTypedErrors() {
        assertThrows(BadRequestException.class, () -> client.completions().create(greedy("hi", 0).build()));
        assertThrows(NotFoundException.class, () -> client.completions().create(
                CompletionCreateParams.builder().model("no-such-model").prompt("hi").build()));
    }

    @Test
    void officialNpmClient() throws Exception {
        Path nodeDir = findNodeClientDir();
        boolean installed = Files.isDirectory(nodeDir.resolve("node_modules/openai"));
        if (!installed && System.getenv("CI") != null) {
            throw new AssertionError("clients/node/node_modules is missing: .ci/run installs it with npm ci");
        }
        assumeTrue(installed, "npm client not installed: run `npm ci --prefix clients/node` to include it");
        ProcessBuilder pb = new ProcessBuilder("node", "--test", "openai-client.test.mjs")
                .directory(nodeDir.toFile())
                .redirectErrorStream(true);
        pb.environment().put("JVLLM_BASE_URL", "http://127.0.0.1:" + server.httpPort() + "/v1");
        pb.environment().put("JVLLM_MODEL", "stories");
        pb.environment().put("JVLLM_GOLDEN", goldenFile.toString());
        File log = Files.createTempFile("node-client", ".log").toFile();
        pb.redirectOutput(log);
        Process p = pb.start();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "node client test timed out");
        String out = Files.readString(log.toPath());
        System.out.println(out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("# fail 0"), out);
    }

    static Path findNodeClientDir() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path c = p.resolve("clients/node");
            if (Files.isRegularFile(c.resolve("package.json"))) {
                return c;
            }
        }
        throw new IllegalStateException("clients/node not found");
    }
}
