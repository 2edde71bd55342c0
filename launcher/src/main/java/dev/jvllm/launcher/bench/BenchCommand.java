package dev.jvllm.launcher.bench;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code jvllm bench}: vLLM's benchmark commands. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks: latency (one batch), throughput (N prompts), serve (load against an OpenAI-compatible server), "
                + "kernels (JMH microbenchmarks of the CPU kernels).",
        subcommands = {BenchLatencyCommand.class, BenchThroughputCommand.class, BenchServeCommand.class, BenchCommand.Kernels.class})
public final class BenchCommand implements Runnable {
    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    /** Listed here for --help; the ./jvllm script runs the JMH jar itself (JMH forks its own JVMs). */
    @Command(name = "kernels", description = "JMH microbenchmarks of the CPU kernels: run as ./jvllm bench kernels [JMH args] "
            + "(-l lists them, -h shows JMH's options; see docs/benchmarks.md).")
    static final class Kernels implements java.util.concurrent.Callable<Integer> {
        @CommandLine.Unmatched
        java.util.List<String> jmhArgs;

        @Override
        public Integer call() {
            System.err.println("jvllm: the kernel benchmarks run from the ./jvllm script: ./jvllm bench kernels [JMH args]");
            return 2;
        }
    }
}
