package dev.jvllm.worker.pjrt;

import dev.jvllm.worker.pjrt.MlirBuilder.Type;
import dev.jvllm.worker.pjrt.MlirBuilder.Value;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Emits the StableHLO program for one step of a Llama-family model at one bucket: embeddings, RMSNorm, rotary
 * embeddings (Llama 3 scaling), GQA attention over the paged KV cache, SwiGLU MLP, logits for each sequence's last
 * token and on-device sampling, so a step returns only token ids.
 *
 * <p>The KV cache is one pair of device buffers per layer, {@code [num_blocks * block_size, kv_heads, head_dim]} bf16,
 * indexed by slot ({@code block * block_size + offset}). Each cache parameter carries {@code tf.aliasing_output}
 * naming the result that holds its updated value, which PJRT's MLIR import turns into an input/output alias: the
 * execution donates the old buffer and updates it in place.
 *
 * <p>Attention gathers, for every token, the keys of its sequence's whole block table ({@code [T, C]} slots with
 * C = max_blocks_per_seq * block_size) and masks positions after the token and beyond the sequence's context. That is
 * O(T * C) memory per layer: fine for decode buckets and modest prefill, and the place where a Pallas/Triton ragged
 * paged-attention custom call goes later.
 *
 * <p>The text is deterministic: same shape and bucket, same bytes (the compile cache and the golden test rely on it).
 */
public final class StableHloModelEmitter {

    /** Bump when the emitted program changes: part of the compile cache key. */
    public static final String EMITTER_VERSION = "1";

    /** Large finite stand-in for -inf: a fully masked row (padding) then softmaxes to uniform instead of NaN. */
    static final double NEG_BIG = -1.0e30;

    public enum Role { WEIGHT, KV_CACHE, STEP_INPUT }

    /**
     * One parameter of {@code @main}, in order.
     *
     * @param name  the SSA name; for weights, the Hugging Face tensor name
     * @param aliasedOutput index of the result that reuses this buffer, or -1
     */
    public record Param(String name, Role role, PjrtElementType type, long[] shape, int aliasedOutput) {}

    /** One result of {@code @main}, in order. */
    public record Result(String name, PjrtElementType type, long[] shape) {}

    public record Program(String mlir, List<Param> params, List<Result> results) {
        public int paramIndex(String name) {
            for (int i = 0; i < params.size(); i++) if (params.get(i).name().equals(name)) return i;
            throw new IllegalArgumentException("no parameter " + name);
        }
    }

    /** The production program: bf16 weights, bf16 KV cache, bf16 matmul inputs with f32 accumulation. */
    public Program emit(LlamaShape m, BucketPlanner.Bucket bucket, int blockSize, int numBlocks) {
        return emit(m, bucket, blockSize, numBlocks, PjrtElementType.BF16);
    }

    /**
     * @param storage element type of weights, KV cache and matmul inputs: BF16, or F32 (exact comparison with the
     *                f32 reference outputs in tests; small models on a CPU plugin)
     */
    public Program emit(LlamaShape m, BucketPlanner.Bucket bucket, int blockSize, int numBlocks, PjrtElementType storage) {
        if (blockSize <= 0 || numBlocks <= 0) throw new IllegalArgumentException("block size and block count must be positive");
        if (storage != PjrtElementType.BF16 && storage != PjrtElementType.F32) throw new IllegalArgumentException("storage must be BF16 or F32");
        return new Emission(m, bucket, blockSize, numBlocks, storage).run();
    }

    /** The per-step parameters, in order, for a bucket (they follow the weights and the caches). */
    public static List<Param> stepInputParams(BucketPlanner.Bucket b) {
        long T = b.numTokens(), S = b.numSeqs(), B = b.maxBlocksPerSeq();
        return List.of(
                new Param("token_ids", Role.STEP_INPUT, PjrtElementType.S32, new long[] {T}, -1),
                new Param("positions", Role.STEP_INPUT, PjrtElementType.S32, new long[] {T}, -1),
                new Param("token_seq", Role.STEP_INPUT, PjrtElementType.S32, new long[] {T}, -1),
                new Param("slot_mapping", Role.STEP_INPUT, PjrtElementType.S32, new long[] {T}, -1),
                new Param("block_tables", Role.STEP_INPUT, PjrtElementType.S32, new long[] {S, B}, -1),
                new Param("context_lens", Role.STEP_INPUT, PjrtElementType.S32, new long[] {S}, -1),
                new Param("logits_indices", Role.STEP_INPUT, PjrtElementType.S32, new long[] {S}, -1),
                new Param("temperature", Role.STEP_INPUT, PjrtElementType.F32, new long[] {S}, -1),
                new Param("top_k", Role.STEP_INPUT, PjrtElementType.S32, new long[] {S}, -1),
                new Param("top_p", Role.STEP_INPUT, PjrtElementType.F32, new long[] {S}, -1),
                new Param("seeds", Role.STEP_INPUT, PjrtElementType.U32, new long[] {S}, -1));
    }

