package dev.jvllm.scheduler;

import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PrefixCacheTest {
    private static final int BLOCK = 16;

    private static GenerateRequest request(String id, int[] prefix, int suffixLen, int suffixSeed, int maxTokens, int n, String salt) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setRequestId(id).setCacheSalt(salt)
                .setSampling(SamplingParams.newBuilder().setMaxTokens(maxTokens).setIgnoreEos(true).setN(n));
        for (int t : prefix) b.addPromptTokenIds(t);
        for (int i = 0; i < suffixLen; i++) b.addPromptTokenIds(2 + (suffixSeed * 7 + i * 3) % 37);
        return b.build();
    }

    private static int[] prefix(int len) {
        int[] p = new int[len];
        for (int i = 0; i < len; i++) p[i] = 2 + (i * 13 + 5) % 37;
        return p;
    }

    private static ScheduledSeq only(StepPlan plan) {
        assertEquals(1, plan.request().getSeqsCount());
        return plan.request().getSeqs(0);
    }

    @Test
    void secondRequestSharingA200TokenPrefixOnlyComputesItsNewTokens() throws Exception {
        Harness h = new Harness(SchedulerOptions.defaults(), 1024, 256);
        int[] shared = prefix(200);
        h.add(request("a", shared, 30, 1, 4, 1, ""));
        h.runUntilIdle(100);
        EngineStats before = h.scheduler.stats();
        assertEquals(0, before.getPrefixCacheHits());
        assertEquals(230, before.getPrefixCacheQueries());

        h.add(request("b", shared, 25, 2, 4, 1, ""));
        ScheduledSeq first = only(h.step());
        int cached = 200 / BLOCK * BLOCK; // 192: the 12 full blocks inside the shared prefix
        assertEquals(cached, first.getStartPos(), "the shared full blocks must not be recomputed");
        assertEquals(225 - cached, first.getTokenIdsCount(), "only the new tokens are scheduled");
        assertEquals(225 - cached, h.scheduler.stats().getPrefillTokensLastStep());
        EngineStats after = h.scheduler.stats();
        assertEquals(cached, after.getPrefixCacheHits() - before.getPrefixCacheHits());
        assertEquals(225, after.getPrefixCacheQueries() - before.getPrefixCacheQueries());
        h.runUntilIdle(100);
        assertEquals(cached, h.results.get("b").responses.getLast().getUsage().getCachedPromptTokens());

        // Same output as without any cache.
        Harness cold = new Harness(SchedulerOptions.defaults().withEnablePrefixCaching(false), 1024, 256);
        cold.add(request("b", shared, 25, 2, 4, 1, ""));
        cold.runUntilIdle(100);
        assertEquals(cold.results.get("b").tokens, h.results.get("b").tokens);
        assertEquals(0, cold.scheduler.stats().getPrefixCacheQueries());
    }

    @Test
    void fullyCachedPromptStillRecomputesItsLastToken() throws Exception {
        Harness h = new Harness(SchedulerOptions.defaults(), 1024, 64);
        int[] p = prefix(64); // exactly 4 blocks
        h.add(request("a", p, 0, 0, 2, 1, ""));
        h.runUntilIdle(10);
        h.add(request("b", p, 0, 0, 2, 1, ""));
        ScheduledSeq s = only(h.step());
        assertEquals(48, s.getStartPos()); // 3 blocks hit; the block holding the last token is recomputed
        assertEquals(16, s.getTokenIdsCount());
        assertTrue(s.getDoSample());
        h.runUntilIdle(10);
        assertEquals(h.results.get("a").tokens, h.results.get("b").tokens);
    }

    @Test
    void cacheSaltIsolatesTenants() throws Exception {
        Harness h = new Harness(SchedulerOptions.defaults(), 1024, 64);
        int[] p = prefix(100);
        h.add(request("a", p, 5, 0, 2, 1, "tenant-a"));
        h.runUntilIdle(10);
        h.add(request("b", p, 5, 0, 2, 1, "tenant-b"));
        assertEquals(0, only(h.step()).getStartPos());
        h.runUntilIdle(10);
        h.add(request("c", p, 5, 0, 2, 1, "tenant-a"));
        assertEquals(96, only(h.step()).getStartPos());
    }

    @Test
    void freedBlocksStayReusableUntilEvictedLeastRecentlyFreedFirst() throws Exception {
        // 8 blocks: "a" (3 blocks + tail) finishes and stays cached; "b" then needs most of the cache and
        // evicts a's blocks from the least recently freed end; a's first block survives longest.
        Harness h = new Harness(SchedulerOptions.defaults(), 128, 8);
        h.add(request("a", prefix(40), 0, 0, 1, 1, ""));
        h.runUntilIdle(10);
        assertEquals(8, h.scheduler.numFreeBlocks()); // free, but a's 2 full blocks are still cached
        h.add(request("a2", prefix(40), 0, 0, 1, 1, ""));
        assertEquals(32, only(h.step()).getStartPos());
        h.runUntilIdle(10);
        int[] other = new int[100];
        for (int i = 0; i < 100; i++) other[i] = 30 + i % 7;
        GenerateRequest.Builder big = GenerateRequest.newBuilder().setRequestId("big")
                .setSampling(SamplingParams.newBuilder().setMaxTokens(1));
        for (int t : other) big.addPromptTokenIds(t);
        h.add(big.build()); // 7 blocks: evicts all but one cached block
        h.runUntilIdle(10);
        h.add(request("a3", prefix(40), 0, 0, 1, 1, ""));
        ScheduledSeq s = only(h.step());
        assertEquals(16, s.getStartPos(), "the first block of a's prefix was freed last-in-line and survives");
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "prefixCaching={0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
    void parallelSamplingSharesThePromptBlocks(boolean prefixCaching) throws Exception {
        Harness h = new Harness(SchedulerOptions.defaults().withEnablePrefixCaching(prefixCaching), 1024, 64);
        h.add(request("n3", prefix(100), 0, 0, 5, 3, "")); // 6 full blocks + 4 tokens
        StepPlan first = h.step();
        assertEquals(1, first.numSeqs(), "siblings wait for sequence 0's prompt to be cached");
        StepPlan second = h.step();
        List<ScheduledSeq> seqs = second.request().getSeqsList();
        assertEquals(3, seqs.size());
        Set<Integer> distinct = new HashSet<>();
        List<Integer> all = new ArrayList<>();
        for (ScheduledSeq s : seqs) {
            all.addAll(s.getBlockTableList());
            distinct.addAll(s.getBlockTableList());
        }
        for (ScheduledSeq s : seqs.subList(1, 3)) {
            assertEquals(96, s.getStartPos());
            assertEquals(seqs.get(0).getBlockTableList().subList(0, 6), s.getBlockTableList().subList(0, 6));
        }
        assertEquals(6 + 3, distinct.size(), "6 shared prompt blocks + one tail block per sequence");
        assertNotEquals(all.size(), distinct.size());
        h.runUntilIdle(20);
        Harness.Result r = h.results.get("n3");
        assertEquals(3, r.tokens.size());
        r.tokens.values().forEach(t -> assertEquals(5, t.size()));
        assertEquals(h.scheduler.numTotalBlocks(), h.scheduler.numFreeBlocks());
        if (!prefixCaching) { // the request-private namespace must not leak to other requests
            h.add(request("other", prefix(100), 0, 0, 1, 1, ""));
            assertEquals(0, h.step().request().getSeqs(0).getStartPos());
            assertEquals(0, h.scheduler.stats().getPrefixCacheQueries());
        }
    }
}
