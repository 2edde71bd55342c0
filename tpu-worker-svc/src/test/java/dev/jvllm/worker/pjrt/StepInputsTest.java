package dev.jvllm.worker.pjrt;

import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.proto.SeqSampling;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class StepInputsTest {

    static final BucketPlanner PLANNER = BucketPlanner.create(64, 16, 64, 4, 0); // 16 blocks of 4 per sequence

    static ScheduledSeq seq(long id, int start, int[] tokens, int[] blocks, boolean sample) {
        ScheduledSeq.Builder b = ScheduledSeq.newBuilder().setSeqId(id).setStartPos(start).setDoSample(sample);
        for (int t : tokens) b.addTokenIds(t);
        for (int x : blocks) b.addBlockTable(x);
        return b.build();
    }

    @Test
    void laysOutTokensSlotsAndPaddingForTheBucket() {
        SamplingState hot = new SamplingState(0.7f, 5, 0.9f, -3);
        StepInputs in = StepInputs.build(List.of(
                        seq(1, 0, new int[] {10, 11, 12, 13, 14}, new int[] {7, 2}, true),  // prefill, 2 blocks
                        seq(2, 6, new int[] {20}, new int[] {3, 4}, false)),                 // decode at position 6, chunk not sampled
                List.of(hot, hot), PLANNER, 4, 8);
        assertEquals(new BucketPlanner.Bucket(16, 8, 16), in.bucket());
        assertArrayEquals(new int[] {10, 11, 12, 13, 14, 20}, java.util.Arrays.copyOf(in.tokenIds(), 6));
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 6}, java.util.Arrays.copyOf(in.positions(), 6));
        assertArrayEquals(new int[] {0, 0, 0, 0, 0, 1}, java.util.Arrays.copyOf(in.tokenSeq(), 6));
        // position p -> block_table[p / 4] * 4 + p % 4
        assertArrayEquals(new int[] {28, 29, 30, 31, 8, 18}, java.util.Arrays.copyOf(in.slotMapping(), 6));
        for (int i = 6; i < 16; i++) assertEquals(32, in.slotMapping()[i], "padding writes out of range");
        assertArrayEquals(new int[] {5, 7, 0, 0, 0, 0, 0, 0}, in.contextLens());
        assertArrayEquals(new int[] {4, 5}, java.util.Arrays.copyOf(in.logitsIndices(), 2));
        assertEquals(7, in.blockTables()[0]);
        assertEquals(2, in.blockTables()[1]);
        assertEquals(3, in.blockTables()[16]);
        assertEquals(0.7f, in.temperature()[0]);
        assertEquals(0f, in.temperature()[1], "do_sample=false runs greedy (its token is discarded)");
        assertEquals(-3, in.seeds()[0]);
        assertEquals(1f, in.topP()[5], "padding sequences keep a valid top_p");
        assertEquals(11, in.byParamName().size());
    }

    @Test
    void rejectsMalformedSequences() {
        List<SamplingState> one = List.of(SamplingState.GREEDY);
        var shortTable = assertThrows(IllegalArgumentException.class,
                () -> StepInputs.build(List.of(seq(1, 3, new int[] {1, 2}, new int[] {0}, true)), one, PLANNER, 4, 8));
        assertTrue(shortTable.getMessage().contains("block table"), shortTable.getMessage());
        assertThrows(IllegalArgumentException.class, () -> StepInputs.build(List.of(seq(1, 0, new int[] {1}, new int[] {8}, true)), one, PLANNER, 4, 8));
        assertThrows(IllegalArgumentException.class, () -> StepInputs.build(List.of(seq(1, 0, new int[0], new int[] {0}, true)), one, PLANNER, 4, 8));
        assertThrows(IllegalArgumentException.class, () -> StepInputs.build(List.of(seq(1, 0, new int[65], new int[17], true)), one, PLANNER, 4, 8));
    }

    @Test
    void samplingStateFromRequestDefaultsAndRefusals() {
        SamplingState d = SamplingState.from(SeqSampling.newBuilder().setParams(SamplingParams.getDefaultInstance()).build(), 0x1_0000_0002L);
        assertEquals(1f, d.temperature());
        assertEquals(0, d.topK());
        assertEquals(1f, d.topP());
        assertEquals(3, d.seed32(), "fallback seed folded: low ^ high");
        SamplingState g = SamplingState.from(SeqSampling.newBuilder().setSeed(5)
                .setParams(SamplingParams.newBuilder().setTemperature(0f).setTopK(-1)).build(), 99);
        assertEquals(0f, g.temperature());
        assertEquals(0, g.topK());
        assertEquals(5, g.seed32(), "request seed wins over the fallback");
        var e = assertThrows(IllegalArgumentException.class, () -> SamplingState.from(SeqSampling.newBuilder()
                .setParams(SamplingParams.newBuilder().setPresencePenalty(0.5f).setLogprobs(2)).build(), 0));
        assertTrue(e.getMessage().contains("presence_penalty") && e.getMessage().contains("logprobs"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> SamplingState.from(SeqSampling.newBuilder()
                .setParams(SamplingParams.newBuilder().setTopP(0f)).build(), 0));
    }
}
