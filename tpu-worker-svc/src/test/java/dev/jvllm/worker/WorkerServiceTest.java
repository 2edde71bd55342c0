package dev.jvllm.worker;

import dev.jvllm.proto.InitCacheRequest;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.proto.SeqOutput;
import dev.jvllm.proto.SeqSampling;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.proto.TokenLogprobs;
import dev.jvllm.worker.model.RandomModelWriter;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Step contract through in-process gRPC: strict validation that leaves state intact, logprobs, seeds. */
class WorkerServiceTest {
    static final int BS = 4, BLOCKS = 16, MAX_LEN = 32, VOCAB = 64;

    @TempDir
    static Path tmp;
    static Path model;

    WorkerTestClient client;

    @BeforeAll
    static void writeModel() {
        model = RandomModelWriter.builder().hidden(32).layers(2).heads(4).kvHeads(2).intermediate(48).vocab(VOCAB)
                .maxPos(64).seed(9).write(tmp.resolve("m"));
    }

    @BeforeEach
    void start() throws Exception {
        client = new WorkerTestClient(WorkerService.load(WorkerOptions.defaults(model).withMaxModelLen(MAX_LEN).withThreads(2)));
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
    }

    private void initCache() {
        assertEquals(BLOCKS, client.blocking.initCache(InitCacheRequest.newBuilder().setBlockSize(BS).setNumBlocks(BLOCKS)
                .build()).getNumBlocks());
    }

    static ScheduledSeq.Builder seq(long id, int start, int[] tokens, int... blocks) {
        ScheduledSeq.Builder s = ScheduledSeq.newBuilder().setSeqId(id).setStartPos(start).setDoSample(true);
        for (int t : tokens) {
            s.addTokenIds(t);
        }
        for (int b : blocks) {
            s.addBlockTable(b);
        }
        return s;
    }

    static ScheduledSeq.Builder newSeq(long id, int[] prompt, SamplingParams.Builder p, int... blocks) {
        return seq(id, 0, prompt, blocks).setNewSeq(SeqSampling.newBuilder().setParams(p).setNumPromptTokens(prompt.length));
    }

    static StepRequest step(long id, ScheduledSeq.Builder... seqs) {
        StepRequest.Builder r = StepRequest.newBuilder().setStepId(id);
        for (ScheduledSeq.Builder s : seqs) {
            r.addSeqs(s);
        }
        return r.build();
    }

    static final SamplingParams.Builder GREEDY = SamplingParams.newBuilder().setTemperature(0);
    static final int[] PROMPT = {1, 5, 9, 13, 17, 21};

