package dev.jvllm.worker.cpu;

import dev.jvllm.common.testing.SharedData;
import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.RandomModelWriter;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Not a test: times the forward pass directly (no gRPC): a prefill of {@code prompt} tokens, then
 * greedy-free decode steps for {@code batch} sequences. Usage: RunnerBenchmark [dtype] [prompt] [decodeSteps] [batch]
 * (-Dshape=smollm2-135m -Dthreads=N).
 */
public final class RunnerBenchmark {
    static long cpuNanos() {
        return ProcessHandle.current().info().totalCpuDuration().map(java.time.Duration::toNanos).orElse(0L);
    }

    public static void main(String[] args) throws Exception {
        String dtype = args.length > 0 ? args[0] : "bfloat16";
        int prompt = args.length > 1 ? Integer.parseInt(args[1]) : 512;
        int steps = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        int batch = args.length > 3 ? Integer.parseInt(args[3]) : 1;
        String shape = System.getProperty("shape", "smollm2-135m");
        Path dir = Path.of(System.getProperty("java.io.tmpdir"), "jvllm-bench-" + shape + "-" + dtype);
        if (!Files.exists(dir.resolve("model.safetensors"))) {
            RandomModelWriter.fromConfig(SharedData.model("shapes/" + shape).resolve("config.json"))
                    .dtype(dtype).seed(1).write(dir);
        }
        int threads = Integer.getInteger("threads", Runtime.getRuntime().availableProcessors());
        try (LlamaWeights w = LlamaWeights.load(dir); ComputePool pool = new ComputePool(threads)) {
            int bs = 16;
            int maxLen = prompt + steps + 1;
            int blocksPerSeq = (maxLen + bs - 1) / bs;
            try (PagedKvCache cache = new PagedKvCache(w.config().numLayers(), blocksPerSeq * batch, bs, w.config().kvDim())) {
                CpuModelRunner runner = new CpuModelRunner(w, pool, maxLen + 16);
                int[][] tables = new int[batch][blocksPerSeq];
                for (int s = 0; s < batch; s++) {
                    for (int b = 0; b < blocksPerSeq; b++) {
                        tables[s][b] = s * blocksPerSeq + b;
                    }
                }
                for (int round = 0; round < Integer.getInteger("rounds", 2); round++) {
                    long t0 = System.nanoTime();
                    long c0 = cpuNanos();
                    for (int s = 0; s < batch; s++) {
                        int[] ids = new int[prompt];
                        for (int i = 0; i < prompt; i++) {
                            ids[i] = 1 + (i * 37 + s) % 1000;
                        }
                        runner.forward(new StepInput(List.of(new StepInput.SeqChunk(ids, 0, tables[s])),
                                new int[]{prompt - 1}), cache);
                    }
                    double pre = (System.nanoTime() - t0) / 1e9;
                    double preCpu = (cpuNanos() - c0) / 1e9;
                    long t1 = System.nanoTime();
                    long c1 = cpuNanos();
                    for (int i = 0; i < steps; i++) {
                        List<StepInput.SeqChunk> seqs = new ArrayList<>();
                        int[] rows = new int[batch];
                        for (int s = 0; s < batch; s++) {
                            seqs.add(new StepInput.SeqChunk(new int[]{1 + (i * 13 + s) % 1000}, prompt + i, tables[s]));
                            rows[s] = s;
                        }
                        runner.forward(new StepInput(seqs, rows), cache);
                    }
                    double dec = (System.nanoTime() - t1) / 1e9;
                    double decCpu = (cpuNanos() - c1) / 1e9;
                    System.out.printf("%s %s threads=%d round %d: prefill %d x %d tok: %.1f tok/s (cpu %.2f cores)"
                                    + " | decode batch %d: %.1f ms/step, %.1f tok/s aggregate (cpu %.2f cores)%n",
                            shape, dtype, threads, round, batch, prompt, batch * prompt / pre, preCpu / pre,
                            batch, dec * 1000 / steps, batch * steps / dec, decCpu / dec);
                }
            }
        }
    }
}
