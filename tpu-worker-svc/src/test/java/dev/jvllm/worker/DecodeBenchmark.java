package dev.jvllm.worker;

import dev.jvllm.common.testing.SharedData;
import dev.jvllm.proto.InitCacheRequest;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.proto.SeqSampling;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.worker.model.RandomModelWriter;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Not a test: prints greedy decode speed at batch 1 through the service API.
 * Usage: DecodeBenchmark [stories|smollm2] [tokens]
 */
public final class DecodeBenchmark {
    public static void main(String[] args) throws Exception {
        String which = args.length > 0 ? args[0] : "stories";
        int tokens = args.length > 1 ? Integer.parseInt(args[1]) : 200;
        Path dir;
        if (which.equals("stories")) {
            dir = SharedData.model("stories260K");
        } else {
            dir = Path.of(System.getProperty("java.io.tmpdir"), "jvllm-bench-smollm2");
            if (!Files.exists(dir.resolve("model.safetensors"))) {
                RandomModelWriter.fromConfig(SharedData.model("shapes/smollm2-135m").resolve("config.json"))
                        .seed(1).write(dir);
            }
        }
        try (WorkerService w = WorkerService.load(WorkerOptions.defaults(dir).withMaxModelLen(512));
             WorkerTestClient client = new WorkerTestClient(w)) {
            int bs = 16;
            client.blocking.initCache(InitCacheRequest.newBuilder().setBlockSize(bs).setNumBlocks(128).build());
            for (int round = 0; round < Integer.getInteger("rounds", 2); round++) {
                try (WorkerTestClient.StepStream stream = client.openStream()) {
                    int[] prompt = new int[Integer.getInteger("prompt", 5)];
                    for (int i = 0; i < prompt.length; i++) {
                        prompt[i] = 1 + (i * 37) % 500;
                    }
                    ScheduledSeq.Builder first = ScheduledSeq.newBuilder().setSeqId(round).setDoSample(true).setStartPos(0)
                            .setNewSeq(SeqSampling.newBuilder()
                                    .setParams(SamplingParams.newBuilder().setTemperature(0)).setNumPromptTokens(prompt.length));
                    for (int t : prompt) {
                        first.addTokenIds(t);
                    }
                    for (int b = 0; b <= prompt.length / bs; b++) {
                        first.addBlockTable(b);
                    }
                    long prefillStart = System.nanoTime();
                    StepResponse r = stream.step(StepRequest.newBuilder().setStepId(0).addSeqs(first).build());
                    double prefill = (System.nanoTime() - prefillStart) / 1e9;
                    System.out.printf("%s round %d: prefill of %d tokens in %.3f s: %.1f tok/s%n",
                            which, round, prompt.length, prefill, prompt.length / prefill);
                    int last = r.getOutputs(0).getTokenId();
                    long start = System.nanoTime();
                    double compute = 0;
                    for (int i = 0; i < tokens; i++) {
                        int pos = prompt.length + i;
                        ScheduledSeq.Builder s = ScheduledSeq.newBuilder().setSeqId(round).setDoSample(true).setStartPos(pos)
                                .addTokenIds(last);
                        for (int b = 0; b <= pos / bs; b++) {
                            s.addBlockTable(b);
                        }
                        r = stream.step(StepRequest.newBuilder().setStepId(i + 1).addSeqs(s).build());
                        last = r.getOutputs(0).getTokenId();
                        compute += r.getComputeSeconds();
                    }
                    double secs = (System.nanoTime() - start) / 1e9;
                    System.out.printf("%s round %d: %d tokens in %.2f s: %.1f tok/s (compute %.1f tok/s)%n",
                            which, round, tokens, secs, tokens / secs, tokens / compute);
                    stream.step(StepRequest.newBuilder().setStepId(tokens + 1).addFinishedSeqIds(round).build());
                }
            }
        }
    }
}
