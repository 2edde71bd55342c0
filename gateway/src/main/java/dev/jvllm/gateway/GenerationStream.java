package dev.jvllm.gateway;

import dev.jvllm.common.metrics.VllmMetrics;

import dev.jvllm.proto.CompletionOutput;
import dev.jvllm.proto.DecodeStreamIds;
import dev.jvllm.proto.DecodeStreamRequest;
import dev.jvllm.proto.DecodeStreamResponse;
import dev.jvllm.proto.DecodeStreamStart;
import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.FinishReason;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.GenerateResponse;
import dev.jvllm.proto.IdsToTokensRequest;
import dev.jvllm.proto.IdsToTokensResponse;
import dev.jvllm.proto.TokenLogprobs;
import dev.jvllm.proto.TokenizerGrpc;
import dev.jvllm.proto.TopLogprob;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BooleanSupplier;

/**
 * One prompt's generation: the engine's Generate stream, one tokenizer DecodeStream per output sequence, stop-string
 * matching on the detokenized text and assembly of each choice's text and logprobs.
 *
 * <p>Threading: the stubs handed in must run their callbacks on the HTTP connection's event loop
 * ({@code withExecutor(eventLoop)}), and every public method must be called on it; then no state here needs a lock.
 *
 * <p>Flow control: Generate messages are requested one at a time, only while the HTTP channel is writable and few
 * tokens wait for detokenization, so a slow reader stalls the engine stream instead of growing memory.
 */
final class GenerationStream {

    /** Callbacks, on the event loop. After {@link #onDone} or {@link #onError} nothing more is called. */
    interface Listener {
        /** Streaming only: new visible text and/or logprobs for a choice, or its finish. */
        void onProgress(GenerationStream stream, Choice choice, String textDelta, List<LogprobEntry> logprobs,
                        boolean finished);

        void onDone(GenerationStream stream);

        void onError(GenerationStream stream, OpenAiException error);
    }

    /** One output sequence, as the client sees it. */
    static final class Choice {
        final int index;
        final StringBuilder text = new StringBuilder();
        final List<LogprobEntry> logprobs = new ArrayList<>();
        int tokens;
        String finishReason;
        /** The matched stop string, the stop token id, or null (EOS, length). */
        Object stopReason;
        boolean finished;

        // Internal state.
        private final ArrayDeque<PendingToken> pending = new ArrayDeque<>();
        private final ArrayDeque<PendingToken> awaitingDecode = new ArrayDeque<>();
        private ClientCallStreamObserver<DecodeStreamRequest> decode;
        private boolean finalQueued;
        private boolean started;
        private int emitted;
        private int logprobsEmitted;
        private int stopSearchFloor;

        Choice(int index) {
            this.index = index;
        }

        String text() { return text.toString(); }
    }

    /** A token on its way through detokenization (and token-string lookup for logprobs). */
    private static final class PendingToken {
        final int id;                 // -1: no token, only the end of the sequence
        final TokenLogprobs logprobs; // null when not requested
        boolean finalToken;
        FinishReason finishReason;
        Integer stopTokenId;
        boolean decoded;
        boolean textsReady;
        String delta = "";

        PendingToken(int id, TokenLogprobs logprobs) {
            this.id = id;
            this.logprobs = logprobs;
        }

        boolean ready() { return decoded && textsReady; }
    }

    private static final int MAX_PENDING_TOKENS = 64;

    /** Position of this prompt in the request: choices are numbered prompt-major, then n. */
    private final int promptIndex;
    private final EngineGrpc.EngineStub engine;
    private final TokenizerGrpc.TokenizerStub tokenizer;
    private final GenerateRequest request;
    private final List<Integer> promptIds;
    private final GenerationSpec spec;
    private final Set<Integer> eosTokenIds;
    private final BooleanSupplier writable;
    private final Listener listener;
    private final Choice[] choices;
    private final int holdBack;
    private final int maxStopLength;
    private final int minTokens;
    /** Length of the echoed prompt text every choice's text starts with. */
    private final int echoLength;
    /** Token id -> readable text, from IdsToTokens. */
    private final Map<Integer, String> tokenTexts = new HashMap<>();

