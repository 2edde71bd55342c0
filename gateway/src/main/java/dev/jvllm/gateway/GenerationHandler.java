package dev.jvllm.gateway;

import dev.jvllm.common.telemetry.TraceContexts;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jvllm.proto.EncodeRequest;
import dev.jvllm.proto.EncodeResponse;
import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.TokenIds;
import dev.jvllm.proto.TokenizerGrpc;
import io.netty.handler.codec.http.HttpResponseStatus;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Shared flow of /v1/completions and /v1/chat/completions: validate, resolve the model, tokenize, check the context
 * length, run one {@link GenerationStream} per prompt and answer as one JSON body or as SSE chunks.
 * Everything after parsing runs on the connection's event loop.
 */
abstract class GenerationHandler implements GenerationStream.Listener, HttpExchange.InFlight {
    protected static final JsonNodeFactory JSON = JsonNodeFactory.instance;
    private static final AtomicLong ENGINE_REQUEST_SEQ = new AtomicLong();

    /** A tokenized prompt; {@code text} is what echo prepends (may be null when not needed). */
    record Prompt(List<Integer> ids, String text) {}

    protected final Services services;
    protected final HttpExchange exchange;
    protected final TokenizerGrpc.TokenizerStub tokenizer;
    protected final EngineGrpc.EngineStub engine;
    protected GenerationSpec spec;
    protected ModelRegistry.Model model;
    protected String modelName;
    protected final String responseId;
    protected final long created = System.currentTimeMillis() / 1000;
    private final long arrivalNanos = System.nanoTime();
    private final List<GenerationStream> streams = new ArrayList<>();
    private int streamsDone;
    private boolean failed;
    private boolean cancelled;

    GenerationHandler(Services services, HttpExchange exchange) {
        this.services = services;
        this.exchange = exchange;
        var trace = exchange.traceContext();
        // One deadline for the whole generation, from arrival: every upstream call carries it, so the
        // scheduler aborts the request (and frees its blocks) when it passes and no client waits forever.
        long deadlineMillis = services.options().requestTimeout().toMillis();
        var tok = services.tokenizer(exchange.eventLoop()).withDeadlineAfter(deadlineMillis, java.util.concurrent.TimeUnit.MILLISECONDS);
        var eng = services.engine(exchange.eventLoop()).withDeadlineAfter(deadlineMillis, java.util.concurrent.TimeUnit.MILLISECONDS);
        // Upstream calls start from callbacks: tie them to this request's span explicitly.
        this.tokenizer = trace == null ? tok : tok.withInterceptors(TraceContexts.parentInterceptor(trace));
        this.engine = trace == null ? eng : eng.withInterceptors(TraceContexts.parentInterceptor(trace));
        this.responseId = idPrefix() + "-" + exchange.requestId();
    }

    /** "cmpl" or "chatcmpl". */
    abstract String idPrefix();

    /** Chat reads logprobs as a boolean plus top_logprobs, and max_completion_tokens. */
    abstract boolean isChat();

    /** Parses and validates the endpoint-specific fields (prompt/messages). */
    abstract void parseInput(RequestParser p);

    /** Tokenizes the input into one or more prompts. */
    abstract CompletableFuture<List<Prompt>> tokenize();

    abstract String chunkObject();

    /** Chat streams announce the assistant role first. */
    void onStreamStart(int promptCount) {}

    abstract ObjectNode streamChoice(int index, GenerationStream.Choice c, String delta, List<LogprobEntry> logprobs,
                                     boolean finished);

    /** The complete non-streaming response. */
    abstract ObjectNode response(List<GenerationStream> streams);