    /** Llama 3 frequency-dependent RoPE inverse frequencies (HF's _compute_llama3_parameters), or the plain ones. */
    static float[] inverseFrequencies(LlamaShape m) {
        int half = m.headDim() / 2;
        float[] out = new float[half];
        for (int i = 0; i < half; i++) {
            double invFreq = 1.0 / Math.pow(m.ropeTheta(), (2.0 * i) / m.headDim());
            LlamaShape.Llama3RopeScaling s = m.ropeScaling();
            if (s != null) {
                double lowFreqWavelen = s.originalMaxPositions() / s.lowFreqFactor();
                double highFreqWavelen = s.originalMaxPositions() / s.highFreqFactor();
                double wavelen = 2 * Math.PI / invFreq;
                if (wavelen > lowFreqWavelen) {
                    invFreq = invFreq / s.factor();
                } else if (wavelen >= highFreqWavelen) {
                    double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
                    invFreq = (1 - smooth) * invFreq / s.factor() + smooth * invFreq;
                }
            }
            out[i] = (float) invFreq;
        }
        return out;
    }

    /** Hugging Face tensor names of the weights, in parameter order. */
    static List<String> weightNames(LlamaShape m) {
        List<String> n = new ArrayList<>();
        n.add("model.embed_tokens.weight");
        for (int l = 0; l < m.layers(); l++) {
            String p = "model.layers." + l + ".";
            n.add(p + "input_layernorm.weight");
            for (String proj : List.of("q_proj", "k_proj", "v_proj")) {
                n.add(p + "self_attn." + proj + ".weight");
                if (m.qkvBias()) n.add(p + "self_attn." + proj + ".bias");
            }
            if (m.qkNorm()) {
                n.add(p + "self_attn.q_norm.weight");
                n.add(p + "self_attn.k_norm.weight");
            }
            n.add(p + "self_attn.o_proj.weight");
            n.add(p + "post_attention_layernorm.weight");
            n.add(p + "mlp.gate_proj.weight");
            n.add(p + "mlp.up_proj.weight");
            n.add(p + "mlp.down_proj.weight");
        }
        n.add("model.norm.weight");
        if (!m.tiedEmbeddings()) n.add("lm_head.weight");
        return n;
    }

    static long[] weightShape(LlamaShape m, String name) {
        String leaf = name.substring(name.lastIndexOf('.', name.lastIndexOf('.') - 1) + 1);
        return switch (leaf) {
            case "embed_tokens.weight" -> new long[] {m.vocab(), m.hidden()};
            case "lm_head.weight" -> new long[] {m.vocab(), m.hidden()};
            case "input_layernorm.weight", "post_attention_layernorm.weight", "norm.weight" -> new long[] {m.hidden()};
            case "q_proj.weight" -> new long[] {m.qDim(), m.hidden()};
            case "k_proj.weight", "v_proj.weight" -> new long[] {m.kvDim(), m.hidden()};
            case "q_proj.bias" -> new long[] {m.qDim()};
            case "k_proj.bias", "v_proj.bias" -> new long[] {m.kvDim()};
            case "q_norm.weight", "k_norm.weight" -> new long[] {m.headDim()};
            case "o_proj.weight" -> new long[] {m.hidden(), m.qDim()};
            case "gate_proj.weight", "up_proj.weight" -> new long[] {m.intermediate(), m.hidden()};
            case "down_proj.weight" -> new long[] {m.hidden(), m.intermediate()};
            default -> throw new IllegalArgumentException("unknown weight " + name);
        };
    }

