package dev.jvllm.launcher.bench;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code jvllm bench}: vLLM's benchmark commands. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks: latency (one batch), throughput (N prompts), serve (load against an OpenAI-compatible server).",
        subcommands = {BenchLatencyCommand.class, BenchThroughputCommand.class, BenchServeCommand.class})
public final class BenchCommand implements Runnable {
    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }
}
