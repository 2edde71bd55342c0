package dev.jvllm.worker.pjrt;

import dev.jvllm.worker.pjrt.StableHloInterpreter.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Executes the emitted program with {@link StableHloInterpreter} and checks what it computes: logits against a plain
 * Java forward pass, paged KV cache consistency (chunked prefill + decode == one-shot prefill, with a scattered block
 * table), padding that writes nowhere, and the sampling rules.
 */
class StableHloProgramSemanticsTest {

    static final int BLOCK = 2, NUM_BLOCKS = 6, SLOTS = BLOCK * NUM_BLOCKS;
    static final BucketPlanner.Bucket BUCKET = new BucketPlanner.Bucket(8, 2, 3);

    /** GQA 4:2, two layers, untied head, qkv bias and q/k norm (Qwen-like) so every optional path runs. */
    static final LlamaShape QWENISH = new LlamaShape("qwen3", 8, 2, 4, 2, 4, 12, 16, 64, 1e-6, 10000.0, null, true, true, false);
    static final LlamaShape LLAMA3 = new LlamaShape("llama", 8, 1, 2, 1, 4, 12, 16, 64, 1e-5, 500000.0,
            new LlamaShape.Llama3RopeScaling(8.0, 1.0, 4.0, 16), false, false, true);

    record Seq(int[] tokens, int startPos, int[] blockTable) {}

    record Sampling(float temperature, int topK, float topP, long seed) {
        static final Sampling GREEDY = new Sampling(0f, 0, 1f, 0);
    }

    record StepResult(int[] ids, double[][] logits, List<Tensor> caches) {}

    static Map<String, double[]> randomWeights(LlamaShape m, long seed) {
        Random rnd = new Random(seed);
        Map<String, double[]> w = new HashMap<>();
        for (String name : StableHloModelEmitter.weightNames(m)) {
            long[] shape = StableHloModelEmitter.weightShape(m, name);
            long n = 1;
            for (long d : shape) n *= d;
            double[] v = new double[(int) n];
            for (int i = 0; i < n; i++) {
                double x = shape.length == 1 ? 1.0 + 0.1 * rnd.nextGaussian() : 0.4 * rnd.nextGaussian();
                v[i] = StableHloInterpreter.bf16((float) x);
            }
            w.put(name, v);
        }
        return w;
    }

    static List<Tensor> emptyCaches(LlamaShape m) {
        List<Tensor> c = new ArrayList<>();
        for (int i = 0; i < 2 * m.layers(); i++) c.add(Tensor.zeros("bf16", SLOTS, m.kvHeads(), m.headDim()));
        return c;
    }

    static final BucketPlanner PLANNER = new BucketPlanner(new int[] {BUCKET.numTokens()}, new int[] {BUCKET.numSeqs()}, BUCKET.maxBlocksPerSeq());