    private static final org.slf4j.Logger requestLog = org.slf4j.LoggerFactory.getLogger("dev.jvllm.gateway.requests");
    private final VllmMetrics.RequestTimer timer;
    private ClientCallStreamObserver<GenerateRequest> call;
    private boolean requestOutstanding;
    private boolean generateDone;
    private boolean closed;
    private boolean promptReady;
    private boolean awaitingPromptLogprobs;
    private int auxCalls;
    private List<TokenLogprobs> promptLogprobs = List.of();
    private List<LogprobEntry> promptEntries = List.of();

    GenerationStream(int promptIndex, EngineGrpc.EngineStub engine, TokenizerGrpc.TokenizerStub tokenizer, GenerateRequest request,
                     String echoPrefix, GenerationSpec spec, Set<Integer> eosTokenIds, BooleanSupplier writable,
                     VllmMetrics.RequestTimer timer, Listener listener) {
        this.promptIndex = promptIndex;
        this.timer = timer;
        this.engine = engine;
        this.tokenizer = tokenizer;
        this.request = request;
        this.promptIds = request.getPromptTokenIdsList();
        this.spec = spec;
        this.eosTokenIds = eosTokenIds;
        this.writable = writable;
        this.listener = listener;
        this.maxStopLength = spec.maxStopLength();
        this.minTokens = request.getSampling().getMinTokens();
        this.holdBack = spec.includeStopStrInOutput() || maxStopLength == 0 ? 0 : maxStopLength - 1;
        this.choices = new Choice[spec.n()];
        String prefix = spec.echo() && echoPrefix != null ? echoPrefix : "";
        this.echoLength = prefix.length();
        for (int i = 0; i < choices.length; i++) {
            choices[i] = new Choice(i);
            choices[i].text.append(prefix);
            choices[i].stopSearchFloor = prefix.length();
        }
        this.awaitingPromptLogprobs = request.getSampling().hasPromptLogprobs();
        this.promptReady = !awaitingPromptLogprobs;
    }

    List<Choice> choices() { return List.of(choices); }

    int promptIndex() { return promptIndex; }

    int promptTokens() { return promptIds.size(); }

    int completionTokens() {
        int sum = 0;
        for (Choice c : choices) sum += c.tokens;
        return sum;
    }

    String requestId() { return request.getRequestId(); }

    /** Prompt logprobs in vLLM's shape (null for the first token), or null when not requested. */
    List<Map<Integer, LogprobEntry.Top>> promptLogprobsById() {
        if (spec.promptLogprobs() == null) return null;
        List<Map<Integer, LogprobEntry.Top>> out = new ArrayList<>();
        for (int i = 0; i < promptIds.size(); i++) {
            if (i == 0 || i >= promptLogprobs.size()) {
                out.add(null);
                continue;
            }
            TokenLogprobs lp = promptLogprobs.get(i);
            Map<Integer, LogprobEntry.Top> m = new java.util.LinkedHashMap<>();
            m.put(lp.getTokenId(), new LogprobEntry.Top(lp.getTokenId(), tokenString(lp.getTokenId()), lp.getLogprob()));
            for (TopLogprob t : lp.getTopList()) {
                m.putIfAbsent(t.getTokenId(), new LogprobEntry.Top(t.getTokenId(), tokenString(t.getTokenId()), t.getLogprob()));
            }
            out.add(m);
        }
        return out;
    }

    /** Rank of a prompt/top token, for the prompt_logprobs output. */
    int promptRank(int position, int tokenId) {
        if (position <= 0 || position >= promptLogprobs.size()) return 0;
        TokenLogprobs lp = promptLogprobs.get(position);
        if (lp.getTokenId() == tokenId) return lp.getRank();
        for (TopLogprob t : lp.getTopList()) if (t.getTokenId() == tokenId) return t.getRank();
        return 0;
    }

