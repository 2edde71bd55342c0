package dev.jvllm.gateway;

import dev.jvllm.proto.AbortRequest;
import dev.jvllm.proto.AbortResponse;
import dev.jvllm.proto.CompletionOutput;
import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.FinishReason;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.GenerateResponse;
import dev.jvllm.proto.ModelInfo;
import dev.jvllm.proto.ModelInfoRequest;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.StatsRequest;
import dev.jvllm.proto.TokenLogprobs;
import dev.jvllm.proto.TopLogprob;
import dev.jvllm.proto.Usage;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Test double at the engine boundary. Sequence i "generates" the characters of {@link #response} (prefixed with
 * "#i " for i > 0), one token per step, then EOS; it honours n, max_tokens, the model length, stop_token_ids and
 * logprobs (chosen token -0.25, alternatives 'a', 'b', ... at -1, -2, ...). In endless mode it streams 'x' forever,
 * as fast as the client's flow control allows, until cancelled.
 */
final class FakeEngine extends EngineGrpc.EngineImplBase {
    static final int MAX_MODEL_LEN = 64;

    volatile String response = "Hello, world. Bye";
    volatile int tokensPerStep = 1;
    final AtomicBoolean endless = new AtomicBoolean();
    final AtomicBoolean workerConnected = new AtomicBoolean(true);
    final AtomicReference<Status> failWith = new AtomicReference<>();
    final java.util.concurrent.atomic.AtomicLong produced = new java.util.concurrent.atomic.AtomicLong();
    final Queue<GenerateRequest> requests = new ConcurrentLinkedQueue<>();
    volatile CountDownLatch cancelled = new CountDownLatch(1);
    volatile CountDownLatch started = new CountDownLatch(1);
    /** When set, each generation pauses after every message until this is counted down. */
    volatile CountDownLatch holdAfterEachMessage;
    private final ExecutorService steps = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "fake-engine");
        t.setDaemon(true);
        return t;
    });

    void reset() {
        tokensPerStep = 1;
        response = "Hello, world. Bye";
        endless.set(false);
        workerConnected.set(true);
        failWith.set(null);
        requests.clear();
        produced.set(0);
        cancelled = new CountDownLatch(1);
        started = new CountDownLatch(1);
    }

    @Override
    public void generate(GenerateRequest req, StreamObserver<GenerateResponse> out) {
        requests.add(req);
        Status fail = failWith.get();
        if (fail != null) {
            out.onError(fail.asRuntimeException());
            return;
        }
        ServerCallStreamObserver<GenerateResponse> call = (ServerCallStreamObserver<GenerateResponse>) out;
        AtomicBoolean gone = new AtomicBoolean();
        CountDownLatch cancelLatch = cancelled;
        call.setOnCancelHandler(() -> {
            gone.set(true);
            cancelLatch.countDown();
        });
        java.util.concurrent.Semaphore ready = new java.util.concurrent.Semaphore(0);
        call.setOnReadyHandler(ready::release);
        started.countDown();
        steps.execute(() -> run(req, call, gone, ready));
    }

    private void run(GenerateRequest req, ServerCallStreamObserver<GenerateResponse> out, AtomicBoolean gone,
                     java.util.concurrent.Semaphore ready) {
        SamplingParams sp = req.getSampling();
        int n = Math.max(1, sp.getN());
        int promptLen = req.getPromptTokenIdsCount();
        List<List<Integer>> seqs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String text = (i == 0 ? "" : "#" + i + " ") + response;
            List<Integer> ids = new ArrayList<>();
            for (char c : text.toCharArray()) ids.add((int) c);
            ids.add(FakeTokenizer.EOS);
            seqs.add(ids);
        }
        int limit = MAX_MODEL_LEN - promptLen;
        if (sp.getMaxTokens() > 0) limit = Math.min(limit, sp.getMaxTokens());
        boolean[] done = new boolean[n];
        int[] generated = new int[n];
        boolean first = true;
        while (!gone.get()) {
            GenerateResponse.Builder r = GenerateResponse.newBuilder().setRequestId(req.getRequestId());
            if (first && sp.hasPromptLogprobs()) {
                for (int p = 0; p < promptLen; p++) {
                    r.addPromptLogprobs(p == 0 ? TokenLogprobs.getDefaultInstance()
                            : logprobs(req.getPromptTokenIds(p), sp.getPromptLogprobs()));
                }
            }
            first = false;
            boolean all = true;
            for (int i = 0; i < n; i++) {
                if (done[i]) continue;
                CompletionOutput.Builder o = CompletionOutput.newBuilder().setIndex(i);
                // Several tokens per message, as an engine does when it coalesces steps for a slow client.
                for (int k = 0; k < tokensPerStep && !done[i]; k++) {
                    int tok = endless.get() ? 'x' : seqs.get(i).get(generated[i]);
                    generated[i]++;
                    o.addTokenIds(tok);
                    if (sp.hasLogprobs()) o.addLogprobs(logprobs(tok, sp.getLogprobs()));
                    if (tok == FakeTokenizer.EOS || sp.getStopTokenIdsList().contains(tok)) {
                        o.setFinishReason(FinishReason.FINISH_REASON_STOP).setStopTokenId(tok);
                        done[i] = true;
                    } else if (!endless.get() && generated[i] >= limit) {
                        o.setFinishReason(FinishReason.FINISH_REASON_LENGTH);
                        done[i] = true;
                    }
                }
                o.setNumGeneratedTokens(generated[i]);
                all &= done[i];
                r.addOutputs(o);
            }
            int total = 0;
            for (int g : generated) total += g;
            r.setUsage(Usage.newBuilder().setPromptTokens(promptLen).setCompletionTokens(total));
            r.setFinished(all);
            synchronized (out) {
                if (gone.get()) return;
                out.onNext(r.build());
                if (all) {
                    out.onCompleted();
                    return;
                }
            }
            produced.incrementAndGet();
            CountDownLatch h = holdAfterEachMessage;
            while (h != null && !gone.get()) { // a slow engine: the test decides when the generation goes on
                try {
                    if (h.await(10, java.util.concurrent.TimeUnit.MILLISECONDS)) break;
                } catch (InterruptedException e) {
                    return;
                }
            }
            // Endless streams respect flow control: a fast producer that only sends what the client asked for.
            while (endless.get() && !out.isReady() && !gone.get()) {
                try {
                    ready.tryAcquire(10, java.util.concurrent.TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    private static TokenLogprobs logprobs(int tok, int k) {
        TokenLogprobs.Builder b = TokenLogprobs.newBuilder().setTokenId(tok).setLogprob(-0.25f).setRank(1);
        for (int j = 0; j < k; j++) {
            if (j == 0) b.addTop(TopLogprob.newBuilder().setTokenId(tok).setLogprob(-0.25f).setRank(1));
            else b.addTop(TopLogprob.newBuilder().setTokenId('a' + j).setLogprob(-1f - j).setRank(j + 1));
        }
        return b.build();
    }

    @Override
    public void abort(AbortRequest req, StreamObserver<AbortResponse> out) {
        out.onNext(AbortResponse.getDefaultInstance());
        out.onCompleted();
    }

    @Override
    public void getModelInfo(ModelInfoRequest req, StreamObserver<ModelInfo> out) {
        out.onNext(ModelInfo.newBuilder().setModel("/models/fake").setMaxModelLen(MAX_MODEL_LEN)
                .setVocabSize(FakeTokenizer.VOCAB).addEosTokenIds(FakeTokenizer.EOS).build());
        out.onCompleted();
    }

    @Override
    public void getStats(StatsRequest req, StreamObserver<EngineStats> out) {
        out.onNext(EngineStats.newBuilder().setWorkerConnected(workerConnected.get())
                .setNumRunning(3).putRequestSuccessTotal("stop", 7).build());
        out.onCompleted();
    }

    void shutdown() {
        steps.shutdownNow();
    }
}
