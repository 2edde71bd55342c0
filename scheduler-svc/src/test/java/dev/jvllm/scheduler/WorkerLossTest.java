package dev.jvllm.scheduler;

import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.SamplingParams;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pure core losing its worker mid-step, again and again, with restarted workers of varying capacity:
 * running requests are requeued and recomputed, the accounting invariants hold throughout, no block or request
 * leaks, and every request still produces exactly what it produces alone.
 */
class WorkerLossTest {
    private static final int MAX_MODEL_LEN = 128;

    @Test
    void requeuedRequestsRecomputeToTheSameOutputsAcrossManyWorkerRestarts() throws Exception {
        SchedulerOptions options = SchedulerOptions.defaults().withBlockSize(4).withMaxNumSeqs(8).withMaxNumBatchedTokens(64)
                .withMaxWaitingRequests(0);
        int numBlocks = 50;
        Harness h = new Harness(options, MAX_MODEL_LEN, numBlocks);
        SplittableRandom rnd = new SplittableRandom(7);
        List<GenerateRequest> submitted = new ArrayList<>();
        int toSubmit = 80, losses = 0, steps = 0;
        while (toSubmit > 0 || h.scheduler.hasWork()) {
            if (toSubmit > 0 && rnd.nextInt(3) == 0) {
                GenerateRequest req = request(rnd, "r" + submitted.size());
                h.add(req);
                submitted.add(req);
                toSubmit--;
            }
            if (rnd.nextInt(25) == 0 && h.scheduler.hasWork()) {
                StepPlan lost = h.scheduler.schedule(); // sent, and the worker died before answering
                assertTrue(lost.isEmpty() || h.scheduler.numRunning() > 0);
                List<String> failed = h.scheduler.requeueAfterWorkerLoss(Integer.MAX_VALUE);
                assertEquals(List.of(), failed);
                assertEquals(0, h.scheduler.numRunning());
                int restartedBlocks = numBlocks / 2 + rnd.nextInt(numBlocks); // 25..74 x 4 tokens >= 128
                h.scheduler.resetKvCache(restartedBlocks);
                h.model = new FakeModel(Harness.VOCAB, options.blockSize(), restartedBlocks);
                h.scheduler.checkInvariants();
                losses++;
            }
            h.step();
            assertTrue(++steps < 100_000, "workload does not drain");
        }
        var stats = h.scheduler.stats();
        assertEquals(0, stats.getNumRunning() + stats.getNumWaiting());
        assertEquals(stats.getNumTotalBlocks(), stats.getNumFreeBlocks(), "blocks leaked");
        assertEquals(0, h.scheduler.numLiveRequests());
        assertTrue(losses > 5, "expected several worker losses, got " + losses);
        for (GenerateRequest req : submitted) {
            Harness.Result got = h.results.get(req.getRequestId());
            assertTrue(got.finished, req.getRequestId() + " never finished");
            Harness solo = new Harness(options, MAX_MODEL_LEN, numBlocks);
            String id = solo.add(req);
            solo.runUntilIdle(10_000);
            assertEquals(solo.results.get(id).tokens, got.tokens, req.getRequestId() + " differs from its solo run");
            assertEquals(solo.results.get(id).reasons, got.reasons, req.getRequestId());
        }
    }

    @Test
    void aRequestThatKeepsLosingItsWorkerIsDroppedAndFreesItsBlocks() throws Exception {
        Harness h = new Harness(SchedulerOptions.defaults().withBlockSize(4), MAX_MODEL_LEN, 64);
        String id = h.add(GenerateRequest.newBuilder().setRequestId("poison").addPromptTokenIds(5).addPromptTokenIds(6)
                .setSampling(SamplingParams.newBuilder().setMaxTokens(10)).build());
        for (int i = 0; i < 2; i++) {
            h.scheduler.schedule();
            assertEquals(List.of(), h.scheduler.requeueAfterWorkerLoss(2));
            assertTrue(h.scheduler.isLive(id));
        }
        h.scheduler.schedule();
        assertEquals(List.of(id), h.scheduler.requeueAfterWorkerLoss(2));
        assertTrue(!h.scheduler.isLive(id) && !h.scheduler.hasWork());
        assertEquals(64, h.scheduler.numFreeBlocks());
        h.scheduler.checkInvariants();
    }

    @Test
    void aRestartedWorkerTooSmallForOneMaxLengthSequenceIsRefused() {
        Harness h = new Harness(SchedulerOptions.defaults().withBlockSize(4), MAX_MODEL_LEN, 64);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> h.scheduler.resetKvCache(31));
        assertTrue(e.getMessage().contains("fewer than one sequence"), e.getMessage());
        assertEquals(64, h.scheduler.numTotalBlocks());
    }

    private static GenerateRequest request(SplittableRandom rnd, String id) {
        int len = 1 + rnd.nextInt(rnd.nextInt(4) == 0 ? 60 : 20);
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setRequestId(id);
        for (int i = 0; i < len; i++) b.addPromptTokenIds(2 + rnd.nextInt(Harness.VOCAB - 2));
        SamplingParams.Builder p = SamplingParams.newBuilder().setN(rnd.nextInt(5) == 0 ? 2 : 1)
                .setMaxTokens(1 + rnd.nextInt(40));
        if (rnd.nextBoolean()) p.setSeed(rnd.nextLong(1_000_000));
        if (rnd.nextInt(6) == 0) p.setIgnoreEos(true);
        return b.setSampling(p).build();
    }
}
