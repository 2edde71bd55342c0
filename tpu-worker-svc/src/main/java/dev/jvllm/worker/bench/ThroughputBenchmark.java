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
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code jvllm bench throughput}: offline throughput of the CPU engine, in process (as vLLM's
 * {@code vllm bench throughput} with random prompts): {@code numPrompts} requests of {@code inputLen}
 * tokens generating {@code outputLen} tokens each (EOS ignored), run with continuous batching: every
 * step decodes all running sequences and fills the rest of the token budget with (chunked) prefills
 * of waiting ones, up to {@code maxNumSeqs} sequences and as many as the KV cache holds.
 */
public final class ThroughputBenchmark {

    public record Options(Path model, String loadFormat, String dtype, int numPrompts, int inputLen, int outputLen,
                          int maxNumSeqs, int maxNumBatchedTokens, double kvCacheSpaceGiB, int threads, String threadsBind,
                          int blockSize, long seed, Path outputJson, String kvCacheDtype) {
        public Options {
            if (model == null) {
                throw new IllegalArgumentException("--model is required");
            }
            loadFormat = loadFormat == null ? "auto" : loadFormat;
            dtype = dtype == null ? "auto" : dtype;
            kvCacheDtype = kvCacheDtype == null ? "auto" : kvCacheDtype;
            KvCacheDtype.parse(kvCacheDtype);
            if (numPrompts < 1 || inputLen < 1 || outputLen < 1 || maxNumSeqs < 1 || maxNumBatchedTokens < 1
                    || !(kvCacheSpaceGiB > 0) || threads < 0 || blockSize < 1) {
                throw new IllegalArgumentException("counts, lengths, budgets and block size must be positive");
            }
        }
    }

    public record Result(double elapsedSeconds, int requests, long promptTokens, long outputTokens, int steps) {
        public double requestsPerSecond() {
            return requests / elapsedSeconds;
        }

        public double totalTokensPerSecond() {
            return (promptTokens + outputTokens) / elapsedSeconds;
        }

        public double outputTokensPerSecond() {
            return outputTokens / elapsedSeconds;
        }
    }

    private static final class Seq {
        final int[] prompt;
        final int[] blocks;
        int prefilled, generated, lastToken;

        Seq(int[] prompt, int[] blocks) {
            this.prompt = prompt;
            this.blocks = blocks;
        }
    }

    private ThroughputBenchmark() {}