    private void assertRejected(Status.Code code, String messagePart, StepRequest bad) {
        try (WorkerTestClient.StepStream stream = client.openStream()) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stream.step(bad));
            assertEquals(code, e.getStatus().getCode(), e.getMessage());
            assertTrue(e.getStatus().getDescription().contains(messagePart),
                    "'" + e.getStatus().getDescription() + "' should mention '" + messagePart + "'");
        }
    }

    @Test
    void stepBeforeInitCacheIsAFailedPrecondition() {
        assertRejected(Status.Code.FAILED_PRECONDITION, "InitCache", step(0, newSeq(1, PROMPT, GREEDY, 0, 1)));
    }

    @Test
    void invalidStepsAreRejectedWithoutTouchingState() {
        initCache();
        // A reference: the sequence's greedy tokens with nothing bad happening around it.
        List<Integer> expected;
        try (WorkerTestClient.StepStream s = client.openStream()) {
            expected = decode(s, 1, 4);
        }
        initCache(); // drops all sequences
        try (WorkerTestClient.StepStream s = client.openStream()) {
            int first = s.step(step(0, newSeq(1, PROMPT, GREEDY, 3, 7))).getOutputs(0).getTokenId();
            assertEquals(expected.getFirst(), first);
        }
        int[] last = {expected.getFirst()};
        // Each bad step also carries a valid new sequence 2, which must not be created.
        ScheduledSeq.Builder good2 = newSeq(2, PROMPT, GREEDY, 0, 1);
        assertRejected(Status.Code.INVALID_ARGUMENT, "unknown sequence", step(1, good2, seq(77, 0, new int[]{1}, 0)));
        assertRejected(Status.Code.INVALID_ARGUMENT, "outside the vocabulary", step(1, good2, seq(1, 6, new int[]{VOCAB}, 3, 7)));
        assertRejected(Status.Code.INVALID_ARGUMENT, "outside the vocabulary", step(1, good2, seq(1, 6, new int[]{-1}, 3, 7)));
        assertRejected(Status.Code.INVALID_ARGUMENT, "block_table has 1 blocks", step(1, good2, seq(1, 6, new int[]{3}, 3)));
        assertRejected(Status.Code.INVALID_ARGUMENT, "block id 16 outside", step(1, good2, seq(1, 6, new int[]{3}, 3, BLOCKS)));
        assertRejected(Status.Code.INVALID_ARGUMENT, "negative start_pos", step(1, good2, seq(1, -1, new int[]{3}, 3, 7)));
        assertRejected(Status.Code.INVALID_ARGUMENT, "exceed max_model_len",
                step(1, good2, seq(1, MAX_LEN, new int[]{3}, 0, 1, 2, 4, 5, 6, 8, 9, 10)));
        assertRejected(Status.Code.INVALID_ARGUMENT, "appears twice", step(1, good2, seq(1, 6, new int[]{3}, 3, 7),
                seq(1, 6, new int[]{3}, 3, 7)));
        assertRejected(Status.Code.INVALID_ARGUMENT, "no token_ids", step(1, good2, seq(1, 6, new int[0], 3, 7)));
        assertRejected(Status.Code.INVALID_ARGUMENT, "top_p", step(1, newSeq(2, PROMPT, SamplingParams.newBuilder().setTopP(0f), 0, 1)));
        assertRejected(Status.Code.INVALID_ARGUMENT, "logit_bias", step(1, newSeq(2, PROMPT,
                SamplingParams.newBuilder().putLogitBias(VOCAB + 3, 1f), 0, 1)));
        // A finished sequence cannot be continued in the same step without new_seq.
        assertRejected(Status.Code.INVALID_ARGUMENT, "unknown sequence", StepRequest.newBuilder()
                .addSeqs(seq(1, 6, new int[]{last[0]}, 3, 7)).addFinishedSeqIds(1).build());
        // Sequence 2 was never created, sequence 1 continues exactly as in the reference.
        assertRejected(Status.Code.INVALID_ARGUMENT, "unknown sequence", step(1, seq(2, 6, new int[]{3}, 0, 1)));
        List<Integer> got = new ArrayList<>(List.of(last[0]));
        try (WorkerTestClient.StepStream s = client.openStream()) {
            for (int i = 1; i < 4; i++) {
                int pos = PROMPT.length + i - 1;
                got.add(s.step(step(i, seq(1, pos, new int[]{got.getLast()}, 3, 7, 11))).getOutputs(0).getTokenId());
            }
        }
        assertEquals(expected, got);
    }

    private List<Integer> decode(WorkerTestClient.StepStream s, long id, int n) {
        List<Integer> out = new ArrayList<>();
        out.add(s.step(step(0, newSeq(id, PROMPT, GREEDY, 3, 7))).getOutputs(0).getTokenId());
        for (int i = 1; i < n; i++) {
            int pos = PROMPT.length + i - 1;
            out.add(s.step(step(i, seq(id, pos, new int[]{out.getLast()}, 3, 7, 11))).getOutputs(0).getTokenId());
        }
        return out;
    }

    @Test
    void promptLogprobsAreTheSameInOneChunkOrTwo() {
        initCache();
        SamplingParams.Builder p = GREEDY.clone().setPromptLogprobs(2).setLogprobs(3);
        try (WorkerTestClient.StepStream s = client.openStream()) {
            SeqOutput whole = s.step(step(0, newSeq(1, PROMPT, p, 0, 1).setWantPromptLogprobs(true))).getOutputs(0);
            assertEquals(PROMPT.length - 1, whole.getPromptLogprobsCount());
            assertEquals(3, whole.getLogprobs().getTopCount());
            assertEquals(whole.getTokenId(), whole.getLogprobs().getTokenId());
            assertEquals(1, whole.getLogprobs().getRank());
            int[] a = java.util.Arrays.copyOfRange(PROMPT, 0, 4), b = java.util.Arrays.copyOfRange(PROMPT, 4, 6);
            SeqOutput c1 = s.step(step(1, newSeq(2, a, p, 4, 5).setDoSample(false).setWantPromptLogprobs(true)
                    .setNewSeq(SeqSampling.newBuilder().setParams(p).setNumPromptTokens(6)))).getOutputs(0);
            assertEquals(-1, c1.getTokenId());
            SeqOutput c2 = s.step(step(2, seq(2, 4, b, 4, 5).setWantPromptLogprobs(true))).getOutputs(0);
            List<TokenLogprobs> chunked = new ArrayList<>(c1.getPromptLogprobsList());
            chunked.addAll(c2.getPromptLogprobsList());
            assertEquals(PROMPT.length - 1, chunked.size());
            for (int i = 0; i < chunked.size(); i++) {
                TokenLogprobs x = whole.getPromptLogprobs(i), y = chunked.get(i);
                assertEquals(PROMPT[i + 1], y.getTokenId());
                assertEquals(x.getTokenId(), y.getTokenId());
                assertEquals(x.getLogprob(), y.getLogprob(), 1e-5);
                assertEquals(x.getRank(), y.getRank());
                assertEquals(2, y.getTopCount());
                assertEquals(x.getTop(0).getTokenId(), y.getTop(0).getTokenId());
            }
            assertEquals(whole.getTokenId(), c2.getTokenId());
        }
    }

    @Test
    void seededSamplingIsTheSameAloneAndInABatch() {
        initCache();
        SamplingParams.Builder seeded = SamplingParams.newBuilder().setTemperature(1.5f).setSeed(42);
        List<Integer> alone = new ArrayList<>(), batched = new ArrayList<>();
        try (WorkerTestClient.StepStream s = client.openStream()) {
            alone.add(s.step(step(0, newSeq(1, PROMPT, seeded, 0, 1))).getOutputs(0).getTokenId());
            for (int i = 1; i < 8; i++) {
                int pos = PROMPT.length + i - 1;
                alone.add(s.step(step(i, seq(1, pos, new int[]{alone.getLast()}, 0, 1, 2, 3))).getOutputs(0).getTokenId());
            }
        }
        try (WorkerTestClient.StepStream s = client.openStream()) {
            SamplingParams.Builder unseeded = SamplingParams.newBuilder().setTemperature(1.5f);
            StepResponse r = s.step(step(0, newSeq(3, new int[]{2, 4}, unseeded, 8, 9), newSeq(2, PROMPT, seeded, 4, 5)));
            batched.add(r.getOutputs(1).getTokenId());
            int other = r.getOutputs(0).getTokenId();
            for (int i = 1; i < 8; i++) {
                int pos = PROMPT.length + i - 1;
                r = s.step(step(i, seq(3, 1 + i, new int[]{other}, 8, 9, 10), seq(2, pos, new int[]{batched.getLast()}, 4, 5, 6, 7)));
                other = r.getOutputs(0).getTokenId();
                batched.add(r.getOutputs(1).getTokenId());
            }
        }
        assertEquals(alone, batched);
        assertFalse(alone.stream().distinct().count() == 1, "a temperature 1.5 draw should vary: " + alone);
    }

    @Test
    void restartedSequenceGetsItsCachedPrefixFromPrefixTokenIds() {
        // Prompt tokens are boosted but heavily penalised once seen: forgetting the prompt would pick them.
        SamplingParams.Builder p = GREEDY.clone().setRepetitionPenalty(100f).setFrequencyPenalty(0.5f)
                .putLogitBias(1, 10f).putLogitBias(5, 10f).putLogitBias(9, 10f).putLogitBias(13, 10f);
        initCache();
        List<Integer> straight = new ArrayList<>();
        try (WorkerTestClient.StepStream s = client.openStream()) {
            straight.add(s.step(step(0, newSeq(1, PROMPT, p, 3, 7))).getOutputs(0).getTokenId());
            for (int i = 1; i < 6; i++) {
                int pos = PROMPT.length + i - 1;
                straight.add(s.step(step(i, seq(1, pos, new int[]{straight.getLast()}, 3, 7, 11))).getOutputs(0).getTokenId());
            }
        }
        initCache();
        List<Integer> restarted = new ArrayList<>();
        try (WorkerTestClient.StepStream s = client.openStream()) {
            restarted.add(s.step(step(0, newSeq(1, PROMPT, p, 3, 7))).getOutputs(0).getTokenId());
            for (int i = 1; i < 3; i++) {
                int pos = PROMPT.length + i - 1;
                restarted.add(s.step(step(i, seq(1, pos, new int[]{restarted.getLast()}, 3, 7, 11))).getOutputs(0).getTokenId());
            }
            // Preempted and resumed: positions < 8 are still cached, the worker state is new.
            int start = PROMPT.length + 2;
            SeqSampling.Builder again = SeqSampling.newBuilder().setParams(p).setNumPromptTokens(PROMPT.length);
            for (int t : PROMPT) {
                again.addPrefixTokenIds(t);
            }
            again.addPrefixTokenIds(restarted.get(0)).addPrefixTokenIds(restarted.get(1));
            StepResponse r = s.step(StepRequest.newBuilder().setStepId(3).addFinishedSeqIds(1)
                    .addSeqs(seq(1, start, new int[]{restarted.getLast()}, 3, 7, 11).setNewSeq(again)).build());
            restarted.add(r.getOutputs(0).getTokenId());
            for (int i = 4; i < 6; i++) {
                int pos = PROMPT.length + i - 1;
                restarted.add(s.step(step(i, seq(1, pos, new int[]{restarted.getLast()}, 3, 7, 11))).getOutputs(0).getTokenId());
            }
            StepRequest badPrefix = StepRequest.newBuilder().setStepId(9)
                    .addSeqs(seq(5, 2, new int[]{3}, 0).setNewSeq(SeqSampling.newBuilder().setParams(p).addPrefixTokenIds(1))).build();
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> s.step(badPrefix));
            assertTrue(e.getStatus().getDescription().contains("prefix_token_ids"), e.getMessage());
        }
        assertEquals(straight, restarted);
    }
}
