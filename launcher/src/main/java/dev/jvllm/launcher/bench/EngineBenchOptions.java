package dev.jvllm.launcher.bench;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The model and engine flags the in-process benchmarks share (picocli mixin), named as in {@code serve}. */
final class EngineBenchOptions {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Model directory (config.json alone with --load-format dummy).")
    Path model;

    @Option(names = "--load-format", defaultValue = "auto", description = "auto or dummy (random weights; default: ${DEFAULT-VALUE}).")
    String loadFormat;

    @Option(names = "--dtype", defaultValue = "auto", description = "Weights dtype for dummy weights (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--kv-cache-dtype", defaultValue = "auto",
            description = "KV cache storage: auto (the model's own type: float32, bfloat16, or float16 for f16 and quantized weights), float32, bfloat16, float16, fp8_e5m2 (default: ${DEFAULT-VALUE}).")
    String kvCacheDtype;

    @Option(names = "--threads", defaultValue = "0", description = "Compute threads (default: all cores).")
    int threads;

    @Option(names = "--block-size", defaultValue = "16", description = "KV cache block size (default: ${DEFAULT-VALUE}).")
    int blockSize;

    @Option(names = "--seed", defaultValue = "0", description = "Seed for prompts, sampling and dummy weights.")
    long seed;

    @Option(names = "--output-json", paramLabel = "FILE", description = "Write the results as JSON.")
    Path outputJson;
}