    public static Result run(Options o, PrintStream out) {
        try (LlamaWeights weights = o.loadFormat().equals("dummy") ? LlamaWeights.dummy(o.model(), o.dtype(), o.seed())
                : o.model().toString().endsWith(".gguf") ? LlamaWeights.loadGguf(o.model()) : LlamaWeights.load(o.model());
             ComputePool pool = new ComputePool(o.threads() == 0 ? Runtime.getRuntime().availableProcessors() : o.threads(),
                     o.threadsBind())) {
            ModelConfig c = weights.config();
            int maxLen = o.inputLen() + o.outputLen();
            int blocksPerSeq = (maxLen + o.blockSize() - 1) / o.blockSize();
            KvCacheDtype kvType = KvCacheDtype.parse(o.kvCacheDtype());
            long bytesPerBlock = PagedKvCache.bytesPerToken(c.numLayers(), c.kvDim(), kvType) * o.blockSize();
            int numBlocks = (int) Math.min((long) blocksPerSeq * Math.min(o.maxNumSeqs(), o.numPrompts()),
                    Math.max(blocksPerSeq, (long) (o.kvCacheSpaceGiB() * (1L << 30) / bytesPerBlock)));
            try (PagedKvCache cache = new PagedKvCache(c.numLayers(), numBlocks, o.blockSize(), c.kvDim(), kvType)) {
                CpuModelRunner runner = new CpuModelRunner(weights, pool, maxLen);
                SplittableRandom rng = new SplittableRandom(o.seed());
                Deque<int[]> waiting = new ArrayDeque<>();
                for (int i = 0; i < o.numPrompts(); i++) {
                    int[] p = new int[o.inputLen()];
                    for (int j = 0; j < p.length; j++) {
                        p[j] = rng.nextInt(c.vocabSize());
                    }
                    waiting.add(p);
                }
                Deque<Integer> freeBlocks = new ArrayDeque<>();
                for (int b = 0; b < numBlocks; b++) {
                    freeBlocks.add(b);
                }
                List<Seq> running = new ArrayList<>();
                int finished = 0, steps = 0;
                long outputTokens = 0;
                long start = System.nanoTime();
                while (finished < o.numPrompts()) {
                    while (!waiting.isEmpty() && running.size() < o.maxNumSeqs() && freeBlocks.size() >= blocksPerSeq) {
                        int[] blocks = new int[blocksPerSeq];
                        for (int b = 0; b < blocksPerSeq; b++) {
                            blocks[b] = freeBlocks.poll();
                        }
                        running.add(new Seq(waiting.poll(), blocks));
                    }
                    int budget = o.maxNumBatchedTokens();
                    List<StepInput.SeqChunk> chunks = new ArrayList<>();
                    List<Seq> sampled = new ArrayList<>();
                    List<Integer> rows = new ArrayList<>();
                    int tokens = 0;
                    for (Seq s : running) {   // decodes first, then prefills in arrival order
                        if (s.prefilled == s.prompt.length && budget > 0) {
                            chunks.add(new StepInput.SeqChunk(new int[]{s.lastToken}, s.prompt.length + s.generated - 1, s.blocks));
                            rows.add(tokens);
                            sampled.add(s);
                            tokens++;
                            budget--;
                        }
                    }
                    for (Seq s : running) {
                        if (s.prefilled < s.prompt.length && budget > 0) {
                            int n = Math.min(budget, s.prompt.length - s.prefilled);
                            int[] part = java.util.Arrays.copyOfRange(s.prompt, s.prefilled, s.prefilled + n);
                            chunks.add(new StepInput.SeqChunk(part, s.prefilled, s.blocks));
                            s.prefilled += n;
                            tokens += n;
                            budget -= n;
                            if (s.prefilled == s.prompt.length) {
                                rows.add(tokens - 1);
                                sampled.add(s);
                            }
                        }
                    }
                    float[] logits = runner.forward(new StepInput(chunks, rows.stream().mapToInt(Integer::intValue).toArray()), cache);
                    steps++;
                    for (int r = 0; r < sampled.size(); r++) {
                        Seq s = sampled.get(r);
                        s.lastToken = argmax(logits, r, c.vocabSize());
                        s.generated++;
                        outputTokens++;
                    }
                    for (int i = running.size() - 1; i >= 0; i--) {
                        Seq s = running.get(i);
                        if (s.generated == o.outputLen()) {
                            for (int b : s.blocks) {
                                freeBlocks.add(b);
                            }
                            running.remove(i);
                            finished++;
                            if (out != null) {
                                out.printf("\rfinished %d/%d requests", finished, o.numPrompts());
                            }
                        }
                    }
                }
                double elapsed = (System.nanoTime() - start) / 1e9;
                Result r = new Result(elapsed, o.numPrompts(), (long) o.numPrompts() * o.inputLen(), outputTokens, steps);
                if (out != null) {
                    out.println();
                    out.printf("Throughput: %.2f requests/s, %.2f total tokens/s, %.2f output tokens/s (%d steps, %.1f s)%n",
                            r.requestsPerSecond(), r.totalTokensPerSecond(), r.outputTokensPerSecond(), steps, elapsed);
                }
                if (o.outputJson() != null) {
                    ObjectMapper json = new ObjectMapper();
                    ObjectNode n = json.createObjectNode();
                    n.put("elapsed_time", elapsed).put("num_requests", r.requests())
                            .put("total_num_tokens", r.promptTokens() + r.outputTokens())
                            .put("requests_per_second", r.requestsPerSecond())
                            .put("tokens_per_second", r.totalTokensPerSecond())
                            .put("output_tokens_per_second", r.outputTokensPerSecond());
                    try {
                        json.writerWithDefaultPrettyPrinter().writeValue(o.outputJson().toFile(), n);
                    } catch (IOException e) {
                        throw new IllegalStateException("cannot write " + o.outputJson() + ": " + e.getMessage(), e);
                    }
                }
                return r;
            }
        }
    }

    private static int argmax(float[] logits, int row, int vocab) {
        int best = 0;
        for (int v = 1; v < vocab; v++) {
            if (logits[row * vocab + v] > logits[row * vocab + best]) {
                best = v;
            }
        }
        return best;
    }

    /**
     * --model DIR [--load-format auto|dummy] [--dtype D] [--num-prompts 100] [--input-len 128] [--output-len 128]
     * [--max-num-seqs 256] [--max-num-batched-tokens 2048] [--kv-cache-space 4] [--threads 0] [--threads-bind LIST]
     * [--block-size 16] [--seed 0] [--output-json FILE] [--kv-cache-dtype auto|bfloat16|fp8_e5m2].
     */
    public static Options parse(String[] args) {
        Path model = null, json = null;
        String loadFormat = "auto", dtype = "auto", bind = System.getenv("VLLM_CPU_OMP_THREADS_BIND"), kvDtype = "auto";
        int prompts = 100, in = 128, outLen = 128, seqs = 256, batched = 2048, threads = 0, bs = 16;
        double kv = 4;
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
                case "--num-prompts" -> prompts = Integer.parseInt(v);
                case "--input-len" -> in = Integer.parseInt(v);
                case "--output-len" -> outLen = Integer.parseInt(v);
                case "--max-num-seqs" -> seqs = Integer.parseInt(v);
                case "--max-num-batched-tokens" -> batched = Integer.parseInt(v);
                case "--kv-cache-space" -> kv = Double.parseDouble(v);
                case "--threads" -> threads = Integer.parseInt(v);
                case "--threads-bind" -> bind = v;
                case "--block-size" -> bs = Integer.parseInt(v);
                case "--seed" -> seed = Long.parseLong(v);
                case "--output-json" -> json = Path.of(v);
                case "--kv-cache-dtype" -> kvDtype = v;
                default -> throw new IllegalArgumentException("unknown option " + name);
            }
        }
        return new Options(model, loadFormat, dtype, prompts, in, outLen, seqs, batched, kv, threads, bind, bs, seed, json, kvDtype);
    }

    public static void main(String[] args) {
        run(parse(args), System.out);
    }
}