    /** State of one emission. */
    private static final class Emission {
        final LlamaShape m;
        final long T, S, B, C, slots;
        final int blockSize;
        final PjrtElementType storage;
        final String mm;
        final List<Param> params = new ArrayList<>();
        final List<Result> results = new ArrayList<>();
        final StringBuilder body = new StringBuilder();
        final MlirBuilder b = new MlirBuilder(body, "    ");
        final java.util.Map<String, Value> args = new java.util.HashMap<>();

        Emission(LlamaShape m, BucketPlanner.Bucket bucket, int blockSize, int numBlocks, PjrtElementType storage) {
            this.m = m;
            this.storage = storage;
            this.mm = storage.mlir;
            this.T = bucket.numTokens();
            this.S = bucket.numSeqs();
            this.B = bucket.maxBlocksPerSeq();
            this.blockSize = blockSize;
            this.C = B * blockSize;
            this.slots = (long) numBlocks * blockSize;
        }

        Value param(String name, Role role, PjrtElementType type, int aliasedOutput, long... shape) {
            params.add(new Param(name, role, type, shape, aliasedOutput));
            Value v = new Value("%" + name, Type.of(type.mlir, shape));
            args.put(name, v);
            return v;
        }

        Value w(String name) {
            Value v = args.get(name);
            if (v == null) throw new IllegalStateException("no weight " + name);
            return v;
        }

