package dev.jvllm.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jvllm.proto.ChatInput;
import dev.jvllm.proto.DecodeRequest;
import dev.jvllm.proto.DecodeResponse;
import dev.jvllm.proto.DecodeStreamRequest;
import dev.jvllm.proto.DecodeStreamResponse;
import dev.jvllm.proto.EncodeRequest;
import dev.jvllm.proto.EncodeResponse;
import dev.jvllm.proto.IdsToTokensRequest;
import dev.jvllm.proto.IdsToTokensResponse;
import dev.jvllm.proto.TokenizerGrpc;
import dev.jvllm.proto.TokenizerInfo;
import dev.jvllm.proto.TokenizerInfoRequest;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;

import java.util.List;

/**
 * Test double at the tokenizer boundary: one character = one token whose id is the character code (ASCII only);
 * id 1 is BOS "<s>", id 2 is EOS "</s>". Chat renders "role: content\n" lines, plus "assistant: " as generation prompt.
 */
final class FakeTokenizer extends TokenizerGrpc.TokenizerImplBase {
    static final int BOS = 1, EOS = 2, VOCAB = 128;
    private static final ObjectMapper MAPPER = new ObjectMapper();

    static String tokenText(int id) {
        return switch (id) {
            case BOS -> "<s>";
            case EOS -> "</s>";
            default -> String.valueOf((char) id);
        };
    }

    static String decode(List<Integer> ids, boolean skipSpecial) {
        StringBuilder sb = new StringBuilder();
        for (int id : ids) {
            if (skipSpecial && (id == BOS || id == EOS)) continue;
            sb.append(tokenText(id));
        }
        return sb.toString();
    }

    @Override
    public void encode(EncodeRequest req, StreamObserver<EncodeResponse> out) {
        String text;
        boolean special;
        if (req.hasChat()) {
            ChatInput chat = req.getChat();
            if (chat.getChatTemplate().equals("broken")) {
                out.onError(Status.FAILED_PRECONDITION.withDescription("chat template failed to render").asRuntimeException());
                return;
            }
            StringBuilder sb = new StringBuilder();
            try {
                for (JsonNode m : MAPPER.readTree(chat.getMessagesJson())) {
                    JsonNode c = m.get("content");
                    String content = c == null || c.isNull() ? "" : c.isTextual() ? c.textValue() : c.get(0).get("text").textValue();
                    sb.append(m.get("role").textValue()).append(": ").append(content).append('\n');
                }
            } catch (Exception e) {
                out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
                return;
            }
            if (chat.getAddGenerationPrompt()) sb.append("assistant: ");
            text = sb.toString();
            special = req.hasAddSpecialTokens() && req.getAddSpecialTokens();
        } else {
            text = req.getText();
            special = !req.hasAddSpecialTokens() || req.getAddSpecialTokens();
        }
        EncodeResponse.Builder r = EncodeResponse.newBuilder().setPromptText(text);
        if (special) r.addIds(BOS);
        for (int i = 0; i < text.length(); i++) {
            char ch = text.charAt(i);
            if (ch >= VOCAB) {
                out.onError(Status.INVALID_ARGUMENT.withDescription("non-ASCII text").asRuntimeException());
                return;
            }
            r.addIds(ch);
            r.addOffsets(i);
        }
        out.onNext(r.build());
        out.onCompleted();
    }

    @Override
    public void decode(DecodeRequest req, StreamObserver<DecodeResponse> out) {
        out.onNext(DecodeResponse.newBuilder().setText(decode(req.getIdsList(), req.getSkipSpecialTokens())).build());
        out.onCompleted();
    }

    @Override
    public StreamObserver<DecodeStreamRequest> decodeStream(StreamObserver<DecodeStreamResponse> out) {
        return new StreamObserver<>() {
            boolean skip;

            @Override
            public void onNext(DecodeStreamRequest r) {
                if (r.hasStart()) {
                    skip = r.getStart().getSkipSpecialTokens();
                    return;
                }
                out.onNext(DecodeStreamResponse.newBuilder().setTextDelta(decode(r.getIds().getIdsList(), skip)).build());
            }

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onCompleted() {
                out.onCompleted();
            }
        };
    }

    @Override
    public void idsToTokens(IdsToTokensRequest req, StreamObserver<IdsToTokensResponse> out) {
        IdsToTokensResponse.Builder r = IdsToTokensResponse.newBuilder();
        for (int id : req.getIdsList()) {
            r.addTokens("tok_" + tokenText(id));
            r.addTexts(tokenText(id));
        }
        out.onNext(r.build());
        out.onCompleted();
    }

    @Override
    public void getInfo(TokenizerInfoRequest req, StreamObserver<TokenizerInfo> out) {
        out.onNext(TokenizerInfo.newBuilder().setVocabSize(VOCAB).setHasChatTemplate(true).addEosTokenIds(EOS)
                .setBosTokenId(BOS).setBosToken("<s>").setEosToken("</s>").build());
        out.onCompleted();
    }
}
