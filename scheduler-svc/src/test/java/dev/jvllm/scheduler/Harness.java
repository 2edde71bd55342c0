package dev.jvllm.scheduler;

import dev.jvllm.proto.CompletionOutput;
import dev.jvllm.proto.FinishReason;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.GenerateResponse;
import dev.jvllm.proto.TokenLogprobs;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Drives the pure {@link Scheduler} against a {@link FakeModel} and collects every request's streamed output. */
final class Harness {
    static final int VOCAB = 40;
    static final List<Integer> EOS = List.of(1);

    final Scheduler scheduler;
    FakeModel model; // replaced when a test restarts the worker
    final Map<String, Result> results = new LinkedHashMap<>();
    long clock;

    static final class Result {
        final Map<Integer, List<Integer>> tokens = new TreeMap<>();
        final Map<Integer, FinishReason> reasons = new TreeMap<>();
        final Map<Integer, Integer> stopTokenIds = new TreeMap<>();
        final List<TokenLogprobs> promptLogprobs = new ArrayList<>();
        final List<GenerateResponse> responses = new ArrayList<>();
        boolean finished;

        void add(GenerateResponse r) {
            if (finished) throw new AssertionError("response after the final one: " + r);
            responses.add(r);
            promptLogprobs.addAll(r.getPromptLogprobsList());
            for (CompletionOutput o : r.getOutputsList()) {
                List<Integer> toks = tokens.computeIfAbsent(o.getIndex(), k -> new ArrayList<>());
                toks.addAll(o.getTokenIdsList());
                assertEquals(toks.size(), o.getNumGeneratedTokens(), "num_generated_tokens");
                if (o.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
                    if (reasons.put(o.getIndex(), o.getFinishReason()) != null) throw new AssertionError("finished twice: " + r);
                    if (o.hasStopTokenId()) stopTokenIds.put(o.getIndex(), o.getStopTokenId());
                }
            }
            finished = r.getFinished();
        }
    }

    Harness(SchedulerOptions options, int maxModelLen, int numBlocks) {
        this.scheduler = new Scheduler(options, new ModelSpec("fake-model", VOCAB, maxModelLen, EOS), numBlocks, () -> clock);
        this.model = new FakeModel(VOCAB, options.blockSize(), numBlocks);
    }

    String add(GenerateRequest req) throws RequestRejectedException {
        String id = scheduler.addRequest(req, clock);
        results.put(id, new Result());
        return id;
    }

    void abort(String id) {
        RequestOutput out = scheduler.abort(id);
        if (out != null) accept(out);
    }

    /** One full step; returns the plan (empty when nothing was scheduled). */
    StepPlan step() {
        clock += 1_000_000;
        StepPlan plan = scheduler.schedule();
        if (plan.isEmpty()) return plan;
        SchedulerOptions o = scheduler.options();
        assertTrue(plan.numTokens() <= o.maxNumBatchedTokens(), "token budget exceeded: " + plan.numTokens());
        assertTrue(plan.numSeqs() <= o.maxNumSeqs(), "max-num-seqs exceeded: " + plan.numSeqs());
        for (RequestOutput out : scheduler.update(plan, model.step(plan.request()))) accept(out);
        scheduler.checkInvariants();
        return plan;
    }

    void accept(RequestOutput out) {
        Result r = results.get(out.requestId());
        r.add(out.response());
        assertEquals(r.finished, out.finished());
    }

    void runUntilIdle(int maxSteps) {
        for (int i = 0; i < maxSteps && scheduler.hasWork(); i++) step();
        assertTrue(!scheduler.hasWork(), "still busy after " + maxSteps + " steps");
    }
}
