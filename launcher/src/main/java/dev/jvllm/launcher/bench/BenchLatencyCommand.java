package dev.jvllm.launcher.bench;

import dev.jvllm.worker.bench.LatencyBenchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code jvllm bench latency}: flags as vLLM's {@code vllm bench latency}; the work is {@link LatencyBenchmark}. */
@Command(name = "latency", mixinStandardHelpOptions = true,
        description = "Latency of one batch (prefill + decode) on the CPU engine, in process.")
public final class BenchLatencyCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Model directory (config.json alone with --load-format dummy).")
    Path model;

    @Option(names = "--load-format", defaultValue = "auto", description = "auto or dummy (random weights; default: ${DEFAULT-VALUE}).")
    String loadFormat;

    @Option(names = "--dtype", defaultValue = "auto", description = "Weights dtype for dummy weights (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--batch-size", defaultValue = "8", description = "Sequences in the batch (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--input-len", defaultValue = "32", description = "Prompt tokens per sequence (default: ${DEFAULT-VALUE}).")
    int inputLen;

    @Option(names = "--output-len", defaultValue = "128", description = "Generated tokens per sequence (default: ${DEFAULT-VALUE}).")
    int outputLen;

    @Option(names = "--num-iters-warmup", defaultValue = "10", description = "Untimed iterations (default: ${DEFAULT-VALUE}).")
    int numItersWarmup;

    @Option(names = "--num-iters", defaultValue = "30", description = "Timed iterations (default: ${DEFAULT-VALUE}).")
    int numIters;

    @Option(names = "--threads", defaultValue = "0", description = "Compute threads (default: all cores).")
    int threads;

    @Option(names = "--threads-bind", description = "Cores to bind compute threads to, e.g. 0-3 (default: env VLLM_CPU_OMP_THREADS_BIND).")
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
        LatencyBenchmark.run(new LatencyBenchmark.Options(model, loadFormat, dtype, batchSize, inputLen, outputLen,
                numItersWarmup, numIters, threads, bind, blockSize, seed, outputJson, kvCacheDtype), System.out);
        return 0;
    }
}
