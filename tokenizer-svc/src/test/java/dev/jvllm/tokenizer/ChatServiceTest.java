package dev.jvllm.tokenizer;

import dev.jvllm.common.testing.SharedData;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jvllm.proto.ChatInput;
import dev.jvllm.proto.EncodeRequest;
import dev.jvllm.proto.EncodeResponse;
import dev.jvllm.proto.TokenizerInfo;
import dev.jvllm.proto.TokenizerInfoRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Qwen3 and Llama 3 tokenizers with their chat templates, through the gRPC service. */
class ChatServiceTest {
    private static InProcessTokenizer qwen3;
    private static InProcessTokenizer llama3;

    @BeforeAll
    static void start() throws Exception {
        qwen3 = new InProcessTokenizer(TokenizerService.load(TokenizerOptions.of(SharedData.tokenizers("qwen3")),
                () -> ChatTemplateGoldenTest.GOLDEN_DAY));
        llama3 = new InProcessTokenizer(TokenizerService.load(TokenizerOptions.of(SharedData.tokenizers("llama3")),
                () -> ChatTemplateGoldenTest.GOLDEN_DAY));
    }

    @AfterAll
    static void stop() throws Exception {
        qwen3.close();
        llama3.close();
    }

    private static EncodeResponse chat(InProcessTokenizer tok, ChatInput.Builder chat) {
        return tok.blocking.encode(EncodeRequest.newBuilder().setChat(chat).build());
    }

    private static List<Integer> text(InProcessTokenizer tok, String text, boolean addSpecial) {
        return tok.blocking.encode(EncodeRequest.newBuilder().setText(text).setAddSpecialTokens(addSpecial).build())
                .getIdsList();
    }

    @Test
    void goldenChatsEncodeToTheirRenderedText() throws Exception {
        for (String name : List.of("qwen3", "llama3")) {
            InProcessTokenizer tok = name.equals("qwen3") ? qwen3 : llama3;
            JsonNode golden = Json.MAPPER.readTree(Files.readString(SharedData.tokenizers(name).resolve("chat_golden.json")));
            for (JsonNode c : golden.get("cases")) {
                ChatInput.Builder in = ChatInput.newBuilder()
                        .setMessagesJson(c.get("messages").toString())
                        .setAddGenerationPrompt(c.path("add_generation_prompt").asBoolean());
                if (c.has("tools")) {
                    in.setToolsJson(c.get("tools").toString());
                }
                if (c.has("kwargs")) {
                    in.setChatTemplateKwargsJson(c.get("kwargs").toString());
                }
                EncodeResponse r = chat(tok, in);
                String rendered = c.get("rendered").asText();
                assertEquals(rendered, r.getPromptText(), name + ": " + c.get("name").asText());
                assertEquals(text(tok, rendered, false), r.getIdsList(), "chat prompts get no extra special tokens");
            }
        }
        List<Integer> llamaIds = chat(llama3, ChatInput.newBuilder()
                .setMessagesJson("[{\"role\":\"user\",\"content\":\"hi\"}]").setAddGenerationPrompt(true)).getIdsList();
        assertEquals(128000, llamaIds.get(0));
        assertEquals(1, llamaIds.stream().filter(id -> id == 128000).count(), "exactly one BOS");
    }

    @Test
    void toolCallArgumentsAsJsonStringAreParsed() throws Exception {
        JsonNode golden = Json.MAPPER.readTree(Files.readString(SharedData.tokenizers("qwen3").resolve("chat_golden.json")));
        JsonNode c = golden.get("cases").get(3);
        assertEquals("tool call and tool result", c.get("name").asText());
        String messages = c.get("messages").toString().replace("\"arguments\":{\"city\":\"Paris\"}",
                "\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"");
        assertTrue(messages.contains("\\\"city\\\""), messages);
        EncodeResponse r = chat(qwen3, ChatInput.newBuilder().setMessagesJson(messages)
                .setToolsJson(c.get("tools").toString()).setAddGenerationPrompt(true));
        assertEquals(c.get("rendered").asText(), r.getPromptText());
    }

    @Test
    void textPartsAreJoinedWithNewlines() {
        String parts = "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"first\"},"
                + "{\"type\":\"text\",\"text\":\"second\"}]}]";
        String plain = "[{\"role\":\"user\",\"content\":\"first\\nsecond\"}]";
        assertEquals(chat(qwen3, ChatInput.newBuilder().setMessagesJson(plain)).getPromptText(),
                chat(qwen3, ChatInput.newBuilder().setMessagesJson(parts)).getPromptText());
    }

    @Test
    void continueFinalMessageCutsAfterItsContent() {
        String messages = "[{\"role\":\"user\",\"content\":\"2+2?\"},{\"role\":\"assistant\",\"content\":\"The answer is\"}]";
        String full = chat(qwen3, ChatInput.newBuilder().setMessagesJson(messages)).getPromptText();
        assertTrue(full.endsWith("The answer is<|im_end|>\n"), full);
        String cont = chat(qwen3, ChatInput.newBuilder().setMessagesJson(messages).setContinueFinalMessage(true))
                .getPromptText();
        assertEquals(full.substring(0, full.length() - "<|im_end|>\n".length()), cont);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> chat(qwen3, ChatInput.newBuilder()
                .setMessagesJson(messages).setContinueFinalMessage(true).setAddGenerationPrompt(true)));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    }

