package dev.jvllm.worker;

import dev.jvllm.common.testing.SharedData;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jvllm.proto.DescribeRequest;
import dev.jvllm.proto.InitCacheRequest;
import dev.jvllm.proto.InitCacheResponse;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.proto.SeqOutput;
import dev.jvllm.proto.SeqSampling;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.proto.WorkerInfo;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The real stories260K model through the gRPC API: greedy decoding reproduces golden.json exactly. */
class Stories260KGoldenTest {

    @Test
    void greedyDecodeMatchesGoldenForAllPromptsBatchedTogether() throws Exception {
        Path dir = SharedData.model("stories260K");
        JsonNode golden = new ObjectMapper().readTree(dir.resolve("golden.json").toFile());
        try (WorkerTestClient client = new WorkerTestClient(WorkerService.load(WorkerOptions.defaults(dir).withThreads(2)))) {
            WorkerInfo info = client.blocking.describe(DescribeRequest.getDefaultInstance());
            assertEquals("llama", info.getConfig().getArchitecture());
            assertEquals(List.of(2), info.getEosTokenIdsList());
            assertEquals(512, info.getMaxModelLen());
            assertEquals(2L * 5 * 4 * 8 * 4, info.getKvBytesPerBlockToken());
            int bs = 16;
            InitCacheResponse init = client.blocking.initCache(InitCacheRequest.newBuilder().setBlockSize(bs).build());
            assertEquals(bs, init.getBlockSize());
            // Capped at 256 sequences of max_model_len, not the whole default KV space.
            assertEquals(256 * (512 / bs), init.getNumBlocks());

            int n = golden.size();
            List<List<Integer>> prompts = new ArrayList<>();
            List<List<Integer>> generated = new ArrayList<>();
            for (JsonNode g : golden) {
                List<Integer> p = new ArrayList<>();
                g.get("prompt_ids").forEach(x -> p.add(x.asInt()));
                prompts.add(p);
                generated.add(new ArrayList<>());
            }
            int steps = 40;
            try (WorkerTestClient.StepStream stream = client.openStream()) {
                for (int step = 0; step < steps; step++) {
                    StepRequest.Builder req = StepRequest.newBuilder().setStepId(step);
                    for (int s = 0; s < n; s++) {
                        List<Integer> prompt = prompts.get(s);
                        List<Integer> out = generated.get(s);
                        ScheduledSeq.Builder seq = ScheduledSeq.newBuilder().setSeqId(100 + s).setDoSample(true);
                        int start = step == 0 ? 0 : prompt.size() + out.size() - 1;
                        if (step == 0) {
                            seq.addAllTokenIds(prompt).setNewSeq(SeqSampling.newBuilder()
                                    .setParams(SamplingParams.newBuilder().setTemperature(0f))
                                    .setNumPromptTokens(prompt.size()).addStopIds(2));
                        } else {
                            seq.addTokenIds(out.getLast());
                        }
                        seq.setStartPos(start);
                        // Sequence s owns blocks s, s + n, s + 2n, ...: interleaved, not contiguous.
                        int blocks = (start + seq.getTokenIdsCount() + bs - 1) / bs;
                        for (int b = 0; b < blocks; b++) {
                            seq.addBlockTable(s + b * n);
                        }
                        req.addSeqs(seq);
                    }
                    StepResponse resp = stream.step(req.build());
                    assertEquals(step, resp.getStepId());
                    for (int s = 0; s < n; s++) {
                        SeqOutput o = resp.getOutputs(s);
                        assertEquals(100 + s, o.getSeqId());
                        generated.get(s).add(o.getTokenId());
                    }
                }
            }
            for (int s = 0; s < n; s++) {
                List<Integer> want = new ArrayList<>();
                golden.get(s).get("greedy_ids").forEach(x -> want.add(x.asInt()));
                assertEquals(want, generated.get(s), "prompt " + golden.get(s).get("prompt").asText());
            }
        }
    }
}