        Program run() {
            // Results: sampled ids, then each layer's updated K and V cache.
            results.add(new Result("sampled_token_ids", PjrtElementType.S32, new long[] {S}));
            for (String name : weightNames(m)) param(name, Role.WEIGHT, storage, -1, weightShape(m, name));
            for (int l = 0; l < m.layers(); l++) {
                for (String kv : List.of("k", "v")) {
                    int out = results.size();
                    results.add(new Result(kv + "_cache." + l, storage, new long[] {slots, m.kvHeads(), m.headDim()}));
                    param(kv + "_cache." + l, Role.KV_CACHE, storage, out, slots, m.kvHeads(), m.headDim());
                }
            }
            for (Param in : stepInputParams(new BucketPlanner.Bucket((int) T, (int) S, (int) B))) {
                param(in.name(), in.role(), in.type(), -1, in.shape());
            }
            Value tokenIds = w("token_ids"), positions = w("positions"), tokenSeq = w("token_seq"), slotMapping = w("slot_mapping");
            Value blockTables = w("block_tables"), contextLens = w("context_lens"), logitsIndices = w("logits_indices");
            Value temperature = w("temperature"), topK = w("top_k"), topP = w("top_p"), seeds = w("seeds");

            b.comment("embeddings");
            Value x = b.convert(b.gatherRows(w("model.embed_tokens.weight"), tokenIds), "f32");

            b.comment("rotary tables, shared by all layers");
            Value invFreq = b.vector(inverseFrequencies(m));
            Type tHalf = Type.of("f32", T, m.headDim() / 2);
            Value freqs = b.mul(b.broadcast(b.convert(positions, "f32"), tHalf, 0), b.broadcast(invFreq, tHalf, 1));
            Value cos = b.unary("cosine", freqs);
            Value sin = b.unary("sine", freqs);

            b.comment("attention mask: key position c is visible to a token at position p of a sequence with n cached tokens iff c <= p and c < n");
            Type tc = Type.of("i32", T, C);
            Value c = b.iota(tc, 1);
            Value visible = b.and(b.compare("LE", c, b.broadcast(positions, tc, 0)),
                    b.compare("LT", c, b.broadcast(b.gatherRows(contextLens, tokenSeq), tc, 0)));
            Value bias = b.select(visible, b.splat(0, tc.withElem("f32")), b.splat(NEG_BIG, tc.withElem("f32")));

            b.comment("KV slots each token attends to: its sequence's block table, expanded to slots");
            Type tbs = Type.of("i32", T, B, blockSize);
            Value blocksOfToken = b.gatherRows(blockTables, tokenSeq);
            Value slotGrid = b.add(b.mul(b.broadcast(blocksOfToken, tbs, 0, 1), b.splat(blockSize, tbs)), b.iota(tbs, 2));
            Value tokenSlots = b.reshape(slotGrid, T, C);

            List<Value> newCaches = new ArrayList<>();
            for (int l = 0; l < m.layers(); l++) {
                String p = "model.layers." + l + ".";
                b.comment("layer " + l + ": attention");
                Value h = b.convert(rmsNorm(x, w(p + "input_layernorm.weight")), mm);
                Value q = linear(h, p + "self_attn.q_proj");
                Value k = linear(h, p + "self_attn.k_proj");
                Value v = linear(h, p + "self_attn.v_proj");
                Value q3 = b.reshape(q, T, m.heads(), m.headDim());
                Value k3 = b.reshape(k, T, m.kvHeads(), m.headDim());
                Value v3 = b.reshape(v, T, m.kvHeads(), m.headDim());
                if (m.qkNorm()) {
                    q3 = headNorm(q3, w(p + "self_attn.q_norm.weight"));
                    k3 = headNorm(k3, w(p + "self_attn.k_norm.weight"));
                }
                q3 = rope(q3, cos, sin);
                k3 = rope(k3, cos, sin);
                Value kCache = b.scatterRows(w("k_cache." + l), slotMapping, b.convert(k3, mm));
                Value vCache = b.scatterRows(w("v_cache." + l), slotMapping, b.convert(v3, mm));
                newCaches.add(kCache);
                newCaches.add(vCache);
                Value attn = attention(q3, kCache, vCache, tokenSlots, bias);
                x = b.add(x, linear(attn, p + "self_attn.o_proj"));

                b.comment("layer " + l + ": SwiGLU MLP");
                Value h2 = b.convert(rmsNorm(x, w(p + "post_attention_layernorm.weight")), mm);
                Value gate = linear(h2, p + "mlp.gate_proj");
                Value up = linear(h2, p + "mlp.up_proj");
                Value act = b.mul(b.mul(gate, b.unary("logistic", gate)), up);
                x = b.add(x, linear(act, p + "mlp.down_proj"));
            }

            b.comment("logits for each sequence's last fed token");
            Value last = rmsNorm(b.gatherRows(x, logitsIndices), w("model.norm.weight"));
            Value head = m.tiedEmbeddings() ? w("model.embed_tokens.weight") : w("lm_head.weight");
            Value logits = b.dot(b.convert(last, mm), head, new int[0], new int[0], new int[] {1}, new int[] {1}, "f32");

            Value sampled = sample(logits, temperature, topK, topP, seeds, b.gatherRows(positions, logitsIndices));

            List<Value> outs = new ArrayList<>();
            outs.add(sampled);
            outs.addAll(newCaches);
            body.append("    \"func.return\"(").append(outs.stream().map(Value::name).collect(Collectors.joining(", ")))
                    .append(") : (").append(outs.stream().map(o -> o.type().toString()).collect(Collectors.joining(", "))).append(") -> ()\n");

            StringBuilder text = new StringBuilder();
            text.append("// jvllm step program: ").append(m.architecture()).append(" hidden=").append(m.hidden()).append(" layers=").append(m.layers())
                    .append(", bucket tokens=").append(T).append(" seqs=").append(S).append(" blocks_per_seq=").append(B)
                    .append(", block_size=").append(blockSize).append(" kv_slots=").append(slots).append(", ").append(mm).append(", emitter v").append(EMITTER_VERSION).append('\n');
            text.append("module @jvllm_step attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {\n");
            text.append("  func.func public @main(\n");
            for (int i = 0; i < params.size(); i++) {
                Param pa = params.get(i);
                text.append("      %").append(pa.name()).append(": ").append(Type.of(pa.type().mlir, pa.shape()));
                if (pa.aliasedOutput() >= 0) text.append(" {tf.aliasing_output = ").append(pa.aliasedOutput()).append(" : i32}");
                text.append(i + 1 < params.size() ? ",\n" : ")\n");
            }
            text.append("      -> (").append(results.stream().map(r -> Type.of(r.type().mlir, r.shape()).toString()).collect(Collectors.joining(", "))).append(") {\n");
            text.append(body);
            text.append("  }\n}\n");
            return new Program(text.toString(), List.copyOf(params), List.copyOf(results));
        }

        /** x [T, in] times the HF weight [out, in] (bf16 inputs, f32 accumulation), plus bias if the model has one. */
        Value linear(Value x, String prefix) {
            Value wt = w(prefix + ".weight");
            Value y = b.dot(b.convert(x, mm), wt, new int[0], new int[0], new int[] {1}, new int[] {1}, "f32");
            if (args.containsKey(prefix + ".bias")) {
                y = b.add(y, b.broadcast(b.convert(w(prefix + ".bias"), "f32"), y.type(), 1));
            }
            return y;
        }

