package dev.jvllm.launcher.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jvllm.common.GrpcChannels;
import dev.jvllm.common.GrpcServers;
import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.GenerateResponse;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.scheduler.SchedulerOptions;
import dev.jvllm.scheduler.SchedulerService;
import dev.jvllm.worker.WorkerOptions;
import dev.jvllm.worker.WorkerService;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code jvllm bench throughput}: offline throughput as vLLM's {@code vllm bench throughput} with random prompts.
 * All requests go to the real engine at once (scheduler and cpu worker in this process, no HTTP), so the figure
 * includes continuous batching, chunked prefill and KV block accounting exactly as served.
 */
@Command(name = "throughput", mixinStandardHelpOptions = true,
        description = "Offline throughput of N random prompts through the engine (scheduler + worker), in process.")
public final class BenchThroughputCommand implements java.util.concurrent.Callable<Integer> {
    @Mixin
    EngineBenchOptions opts;

    @Option(names = "--num-prompts", defaultValue = "100", description = "Requests (default: ${DEFAULT-VALUE}).")
    int numPrompts;

    @Option(names = "--input-len", defaultValue = "128", description = "Prompt tokens (default: ${DEFAULT-VALUE}).")
    int inputLen;

    @Option(names = "--output-len", defaultValue = "128", description = "Generated tokens, EOS ignored (default: ${DEFAULT-VALUE}).")
    int outputLen;

    @Option(names = "--max-num-seqs", defaultValue = "256", description = "Sequences per step (default: ${DEFAULT-VALUE}).")
    int maxNumSeqs;

    @Option(names = "--max-num-batched-tokens", defaultValue = "2048", description = "Token budget per step (default: ${DEFAULT-VALUE}).")
    int maxNumBatchedTokens;

    @Option(names = "--kv-cache-space", defaultValue = "4", paramLabel = "GiB", description = "KV cache size (default: ${DEFAULT-VALUE}).")
    double kvCacheSpace;

    @Override
    public Integer call() throws Exception {
        if (numPrompts < 1 || inputLen < 1 || outputLen < 1) {
            throw new IllegalArgumentException("--num-prompts, --input-len and --output-len must be >= 1");
        }
        WorkerOptions workerOptions = new WorkerOptions(opts.model, 0, kvCacheSpace, opts.threads, opts.seed, opts.dtype, "cpu", null,
                maxNumBatchedTokens, maxNumSeqs, opts.loadFormat, opts.kvCacheDtype);
        String name = "jvllm-bench-" + UUID.randomUUID();
        try (WorkerService worker = WorkerService.load(workerOptions);
             GrpcServers workerServer = GrpcServers.inProcess(name, List.of(worker))) {
            ManagedChannel channel = GrpcChannels.open(GrpcChannels.inProcess(name));
            SchedulerService engine = new SchedulerService(SchedulerOptions.defaults().withBlockSize(opts.blockSize)
                    .withMaxNumSeqs(maxNumSeqs).withMaxNumBatchedTokens(maxNumBatchedTokens).withMaxWaitingRequests(0), channel);
            try {
                engine.start();
                int vocab = engine.modelInfo().getVocabSize();
                if (inputLen + outputLen > engine.modelInfo().getMaxModelLen()) {
                    throw new IllegalArgumentException("--input-len + --output-len exceed the model length "
                            + engine.modelInfo().getMaxModelLen());
                }
                run(engine, vocab);
            } finally {
                engine.close();
                channel.shutdownNow();
            }
        }
        return 0;
    }

    private void run(SchedulerService engine, int vocab) throws Exception {
        String engineName = "jvllm-bench-engine-" + UUID.randomUUID();
        try (GrpcServers engineServer = GrpcServers.inProcess(engineName, List.of(engine))) {
            ManagedChannel channel = GrpcChannels.open(GrpcChannels.inProcess(engineName));
            EngineGrpc.EngineStub stub = EngineGrpc.newStub(channel);
            SplittableRandom random = new SplittableRandom(opts.seed);
            CountDownLatch done = new CountDownLatch(numPrompts);
            AtomicLong generated = new AtomicLong();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            long start = System.nanoTime();
            for (int i = 0; i < numPrompts; i++) {
                GenerateRequest.Builder req = GenerateRequest.newBuilder().setRequestId("bench-" + i)
                        .setSampling(SamplingParams.newBuilder().setMaxTokens(outputLen).setIgnoreEos(true)
                                .setTemperature(1.0f).setSeed(opts.seed + i));
                for (int t = 0; t < inputLen; t++) {
                    req.addPromptTokenIds(random.nextInt(vocab));
                }
                stub.generate(req.build(), new StreamObserver<>() {
                    @Override
                    public void onNext(GenerateResponse r) {
                        r.getOutputsList().forEach(o -> generated.addAndGet(o.getTokenIdsCount()));
                    }

                    @Override
                    public void onError(Throwable t) {
                        failure.compareAndSet(null, t);
                        done.countDown();
                    }

                    @Override
                    public void onCompleted() {
                        done.countDown();
                    }
                });
            }
            done.await();
            double seconds = (System.nanoTime() - start) / 1e9;
            channel.shutdownNow();
            if (failure.get() != null) {
                throw new IllegalStateException("a request failed: " + failure.get().getMessage(), failure.get());
            }
            long promptTokens = (long) numPrompts * inputLen;
            System.out.printf("Throughput: %.2f requests/s, %.1f total tokens/s, %.1f output tokens/s%n",
                    numPrompts / seconds, (promptTokens + generated.get()) / seconds, generated.get() / seconds);
            System.out.printf("(%d requests, %d prompt tokens, %d generated tokens in %.2f s; preemptions %d)%n",
                    numPrompts, promptTokens, generated.get(), seconds, engine.stats().getNumPreemptions());
            if (opts.outputJson != null) {
                ObjectNode json = new ObjectMapper().createObjectNode();
                json.put("elapsed_time", seconds);
                json.put("num_requests", numPrompts);
                json.put("total_num_tokens", promptTokens + generated.get());
                json.put("requests_per_second", numPrompts / seconds);
                json.put("tokens_per_second", (promptTokens + generated.get()) / seconds);
                json.put("output_tokens_per_second", generated.get() / seconds);
                new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(opts.outputJson.toFile(), json);
            }
        }
    }
}
