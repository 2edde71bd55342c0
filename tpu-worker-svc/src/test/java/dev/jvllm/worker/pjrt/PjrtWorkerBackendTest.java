package dev.jvllm.worker.pjrt;

import dev.jvllm.common.testing.SharedData;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.proto.SeqSampling;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.proto.WorkerInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The whole backend — weight upload, InitCache with warmup through the compile cache, Step with continuous batching —
 * on stories260K, with the reference interpreter as the device: two sequences decoded together reproduce golden.json.
 */
class PjrtWorkerBackendTest {

    static final Path MODEL = SharedData.stories260K();
    static final int GENERATE = 6;

    static PjrtWorkerBackend.Options options(Path cacheDir) {
        return PjrtWorkerBackend.Options.defaults(MODEL, cacheDir).withLimits(64, 16, 8).withStorage(PjrtElementType.F32).withConsole(null);
    }

    static ScheduledSeq seq(long id, int[] tokens, int start, boolean first) {
        ScheduledSeq.Builder b = ScheduledSeq.newBuilder().setSeqId(id).setStartPos(start).setDoSample(true);
        for (int t : tokens) b.addTokenIds(t);
        int blocks = Math.ceilDiv(start + tokens.length, 16);
        for (int i = 0; i < blocks; i++) b.addBlockTable((int) (id * 4 + i)); // disjoint tables: seq 0 -> 0..3, seq 1 -> 4..7
        if (first) b.setNewSeq(SeqSampling.newBuilder().setParams(SamplingParams.newBuilder().setTemperature(0f)));
        return b.build();
    }

    static int[] ids(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asInt();
        return out;
    }

    @Test
    void batchedGreedyDecodeMatchesGoldenAndARestartLoadsTheCompileCache(@TempDir Path cacheDir) throws IOException {
        JsonNode golden = new ObjectMapper().readTree(MODEL.resolve("golden.json").toFile());
        int[] promptA = ids(golden.get(0).get("prompt_ids")), promptB = ids(golden.get(2).get("prompt_ids"));
        InterpreterRuntime device = new InterpreterRuntime();
        try (PjrtWorkerBackend backend = new PjrtWorkerBackend(options(cacheDir), device)) {
            WorkerInfo info = backend.describe();
            assertEquals("pjrt:interpreter", info.getBackend());
            assertEquals(64, info.getMaxModelLen());
            assertEquals(List.of(2), info.getEosTokenIdsList());
            assertEquals(5L * 2 * 32 * 4, info.getKvBytesPerBlockToken());

            assertEquals(8, backend.initCache(16, 8).getNumBlocks());
            assertEquals(1, device.compiles.get(), "one bucket: 16 tokens x 8 sequences");

            assertThrows(IllegalArgumentException.class, () -> backend.step(StepRequest.newBuilder().setStepId(0)
                    .addSeqs(seq(0, promptA, 0, false)).build()), "a sequence's first step needs new_seq");

            StepResponse first = backend.step(StepRequest.newBuilder().setStepId(1)
                    .addSeqs(seq(0, promptA, 0, true)).addSeqs(seq(1, promptB, 0, true)).build());
            assertEquals(1, first.getStepId());
            List<Integer> outA = new ArrayList<>(List.of(first.getOutputs(0).getTokenId()));
            List<Integer> outB = new ArrayList<>(List.of(first.getOutputs(1).getTokenId()));
            for (int step = 2; outA.size() < GENERATE; step++) {
                StepResponse r = backend.step(StepRequest.newBuilder().setStepId(step)
                        .addSeqs(seq(0, new int[] {outA.getLast()}, promptA.length + outA.size() - 1, false))
                        .addSeqs(seq(1, new int[] {outB.getLast()}, promptB.length + outB.size() - 1, false)).build());
                outA.add(r.getOutputs(0).getTokenId());
                outB.add(r.getOutputs(1).getTokenId());
            }
            assertArrayEquals(java.util.Arrays.copyOf(ids(golden.get(0).get("greedy_ids")), GENERATE), outA.stream().mapToInt(i -> i).toArray());
            assertArrayEquals(java.util.Arrays.copyOf(ids(golden.get(2).get("greedy_ids")), GENERATE), outB.stream().mapToInt(i -> i).toArray());

            StepResponse done = backend.step(StepRequest.newBuilder().setStepId(99).addFinishedSeqIds(0).addFinishedSeqIds(1).build());
            assertEquals(0, done.getOutputsCount());
            assertThrows(IllegalArgumentException.class, () -> backend.step(StepRequest.newBuilder().setStepId(100)
                    .addSeqs(seq(0, new int[] {5}, 10, false)).build()), "finished sequences are forgotten");
        }
        assertEquals(0, device.liveBuffers.get(), "every device buffer was released");

        InterpreterRuntime restarted = new InterpreterRuntime();
        try (PjrtWorkerBackend backend = new PjrtWorkerBackend(options(cacheDir), restarted)) {
            backend.initCache(16, 8);
            assertEquals(0, restarted.compiles.get(), "the restart loaded its executable from the compile cache");
        }
    }

    @Test
    void initCacheSizesFromKvSpaceAndRejectsNonsense(@TempDir Path cacheDir) {
        try (PjrtWorkerBackend backend = new PjrtWorkerBackend(options(cacheDir), new InterpreterRuntime())) {
            // 4 GiB holds far more than 8 sequences x 4 blocks: capped at max-num-seqs worth of blocks.
            assertEquals(32, backend.initCache(16, 0).getNumBlocks());
            assertThrows(IllegalArgumentException.class, () -> backend.initCache(0, 8));
        }
        try (PjrtWorkerBackend fresh = new PjrtWorkerBackend(options(cacheDir), new InterpreterRuntime())) {
            assertThrows(IllegalStateException.class, () -> fresh.step(StepRequest.newBuilder().addSeqs(seq(0, new int[] {1}, 0, true)).build()),
                    "Step before InitCache");
        }
    }
}
