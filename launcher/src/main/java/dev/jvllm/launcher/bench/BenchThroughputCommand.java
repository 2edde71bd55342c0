package dev.jvllm.launcher.bench;

import dev.jvllm.worker.bench.ThroughputBenchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code jvllm bench throughput}: flags as vLLM's {@code vllm bench throughput} (random prompts); the work is {@link ThroughputBenchmark}. */
@Command(name = "throughput", mixinStandardHelpOptions = true,
        description = "Offline throughput of N prompts with continuous batching on the CPU engine, in process.")
public final class BenchThroughputCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Model directory (config.json alone with --load-format dummy).")
    Path model;

    @Option(names = "--load-format", defaultValue = "auto", description = "auto or dummy (default: ${DEFAULT-VALUE}).")
    String loadFormat;

    @Option(names = "--dtype", defaultValue = "auto", description = "Weights dtype for dummy weights (default: ${DEFAULT-VALUE}).")
    String dtype;

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

    @Option(names = "--threads", defaultValue = "0", description = "Compute threads (default: all cores).")
    int threads;

    @Option(names = "--threads-bind", description = "Cores to bind compute threads to (default: env VLLM_CPU_OMP_THREADS_BIND).")
    String threadsBind;

    @Option(names = "--block-size", defaultValue = "16", description = "KV cache block size (default: ${DEFAULT-VALUE}).")
    int blockSize;

    @Option(names = "--seed", defaultValue = "0", description = "Seed for prompts and dummy weights.")
    long seed;

    @Option(names = "--kv-cache-dtype", defaultValue = "auto",
            description = "KV cache storage: auto (float32), bfloat16, fp8_e5m2 (default: ${DEFAULT-VALUE}).")
    String kvCacheDtype;

    @Option(names = "--output-json", paramLabel = "FILE", description = "Write the results as JSON.")
    Path outputJson;

    @Override
    public Integer call() {
        String bind = threadsBind != null ? threadsBind : System.getenv("VLLM_CPU_OMP_THREADS_BIND");
        ThroughputBenchmark.run(new ThroughputBenchmark.Options(model, loadFormat, dtype, numPrompts, inputLen, outputLen,
                maxNumSeqs, maxNumBatchedTokens, kvCacheSpace, threads, bind, blockSize, seed, outputJson, kvCacheDtype), System.out);
        return 0;
    }
}