    /** Builds the step exactly as the worker will: proto ScheduledSeqs through {@link StepInputs}. */
    static StepResult step(LlamaShape m, Map<String, double[]> weights, List<Tensor> caches, List<Seq> seqs, List<Sampling> sampling) {
        StableHloModelEmitter.Program p = new StableHloModelEmitter().emit(m, BUCKET, BLOCK, NUM_BLOCKS);
        int S = BUCKET.numSeqs();
        List<dev.jvllm.proto.ScheduledSeq> scheduled = new ArrayList<>();
        List<SamplingState> states = new ArrayList<>();
        for (int i = 0; i < seqs.size(); i++) {
            Seq q = seqs.get(i);
            var b = dev.jvllm.proto.ScheduledSeq.newBuilder().setSeqId(100 + i).setStartPos(q.startPos()).setDoSample(true);
            for (int t : q.tokens()) b.addTokenIds(t);
            for (int blk : q.blockTable()) b.addBlockTable(blk);
            scheduled.add(b.build());
            Sampling sp = sampling.get(i);
            states.add(new SamplingState(sp.temperature(), sp.topK(), sp.topP(), (int) sp.seed()));
        }
        StepInputs inputs = StepInputs.build(scheduled, states, PLANNER, BLOCK, NUM_BLOCKS);
        assertEquals(BUCKET, inputs.bucket());
        Map<String, Object> byName = inputs.byParamName();
        List<Tensor> args = new ArrayList<>();
        int cache = 0;
        for (StableHloModelEmitter.Param param : p.params()) {
            args.add(switch (param.role()) {
                case WEIGHT -> new Tensor(param.shape(), param.type().mlir, weights.get(param.name()).clone());
                case KV_CACHE -> caches.get(cache++);
                case STEP_INPUT -> new Tensor(param.shape(), param.type().mlir, toDoubles(byName.get(param.name()), param.type()));
            });
        }
        StableHloInterpreter interp = new StableHloInterpreter();
        List<Tensor> out = interp.run(p.mlir(), args);
        // The logits are the last [S, V] f32 dot_general in the program.
        Matcher mt = Pattern.compile("(%[0-9]+) = \"stablehlo\\.dot_general\".*-> tensor<" + S + "x" + m.vocab() + "xf32>").matcher(p.mlir());
        String logitsName = null;
        while (mt.find()) logitsName = mt.group(1);
        Tensor logits = interp.env.get(logitsName);
        double[][] l = new double[seqs.size()][m.vocab()];
        for (int s = 0; s < seqs.size(); s++) System.arraycopy(logits.data(), s * m.vocab(), l[s], 0, m.vocab());
        int[] ids = new int[seqs.size()];
        for (int s = 0; s < ids.length; s++) ids[s] = (int) out.get(0).data()[s];
        return new StepResult(ids, l, out.subList(1, out.size()));
    }