        /** RMSNorm over the last dimension of [N, D] in f32. */
        Value rmsNorm(Value x, Value weight) {
            long n = x.type().dim(0), d = x.type().dim(1);
            Value meanSq = b.div(b.reduce("add", b.mul(x, x), 0, 1), b.splat(d, Type.of("f32", n)));
            Value inv = b.unary("rsqrt", b.add(meanSq, b.splat(m.rmsEps(), Type.of("f32", n))));
            return b.mul(b.mul(x, b.broadcast(inv, x.type(), 0)), b.broadcast(b.convert(weight, "f32"), x.type(), 1));
        }

        /** Qwen3's per-head RMSNorm over head_dim of [T, heads, D]. */
        Value headNorm(Value x3, Value weight) {
            long heads = x3.type().dim(1), d = x3.type().dim(2);
            Value flat = b.reshape(x3, T * heads, d);
            return b.reshape(rmsNorm(flat, weight), T, heads, d);
        }

        /** Rotate-half RoPE on [T, heads, D]: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin). */
        Value rope(Value x3, Value cos, Value sin) {
            long heads = x3.type().dim(1), d = x3.type().dim(2), half = d / 2;
            Value x1 = b.slice(x3, new long[] {0, 0, 0}, new long[] {T, heads, half});
            Value x2 = b.slice(x3, new long[] {0, 0, half}, new long[] {T, heads, d});
            Type th = x1.type();
            Value cb = b.broadcast(cos, th, 0, 2);
            Value sb = b.broadcast(sin, th, 0, 2);
            return b.concatenate(2, b.sub(b.mul(x1, cb), b.mul(x2, sb)), b.add(b.mul(x2, cb), b.mul(x1, sb)));
        }

        /** GQA over the gathered slots; q3 [T, H, D] f32 -> [T, H*D] f32. */
        Value attention(Value q3, Value kCache, Value vCache, Value tokenSlots, Value bias) {
            long g = m.heads() / m.kvHeads();
            Value q4 = b.convert(b.reshape(q3, T, m.kvHeads(), g, m.headDim()), mm);
            Value keys = b.gatherRowsGrid(kCache, tokenSlots);     // [T, C, kvH, D]
            Value values = b.gatherRowsGrid(vCache, tokenSlots);   // [T, C, kvH, D]
            Value scores = b.dot(q4, keys, new int[] {0, 1}, new int[] {0, 2}, new int[] {3}, new int[] {3}, "f32"); // [T, kvH, G, C]
            scores = b.mul(scores, b.splat(1.0 / Math.sqrt(m.headDim()), scores.type()));
            scores = b.add(scores, b.broadcast(bias, scores.type(), 0, 3));
            Type rowT = Type.of("f32", T, m.kvHeads(), g);
            Value max = b.reduce("maximum", scores, NEG_BIG, 3);
            Value e = b.unary("exponential", b.sub(scores, b.broadcast(max, scores.type(), 0, 1, 2)));
            Value sum = b.reduce("add", e, 0, 3);
            Value probs = b.div(e, b.broadcast(sum, scores.type(), 0, 1, 2));
            Value out = b.dot(b.convert(probs, mm), values, new int[] {0, 1}, new int[] {0, 2}, new int[] {3}, new int[] {1}, "f32"); // [T, kvH, G, D]
            assert out.type().equals(rowT.withShape(T, m.kvHeads(), g, m.headDim()));
            return b.reshape(out, T, m.qDim());
        }

        /** Index of the largest value per row of [S, V]; the lowest index among ties. */
        Value argmax(Value x) {
            long s = x.type().dim(0), v = x.type().dim(1);
            Value max = b.reduce("maximum", x, NEG_BIG * 10, 1);
            Value isMax = b.compare("EQ", x, b.broadcast(max, x.type(), 0));
            Type ti = Type.of("i32", s, v);
            Value idx = b.select(isMax, b.iota(ti, 1), b.splat(v, ti));
            return b.reduce("minimum", idx, v, 1);
        }

