package dev.jvllm.launcher.bench;

import dev.jvllm.worker.bench.LatencyBenchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** {@code jvllm bench latency}: flags as vLLM's {@code vllm bench latency}; the work is {@link LatencyBenchmark}. */
@Command(name = "latency", mixinStandardHelpOptions = true,
        description = "Latency of one batch (prefill + decode) on the CPU engine, in process.")
public final class BenchLatencyCommand implements Callable<Integer> {
    @Mixin
    EngineBenchOptions opts;

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

    @Option(names = "--threads-bind", description = "Cores to bind compute threads to, e.g. 0-3 (default: env VLLM_CPU_OMP_THREADS_BIND).")
    String threadsBind;

    @Override
    public Integer call() {
        String bind = threadsBind != null ? threadsBind : System.getenv("VLLM_CPU_OMP_THREADS_BIND");
        LatencyBenchmark.run(new LatencyBenchmark.Options(opts.model, opts.loadFormat, opts.dtype, batchSize, inputLen, outputLen,
                numItersWarmup, numIters, opts.threads, bind, opts.blockSize, opts.seed, opts.outputJson, opts.kvCacheDtype), System.out);
        return 0;
    }
}