    static double[] toDoubles(Object array, PjrtElementType type) {
        if (array instanceof float[] f) {
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) d[i] = f[i];
            return d;
        }
        int[] a = (int[]) array;
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = type == PjrtElementType.U32 ? Integer.toUnsignedLong(a[i]) : a[i];
        return d;
    }

    // ---------------------------------------------------------------- plain Java reference (one sequence from position 0)

    static double[] referenceLogits(LlamaShape m, Map<String, double[]> w, int[] tokens) {
        int n = tokens.length, H = m.hidden(), D = m.headDim(), G = m.heads() / m.kvHeads();
        float[] invFreq = StableHloModelEmitter.inverseFrequencies(m);
        double[][] x = new double[n][];
        for (int t = 0; t < n; t++) x[t] = java.util.Arrays.copyOfRange(w.get("model.embed_tokens.weight"), tokens[t] * H, (tokens[t] + 1) * H);
        for (int l = 0; l < m.layers(); l++) {
            String p = "model.layers." + l + ".";
            double[][] q = new double[n][], k = new double[n][], v = new double[n][];
            for (int t = 0; t < n; t++) {
                double[] h = bf16(rms(x[t], w.get(p + "input_layernorm.weight"), m.rmsEps()));
                q[t] = linear(h, w, p + "self_attn.q_proj", m.qDim());
                k[t] = linear(h, w, p + "self_attn.k_proj", m.kvDim());
                v[t] = bf16(linear(h, w, p + "self_attn.v_proj", m.kvDim()));
                if (m.qkNorm()) {
                    q[t] = perHead(q[t], D, w.get(p + "self_attn.q_norm.weight"), m.rmsEps());
                    k[t] = perHead(k[t], D, w.get(p + "self_attn.k_norm.weight"), m.rmsEps());
                }
                q[t] = bf16(rope(q[t], D, t, invFreq));
                k[t] = bf16(rope(k[t], D, t, invFreq));
            }
            for (int t = 0; t < n; t++) {
                double[] att = new double[m.qDim()];
                for (int hd = 0; hd < m.heads(); hd++) {
                    int kvh = hd / G;
                    double[] sc = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= t; j++) {
                        double s = 0;
                        for (int d = 0; d < D; d++) s += q[t][hd * D + d] * k[j][kvh * D + d];
                        sc[j] = s / Math.sqrt(D);
                        max = Math.max(max, sc[j]);
                    }
                    double z = 0;
                    for (int j = 0; j <= t; j++) z += (sc[j] = Math.exp(sc[j] - max));
                    for (int j = 0; j <= t; j++) {
                        double pr = StableHloInterpreter.bf16((float) (sc[j] / z));
                        for (int d = 0; d < D; d++) att[hd * D + d] += pr * v[j][kvh * D + d];
                    }
                }
                double[] o = linear(bf16(att), w, p + "self_attn.o_proj", H);
                for (int i = 0; i < H; i++) x[t][i] += o[i];
                double[] h2 = bf16(rms(x[t], w.get(p + "post_attention_layernorm.weight"), m.rmsEps()));
                double[] g = linear(h2, w, p + "mlp.gate_proj", m.intermediate());
                double[] u = linear(h2, w, p + "mlp.up_proj", m.intermediate());
                double[] a = new double[g.length];
                for (int i = 0; i < a.length; i++) a[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
                double[] down = linear(bf16(a), w, p + "mlp.down_proj", H);
                for (int i = 0; i < H; i++) x[t][i] += down[i];
            }
        }
        double[] last = bf16(rms(x[n - 1], w.get("model.norm.weight"), m.rmsEps()));
        double[] head = w.get(m.tiedEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight");
        double[] logits = new double[m.vocab()];
        for (int r = 0; r < m.vocab(); r++) for (int i = 0; i < H; i++) logits[r] += last[i] * head[r * H + i];
        return logits;
    }

    static double[] rms(double[] x, double[] w, double eps) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double inv = 1 / Math.sqrt(ss / x.length + eps);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] * inv * w[i];
        return out;
    }

    static double[] perHead(double[] x, int d, double[] w, double eps) {
        double[] out = new double[x.length];
        for (int h = 0; h < x.length / d; h++) {
            double[] r = rms(java.util.Arrays.copyOfRange(x, h * d, (h + 1) * d), w, eps);
            System.arraycopy(r, 0, out, h * d, d);
        }
        return out;
    }

    static double[] rope(double[] x, int d, int pos, float[] invFreq) {
        double[] out = new double[x.length];
        int half = d / 2;
        for (int h = 0; h < x.length / d; h++) {
            for (int i = 0; i < half; i++) {
                double f = (float) pos * invFreq[i], c = Math.cos(f), s = Math.sin(f);
                double x1 = x[h * d + i], x2 = x[h * d + half + i];
                out[h * d + i] = x1 * c - x2 * s;
                out[h * d + half + i] = x2 * c + x1 * s;
            }
        }
        return out;
    }

    static double[] linear(double[] x, Map<String, double[]> w, String prefix, int outDim) {
        double[] wt = w.get(prefix + ".weight"), bias = w.get(prefix + ".bias");
        double[] y = new double[outDim];
        for (int o = 0; o < outDim; o++) {
            double s = bias != null ? bias[o] : 0;
            for (int i = 0; i < x.length; i++) s += x[i] * wt[o * x.length + i];
            y[o] = s;
        }
        return y;
    }

    static double[] bf16(double[] x) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = StableHloInterpreter.bf16((float) x[i]);
        return out;
    }

    static int argmax(double[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    static void assertClose(double[] expected, double[] actual, double tol, String what) {
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], tol, what + " [" + i + "]");
        }
    }

    // ---------------------------------------------------------------- tests

    @Test
    void logitsMatchThePlainJavaForwardPass() {
        for (LlamaShape m : List.of(QWENISH, LLAMA3)) {
            Map<String, double[]> w = randomWeights(m, 7);
            int[] a = {3, 9, 1, 14, 2}, b = {5, 5, 11};
            StepResult r = step(m, w, emptyCaches(m),
                    List.of(new Seq(a, 0, new int[] {4, 0, 2}), new Seq(b, 0, new int[] {1, 5})),
                    List.of(Sampling.GREEDY, Sampling.GREEDY));
            assertClose(referenceLogits(m, w, a), r.logits()[0], 0.03, m.architecture() + " seq 0");
            assertClose(referenceLogits(m, w, b), r.logits()[1], 0.03, m.architecture() + " seq 1");
            assertEquals(argmax(r.logits()[0]), r.ids()[0]);
            assertEquals(argmax(r.logits()[1]), r.ids()[1]);
        }
    }

    @Test
    void chunkedPrefillThenDecodeEqualsOneShotPrefill() {
        Map<String, double[]> w = randomWeights(QWENISH, 11);
        int[] blocks = {5, 2, 3};
        int[] prompt = {7, 1, 12, 4, 9};
        StepResult oneShot = step(QWENISH, w, emptyCaches(QWENISH), List.of(new Seq(prompt, 0, blocks)), List.of(Sampling.GREEDY));

        StepResult first = step(QWENISH, w, emptyCaches(QWENISH), List.of(new Seq(new int[] {7, 1, 12}, 0, blocks)), List.of(Sampling.GREEDY));
        StepResult second = step(QWENISH, w, first.caches(), List.of(new Seq(new int[] {4}, 3, blocks)), List.of(Sampling.GREEDY));
        StepResult third = step(QWENISH, w, second.caches(), List.of(new Seq(new int[] {9}, 4, blocks)), List.of(Sampling.GREEDY));
        assertClose(oneShot.logits()[0], third.logits()[0], 1e-3, "decode over the paged cache");
        assertEquals(oneShot.ids()[0], third.ids()[0]);
        for (int i = 0; i < oneShot.caches().size(); i++) {
            assertArrayEquals(oneShot.caches().get(i).data(), third.caches().get(i).data(), 1e-6, "cache " + i);
        }
    }

    @Test
    void onlyTheScheduledSlotsAreWritten() {
        Map<String, double[]> w = randomWeights(LLAMA3, 3);
        StepResult r = step(LLAMA3, w, emptyCaches(LLAMA3), List.of(new Seq(new int[] {1, 2, 3}, 0, new int[] {4, 1})), List.of(Sampling.GREEDY));
        int rowSize = LLAMA3.kvHeads() * LLAMA3.headDim();
        // positions 0,1 -> block 4 (slots 8, 9); position 2 -> block 1 (slot 2). The 5 padding tokens write nowhere.
        for (Tensor cache : r.caches()) {
            for (int slot = 0; slot < SLOTS; slot++) {
                boolean written = slot == 8 || slot == 9 || slot == 2;
                boolean nonZero = false;
                for (int i = 0; i < rowSize; i++) nonZero |= cache.data()[slot * rowSize + i] != 0;
                assertEquals(written, nonZero, "slot " + slot);
            }
        }
    }

    @Test
    void samplingFollowsTemperatureTopKTopPAndSeeds() {
        Map<String, double[]> w = randomWeights(LLAMA3, 5);
        List<Seq> seqs = List.of(new Seq(new int[] {3, 4}, 0, new int[] {0}), new Seq(new int[] {8}, 0, new int[] {1}));
        StepResult greedy = step(LLAMA3, w, emptyCaches(LLAMA3), seqs, List.of(Sampling.GREEDY, Sampling.GREEDY));

        StepResult topK1 = step(LLAMA3, w, emptyCaches(LLAMA3), seqs, List.of(new Sampling(1f, 1, 1f, 1), new Sampling(5f, 1, 1f, 2)));
        assertArrayEquals(greedy.ids(), topK1.ids(), "top_k = 1 is greedy at any temperature");
        StepResult tinyP = step(LLAMA3, w, emptyCaches(LLAMA3), seqs, List.of(new Sampling(1f, 0, 1e-6f, 1), new Sampling(1f, 0, 1e-6f, 2)));
        assertArrayEquals(greedy.ids(), tinyP.ids(), "a vanishing top_p keeps only the most likely token");

        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (long seed = 0; seed < 12; seed++) {
            Sampling s = new Sampling(2f, 3, 1f, seed);
            StepResult a = step(LLAMA3, w, emptyCaches(LLAMA3), seqs, List.of(s, s));
            StepResult b = step(LLAMA3, w, emptyCaches(LLAMA3), seqs, List.of(s, s));
            assertArrayEquals(a.ids(), b.ids(), "same seed, same draw");
            double[] l = greedy.logits()[0];
            int[] top3 = java.util.stream.IntStream.range(0, l.length).boxed().sorted((x, y) -> Double.compare(l[y], l[x]))
                    .limit(3).mapToInt(Integer::intValue).toArray();
            assertTrue(java.util.Arrays.stream(top3).anyMatch(t -> t == a.ids()[0]), "draw " + a.ids()[0] + " outside top-3");
            seen.add(a.ids()[0]);
        }
        assertTrue(seen.size() > 1, "different seeds explore the top-k set: " + seen);
    }
}