        /**
         * Greedy where temperature is 0; otherwise top-k, then top-p over the renormalized top-k, then a Gumbel-max
         * draw whose noise is a hash of (seed, position, token id): reproducible per request seed, independent of
         * batch composition.
         */
        Value sample(Value logits, Value temperature, Value topK, Value topP, Value seeds, Value samplePos) {
            b.comment("sampling");
            long s = S, v = m.vocab();
            Type sv = Type.of("f32", s, v);
            Type svi = Type.of("i32", s, v);
            Value greedy = argmax(logits);

            Value temp = b.max(temperature, b.splat(1e-6, temperature.type()));
            Value scaled = b.div(logits, b.broadcast(temp, sv, 0));

            Value sorted = b.sortDescending(scaled, 1);
            Value rank = b.iota(svi, 1);
            Value kEff = b.select(b.compare("LE", topK, b.splat(0, topK.type())), b.splat(v, topK.type()), topK);
            Value inTopK = b.compare("LT", rank, b.broadcast(kEff, svi, 0));
            Value negBig = b.splat(NEG_BIG, sv);
            Value sortedK = b.select(inTopK, sorted, negBig);
            Value e = b.unary("exponential", b.sub(sortedK, b.broadcast(b.reduce("maximum", sortedK, NEG_BIG, 1), sv, 0)));
            Value probs = b.div(e, b.broadcast(b.reduce("add", e, 0, 1), sv, 0));
            Value before = b.sub(prefixSum(probs), probs); // probability mass ranked strictly above each token
            Value keep = b.and(inTopK, b.compare("LT", before, b.broadcast(topP, sv, 0)));
            Value threshold = b.reduce("minimum", b.select(keep, sorted, b.splat(-NEG_BIG, sv)), -NEG_BIG, 1);
            Value allowed = b.compare("GE", scaled, b.broadcast(threshold, sv, 0));
            Value masked = b.select(allowed, scaled, negBig);

            Value u = uniform(seeds, samplePos);
            Value gumbel = b.unary("negate", b.unary("log", b.unary("negate", b.unary("log", u))));
            Value drawn = argmax(b.add(masked, gumbel));
            return b.select(b.compare("LE", temperature, b.splat(0, temperature.type())), greedy, drawn);
        }

        /** Inclusive prefix sum along dim 1 in log2(V) shift-and-add steps (pad with negative high edge shifts right). */
        Value prefixSum(Value x) {
            long v = x.type().dim(1);
            Value zero = b.scalar(0, "f32");
            Value acc = x;
            for (long shift = 1; shift < v; shift *= 2) {
                acc = b.add(acc, b.pad(acc, zero, new long[] {0, shift}, new long[] {0, -shift}));
            }
            return acc;
        }

        /** Uniform (0, 1) per (sequence, token id) from murmur3's fmix32 over seed, position and token id. */
        Value uniform(Value seeds, Value samplePos) {
            long s = S, v = m.vocab();
            Type su = Type.of("ui32", s, v);
            Value pos = b.convert(b.broadcast(samplePos, Type.of("i32", s, v), 0), "ui32");
            Value seed = b.broadcast(seeds, su, 0);
            Value token = b.convert(b.iota(Type.of("i32", s, v), 1), "ui32");
            Value h = fmix32(b.xor(seed, b.mul(pos, b.splat(0x9E3779B9L, su))));
            h = fmix32(b.xor(h, token));
            // 23 bits, so (bits + 0.5) stays exact in f32 and u never rounds to 0 or 1 (which would make the noise infinite).
            Value top23 = b.convert(b.op("shift_right_logical", "", su, h, b.splat(9, su)), "f32");
            Type sf = Type.of("f32", s, v);
            return b.mul(b.add(top23, b.splat(0.5, sf)), b.splat(1.0 / (1 << 23), sf));
        }

        Value fmix32(Value h) {
            Type t = h.type();
            h = b.xor(h, b.op("shift_right_logical", "", t, h, b.splat(16, t)));
            h = b.mul(h, b.splat(0x85EBCA6BL, t));
            h = b.xor(h, b.op("shift_right_logical", "", t, h, b.splat(13, t)));
            h = b.mul(h, b.splat(0xC2B2AE35L, t));
            return b.xor(h, b.op("shift_right_logical", "", t, h, b.splat(16, t)));
        }
    }
}
