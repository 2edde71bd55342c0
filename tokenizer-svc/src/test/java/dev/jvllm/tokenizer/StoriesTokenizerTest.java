package dev.jvllm.tokenizer;

import dev.jvllm.common.testing.SharedData;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jvllm.proto.ChatInput;
import dev.jvllm.proto.DecodeRequest;
import dev.jvllm.proto.DecodeStreamIds;
import dev.jvllm.proto.DecodeStreamRequest;
import dev.jvllm.proto.EncodeRequest;
import dev.jvllm.proto.EncodeResponse;
import dev.jvllm.proto.IdsToTokensRequest;
import dev.jvllm.proto.IdsToTokensResponse;
import dev.jvllm.proto.TokenizerInfo;
import dev.jvllm.proto.TokenizerInfoRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real stories260K model directory, served over in-process gRPC, against its golden.json. */
class StoriesTokenizerTest {
    private static InProcessTokenizer tok;
    private static JsonNode golden;

    @BeforeAll
    static void start() throws Exception {
        tok = new InProcessTokenizer(TokenizerService.load(TokenizerOptions.of(SharedData.stories260K())));
        golden = Json.MAPPER.readTree(Files.readString(SharedData.stories260K().resolve("golden.json")));
    }

    @AfterAll
    static void stop() throws Exception {
        tok.close();
    }