    void start() {
        for (Choice c : choices) startDecode(c);
        engine.generate(request, new GenerateObserver());
    }

    /** The HTTP side became writable again. */
    void resume() {
        maybeRequestMore();
    }

    /** Client went away (or another prompt of the request failed): abort everything, report nothing. */
    void cancel() {
        if (closed) return;
        closed = true;
        recordFinished("abort");
        cancelCalls("cancelled by the client");
    }

    private void cancelCalls(String why) {
        if (!generateDone && call != null) {
            generateDone = true;
            call.cancel(why, null);
        }
        for (Choice c : choices) closeDecode(c);
    }

    // ---- engine stream ----

    private final class GenerateObserver implements ClientResponseObserver<GenerateRequest, GenerateResponse> {
        @Override
        public void beforeStart(ClientCallStreamObserver<GenerateRequest> requestStream) {
            call = requestStream;
            requestStream.disableAutoRequestWithInitial(1);
            requestOutstanding = true;
        }

        @Override
        public void onNext(GenerateResponse response) {
            requestOutstanding = false;
            if (closed) return;
            try {
                onGenerateResponse(response);
            } catch (OpenAiException e) {
                fail(e);
                return;
            }
            maybeRequestMore();
        }

        @Override
        public void onError(Throwable t) {
            if (generateDone || closed) return;
            generateDone = true;
            fail(OpenAiErrors.from(t));
        }

        @Override
        public void onCompleted() {
            if (generateDone || closed) return;
            generateDone = true;
            // A stream that ends without finishing a sequence: treat as aborted rather than hang.
            for (Choice c : choices) {
                if (!c.finished && !c.finalQueued) {
                    PendingToken end = new PendingToken(-1, null);
                    end.finalToken = true;
                    end.finishReason = FinishReason.FINISH_REASON_ABORT;
                    end.textsReady = true;
                    enqueue(c, List.of(end));
                }
            }
            if (awaitingPromptLogprobs) {
                awaitingPromptLogprobs = false;
                promptReady = true;
                for (Choice c : choices) drain(c);
            }
            checkDone();
        }
    }

    private void onGenerateResponse(GenerateResponse response) {
        observeLatency(response);
        // Prompt logprobs come with the first tokens (after prefill); output waits for them so that echoed prompt
        // logprobs lead. Should they never come, the end of the stream releases the output.
        if (awaitingPromptLogprobs && response.getPromptLogprobsCount() > 0) {
            awaitingPromptLogprobs = false;
            resolvePromptLogprobs(response.getPromptLogprobsList());
        }
        for (CompletionOutput out : response.getOutputsList()) {
            if (out.getIndex() < 0 || out.getIndex() >= choices.length) {
                throw new OpenAiException(io.netty.handler.codec.http.HttpResponseStatus.INTERNAL_SERVER_ERROR,
                        "InternalServerError", "Engine returned output index " + out.getIndex() + " for n=" + choices.length, null, -1);
            }
            Choice c = choices[out.getIndex()];
            if (c.finished || c.finalQueued) continue;
            List<PendingToken> batch = new ArrayList<>(out.getTokenIdsCount() + 1);
            boolean withLogprobs = spec.logprobs() != null;
            for (int j = 0; j < out.getTokenIdsCount(); j++) {
                TokenLogprobs lp = withLogprobs && j < out.getLogprobsCount() ? out.getLogprobs(j) : null;
                batch.add(new PendingToken(out.getTokenIds(j), lp));
            }
            if (out.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED
                    && out.getFinishReason() != FinishReason.UNRECOGNIZED) {
                if (batch.isEmpty()) batch.add(new PendingToken(-1, null));
                PendingToken last = batch.getLast();
                last.finalToken = true;
                last.finishReason = out.getFinishReason();
                last.stopTokenId = out.hasStopTokenId() ? out.getStopTokenId() : null;
            }
            resolveTokenTexts(c, batch);
            enqueue(c, batch);
        }
    }

