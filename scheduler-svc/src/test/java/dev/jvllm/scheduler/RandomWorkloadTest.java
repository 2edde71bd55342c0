package dev.jvllm.scheduler;

import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.SamplingParams;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Seeded random workload against the pure core with a KV cache small enough to force preemption:
 * invariants after every step, and every request's output equal to what it produces alone.
 */
class RandomWorkloadTest {
    private static final int MAX_MODEL_LEN = 128;

    @ParameterizedTest(name = "seed={0} policy={1} prefixCaching={2} blockSize={3}")
    @CsvSource({
            "1, fcfs, true, 4",
            "2, priority, true, 4",
            "3, fcfs, false, 4",
            "4, priority, true, 16",
            "5, fcfs, true, 16",
    })
    void invariantsHoldAndOutputsMatchSoloRuns(long seed, String policy, boolean prefixCaching, int blockSize)
            throws Exception {
        SchedulerOptions options = SchedulerOptions.defaults()
                .withBlockSize(blockSize).withMaxNumSeqs(8).withMaxNumBatchedTokens(64)
                .withSchedulingPolicy(policy).withEnablePrefixCaching(prefixCaching).withMaxWaitingRequests(0);
        int numBlocks = 200 / blockSize; // room for one max-length sequence and a bit: preemption guaranteed
        Harness h = new Harness(options, MAX_MODEL_LEN, numBlocks);
        SplittableRandom rnd = new SplittableRandom(seed);
        List<int[]> prefixes = new ArrayList<>();
        for (int i = 0; i < 4; i++) prefixes.add(randomTokens(rnd, rnd.nextInt(0, 48)));

        List<GenerateRequest> submitted = new ArrayList<>();
        List<String> aborted = new ArrayList<>();
        int toSubmit = 160;
        int steps = 0;
        while (toSubmit > 0 || h.scheduler.hasWork()) {
            if (toSubmit > 0 && rnd.nextInt(4) == 0) {
                int burst = 1 + rnd.nextInt(3);
                for (int b = 0; b < burst && toSubmit > 0; b++, toSubmit--) {
                    GenerateRequest req = randomRequest(rnd, prefixes, "r" + submitted.size());
                    h.add(req);
                    submitted.add(req);
                }
            }
            if (rnd.nextInt(60) == 0) {
                List<String> live = h.results.entrySet().stream().filter(e -> !e.getValue().finished).map(Map.Entry::getKey).toList();
                if (!live.isEmpty()) {
                    String victim = live.get(rnd.nextInt(live.size()));
                    h.abort(victim);
                    aborted.add(victim);
                }
            }
            h.step();
            h.scheduler.checkInvariants();
            assertTrue(++steps < 100_000, "workload does not drain");
        }

        var stats = h.scheduler.stats();
        assertEquals(0, stats.getNumRunning());
        assertEquals(0, stats.getNumWaiting());
        assertEquals(stats.getNumTotalBlocks(), stats.getNumFreeBlocks(), "blocks leaked");
        assertEquals(0.0, stats.getKvCacheUsage());
        assertEquals(h.scheduler.numPendingFinishedSeqIds(), h.model.numLiveSeqs(),
                "the worker holds state for sequences the scheduler will not tell it to drop");
        assertTrue(stats.getNumPreemptions() > 0, "the workload should force preemption");
        assertTrue(steps > 500, "expected a long run, got " + steps + " steps");
        if (prefixCaching) assertTrue(stats.getPrefixCacheHits() > 0, "shared prefixes should hit the cache");
        long successes = stats.getRequestSuccessTotalMap().values().stream().mapToLong(Long::longValue).sum();
        assertEquals(submitted.size(), successes);

        for (GenerateRequest req : submitted) {
            Harness.Result got = h.results.get(req.getRequestId());
            assertTrue(got.finished, req.getRequestId() + " never finished");
            Harness.Result solo = runAlone(options, numBlocks, req);
            if (aborted.contains(req.getRequestId())) {
                for (var e : got.tokens.entrySet()) {
                    List<Integer> full = solo.tokens.getOrDefault(e.getKey(), List.of());
                    assertEquals(full.subList(0, Math.min(full.size(), e.getValue().size())), e.getValue(),
                            req.getRequestId() + " (aborted) diverged from its solo run");
                }
                continue;
            }
            assertEquals(solo.tokens, got.tokens, req.getRequestId() + " output differs from its solo run");
            assertEquals(solo.reasons, got.reasons, req.getRequestId() + " finish reasons differ");
            assertEquals(solo.stopTokenIds, got.stopTokenIds, req.getRequestId() + " stop tokens differ");
            assertEquals(solo.promptLogprobs, got.promptLogprobs, req.getRequestId() + " prompt logprobs differ");
            int n = Math.max(1, req.getSampling().getN());
            assertEquals(n, got.reasons.size());
            if (req.getSampling().hasPromptLogprobs())
                assertEquals(req.getPromptTokenIdsCount(), got.promptLogprobs.size());
        }
    }

    private static Harness.Result runAlone(SchedulerOptions options, int numBlocks, GenerateRequest req) throws Exception {
        Harness solo = new Harness(options, MAX_MODEL_LEN, numBlocks);
        String id = solo.add(req);
        solo.runUntilIdle(10_000);
        return solo.results.get(id);
    }

    private static GenerateRequest randomRequest(SplittableRandom rnd, List<int[]> prefixes, String id) {
        int[] prefix = prefixes.get(rnd.nextInt(prefixes.size()));
        int suffixLen = 1 + rnd.nextInt(rnd.nextInt(4) == 0 ? 80 : 24);
        int len = Math.min(prefix.length + suffixLen, MAX_MODEL_LEN - 1);
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setRequestId(id).setPriority(rnd.nextInt(3));
        for (int i = 0; i < len; i++) b.addPromptTokenIds(i < prefix.length ? prefix[i] : 2 + rnd.nextInt(Harness.VOCAB - 2));
        SamplingParams.Builder p = SamplingParams.newBuilder();
        int r = rnd.nextInt(10);
        p.setN(r < 7 ? 1 : r < 9 ? 2 : 3);
        p.setMaxTokens(rnd.nextInt(5) == 0 ? 0 : 1 + rnd.nextInt(60));
        if (rnd.nextInt(4) == 0) p.setMinTokens(Math.min(p.getMaxTokens() == 0 ? 10 : p.getMaxTokens(), rnd.nextInt(12)));
        if (rnd.nextInt(4) == 0) p.addStopTokenIds(3).addStopTokenIds(4);
        if (rnd.nextInt(6) == 0) p.setIgnoreEos(true);
        if (rnd.nextInt(2) == 0) p.setSeed(rnd.nextLong(1_000_000));
        if (rnd.nextInt(8) == 0) p.setLogprobs(2);
        if (rnd.nextInt(8) == 0) p.setPromptLogprobs(1);
        if (rnd.nextInt(8) == 0) b.setCacheSalt("tenant-b");
        return b.setSampling(p).build();
    }

    private static int[] randomTokens(SplittableRandom rnd, int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = 2 + rnd.nextInt(Harness.VOCAB - 2);
        return t;
    }

}
