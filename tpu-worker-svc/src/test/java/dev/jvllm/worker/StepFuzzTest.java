package dev.jvllm.worker;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.jvllm.proto.InitCacheRequest;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.proto.SeqSampling;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.worker.model.RandomModelWriter;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Random and mutated Step messages against a live worker: each is answered (when it happens to be valid) or
 * rejected with INVALID_ARGUMENT / FAILED_PRECONDITION and a message, never crashes or hangs the worker, and
 * a sequence living through the whole barrage decodes exactly as it does undisturbed.
 */
class StepFuzzTest {
    static final int BS = 4, BLOCKS = 16, MAX_LEN = 32, VOCAB = 64;
    static final int[] PROMPT = {1, 5, 9, 13, 17, 21};
    /** Blocks of the sequence that must survive the fuzzing; fuzzed steps never name it or its blocks. */
    static final Set<Integer> RESERVED = Set.of(3, 7, 11);
    static final long SURVIVOR = 1;

    @TempDir
    static Path tmp;
    static WorkerTestClient client;

    @BeforeAll
    static void start() throws Exception {
        Path model = RandomModelWriter.builder().hidden(32).layers(2).heads(4).kvHeads(2).intermediate(48).vocab(VOCAB)
                .maxPos(64).seed(11).write(tmp.resolve("m"));
        client = new WorkerTestClient(WorkerService.load(WorkerOptions.defaults(model).withMaxModelLen(MAX_LEN).withThreads(2)));
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) client.close();
    }

    private static void initCache() {
        assertEquals(BLOCKS, client.blocking.initCache(InitCacheRequest.newBuilder().setBlockSize(BS).setNumBlocks(BLOCKS).build())
                .getNumBlocks());
    }

    private static StepRequest survivorStep(long stepId, int i, int lastToken) {
        ScheduledSeq.Builder s = ScheduledSeq.newBuilder().setSeqId(SURVIVOR).setDoSample(true);
        if (i == 0) {
            for (int t : PROMPT) s.addTokenIds(t);
            s.setStartPos(0).addBlockTable(3).addBlockTable(7)
                    .setNewSeq(SeqSampling.newBuilder().setParams(SamplingParams.newBuilder().setTemperature(0))
                            .setNumPromptTokens(PROMPT.length));
        } else {
            s.setStartPos(PROMPT.length + i - 1).addTokenIds(lastToken).addBlockTable(3).addBlockTable(7).addBlockTable(11);
        }
        return StepRequest.newBuilder().setStepId(stepId).addSeqs(s).build();
    }

    @Test
    void randomAndMutatedStepsAreRejectedCleanlyAndCorruptNothing() {
        initCache();
        List<Integer> reference = new ArrayList<>();
        try (WorkerTestClient.StepStream s = client.openStream()) {
            for (int i = 0; i < 6; i++)
                reference.add(s.step(survivorStep(i, i, i == 0 ? 0 : reference.getLast())).getOutputs(0).getTokenId());
        }
        initCache();
        List<Integer> got = new ArrayList<>();
        try (WorkerTestClient.StepStream s = client.openStream()) {
            got.add(s.step(survivorStep(0, 0, 0)).getOutputs(0).getTokenId());
        }
        Random rnd = new Random(20261122);
        int accepted = 0, rejected = 0, unparsable = 0;
        for (int iter = 0; iter < 400; iter++) {
            StepRequest bad;
            if (iter % 4 == 0) {
                byte[] bytes = new byte[rnd.nextInt(64)];
                rnd.nextBytes(bytes);
                try {
                    bad = StepRequest.parseFrom(bytes);
                } catch (InvalidProtocolBufferException e) {
                    unparsable++; // the gRPC layer refuses these before the worker sees them
                    continue;
                }
                if (touchesSurvivor(bad)) continue;
            } else {
                bad = mutated(rnd);
            }
            try (WorkerTestClient.StepStream s = client.openStream()) {
                s.step(bad);
                accepted++;
            } catch (StatusRuntimeException e) {
                Status.Code c = e.getStatus().getCode();
                assertTrue(c == Status.Code.INVALID_ARGUMENT || c == Status.Code.FAILED_PRECONDITION,
                        "step " + bad + " failed with " + e.getStatus());
                String d = e.getStatus().getDescription();
                assertTrue(d != null && !d.isBlank(), "no message for " + bad);
                rejected++;
            }
            // Every 50 fuzzed steps the surviving sequence moves on, exactly as it would undisturbed.
            if (iter % 50 == 49 && got.size() < reference.size()) {
                try (WorkerTestClient.StepStream s = client.openStream()) {
                    got.add(s.step(survivorStep(1000 + iter, got.size(), got.getLast())).getOutputs(0).getTokenId());
                }
            }
        }
        try (WorkerTestClient.StepStream s = client.openStream()) {
            while (got.size() < reference.size())
                got.add(s.step(survivorStep(5000 + got.size(), got.size(), got.getLast())).getOutputs(0).getTokenId());
        }
        assertEquals(reference, got, "the surviving sequence was disturbed by fuzzed steps");
        assertTrue(rejected > 100, "too few rejections to mean anything: " + rejected);
        System.out.printf("step fuzz: %d accepted, %d rejected, %d unparsable%n", accepted, rejected, unparsable);
    }

    private static boolean touchesSurvivor(StepRequest r) {
        if (r.getFinishedSeqIdsList().contains(SURVIVOR)) return true;
        for (ScheduledSeq s : r.getSeqsList()) {
            if (s.getSeqId() == SURVIVOR) return true;
            for (int b : s.getBlockTableList()) if (RESERVED.contains(b)) return true;
        }
        return false;
    }

    /** A plausible step with random fields, some in range and some not; never names the survivor or its blocks. */
    private static StepRequest mutated(Random rnd) {
        StepRequest.Builder r = StepRequest.newBuilder().setStepId(rnd.nextLong());
        int n = rnd.nextInt(4);
        for (int i = 0; i < n; i++) {
            long id = 2 + rnd.nextInt(6);
            if (rnd.nextInt(10) == 0) id = -rnd.nextInt(100) - 1L;
            ScheduledSeq.Builder s = ScheduledSeq.newBuilder().setSeqId(id).setDoSample(rnd.nextBoolean())
                    .setWantPromptLogprobs(rnd.nextInt(5) == 0)
                    .setStartPos(pick(rnd, 0, MAX_LEN));
            int tokens = rnd.nextInt(10);
            for (int t = 0; t < tokens; t++) s.addTokenIds(pick(rnd, 0, VOCAB - 1));
            int blocks = rnd.nextInt(6);
            for (int b = 0; b < blocks; b++) {
                int block;
                do {
                    block = pick(rnd, 0, BLOCKS - 1);
                } while (RESERVED.contains(block));
                s.addBlockTable(block);
            }
            if (rnd.nextBoolean()) {
                SamplingParams.Builder p = SamplingParams.newBuilder();
                if (rnd.nextBoolean()) p.setTemperature(weird(rnd, 2));
                if (rnd.nextBoolean()) p.setTopP(weird(rnd, 1));
                if (rnd.nextBoolean()) p.setTopK(pick(rnd, -1, VOCAB));
                if (rnd.nextBoolean()) p.setMinP(weird(rnd, 1));
                if (rnd.nextBoolean()) p.setRepetitionPenalty(weird(rnd, 2));
                if (rnd.nextBoolean()) p.setLogprobs(pick(rnd, 0, 20));
                if (rnd.nextInt(4) == 0) p.putLogitBias(pick(rnd, 0, VOCAB - 1), weird(rnd, 100));
                if (rnd.nextInt(4) == 0) p.addBadWordsIds(dev.jvllm.proto.TokenIds.newBuilder().addIds(pick(rnd, 0, VOCAB - 1)));
                s.setNewSeq(SeqSampling.newBuilder().setParams(p).setNumPromptTokens(pick(rnd, 0, tokens))
                        .setSeed(rnd.nextLong()));
            }
            r.addSeqs(s);
        }
        if (rnd.nextInt(3) == 0) r.addFinishedSeqIds(2 + rnd.nextInt(8));
        return r.build();
    }

    /** Mostly in [lo, hi], sometimes just outside, sometimes far outside. */
    private static int pick(Random rnd, int lo, int hi) {
        return switch (rnd.nextInt(10)) {
            case 0 -> lo - 1 - rnd.nextInt(3);
            case 1 -> hi + 1 + rnd.nextInt(3);
            case 2 -> rnd.nextBoolean() ? Integer.MIN_VALUE : Integer.MAX_VALUE;
            default -> lo + rnd.nextInt(hi - lo + 1);
        };
    }

    private static float weird(Random rnd, float scale) {
        return switch (rnd.nextInt(8)) {
            case 0 -> Float.NaN;
            case 1 -> Float.POSITIVE_INFINITY;
            case 2 -> -rnd.nextFloat() * scale;
            default -> rnd.nextFloat() * scale;
        };
    }
}