    /** TTFT on the first tokens, then one inter-token interval per engine message; the engine's queue/prefill timings. */
    private void observeLatency(GenerateResponse response) {
        int tokens = 0;
        for (CompletionOutput out : response.getOutputsList()) tokens = Math.max(tokens, out.getTokenIdsCount());
        timer.onResponse(tokens, response.getQueuedSeconds(), response.getFirstTokenSeconds());
    }

    /** Per-request histograms and the one structured log line per finished request. */
    private void recordFinished(String finishReason) {
        var summary = timer.finish(promptTokens(), completionTokens(), finishReason);
        if (requestLog.isInfoEnabled()) requestLog.info("request finished: {}", summary.toLogLine());
    }

    private void enqueue(Choice c, List<PendingToken> batch) {
        for (PendingToken t : batch) {
            boolean dropStopToken = t.finalToken && t.id >= 0 && t.stopTokenId != null && t.id == t.stopTokenId
                    && !spec.includeStopStrInOutput();
            DecodeStreamIds.Builder ids = DecodeStreamIds.newBuilder().setLast(t.finalToken);
            if (t.id >= 0 && !dropStopToken) ids.addIds(t.id);
            c.pending.add(t);
            if (t.finalToken) c.finalQueued = true;
            if (c.decode != null) {
                c.awaitingDecode.add(t);
                c.decode.onNext(DecodeStreamRequest.newBuilder().setIds(ids).build());
                if (t.finalToken) {
                    c.decode.onCompleted();
                }
            } else {
                t.decoded = true; // no decode stream (it failed or was closed): nothing to wait for
            }
        }
    }

    private void resolveTokenTexts(Choice c, List<PendingToken> batch) {
        Set<Integer> missing = new LinkedHashSet<>();
        if (!spec.returnTokensAsTokenIds()) {
            for (PendingToken t : batch) {
                if (t.logprobs == null) continue;
                addMissing(missing, t.logprobs.getTokenId());
                for (TopLogprob top : t.logprobs.getTopList()) addMissing(missing, top.getTokenId());
            }
        }
        if (missing.isEmpty()) {
            for (PendingToken t : batch) t.textsReady = true;
            return;
        }
        auxCalls++;
        idsToTokens(missing, () -> {
            for (PendingToken t : batch) t.textsReady = true;
            drain(c);
        });
    }

    private void resolvePromptLogprobs(List<TokenLogprobs> lps) {
        promptLogprobs = lps;
        Set<Integer> missing = new LinkedHashSet<>();
        if (!spec.returnTokensAsTokenIds()) {
            for (int id : promptIds) addMissing(missing, id);
            for (TokenLogprobs lp : lps) {
                addMissing(missing, lp.getTokenId());
                for (TopLogprob t : lp.getTopList()) addMissing(missing, t.getTokenId());
            }
        }
        Runnable ready = () -> {
            promptEntries = buildPromptEntries();
            promptReady = true;
            for (Choice c : choices) drain(c);
        };
        if (missing.isEmpty()) {
            ready.run();
        } else {
            auxCalls++;
            idsToTokens(missing, ready);
        }
    }

    private void addMissing(Set<Integer> missing, int id) {
        if (!tokenTexts.containsKey(id)) missing.add(id);
    }

    private void idsToTokens(Collection<Integer> ids, Runnable then) {
        tokenizer.idsToTokens(IdsToTokensRequest.newBuilder().addAllIds(ids).build(), new StreamObserver<>() {
            IdsToTokensResponse response;

            @Override
            public void onNext(IdsToTokensResponse r) { response = r; }

            @Override
            public void onError(Throwable t) {
                auxCalls--;
                fail(OpenAiErrors.from(t));
            }

            @Override
            public void onCompleted() {
                auxCalls--;
                if (closed) return;
                int i = 0;
                for (int id : ids) {
                    String text = response != null && i < response.getTextsCount() ? response.getTexts(i) : "";
                    tokenTexts.put(id, text);
                    i++;
                }
                then.run();
                checkDone();
            }
        });
    }