    final void handle(byte[] body) {
        String requestedModel;
        try {
            RequestParser p = RequestParser.parse(body);
            requestedModel = p.string("model", null);
            parseInput(p);
            spec = SamplingParamsParser.parse(p, services.options(), isChat());
        } catch (OpenAiException e) {
            exchange.sendError(e);
            return;
        }
        exchange.setInFlight(this);
        services.models().model()
                .thenComposeAsync(m -> {
                    model = m;
                    modelName = requestedModel == null ? m.primaryName() : requestedModel;
                    if (requestedModel != null && !m.serves(requestedModel)) {
                        throw OpenAiException.notFound("The model `" + requestedModel + "` does not exist.", "model");
                    }
                    CompletableFuture<List<Prompt>> prompts = tokenize();
                    CompletableFuture<List<TokenIds>> badWords = badWordIds();
                    return prompts.thenCombine(badWords, (ps, bw) -> {
                        start(ps, bw);
                        return null;
                    });
                }, exchange.eventLoop())
                .whenCompleteAsync((ignored, error) -> {
                    if (error != null) fail(OpenAiErrors.from(error));
                }, exchange.eventLoop());
    }

    /**
     * vLLM's bad words: each word (left-stripped) is tokenized without special tokens, and again with a leading
     * space; the spaced variant is banned too when it is a different word token of the same length.
     */
    private CompletableFuture<List<TokenIds>> badWordIds() {
        if (spec.badWords().isEmpty()) return CompletableFuture.completedFuture(List.of());
        List<CompletableFuture<EncodeResponse>> calls = new ArrayList<>();
        for (String w : spec.badWords()) {
            String bare = w.stripLeading();
            for (String variant : List.of(bare, " " + bare)) {
                EncodeRequest req = EncodeRequest.newBuilder().setText(variant).setAddSpecialTokens(false).build();
                calls.add(GrpcCalls.unary(o -> tokenizer.encode(req, o)));
            }
        }
        return CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).thenApply(v -> {
            List<TokenIds> out = new ArrayList<>();
            for (int i = 0; i < calls.size(); i += 2) {
                List<Integer> plain = calls.get(i).join().getIdsList();
                List<Integer> spaced = calls.get(i + 1).join().getIdsList();
                if (plain.isEmpty()) continue;
                out.add(TokenIds.newBuilder().addAllIds(plain).build());
                if (spaced.size() == plain.size() && !spaced.getFirst().equals(plain.getFirst())) {
                    out.add(TokenIds.newBuilder().addAllIds(spaced).build());
                }
            }
            return out;
        });
    }

    /** vLLM's context length checks and messages (it says "messages" for completions too). */
    static void checkContextLength(int promptLen, Integer maxTokens, int maxModelLen) {
        if (maxModelLen <= 0) return;
        if (promptLen >= maxModelLen) {
            throw OpenAiException.badRequest("This model's maximum context length is " + maxModelLen
                    + " tokens. However, you requested " + promptLen + " tokens in the messages, "
                    + "Please reduce the length of the messages.", null);
        }
        if (maxTokens != null && (long) promptLen + maxTokens > maxModelLen) {
            throw OpenAiException.badRequest("This model's maximum context length is " + maxModelLen
                    + " tokens. However, you requested " + ((long) promptLen + maxTokens) + " tokens (" + promptLen
                    + " in the messages, " + maxTokens + " in the completion). Please reduce the length of the "
                    + "messages or completion.", null);
        }
    }

    abstract String inputName();

    private void start(List<Prompt> prompts, List<TokenIds> badWords) {
        if (!exchange.isOpen() || cancelled) return;
        for (Prompt pr : prompts) {
            if (pr.ids().isEmpty()) throw OpenAiException.badRequest("The prompt cannot be empty.", inputName());
            checkContextLength(pr.ids().size(), spec.maxTokens(), model.maxModelLen());
        }
        SamplingParams sampling = badWords.isEmpty() ? spec.sampling()
                : spec.sampling().toBuilder().addAllBadWordsIds(badWords).build();
        for (int i = 0; i < prompts.size(); i++) {
            Prompt pr = prompts.get(i);
            GenerateRequest req = GenerateRequest.newBuilder()
                    .setRequestId(responseId + "-" + i + "-" + ENGINE_REQUEST_SEQ.incrementAndGet())
                    .addAllPromptTokenIds(pr.ids())
                    .setSampling(sampling)
                    .setPriority(spec.priority())
                    .setCacheSalt(spec.cacheSalt())
                    .build();
            streams.add(new GenerationStream(i, engine, tokenizer, req, pr.text(), spec, model.eosTokenIds(),
                    exchange::isWritable, services.metrics().forModel(model).startRequest(req.getRequestId(), arrivalNanos), this));
        }
        if (spec.stream()) {
            exchange.startStream();
            onStreamStart(prompts.size());
        }
        for (GenerationStream s : streams) {
            if (failed || cancelled) break;
            s.start();
        }
    }

    // ---- GenerationStream.Listener ----

    @Override
    public void onProgress(GenerationStream stream, GenerationStream.Choice c, String delta, List<LogprobEntry> logprobs,
                           boolean finished) {
        if (failed || cancelled) return;
        int index = stream.promptIndex() * spec.n() + c.index;
        ObjectNode chunk = chunkHeader();
        chunk.putArray("choices").add(streamChoice(index, c, delta, logprobs, finished));
        if (spec.includeUsage() && spec.continuousUsageStats()) chunk.set("usage", usage());
        exchange.sendEvent(chunk);
    }

    @Override
    public void onDone(GenerationStream stream) {
        if (failed || cancelled) return;
        if (++streamsDone < streams.size()) return;
        if (spec.stream()) {
            if (spec.includeUsage()) {
                ObjectNode chunk = chunkHeader();
                chunk.putArray("choices");
                chunk.set("usage", usage());
                exchange.sendEvent(chunk);
            }
            exchange.endStream();
        } else {
            exchange.sendJson(HttpResponseStatus.OK, response(streams));
        }
    }

    @Override
    public void onError(GenerationStream stream, OpenAiException error) {
        fail(error);
    }

    private void fail(OpenAiException error) {
        if (failed || cancelled) return;
        failed = true;
        for (GenerationStream s : streams) s.cancel();
        exchange.sendError(error);
    }

    // ---- HttpExchange.InFlight ----

    @Override
    public void cancel() {
        if (cancelled) return;
        cancelled = true;
        for (GenerationStream s : streams) s.cancel();
    }

    @Override
    public void resume() {
        for (GenerationStream s : streams) s.resume();
    }

    // ---- shapes ----

    ObjectNode chunkHeader() {
        return responseHeader(chunkObject());
    }

    ObjectNode responseHeader(String object) {
        ObjectNode o = JSON.objectNode();
        o.put("id", responseId);
        o.put("object", object);
        o.put("created", created);
        o.put("model", modelName);
        return o;
    }

    ObjectNode usage() {
        int prompt = 0, completion = 0;
        for (GenerationStream s : streams) {
            prompt += s.promptTokens();
            completion += s.completionTokens();
        }
        ObjectNode u = JSON.objectNode();
        u.put("prompt_tokens", prompt);
        u.put("total_tokens", prompt + completion);
        u.put("completion_tokens", completion);
        return u;
    }

    static void putStopReason(ObjectNode choice, Object stopReason) {
        if (stopReason == null) choice.putNull("stop_reason");
        else if (stopReason instanceof Integer i) choice.put("stop_reason", i);
        else choice.put("stop_reason", stopReason.toString());
    }

    /** vLLM clamps -inf to -9999.0 so the JSON stays valid. */
    static float safeLogprob(float lp) {
        return Float.isNaN(lp) || lp < -9999f ? -9999f : lp;
    }

    static String newRequestId() {
        return UUID.randomUUID().toString().replace("-", "");
    }

    static ArrayNode ints(List<Integer> ids) {
        ArrayNode a = JSON.arrayNode(ids.size());
        for (int id : ids) a.add(id);
        return a;
    }
}
