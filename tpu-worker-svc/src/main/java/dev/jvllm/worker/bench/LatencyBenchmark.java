package dev.jvllm.worker.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jvllm.worker.cpu.ComputePool;
import dev.jvllm.worker.cpu.CpuModelRunner;
import dev.jvllm.worker.cpu.KvCacheDtype;
import dev.jvllm.worker.cpu.PagedKvCache;
import dev.jvllm.worker.cpu.StepInput;
import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.ModelConfig;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code jvllm bench latency}: the latency of one batch end to end on the CPU engine, in process (as
 * vLLM's {@code vllm bench latency}): {@code batchSize} random prompts of {@code inputLen} tokens are
 * prefilled in one step, then decoded greedily for {@code outputLen - 1} more steps; warm-up iterations
 * first, then timed ones. Reports the batch latency (mean and percentiles), prefill and decode tokens/s
 * and the per-step decode latency.
 */
public final class LatencyBenchmark {

    /**
     * @param model          model directory (config.json; weights unless loadFormat is dummy)
     * @param loadFormat     "auto" (safetensors) or "dummy" (random weights for config.json alone)
     * @param dtype          weight dtype for dummy weights: auto (torch_dtype), bfloat16, float16, float32
     * @param threads        compute threads, 0: all available processors
     * @param threadsBind    cores to bind the compute threads to (VLLM_CPU_OMP_THREADS_BIND style), null: none
     * @param outputJson     where to write the results as JSON, or null
     */
    public record Options(Path model, String loadFormat, String dtype, int batchSize, int inputLen, int outputLen,
                          int numItersWarmup, int numIters, int threads, String threadsBind, int blockSize, long seed,
                          Path outputJson, String kvCacheDtype) {
        public Options {
            if (model == null) {
                throw new IllegalArgumentException("--model is required");
            }
            loadFormat = loadFormat == null ? "auto" : loadFormat;
            if (!loadFormat.equals("auto") && !loadFormat.equals("safetensors") && !loadFormat.equals("dummy")) {
                throw new IllegalArgumentException("--load-format must be auto, safetensors or dummy, not " + loadFormat);
            }
            dtype = dtype == null ? "auto" : dtype;
            kvCacheDtype = kvCacheDtype == null ? "auto" : kvCacheDtype;
            KvCacheDtype.parse(kvCacheDtype);
            if (batchSize < 1 || inputLen < 1 || outputLen < 1 || numIters < 1 || numItersWarmup < 0 || threads < 0
                    || blockSize < 1) {
                throw new IllegalArgumentException("batch size, input/output lengths, iterations and block size must be positive");
            }
        }

        /** vLLM's defaults: batch 8, 32 tokens in, 128 out, 10 warm-up and 30 timed iterations. */
        public static Options defaults(Path model) {
            return new Options(model, "auto", "auto", 8, 32, 128, 10, 30, 0, null, 16, 0, null, "auto");
        }
    }

    /** Times in seconds; throughputs in tokens/s summed over the batch. */
    public record Result(double[] latencies, double avgLatency, double p50Latency, double p90Latency, double p99Latency,
                         double prefillTokensPerSecond, double decodeTokensPerSecond, double meanDecodeStep,
                         double p50DecodeStep, double p99DecodeStep) {}

    private LatencyBenchmark() {}

    public static Result run(Options o, PrintStream out) {
        try (LlamaWeights weights = o.loadFormat().equals("dummy") ? LlamaWeights.dummy(o.model(), o.dtype(), o.seed())
                : o.model().toString().endsWith(".gguf") ? LlamaWeights.loadGguf(o.model()) : LlamaWeights.load(o.model());
             ComputePool pool = new ComputePool(o.threads() == 0 ? Runtime.getRuntime().availableProcessors() : o.threads(),
                     o.threadsBind())) {
            ModelConfig c = weights.config();
            int maxLen = o.inputLen() + o.outputLen();
            int blocksPerSeq = (maxLen + o.blockSize() - 1) / o.blockSize();
            try (PagedKvCache cache = new PagedKvCache(c.numLayers(), blocksPerSeq * o.batchSize(), o.blockSize(), c.kvDim(),
                    KvCacheDtype.resolve(o.kvCacheDtype(), weights.layer(0).wq().type()))) {
                if (out != null) {
                    out.printf("KV cache: %s%n", cache.dtype().name().toLowerCase());
                }
                CpuModelRunner runner = new CpuModelRunner(weights, pool, maxLen);
                SplittableRandom rng = new SplittableRandom(o.seed());
                int total = o.numItersWarmup() + o.numIters();
                double[] latencies = new double[o.numIters()];
                double prefillSeconds = 0, decodeSeconds = 0;
                List<Double> steps = new ArrayList<>();
                for (int it = 0; it < total; it++) {
                    boolean timed = it >= o.numItersWarmup();
                    Iteration r = iteration(runner, cache, o, blocksPerSeq, c.vocabSize(), rng);
                    if (timed) {
                        latencies[it - o.numItersWarmup()] = r.prefill + r.decode;
                        prefillSeconds += r.prefill;
                        decodeSeconds += r.decode;
                        for (double s : r.steps) {
                            steps.add(s);
                        }
                    }
                    if (out != null) {
                        out.printf("\r%s iteration %d/%d: %.3f s", timed ? "timed" : "warm-up",
                                timed ? it - o.numItersWarmup() + 1 : it + 1, timed ? o.numIters() : o.numItersWarmup(),
                                r.prefill + r.decode);
                    }
                }
                if (out != null) {
                    out.println();
                }
                double[] sorted = latencies.clone();
                Arrays.sort(sorted);
                double[] stepTimes = steps.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                long decodeTokens = (long) o.batchSize() * (o.outputLen() - 1) * o.numIters();
                Result result = new Result(latencies, Arrays.stream(latencies).average().orElse(0),
                        percentile(sorted, 50), percentile(sorted, 90), percentile(sorted, 99),
                        (double) o.batchSize() * o.inputLen() * o.numIters() / prefillSeconds,
                        decodeSeconds > 0 ? decodeTokens / decodeSeconds : 0,
                        stepTimes.length > 0 ? Arrays.stream(stepTimes).average().orElse(0) : 0,
                        percentile(stepTimes, 50), percentile(stepTimes, 99));
                if (out != null) {
                    print(result, o, out);
                }
                if (o.outputJson() != null) {
                    writeJson(result, o);
                }
                return result;
            }
        }
    }

    private record Iteration(double prefill, double decode, double[] steps) {}

    private static Iteration iteration(CpuModelRunner runner, PagedKvCache cache, Options o, int blocksPerSeq, int vocab,
                                       SplittableRandom rng) {
        int b = o.batchSize();
        int[][] tables = new int[b][blocksPerSeq];
        List<StepInput.SeqChunk> prefill = new ArrayList<>();
        int[] lastRows = new int[b];
        for (int s = 0; s < b; s++) {
            for (int i = 0; i < blocksPerSeq; i++) {
                tables[s][i] = s * blocksPerSeq + i;
            }
            int[] prompt = new int[o.inputLen()];
            for (int i = 0; i < prompt.length; i++) {
                prompt[i] = rng.nextInt(vocab);
            }
            prefill.add(new StepInput.SeqChunk(prompt, 0, tables[s]));
            lastRows[s] = (s + 1) * o.inputLen() - 1;
        }
        long t0 = System.nanoTime();
        int[] next = argmax(runner.forward(new StepInput(prefill, lastRows), cache), b, vocab);
        double prefillSeconds = (System.nanoTime() - t0) / 1e9;
        double[] steps = new double[o.outputLen() - 1];
        int[] rows = new int[b];
        for (int s = 0; s < b; s++) {
            rows[s] = s;
        }
        long d0 = System.nanoTime();
        for (int step = 0; step < o.outputLen() - 1; step++) {
            long s0 = System.nanoTime();
            List<StepInput.SeqChunk> decode = new ArrayList<>(b);
            for (int s = 0; s < b; s++) {
                decode.add(new StepInput.SeqChunk(new int[]{next[s]}, o.inputLen() + step, tables[s]));
            }
            next = argmax(runner.forward(new StepInput(decode, rows), cache), b, vocab);
            steps[step] = (System.nanoTime() - s0) / 1e9;
        }
        return new Iteration(prefillSeconds, (System.nanoTime() - d0) / 1e9, steps);
    }

    private static int[] argmax(float[] logits, int rows, int vocab) {
        int[] best = new int[rows];
        for (int r = 0; r < rows; r++) {
            int arg = 0;
            for (int v = 1; v < vocab; v++) {
                if (logits[r * vocab + v] > logits[r * vocab + arg]) {
                    arg = v;
                }
            }
            best[r] = arg;
        }
        return best;
    }

    /** Linear interpolation between closest ranks (numpy's default), over sorted values. */
    static double percentile(double[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        double rank = p / 100 * (sorted.length - 1);
        int lo = (int) Math.floor(rank), hi = (int) Math.ceil(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }

    private static void print(Result r, Options o, PrintStream out) {
        out.printf("Batch size %d, input %d, output %d tokens%n", o.batchSize(), o.inputLen(), o.outputLen());
        out.printf("Avg latency: %.4f seconds%n", r.avgLatency());
        out.printf("50%% percentile latency: %.4f seconds%n", r.p50Latency());
        out.printf("90%% percentile latency: %.4f seconds%n", r.p90Latency());
        out.printf("99%% percentile latency: %.4f seconds%n", r.p99Latency());
        out.printf("Prefill throughput: %.1f tokens/s%n", r.prefillTokensPerSecond());
        out.printf("Decode throughput: %.1f tokens/s (batch %d)%n", r.decodeTokensPerSecond(), o.batchSize());
        out.printf("Decode step latency: mean %.2f ms, median %.2f ms, p99 %.2f ms%n", r.meanDecodeStep() * 1e3,
                r.p50DecodeStep() * 1e3, r.p99DecodeStep() * 1e3);
    }

    private static void writeJson(Result r, Options o) {
        ObjectMapper json = new ObjectMapper();
        ObjectNode n = json.createObjectNode();
        n.put("batch_size", o.batchSize()).put("input_len", o.inputLen()).put("output_len", o.outputLen());
        n.put("avg_latency", r.avgLatency());
        n.putArray("latencies").addAll(Arrays.stream(r.latencies()).mapToObj(json.getNodeFactory()::numberNode).toList());
        ObjectNode pct = n.putObject("percentiles");
        pct.put("50", r.p50Latency()).put("90", r.p90Latency()).put("99", r.p99Latency());
        n.put("prefill_tokens_per_second", r.prefillTokensPerSecond());
        n.put("decode_tokens_per_second", r.decodeTokensPerSecond());
        n.put("mean_decode_step_ms", r.meanDecodeStep() * 1e3).put("median_decode_step_ms", r.p50DecodeStep() * 1e3)
                .put("p99_decode_step_ms", r.p99DecodeStep() * 1e3);
        try {
            json.writerWithDefaultPrettyPrinter().writeValue(o.outputJson().toFile(), n);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write " + o.outputJson() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Command line with vLLM's flag names: --model DIR [--load-format auto|dummy] [--dtype D] [--batch-size 8]
     * [--input-len 32] [--output-len 128] [--num-iters-warmup 10] [--num-iters 30] [--threads 0]
     * [--threads-bind LIST] [--block-size 16] [--seed 0] [--output-json FILE] [--kv-cache-dtype auto|bfloat16|float16|fp8_e5m2].
     */
    public static Options parse(String[] args) {
        Options d = Options.defaults(Path.of("."));
        Path model = null, json = null;
        String loadFormat = d.loadFormat(), dtype = d.dtype(), bind = System.getenv("VLLM_CPU_OMP_THREADS_BIND"), kv = "auto";
        int batch = d.batchSize(), in = d.inputLen(), outLen = d.outputLen(), warm = d.numItersWarmup(), iters = d.numIters();
        int threads = 0, bs = d.blockSize();
        long seed = 0;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = a.contains("=") ? a.substring(a.indexOf('=') + 1) : null;
            String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
            if (v == null) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(name + " needs a value");
                }
                v = args[++i];
            }
            switch (name) {
                case "--model" -> model = Path.of(v);
                case "--load-format" -> loadFormat = v;
                case "--dtype" -> dtype = v;
                case "--batch-size" -> batch = Integer.parseInt(v);
                case "--input-len" -> in = Integer.parseInt(v);
                case "--output-len" -> outLen = Integer.parseInt(v);
                case "--num-iters-warmup" -> warm = Integer.parseInt(v);
                case "--num-iters" -> iters = Integer.parseInt(v);
                case "--threads" -> threads = Integer.parseInt(v);
                case "--threads-bind" -> bind = v;
                case "--block-size" -> bs = Integer.parseInt(v);
                case "--seed" -> seed = Long.parseLong(v);
                case "--output-json" -> json = Path.of(v);
                case "--kv-cache-dtype" -> kv = v;
                default -> throw new IllegalArgumentException("unknown option " + name);
            }
        }
        return new Options(model, loadFormat, dtype, batch, in, outLen, warm, iters, threads, bind, bs, seed, json, kv);
    }

    public static void main(String[] args) {
        run(parse(args), System.out);
    }
}