    private String tokenString(int id) {
        if (spec.returnTokensAsTokenIds()) return "token_id:" + id;
        String s = tokenTexts.get(id);
        return s == null ? "" : s;
    }

    private List<LogprobEntry> buildPromptEntries() {
        List<LogprobEntry> out = new ArrayList<>(promptIds.size());
        // Offsets count back from the end of the echoed prompt text: special tokens such as BOS have token text
        // that the prompt text lacks, so they share offset 0 with the first real character.
        int total = 0;
        for (int id : promptIds) total += tokenString(id).length();
        int offset = echoLength - total;
        for (int i = 0; i < promptIds.size(); i++) {
            int id = promptIds.get(i);
            String tok = tokenString(id);
            int at = Math.max(0, offset);
            if (i == 0 || i >= promptLogprobs.size()) {
                out.add(new LogprobEntry(id, tok, null, List.of(), at));
            } else {
                TokenLogprobs lp = promptLogprobs.get(i);
                out.add(new LogprobEntry(id, tok, lp.getLogprob(), tops(lp), at));
            }
            offset += tok.length();
        }
        return out;
    }

    private List<LogprobEntry.Top> tops(TokenLogprobs lp) {
        List<LogprobEntry.Top> tops = new ArrayList<>(lp.getTopCount());
        for (TopLogprob t : lp.getTopList()) tops.add(new LogprobEntry.Top(t.getTokenId(), tokenString(t.getTokenId()), t.getLogprob()));
        return tops;
    }

    // ---- detokenization ----

    private void startDecode(Choice c) {
        ClientResponseObserver<DecodeStreamRequest, DecodeStreamResponse> observer = new ClientResponseObserver<>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<DecodeStreamRequest> requestStream) {
                c.decode = requestStream;
            }

            @Override
            public void onNext(DecodeStreamResponse r) {
                PendingToken t = c.awaitingDecode.poll();
                if (t == null || closed) return;
                t.delta = r.getTextDelta();
                t.decoded = true;
                drain(c);
            }

            @Override
            public void onError(Throwable t) {
                if (closed || c.finished) return;
                fail(OpenAiErrors.from(t));
            }