    private static List<Integer> ints(JsonNode array) {
        List<Integer> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asInt()));
        return out;
    }

    @Test
    void encodesGoldenPromptsWithBos() {
        for (JsonNode g : golden) {
            EncodeResponse r = tok.blocking.encode(EncodeRequest.newBuilder().setText(g.get("prompt").asText()).build());
            assertEquals(ints(g.get("prompt_ids")), r.getIdsList(), g.get("prompt").asText());
            assertEquals(g.get("prompt").asText(), r.getPromptText());
            assertEquals(r.getIdsCount(), r.getOffsetsCount());
        }
        EncodeResponse noBos = tok.blocking.encode(
                EncodeRequest.newBuilder().setText("Once upon a time").setAddSpecialTokens(false).build());
        assertEquals(List.of(403, 407, 261, 378), noBos.getIdsList());
        assertEquals(List.of(0, 4, 9, 11), noBos.getOffsetsList());
    }

    @Test
    void streamsGreedyTextInPromptContext() throws Exception {
        for (JsonNode g : golden) {
            List<Integer> prompt = ints(g.get("prompt_ids"));
            List<Integer> greedy = ints(g.get("greedy_ids"));
            List<List<Integer>> oneByOne = greedy.stream().map(List::of).toList();
            List<String> deltas = tok.decodeStream(prompt, oneByOne, true);
            assertEquals(greedy.size(), deltas.size(), "one response per ids message");
            assertEquals(g.get("greedy_text").asText(), String.join("", deltas));
        }
    }

    @Test
    void fullDecodeAgreesWithStreaming() {
        for (JsonNode g : golden) {
            List<Integer> all = new ArrayList<>(ints(g.get("prompt_ids")));
            String prompt = decode(all);
            all.addAll(ints(g.get("greedy_ids")));
            assertEquals(g.get("prompt").asText(), prompt);
            assertEquals(prompt + g.get("greedy_text").asText(), decode(all));
        }
    }

    private static String decode(List<Integer> ids) {
        return tok.blocking.decode(DecodeRequest.newBuilder().addAllIds(ids).setSkipSpecialTokens(true).build()).getText();
    }

    @Test
    void longPromptsAreNotTruncated() {
        String text = "Once upon a time there was a dog. ".repeat(200);
        EncodeResponse r = tok.blocking.encode(EncodeRequest.newBuilder().setText(text).build());
        assertTrue(r.getIdsCount() > 1000, "got " + r.getIdsCount());
        assertEquals(text, decode(r.getIdsList()));
    }

    @Test
    void info() {
        TokenizerInfo info = tok.blocking.getInfo(TokenizerInfoRequest.getDefaultInstance());
        assertEquals(512, info.getVocabSize());
        assertEquals(1, info.getBosTokenId());
        assertEquals(List.of(2), info.getEosTokenIdsList());
        assertEquals("<s>", info.getBosToken());
        assertEquals("</s>", info.getEosToken());
        assertEquals(2048, info.getModelMaxLength());
        assertFalse(info.getHasChatTemplate());
    }

    @Test
    void idsToTokens() {
        IdsToTokensResponse r = tok.blocking.idsToTokens(IdsToTokensRequest.newBuilder().addAllIds(List.of(403, 432)).build());
        assertEquals(List.of("▁Once", ","), r.getTokensList());
        assertEquals(2, r.getTextsCount());
    }

    @Test
    void outOfRangeIdsAreInvalidArgument() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> tok.blocking.decode(
                DecodeRequest.newBuilder().addAllIds(List.of(1, 512)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("512"));
        e = assertThrows(StatusRuntimeException.class, () -> tok.blocking.idsToTokens(
                IdsToTokensRequest.newBuilder().addIds(-1).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        e = assertThrows(StatusRuntimeException.class, () -> tok.decodeStream(List.of(1), List.of(List.of(99999)), true));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        // and the service keeps serving
        assertEquals("Once", decode(List.of(1, 403)));
    }

    @Test
    void decodeStreamMustStartWithStart() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> tok.rawDecodeStream(List.of(
                DecodeStreamRequest.newBuilder().setIds(DecodeStreamIds.newBuilder().addIds(403)).build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    }

    @Test
    void decodeStreamRejectsASecondStartAndFlushesOnLast() throws Exception {
        DecodeStreamRequest start = DecodeStreamRequest.newBuilder()
                .setStart(dev.jvllm.proto.DecodeStreamStart.newBuilder().addPromptIds(1)).build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> tok.rawDecodeStream(List.of(start, start)));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        // the emoji is four byte-fallback tokens: without its last byte it is held back until `last`
        List<Integer> e1 = tok.blocking.encode(EncodeRequest.newBuilder().setText("😀").setAddSpecialTokens(false)
                .build()).getIdsList();
        assertTrue(e1.size() >= 4, "byte fallback expected: " + e1);
        List<String> held = tok.decodeStream(List.of(1), List.of(e1.subList(0, e1.size() - 1), List.of()), true);
        assertEquals(List.of("", "\uFFFD"), held.stream().map(d -> d.replaceAll("\uFFFD+", "\uFFFD")).toList(),
                "an unfinished character is only emitted (as U+FFFD, like the full decode) on last");
    }

    @Test
    void chatWithoutTemplateIsFailedPrecondition() {
        EncodeRequest chat = EncodeRequest.newBuilder().setChat(ChatInput.newBuilder()
                .setMessagesJson("[{\"role\":\"user\",\"content\":\"hi\"}]").setAddGenerationPrompt(true)).build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> tok.blocking.encode(chat));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertEquals(TokenizerService.NO_CHAT_TEMPLATE, e.getStatus().getDescription());
    }

    @Test
    void requestTemplateWorksWithoutModelTemplate() {
        EncodeResponse r = tok.blocking.encode(EncodeRequest.newBuilder().setChat(ChatInput.newBuilder()
                .setMessagesJson("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Once upon\"},"
                        + "{\"type\":\"text\",\"text\":\"a time\"}]}]")
                .setChatTemplate("{{ bos_token }}{% for m in messages %}{{ m.content | replace('\\n', ' ') }}{% endfor %}"))
                .build());
        assertEquals("<s>Once upon a time", r.getPromptText());
        // chat prompts do not get a second BOS from the tokenizer
        EncodeResponse plain = tok.blocking.encode(EncodeRequest.newBuilder()
                .setText("<s>Once upon a time").setAddSpecialTokens(false).build());
        assertEquals(plain.getIdsList(), r.getIdsList());
    }

    @Test
    void templateOverrideFromOptionsFileOrLiteral(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("t.jinja");
        Files.writeString(file, "{% for m in messages %}[{{ m.role | upper }}] {{ m.content }}\n{% endfor %}");
        for (String option : List.of(file.toString(), Files.readString(file))) {
            try (TokenizerService s = TokenizerService.load(new TokenizerOptions(SharedData.stories260K(), null, option))) {
                String rendered = s.renderChat(ChatInput.newBuilder()
                        .setMessagesJson("[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"yo\"}]")
                        .build());
                assertEquals("[USER] hi\n[ASSISTANT] yo\n", rendered);
            }
        }
    }

    @Test
    void missingOrCorruptTokenizerFailsAtLoadNamingTheFile(@TempDir Path dir) throws Exception {
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> TokenizerService.load(TokenizerOptions.of(dir)));
        assertTrue(missing.getMessage().contains(dir.resolve("tokenizer.json").toString()), missing.getMessage());
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"vocab\": {\"a\": 0}}, \"truncated");
        IllegalArgumentException corrupt = assertThrows(IllegalArgumentException.class,
                () -> TokenizerService.load(TokenizerOptions.of(dir)));
        assertTrue(corrupt.getMessage().contains(dir.resolve("tokenizer.json").toString()), corrupt.getMessage());
    }
}