    @Test
    void templateErrorsAreInvalidArgumentWithTheMessage() {
        String messages = "[{\"role\":\"user\",\"content\":\"hi\"}]";
        StatusRuntimeException raised = assertThrows(StatusRuntimeException.class, () -> chat(qwen3,
                ChatInput.newBuilder().setMessagesJson(messages)
                        .setChatTemplate("{% if messages[0].role != 'system' %}{{ raise_exception('System message required') }}{% endif %}")));
        assertEquals(Status.Code.INVALID_ARGUMENT, raised.getStatus().getCode());
        assertTrue(raised.getStatus().getDescription().contains("System message required"), raised.getMessage());

        StatusRuntimeException undefined = assertThrows(StatusRuntimeException.class, () -> chat(qwen3,
                ChatInput.newBuilder().setMessagesJson(messages).setChatTemplate("{{ messages[0].nope.deeper }}")));
        assertEquals(Status.Code.INVALID_ARGUMENT, undefined.getStatus().getCode());
        assertTrue(undefined.getStatus().getDescription().contains("'nope' is undefined"), undefined.getMessage());

        StatusRuntimeException syntax = assertThrows(StatusRuntimeException.class, () -> chat(qwen3,
                ChatInput.newBuilder().setMessagesJson(messages).setChatTemplate("{% for m in messages %}")));
        assertEquals(Status.Code.INVALID_ARGUMENT, syntax.getStatus().getCode());

        StatusRuntimeException badJson = assertThrows(StatusRuntimeException.class, () -> chat(qwen3,
                ChatInput.newBuilder().setMessagesJson("[{\"role\":")));
        assertEquals(Status.Code.INVALID_ARGUMENT, badJson.getStatus().getCode());
        assertTrue(badJson.getStatus().getDescription().contains("messages"), badJson.getMessage());

        // the model's own template still serves
        assertEquals("<|im_start|>user\nhi<|im_end|>\n",
                chat(qwen3, ChatInput.newBuilder().setMessagesJson(messages)).getPromptText());
    }

    @Test
    void infoFromTokenizerConfig() {
        TokenizerInfo q = qwen3.blocking.getInfo(TokenizerInfoRequest.getDefaultInstance());
        assertEquals(151669, q.getVocabSize());
        assertTrue(q.getHasChatTemplate());
        assertEquals(List.of(151645), q.getEosTokenIdsList());
        assertEquals("<|im_end|>", q.getEosToken());
        assertFalse(q.hasBosTokenId());
        assertEquals(131072, q.getModelMaxLength());

        TokenizerInfo l = llama3.blocking.getInfo(TokenizerInfoRequest.getDefaultInstance());
        assertEquals(128256, l.getVocabSize());
        assertEquals(128000, l.getBosTokenId());
        assertEquals(List.of(128001), l.getEosTokenIdsList());
        assertEquals(0, l.getModelMaxLength(), "1e30 means 'not set'");
    }

    @Test
    void offsetsAreUtf16IndicesIntoThePrompt() {
        String text = "Hi 😀 there";
        // this Llama 3 tokenizer.json has no BOS post-processor, so text encodes without one (as in transformers)
        EncodeResponse r = llama3.blocking.encode(EncodeRequest.newBuilder().setText(text).build());
        assertEquals(0, r.getOffsets(0));
        assertEquals(text.indexOf(" there"), r.getOffsets(r.getOffsetsCount() - 1));
        for (int i = 1; i < r.getOffsetsCount(); i++) {
            assertTrue(r.getOffsets(i) >= r.getOffsets(i - 1) && r.getOffsets(i) <= text.length());
        }
    }

    @Test
    void streamsAnswerAfterChatPromptOverGrpc() throws Exception {
        List<Integer> prompt = chat(qwen3, ChatInput.newBuilder()
                .setMessagesJson("[{\"role\":\"user\",\"content\":\"hi\"}]").setAddGenerationPrompt(true)).getIdsList();
        String answer = "Sure! 😀 中文 café 👨‍👩‍👧<|im_end|>";
        List<Integer> generated = text(qwen3, answer, false);
        List<List<Integer>> oneByOne = generated.stream().map(List::of).toList();
        List<String> deltas = qwen3.decodeStream(prompt, oneByOne, true);
        assertEquals(generated.size(), deltas.size());
        assertEquals("Sure! 😀 中文 café 👨‍👩‍👧", String.join("", deltas));
        assertTrue(deltas.contains(""), "some character spans several byte-level tokens");
        List<String> withSpecial = qwen3.decodeStream(prompt, oneByOne, false);
        assertEquals(answer, String.join("", withSpecial));
    }
}