            @Override
            public void onCompleted() {
                if (closed || c.finished || c.awaitingDecode.isEmpty()) return;
                fail(new OpenAiException(io.netty.handler.codec.http.HttpResponseStatus.INTERNAL_SERVER_ERROR,
                        "InternalServerError", "Detokenizer stream ended early", null, -1));
            }
        };
        tokenizer.decodeStream(observer);
        DecodeStreamStart.Builder start = DecodeStreamStart.newBuilder()
                .addAllPromptIds(promptIds)
                .setSkipSpecialTokens(spec.skipSpecialTokens());
        if (spec.spacesBetweenSpecialTokens() != null) start.setSpacesBetweenSpecialTokens(spec.spacesBetweenSpecialTokens());
        c.decode.onNext(DecodeStreamRequest.newBuilder().setStart(start).build());
    }

    /** Ends the choice's detokenizer stream; after a final (last=true) message it has already been half-closed. */
    private void closeDecode(Choice c) {
        ClientCallStreamObserver<DecodeStreamRequest> d = c.decode;
        if (d == null) return;
        c.decode = null;
        d.cancel("sequence finished", null);
    }

    /** Moves the choice's ready tokens, in order, into its text; matches stop strings; reports progress. */
    private void drain(Choice c) {
        if (closed || !promptReady) return;
        boolean justFinished = false;
        if (!c.started) {
            c.started = true;
            if (spec.echo() && spec.logprobs() != null) c.logprobs.addAll(promptEntries);
        }
        while (!c.finished && !c.pending.isEmpty() && c.pending.peek().ready()) {
            PendingToken t = c.pending.poll();
            int before = c.text.length();
            c.text.append(t.delta);
            if (t.id >= 0) {
                c.tokens++;
                if (t.logprobs != null) {
                    c.logprobs.add(new LogprobEntry(t.id, tokenString(t.id), t.logprobs.getLogprob(), tops(t.logprobs), before));
                }
            }
            // vLLM: text of the first min_tokens tokens is never searched for stop strings.
            if (c.tokens <= minTokens) c.stopSearchFloor = c.text.length();
            if (maxStopLength > 0 && c.tokens > minTokens && c.text.length() > before && matchStop(c, before)) {
                justFinished = true;
                break;
            }
            if (t.finalToken) {
                c.finished = true;
                c.finishReason = switch (t.finishReason) {
                    case FINISH_REASON_LENGTH -> "length";
                    case FINISH_REASON_ABORT -> "abort";
                    default -> "stop";
                };
                c.stopReason = stopReasonFor(t);
                justFinished = true;
            }
        }
        if (c.finished) {
            c.pending.clear();
            closeDecode(c);
        }
        int end = c.finished ? c.text.length() : Math.max(c.emitted, c.text.length() - holdBack);
        if (!c.finished && end > c.emitted && end < c.text.length() && Character.isHighSurrogate(c.text.charAt(end - 1))) {
            end--;
        }
        String delta = c.text.substring(c.emitted, end);
        c.emitted = end;
        List<LogprobEntry> lps = c.logprobs.size() > c.logprobsEmitted
                ? List.copyOf(c.logprobs.subList(c.logprobsEmitted, c.logprobs.size())) : List.of();
        c.logprobsEmitted = c.logprobs.size();
        if (spec.stream() && (!delta.isEmpty() || !lps.isEmpty() || justFinished)) {
            listener.onProgress(this, c, delta, lps, justFinished);
        }
        if (c.finished) checkDone();
        maybeRequestMore(); // also after a finish: the pending-token gate may have held the engine stream
    }

    /** vLLM semantics: stop strings in request order; the text is cut before the match (or after it when included). */
    private boolean matchStop(Choice c, int before) {
        int from = Math.max(c.stopSearchFloor, before - (maxStopLength - 1));
        for (String s : spec.stop()) {
            int at = c.text.indexOf(s, Math.max(from, 0));
            if (at >= 0) {
                int cut = spec.includeStopStrInOutput() ? at + s.length() : at;
                c.text.setLength(Math.max(cut, c.emitted));
                c.finished = true;
                c.finishReason = "stop";
                c.stopReason = s;
                return true;
            }
        }
        return false;
    }

    private Object stopReasonFor(PendingToken t) {
        if (t.finishReason != FinishReason.FINISH_REASON_STOP || t.stopTokenId == null) return null;
        int id = t.stopTokenId;
        if (!spec.stopTokenIds().contains(id)) return null;
        if (eosTokenIds.contains(id) && !spec.ignoreEos()) return null;
        return id;
    }

    private void maybeRequestMore() {
        if (closed || generateDone || requestOutstanding || call == null) return;
        int pending = 0;
        for (Choice c : choices) pending += c.pending.size();
        // While prompt logprobs are awaited nothing drains, so the pending gate would deadlock: only the socket gates.
        if ((pending >= MAX_PENDING_TOKENS && promptReady) || !writable.getAsBoolean()) return;
        requestOutstanding = true;
        call.request(1);
    }

    private void checkDone() {
        if (closed) return;
        for (Choice c : choices) if (!c.finished) return;
        if (auxCalls > 0 || !promptReady) return;
        closed = true;
        recordFinished(choices[0].finishReason == null ? "stop" : choices[0].finishReason);
        // Every sequence is done (stop strings may finish them before the engine does): abort the rest.
        cancelCalls("all sequences finished");
        listener.onDone(this);
    }

    private void fail(OpenAiException e) {
        if (closed) return;
        closed = true;
        recordFinished("abort");
        cancelCalls("request failed");
        listener.onError(this, e);
    }
}
