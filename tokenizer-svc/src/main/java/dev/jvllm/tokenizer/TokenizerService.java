package dev.jvllm.tokenizer;

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
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The {@code Tokenizer} gRPC service of one model: encode (text or chat), decode, streaming decode, token
 * strings and tokenizer facts. Every call is short CPU work on in-memory state, so it runs on the gRPC
 * executor without blocking; bad input answers INVALID_ARGUMENT and leaves the service serving others.
 */
public final class TokenizerService extends TokenizerGrpc.TokenizerImplBase implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(TokenizerService.class);
    static final String NO_CHAT_TEMPLATE =
            "this model has no chat template; pass chat_template or use /v1/completions";
    private static final int MAX_CACHED_REQUEST_TEMPLATES = 16;

    private final HfTokenizer tokenizer;
    private final TokenizerConfig config;
    private final ChatTemplate chatTemplate; // null: the model has none
    private final Supplier<ZonedDateTime> clock;
    private final TokenizerInfo info;
    private final Map<String, ChatTemplate> requestTemplates = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, ChatTemplate> eldest) {
            return size() > MAX_CACHED_REQUEST_TEMPLATES;
        }
    };

    private TokenizerService(HfTokenizer tokenizer, TokenizerConfig config, ChatTemplate chatTemplate,
                             Supplier<ZonedDateTime> clock) {
        this.tokenizer = tokenizer;
        this.config = config;
        this.chatTemplate = chatTemplate;
        this.clock = clock;
        this.info = buildInfo();
    }

    /**
     * Loads tokenizer.json, tokenizer_config.json and generation_config.json. Fails with
     * IllegalArgumentException naming the file when one is missing or corrupt, or when the chat template does
     * not parse.
     */
    public static TokenizerService load(TokenizerOptions options) {
        return load(options, ZonedDateTime::now);
    }

    static TokenizerService load(TokenizerOptions options, Supplier<ZonedDateTime> clock) {
        Path dir = options.effectiveTokenizerDir();
        GgufTokenizer gguf = TokenizerOptions.isGguf(dir) ? GgufTokenizer.read(dir) : null;
        TokenizerConfig config = gguf != null ? gguf.config
                : TokenizerConfig.read(dir, TokenizerOptions.isGguf(options.modelDir()) ? null : options.modelDir());
        String templateSource = options.chatTemplate() != null ? readTemplateOption(options.chatTemplate())
                : config.chatTemplate();
        ChatTemplate template = null;
        if (templateSource != null) {
            try {
                template = new ChatTemplate(templateSource, config.specialTokens(), clock);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("invalid chat template"
                        + (options.chatTemplate() != null ? "" : " in " + (gguf != null ? dir + " (" + GgufTokenizer.CHAT_TEMPLATE + ")"
                                : dir.resolve("tokenizer_config.json")))
                        + ": " + e.getMessage(), e);
            }
        }
        HfTokenizer tokenizer = gguf != null ? HfTokenizer.load(gguf.tokenizerJson, "tokenizer of " + dir)
                : HfTokenizer.load(dir.resolve("tokenizer.json"));
        TokenizerService service = new TokenizerService(tokenizer, config, template, clock);
        log.info("tokenizer loaded from {}: {} ids, chat template: {}", dir, tokenizer.vocabSize(),
                template != null ? "yes" : "no");
        return service;
    }

    /** vLLM's --chat-template: a file path, or the template text itself. */
    private static String readTemplateOption(String value) {
        try {
            Path p = Path.of(value);
            if (Files.isRegularFile(p)) {
                return Files.readString(p);
            }
        } catch (InvalidPathException notAPath) {
            // a literal template
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read chat template file " + value + ": " + e.getMessage(), e);
        }
        if (!value.contains("{{") && !value.contains("{%")) {
            throw new IllegalArgumentException("chat template file not found (and not a template): " + value);
        }
        return value;
    }

    private TokenizerInfo buildInfo() {
        TokenizerInfo.Builder b = TokenizerInfo.newBuilder()
                .setVocabSize(tokenizer.vocabSize())
                .setHasChatTemplate(chatTemplate != null)
                .setModelMaxLength(config.modelMaxLength() >= Integer.MAX_VALUE ? 0 : (int) config.modelMaxLength());
        String bos = (String) config.specialTokens().get("bos_token");
        String eos = (String) config.specialTokens().get("eos_token");
        if (bos != null) {
            b.setBosToken(bos);
        }
        if (eos != null) {
            b.setEosToken(eos);
        }
        int bosId = tokenizer.tokenToId(bos);
        if (bosId >= 0) {
            b.setBosTokenId(bosId);
        } else if (config.generationBosId() != null) {
            b.setBosTokenId(config.generationBosId().intValue());
        }
        Set<Integer> eosIds = new LinkedHashSet<>();
        int eosId = tokenizer.tokenToId(eos);
        if (eosId >= 0) {
            eosIds.add(eosId);
        }
        config.generationEosIds().forEach(id -> eosIds.add(id.intValue()));
        b.addAllEosTokenIds(eosIds);
        return b.build();
    }

    // ---------------------------------------------------------------- RPCs

    @Override
    public void encode(EncodeRequest request, StreamObserver<EncodeResponse> out) {
        try {
            String text;
            boolean addSpecial;
            switch (request.getInputCase()) {
                case TEXT -> {
                    text = request.getText();
                    addSpecial = !request.hasAddSpecialTokens() || request.getAddSpecialTokens();
                }
                case CHAT -> {
                    text = renderChat(request.getChat());
                    addSpecial = request.hasAddSpecialTokens() && request.getAddSpecialTokens();
                }
                default -> throw invalid("EncodeRequest needs text or chat");
            }
            HfTokenizer.Encoded enc = tokenizer.encode(text, addSpecial);
            EncodeResponse.Builder b = EncodeResponse.newBuilder().setPromptText(text);
            int[] ids = enc.ids();
            int[] offsets = codePointToCharOffsets(text, enc.offsets());
            for (int i = 0; i < ids.length; i++) {
                b.addIds(ids[i]);
                b.addOffsets(offsets[i]);
            }
            out.onNext(b.build());
            out.onCompleted();
        } catch (RuntimeException e) {
            out.onError(toStatus(e));
        }
    }

    /** Renders a chat request with the request's template, else the model's (exposed for tests and tools). */
    String renderChat(ChatInput chat) {
        ChatTemplate template = chatTemplate;
        if (!chat.getChatTemplate().isEmpty()) {
            template = requestTemplate(chat.getChatTemplate());
        }
        if (template == null) {
            throw Status.FAILED_PRECONDITION.withDescription(NO_CHAT_TEMPLATE).asRuntimeException();
        }
        return template.render(new ChatTemplate.Request(chat.getMessagesJson(), chat.getToolsJson(),
                chat.getDocumentsJson(), chat.getAddGenerationPrompt(), chat.getContinueFinalMessage(),
                chat.getChatTemplateKwargsJson()));
    }

    private ChatTemplate requestTemplate(String source) {
        synchronized (requestTemplates) {
            ChatTemplate cached = requestTemplates.get(source);
            if (cached != null) {
                return cached;
            }
        }
        ChatTemplate compiled;
        try {
            compiled = new ChatTemplate(source, config.specialTokens(), clock);
        } catch (RuntimeException e) {
            throw invalid("invalid chat_template: " + e.getMessage());
        }
        synchronized (requestTemplates) {
            requestTemplates.put(source, compiled);
        }
        return compiled;
    }

    /** The Rust library reports offsets in Unicode code points; Java strings index UTF-16 units. */
    static int[] codePointToCharOffsets(String text, int[] cpOffsets) {
        if (text.length() == text.codePointCount(0, text.length())) {
            return cpOffsets;
        }
        int[] out = new int[cpOffsets.length];
        int cp = 0;
        int ch = 0;
        for (int i = 0; i < cpOffsets.length; i++) {
            int target = cpOffsets[i];
            if (target < cp) {
                cp = 0;
                ch = 0;
            }
            while (cp < target && ch < text.length()) {
                ch += Character.charCount(text.codePointAt(ch));
                cp++;
            }
            out[i] = ch;
        }
        return out;
    }

    @Override
    public void decode(DecodeRequest request, StreamObserver<DecodeResponse> out) {
        try {
            int[] ids = checkedIds(request.getIdsList());
            String text = tokenizer.decode(ids, request.getSkipSpecialTokens());
            out.onNext(DecodeResponse.newBuilder().setText(text).build());
            out.onCompleted();
        } catch (RuntimeException e) {
            out.onError(toStatus(e));
        }
    }

    @Override
    public StreamObserver<DecodeStreamRequest> decodeStream(StreamObserver<DecodeStreamResponse> responses) {
        ServerCallStreamObserver<DecodeStreamResponse> out = (ServerCallStreamObserver<DecodeStreamResponse>) responses;
        // Read a request only when its response can be written: a slow reader slows its own stream only.
        out.disableAutoRequest();
        boolean[] wantsMore = {false};
        out.setOnReadyHandler(() -> {
            if (wantsMore[0]) {
                wantsMore[0] = false;
                out.request(1);
            }
        });
        out.request(1);
        return new StreamObserver<>() {
            private IncrementalDetokenizer detokenizer;
            private boolean failed;

            @Override
            public void onNext(DecodeStreamRequest msg) {
                if (failed) {
                    return;
                }
                try {
                    switch (msg.getMsgCase()) {
                        case START -> {
                            if (detokenizer != null) {
                                throw invalid("DecodeStream already started");
                            }
                            detokenizer = new IncrementalDetokenizer(tokenizer,
                                    checkedIds(msg.getStart().getPromptIdsList()), msg.getStart().getSkipSpecialTokens());
                        }
                        case IDS -> {
                            if (detokenizer == null) {
                                throw invalid("the first DecodeStream message must be start");
                            }
                            String delta = detokenizer.append(checkedIds(msg.getIds().getIdsList()), msg.getIds().getLast());
                            out.onNext(DecodeStreamResponse.newBuilder().setTextDelta(delta).build());
                        }
                        default -> throw invalid("empty DecodeStream message");
                    }
                } catch (RuntimeException e) {
                    failed = true;
                    out.onError(toStatus(e));
                    return;
                }
                if (out.isReady()) {
                    out.request(1);
                } else {
                    wantsMore[0] = true;
                }
            }

            @Override
            public void onError(Throwable t) {
                failed = true;
            }

            @Override
            public void onCompleted() {
                if (!failed) {
                    out.onCompleted();
                }
            }
        };
    }

    @Override
    public void idsToTokens(IdsToTokensRequest request, StreamObserver<IdsToTokensResponse> out) {
        try {
            int[] ids = checkedIds(request.getIdsList());
            IdsToTokensResponse.Builder b = IdsToTokensResponse.newBuilder();
            int[] one = new int[1];
            for (int id : ids) {
                one[0] = id;
                b.addTokens(tokenizer.idToToken(id));
                b.addTexts(tokenizer.decode(one, false));
            }
            out.onNext(b.build());
            out.onCompleted();
        } catch (RuntimeException e) {
            out.onError(toStatus(e));
        }
    }

    @Override
    public void getInfo(TokenizerInfoRequest request, StreamObserver<TokenizerInfo> out) {
        out.onNext(info);
        out.onCompleted();
    }

    // ---------------------------------------------------------------- helpers

    private int[] checkedIds(List<Integer> ids) {
        int[] out = new int[ids.size()];
        List<Integer> bad = null; // built only on error: this runs for every DecodeStream message
        for (int i = 0; i < out.length; i++) {
            int id = ids.get(i);
            if (!tokenizer.isValidId(id)) {
                if (bad == null) {
                    bad = new ArrayList<>();
                }
                bad.add(id);
            }
            out[i] = id;
        }
        if (bad != null) {
            throw invalid("token ids out of range [0, " + tokenizer.vocabSize() + "): "
                    + bad.subList(0, Math.min(bad.size(), 8)));
        }
        return out;
    }

    private static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }

    private static StatusRuntimeException toStatus(RuntimeException e) {
        if (e instanceof StatusRuntimeException s) {
            return s;
        }
        if (e instanceof IllegalArgumentException) {
            return Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException();
        }
        log.warn("tokenizer call failed", e);
        return Status.INTERNAL.withDescription(String.valueOf(e.getMessage())).withCause(e).asRuntimeException();
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
