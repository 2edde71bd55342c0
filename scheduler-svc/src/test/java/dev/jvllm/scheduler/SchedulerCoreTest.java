package dev.jvllm.scheduler;

import dev.jvllm.proto.FinishReason;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SchedulerCoreTest {
    private static GenerateRequest.Builder prompt(String id, int len, int salt) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setRequestId(id);
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(salt);
        for (int i = 0; i < len; i++) b.addPromptTokenIds(2 + rnd.nextInt(Harness.VOCAB - 2));
        return b;
    }

    private static GenerateRequest req(String id, int len, SamplingParams.Builder p) {
        return prompt(id, len, id.hashCode() & 0xff).setSampling(p).build();
    }

    /** Finds a prompt whose first sampled token (fake model, unseeded) is {@code token}. */
    private static GenerateRequest promptWhoseFirstTokenIs(int token, SamplingParams.Builder p) throws Exception {
        for (int salt = 0; salt < 2_000; salt++) {
            Harness h = new Harness(SchedulerOptions.defaults(), 256, 64);
            GenerateRequest r = prompt("probe", 8, salt).setSampling(SamplingParams.newBuilder().setMaxTokens(1).setIgnoreEos(true)).build();
            h.add(r);
            h.runUntilIdle(10);
            if (h.results.get("probe").tokens.get(0).getFirst() == token)
                return r.toBuilder().setSampling(p).build();
        }
        throw new AssertionError("no prompt produces token " + token);
    }

    @Test
    void eosStopsAndIsReportedUnlessIgnored() throws Exception {
        GenerateRequest r = promptWhoseFirstTokenIs(Harness.EOS.getFirst(), SamplingParams.newBuilder().setMaxTokens(5));
        Harness h = new Harness(SchedulerOptions.defaults(), 256, 64);
        h.add(r);
        h.runUntilIdle(10);
        Harness.Result res = h.results.get("probe");
        assertEquals(List.of(1), res.tokens.get(0));
        assertEquals(FinishReason.FINISH_REASON_STOP, res.reasons.get(0));
        assertEquals(1, res.stopTokenIds.get(0));
        assertEquals(1, h.scheduler.stats().getRequestSuccessTotalOrThrow("stop"));

        Harness ignoring = new Harness(SchedulerOptions.defaults(), 256, 64);
        ignoring.add(r.toBuilder().setSampling(SamplingParams.newBuilder().setMaxTokens(5).setIgnoreEos(true)).build());
        ignoring.runUntilIdle(10);
        assertEquals(5, ignoring.results.get("probe").tokens.get(0).size());
        assertEquals(FinishReason.FINISH_REASON_LENGTH, ignoring.results.get("probe").reasons.get(0));
    }

    @Test
    void stopTokenIdsStopWithTheTokenAndMinTokensDelaysStopping() throws Exception {
        GenerateRequest r = promptWhoseFirstTokenIs(7, SamplingParams.newBuilder().setMaxTokens(20).addStopTokenIds(7).setIgnoreEos(true));
        Harness h = new Harness(SchedulerOptions.defaults(), 256, 64);
        h.add(r);
        h.runUntilIdle(30);
        assertEquals(List.of(7), h.results.get("probe").tokens.get(0));
        assertEquals(7, h.results.get("probe").stopTokenIds.get(0));

        Harness min = new Harness(SchedulerOptions.defaults(), 256, 64);
        min.add(r.toBuilder().setSampling(r.getSampling().toBuilder().setMinTokens(6)).build());
        ScheduledSeq first = min.step().request().getSeqs(0);
        assertTrue(first.getNewSeq().getStopIdsList().contains(7), "the worker masks stop ids below min_tokens");
        min.runUntilIdle(30);
        List<Integer> out = min.results.get("probe").tokens.get(0);
        assertTrue(out.size() >= 6, "stopped before min_tokens: " + out);
        for (int i = 0; i < 6; i++) assertTrue(out.get(i) != 7);
    }

    @Test
    void maxModelLengthRejectsLongPromptsAndClipsMaxTokens() throws Exception {
        Harness h = new Harness(SchedulerOptions.defaults(), 64, 64);
        RequestRejectedException e = assertThrows(RequestRejectedException.class,
                () -> h.add(req("long", 64, SamplingParams.newBuilder())));
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, e.reason());
        assertTrue(e.getMessage().contains("prompt has 64 tokens, maximum context length is 64"), e.getMessage());

        h.add(req("clipped", 60, SamplingParams.newBuilder().setMaxTokens(100).setIgnoreEos(true)));
        h.add(req("unbounded", 50, SamplingParams.newBuilder().setIgnoreEos(true)));
        h.runUntilIdle(100);
        assertEquals(4, h.results.get("clipped").tokens.get(0).size());
        assertEquals(FinishReason.FINISH_REASON_LENGTH, h.results.get("clipped").reasons.get(0));
        assertEquals(14, h.results.get("unbounded").tokens.get(0).size());
    }

    @Test
    void promptLargerThanTheWholeCacheIsRejectedAtAdmission() {
        Harness h = new Harness(SchedulerOptions.defaults(), 4096, 4); // 64 tokens of KV
        RequestRejectedException e = assertThrows(RequestRejectedException.class,
                () -> h.add(req("big", 100, SamplingParams.newBuilder())));
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, e.reason());
        assertTrue(e.getMessage().contains("KV"), e.getMessage());
    }

    @Test
    void duplicatesQueueBoundAndFieldValidation() throws Exception {
        Harness h = new Harness(SchedulerOptions.defaults().withMaxWaitingRequests(2), 256, 64);
        h.add(req("a", 5, SamplingParams.newBuilder()));
        assertEquals(RequestRejectedException.Reason.ALREADY_EXISTS,
                assertThrows(RequestRejectedException.class, () -> h.add(req("a", 5, SamplingParams.newBuilder()))).reason());
        h.add(req("b", 5, SamplingParams.newBuilder()));
        RequestRejectedException full = assertThrows(RequestRejectedException.class, () -> h.add(req("c", 5, SamplingParams.newBuilder())));
        assertEquals(RequestRejectedException.Reason.RESOURCE_EXHAUSTED, full.reason());

        assertTrue(assertThrows(RequestRejectedException.class, () -> h.add(GenerateRequest.newBuilder().setRequestId("e").build()))
                .getMessage().contains("prompt_token_ids"));
        assertTrue(assertThrows(RequestRejectedException.class, () -> h.add(prompt("v", 3, 0).addPromptTokenIds(Harness.VOCAB).build()))
                .getMessage().contains("prompt_token_ids[3]"));
        assertTrue(assertThrows(RequestRejectedException.class, () -> h.add(req("t", 3, SamplingParams.newBuilder().setTemperature(-1))))
                .getMessage().contains("temperature"));
        assertTrue(assertThrows(RequestRejectedException.class, () -> h.add(req("p", 3, SamplingParams.newBuilder().setTopP(0))))
                .getMessage().contains("top_p"));
        assertTrue(assertThrows(RequestRejectedException.class, () -> h.add(req("n", 3, SamplingParams.newBuilder().setN(-1))))
                .getMessage().contains("sampling.n"));
        assertTrue(assertThrows(RequestRejectedException.class, () -> h.add(req("m", 3, SamplingParams.newBuilder().setMaxTokens(-2))))
                .getMessage().contains("max_tokens"));
    }

    @Test
    void abortFreesBlocksAtOnceAndTellsTheWorker() throws Exception {
        Harness h = new Harness(SchedulerOptions.defaults().withMaxNumSeqs(1), 256, 64);
        h.add(req("a", 40, SamplingParams.newBuilder().setMaxTokens(50).setIgnoreEos(true)));
        h.add(req("queued", 10, SamplingParams.newBuilder()));
        long seqId = h.step().request().getSeqs(0).getSeqId();
        h.step();
        assertEquals(1, h.scheduler.numWaiting());
        assertTrue(h.scheduler.numFreeBlocks() < 64);
        h.abort("a");
        h.abort("queued");
        assertEquals(64, h.scheduler.numFreeBlocks());
        assertEquals(0, h.scheduler.stats().getKvCacheUsage());
        assertEquals(FinishReason.FINISH_REASON_ABORT, h.results.get("a").reasons.get(0));
        assertTrue(h.results.get("a").finished && h.results.get("queued").finished);
        assertNull(h.scheduler.abort("a"));
        h.add(req("next", 5, SamplingParams.newBuilder().setMaxTokens(1)));
        StepPlan p = h.step();
        assertTrue(p.request().getFinishedSeqIdsList().contains(seqId), "worker must drop the aborted sequence");
        h.runUntilIdle(10);
        assertEquals(2, h.scheduler.stats().getRequestSuccessTotalOrThrow("abort"));
    }

    @Test
    void preemptionRecomputesAndProducesTheSameOutput() throws Exception {
        SchedulerOptions o = SchedulerOptions.defaults().withBlockSize(4);
        // 10 blocks = 40 tokens; two sequences growing to 36 tokens each cannot both fit.
        Harness h = new Harness(o, 40, 10);
        h.add(req("old", 16, SamplingParams.newBuilder().setMaxTokens(20).setIgnoreEos(true).setSeed(42)));
        h.add(req("young", 16, SamplingParams.newBuilder().setMaxTokens(20).setIgnoreEos(true).setSeed(7)));
        boolean sawRestart = false;
        while (h.scheduler.hasWork()) {
            StepPlan p = h.step();
            for (ScheduledSeq s : p.request().getSeqsList())
                if (s.hasNewSeq() && s.getTokenIdsCount() + s.getStartPos() > 16) {
                    sawRestart = true;
                    assertEquals(16, s.getNewSeq().getNumPromptTokens(), "penalties need the original prompt length");
                }
        }
        assertTrue(h.scheduler.stats().getNumPreemptions() > 0);
        assertTrue(sawRestart);
        for (String id : List.of("old", "young")) {
            Harness solo = new Harness(o, 40, 10);
            solo.add(req(id, 16, SamplingParams.newBuilder().setMaxTokens(20).setIgnoreEos(true).setSeed(id.equals("old") ? 42 : 7)));
            solo.runUntilIdle(100);
            assertEquals(solo.results.get(id).tokens, h.results.get(id).tokens);
        }
    }

    @Test
    void priorityPolicyRunsLowerValuesFirstAndPreemptsTheLeastImportant() throws Exception {
        SchedulerOptions o = SchedulerOptions.defaults().withSchedulingPolicy("priority").withMaxNumSeqs(1);
        Harness h = new Harness(o, 256, 64);
        h.add(req("low", 5, SamplingParams.newBuilder().setMaxTokens(2).setIgnoreEos(true)).toBuilder().setPriority(5).build());
        h.add(req("high", 5, SamplingParams.newBuilder().setMaxTokens(2).setIgnoreEos(true)).toBuilder().setPriority(-1).build());
        h.add(req("mid", 5, SamplingParams.newBuilder().setMaxTokens(2).setIgnoreEos(true)).toBuilder().setPriority(1).build());
        StringBuilder order = new StringBuilder();
        while (h.scheduler.hasWork()) {
            h.step();
            for (var e : h.results.entrySet())
                if (e.getValue().finished && !order.toString().contains(e.getKey())) order.append(e.getKey()).append(' ');
        }
        assertEquals("high mid low ", order.toString());
    }

    @Test
    void promptLogprobsAreChunkedToBoundTheWorkersLogitRows() throws Exception {
        int vocab = 1 << 20; // 2^26 floats of logits per step / 2^20 = 64 rows
        Scheduler s = new Scheduler(SchedulerOptions.defaults(), new ModelSpec("big-vocab", vocab, 4096, List.of(0)), 64, () -> 0L);
        s.addRequest(req("pl", 200, SamplingParams.newBuilder().setPromptLogprobs(1)), 0);
        s.addRequest(req("plain", 200, SamplingParams.newBuilder()), 0);
        StepPlan p = s.schedule();
        assertEquals(64, p.request().getSeqs(0).getTokenIdsCount());
        assertTrue(p.request().getSeqs(0).getWantPromptLogprobs());
        assertFalse(p.request().getSeqs(0).getDoSample());
        assertEquals(200, p.request().getSeqs(1).getTokenIdsCount(), "requests without prompt logprobs are not limited");
    }
}
