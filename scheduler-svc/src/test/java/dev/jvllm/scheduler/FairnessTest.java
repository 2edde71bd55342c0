package dev.jvllm.scheduler;

import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FairnessTest {
    @Test
    void runningStreamsGetATokenEveryStepWhileALongPromptIsChunked() throws Exception {
        SchedulerOptions o = SchedulerOptions.defaults().withMaxNumBatchedTokens(512);
        Harness h = new Harness(o, 4096, 512);
        for (int i = 0; i < 3; i++) {
            GenerateRequest.Builder b = GenerateRequest.newBuilder().setRequestId("s" + i)
                    .setSampling(SamplingParams.newBuilder().setMaxTokens(200).setIgnoreEos(true));
            for (int t = 0; t < 10; t++) b.addPromptTokenIds(2 + (i + t) % 30);
            h.add(b.build());
        }
        h.step(); // all three prefill together
        GenerateRequest.Builder longPrompt = GenerateRequest.newBuilder().setRequestId("long")
                .setSampling(SamplingParams.newBuilder().setMaxTokens(1));
        for (int t = 0; t < 2000; t++) longPrompt.addPromptTokenIds(2 + t % 37);
        h.add(longPrompt.build());

        int chunks = 0;
        int prefilled = 0;
        while (h.results.get("long").tokens.isEmpty()) {
            int[] before = new int[3];
            for (int i = 0; i < 3; i++) before[i] = h.results.get("s" + i).tokens.get(0).size();
            StepPlan plan = h.step();
            for (int i = 0; i < 3; i++)
                assertEquals(before[i] + 1, h.results.get("s" + i).tokens.get(0).size(), "stream s" + i + " starved");
            assertEquals(3, plan.numDecodeTokens());
            for (ScheduledSeq s : plan.request().getSeqsList()) {
                if (s.getTokenIdsCount() == 1) continue;
                chunks++;
                assertEquals(prefilled, s.getStartPos());
                prefilled += s.getTokenIdsCount();
                assertEquals(prefilled == 2000, s.getDoSample(), "only the final chunk samples");
                assertTrue(s.getTokenIdsCount() <= 512 - 3);
            }
            assertTrue(plan.numTokens() <= 512);
        }
        assertEquals(2000, prefilled);
        assertTrue(chunks >= 4, "2000 tokens under a 509-token budget need at least 4 chunks, got " + chunks);
        assertFalse(h.results.get("s0").finished);
        h.runUntilIdle(500);
    }
}
