package dev.jvllm.worker.model;

import dev.jvllm.common.gguf.GgufFile;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The llama.cpp tensor names and metadata keys of a llama, qwen2 or qwen3 GGUF, mapped onto {@link ModelConfig} and
 * {@link LlamaWeights}: the llama tensors, plus q/k/v biases (qwen2, or any file that has them) and per-head q/k
 * RMSNorm weights (qwen3).
 */
final class GgufModel {
    private GgufModel() {}

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The llama.cpp architectures whose tensors and hyperparameters map onto this engine. */
    static final List<String> ARCHITECTURES = List.of("llama", "qwen2", "qwen3");

    /**
     * Whether q/k rows of this architecture's GGUF are in llama.cpp's "normal" rope order (adjacent pairs).
     * convert_hf_to_gguf permutes q/k weights (and biases) only for the llama family; qwen2/qwen3 use NEOX rope
     * on HF's row order (pairs i, i + headDim/2), so biases and q/k norms stay in HF order too.
     */
    static boolean interleavedRope(String architecture) {
        return architecture.equals("llama");
    }

    static ModelConfig config(GgufFile g) {
        Object archValue = g.metadata().get("general.architecture");
        if (!(archValue instanceof String arch)) {
            throw new ModelLoadException(g.path() + ": GGUF metadata lacks general.architecture");
        }
        if (!ARCHITECTURES.contains(arch)) {
            throw new ModelLoadException(g.path() + ": unsupported GGUF architecture '" + arch + "' (supported: "
                    + String.join(", ", ARCHITECTURES) + ")");
        }
        String a = arch + ".";   // llama.cpp prefixes the model's hyperparameters with its architecture name
        int hidden = intKey(g, a + "embedding_length", null);
        int layers = intKey(g, a + "block_count", null);
        int heads = intKey(g, a + "attention.head_count", null);
        int kvHeads = intKey(g, a + "attention.head_count_kv", heads);
        int inter = intKey(g, a + "feed_forward_length", null);
        int maxPos = intKey(g, a + "context_length", 2048);
        if (hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || inter <= 0 || maxPos <= 0) {
            throw new ModelLoadException(g.path() + ": GGUF sizes must be positive (embedding_length " + hidden + ", block_count "
                    + layers + ", head_count " + heads + ", head_count_kv " + kvHeads + ", feed_forward_length " + inter
                    + ", context_length " + maxPos + ")");
        }
        if (layers > g.tensors().size()) {   // each block has several tensors; also keeps a lie from sizing a huge array
            throw new ModelLoadException(g.path() + ": block_count " + layers + " but only " + g.tensors().size() + " tensors");
        }
        // attention.key_length: an explicit head size (qwen3: heads * head size need not be embedding_length).
        boolean explicitHeadDim = g.metadata().containsKey(a + "attention.key_length");
        if (heads % kvHeads != 0 || (!explicitHeadDim && hidden % heads != 0)) {
            throw new ModelLoadException(g.path() + ": head_count " + heads + " / head_count_kv " + kvHeads
                    + " do not divide embedding_length " + hidden + " into even heads");
        }
        int headDim = intKey(g, a + "attention.key_length", hidden / heads);
        if (headDim <= 0 || headDim % 2 != 0 || (long) heads * headDim > Integer.MAX_VALUE / 2) {
            throw new ModelLoadException(g.path() + ": " + a + "attention.key_length " + headDim
                    + " must be a positive even head size");
        }
        int valueDim = intKey(g, a + "attention.value_length", headDim);
        if (valueDim != headDim) {
            throw new ModelLoadException(g.path() + ": " + a + "attention.value_length " + valueDim + " differs from key_length "
                    + headDim + "; not supported");
        }
        int ropeDims = intKey(g, a + "rope.dimension_count", headDim);
        if (ropeDims != headDim) {
            throw new ModelLoadException(g.path() + ": partial rotary (" + a + "rope.dimension_count " + ropeDims
                    + " of head size " + headDim + ") is not supported");
        }
        Object window = g.metadata().get(a + "attention.sliding_window");
        if (window != null && !(window instanceof Long w && w == 0)) {
            throw new ModelLoadException(g.path() + ": " + a + "attention.sliding_window = " + window
                    + ": sliding-window attention in GGUF files is not supported");
        }
        double eps = doubleKey(g, a + "attention.layer_norm_rms_epsilon", 1e-5);
        double theta = doubleKey(g, a + "rope.freq_base", 10000);
        ModelConfig.RopeScaling scaling = ropeScaling(g, a);
        GgufFile.Tensor embed = g.tensors().get("token_embd.weight");
        if (embed == null) {
            throw new ModelLoadException(g.path() + ": missing tensor 'token_embd.weight'");
        }
        int vocab = (int) embed.dims()[embed.dims().length - 1];
        boolean tied = !g.tensors().containsKey("output.weight");
        if (g.tensors().containsKey("output.bias")) {
            throw new ModelLoadException(g.path() + ": tensor 'output.bias' (an output-layer bias) is not supported");
        }
        // As llama.cpp: q/k/v (and o) biases wherever the file has them; qwen3 always has per-head q/k norms.
        boolean qkvBias = g.tensors().containsKey("blk.0.attn_q.bias");
        boolean oBias = g.tensors().containsKey("blk.0.attn_output.bias");
        boolean qkNorm = arch.equals("qwen3");
        // llama.cpp ends generation at any of these (Llama 3 Instruct: <|eot_id|>, <|eom_id|> beside <|end_of_text|>).
        List<Integer> eos = new ArrayList<>();
        for (String key : List.of("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")) {
            if (g.metadata().get(key) instanceof Long id && id >= 0 && id < vocab && !eos.contains(id.intValue())) {
                eos.add(id.intValue());
            }
        }
        return new ModelConfig(arch, hidden, layers, heads, kvHeads, headDim, inter, vocab, maxPos, eps, theta, scaling, tied,
                qkvBias, oBias, qkNorm, 0, embed.type().name().toLowerCase(), eos);
    }

    /**
     * llama.cpp's rope scaling keys: no type (or "linear") with a factor scales positions linearly, as HF's
     * "linear" rope_type does; "none" never scales. YaRN, LongRoPE and the rest would compute other rotations.
     */
    private static ModelConfig.RopeScaling ropeScaling(GgufFile g, String a) {
        String typeKey = a + "rope.scaling.type";
        Object type = g.metadata().get(typeKey);
        if (type != null && !(type instanceof String)) {
            throw new ModelLoadException(g.path() + ": GGUF metadata " + typeKey + " is not a string");
        }
        if ("none".equals(type)) {
            return null;
        }
        if (type != null && !type.equals("linear")) {
            throw new ModelLoadException(g.path() + ": " + typeKey + " '" + type
                    + "' is not supported (supported: none, linear)");
        }
        String attnKey = a + "rope.scaling.attn_factor";
        double attnFactor = doubleKey(g, attnKey, 1);
        if (attnFactor != 1) {
            throw new ModelLoadException(g.path() + ": " + attnKey + " " + attnFactor + " is not supported");
        }
        String factorKey = g.metadata().containsKey(a + "rope.scaling.factor") ? a + "rope.scaling.factor" : a + "rope.scale_linear";
        double factor = doubleKey(g, factorKey, 0);
        if (!(factor >= 0) || Double.isInfinite(factor)) {
            throw new ModelLoadException(g.path() + ": " + factorKey + " " + factor + " is not a valid rope scaling factor");
        }
        return factor == 0 || factor == 1 ? null : new ModelConfig.RopeScaling("linear", factor, 0, 0, 0);
    }

    static LlamaWeights weights(GgufFile g, ModelConfig c, Arena arena) {
        long h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), ff = c.intermediateSize(), vocab = c.vocabSize();
        LlamaWeights.Matrix embed = matrix(g, "token_embd.weight", vocab, h);
        LlamaWeights.Layer[] layers = new LlamaWeights.Layer[c.numLayers()];
        for (int i = 0; i < layers.length; i++) {
            String p = "blk." + i + ".";
            layers[i] = new LlamaWeights.Layer(
                    vector(g, p + "attn_norm.weight", h, arena), vector(g, p + "ffn_norm.weight", h, arena),
                    matrix(g, p + "attn_q.weight", q, h), matrix(g, p + "attn_k.weight", kv, h),
                    matrix(g, p + "attn_v.weight", kv, h), matrix(g, p + "attn_output.weight", h, q),
                    bias(g, c.qkvBias(), p + "attn_q.bias", q, arena), bias(g, c.qkvBias(), p + "attn_k.bias", kv, arena),
                    bias(g, c.qkvBias(), p + "attn_v.bias", kv, arena), bias(g, c.oBias(), p + "attn_output.bias", h, arena),
                    c.qkNorm() ? vector(g, p + "attn_q_norm.weight", c.headDim(), arena) : null,
                    c.qkNorm() ? vector(g, p + "attn_k_norm.weight", c.headDim(), arena) : null,
                    matrix(g, p + "ffn_gate.weight", ff, h), matrix(g, p + "ffn_up.weight", ff, h),
                    matrix(g, p + "ffn_down.weight", h, ff));
        }
        MemorySegment norm = vector(g, "output_norm.weight", h, arena);
        LlamaWeights.Matrix lmHead = c.tieWordEmbeddings() ? embed : matrix(g, "output.weight", vocab, h);
        LlamaWeights w = LlamaWeights.of(c, arena, embed, layers, norm, lmHead);
        w.ropeFreqFactors = ropeFreqFactors(g, c);
        return w;
    }

    /** A bias the first block has (so every block must have it), or none. */
    private static MemorySegment bias(GgufFile g, boolean present, String name, long n, Arena arena) {
        return present ? vector(g, name, n, arena) : null;
    }

    /**
     * llama.cpp's converter stores Llama 3.1+ rope scaling ("llama3": per-frequency smoothing between
     * low and high wavelengths) as the per-frequency divisors it computed, tensor rope_freqs.weight,
     * instead of metadata; the angle of frequency i is then position * theta_i / factor_i.
     */
    private static float[] ropeFreqFactors(GgufFile g, ModelConfig c) {
        if (!g.tensors().containsKey("rope_freqs.weight")) {
            return null;
        }
        MemorySegment v = vector(g, "rope_freqs.weight", c.headDim() / 2, Arena.ofAuto());
        float[] f = new float[c.headDim() / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = v.get(F32, 4L * i);
            if (!(f[i] > 0) || Float.isInfinite(f[i])) {
                throw new ModelLoadException(g.path() + ": rope_freqs.weight[" + i + "] = " + f[i] + " is not a positive factor");
            }
        }
        return f;
    }

    private static GgufFile.Tensor tensor(GgufFile g, String name, long... rowsThenCols) {
        GgufFile.Tensor t = g.tensors().get(name);
        if (t == null) {
            throw new ModelLoadException(g.path() + ": missing tensor '" + name + "'");
        }
        long[] expected = new long[rowsThenCols.length];
        for (int i = 0; i < expected.length; i++) {
            expected[i] = rowsThenCols[rowsThenCols.length - 1 - i];   // GGUF lists the contiguous dimension first
        }
        if (!Arrays.equals(t.dims(), expected)) {
            throw new ModelLoadException(g.path() + ": tensor '" + name + "' has GGUF shape " + Arrays.toString(t.dims())
                    + ", expected " + Arrays.toString(expected));
        }
        return t;
    }

    private static LlamaWeights.Matrix matrix(GgufFile g, String name, long rows, long cols) {
        GgufFile.Tensor t = tensor(g, name, rows, cols);
        WeightType type = switch (t.type()) {
            case F32 -> WeightType.F32;
            case F16 -> WeightType.F16;
            case BF16 -> WeightType.BF16;
            case Q8_0 -> WeightType.Q8_0;
            case Q4_0 -> WeightType.Q4_0;
            case Q4_K -> WeightType.Q4_K;
            case Q6_K -> WeightType.Q6_K;
            case Q4_1 -> WeightType.Q4_1;
            case Q5_0 -> WeightType.Q5_0;
            case Q5_1 -> WeightType.Q5_1;
            case Q5_K -> WeightType.Q5_K;
        };
        return new LlamaWeights.Matrix(g.dataAndFollowingBytes(t, LlamaWeights.Matrix.READ_PAST), type, (int) rows, (int) cols);
    }

    private static MemorySegment vector(GgufFile g, String name, long n, Arena arena) {
        GgufFile.Tensor t = tensor(g, name, n);
        return switch (t.type()) {
            case F32 -> t.data();
            case F16, BF16 -> {
                MemorySegment dst = arena.allocate(n * 4, 64);
                for (long i = 0; i < n; i++) {
                    short bits = t.data().get(HALF, i * 2);
                    dst.set(F32, i * 4, t.type() == GgufFile.TensorType.F16 ? Float.float16ToFloat(bits)
                            : Float.intBitsToFloat((bits & 0xFFFF) << 16));
                }
                yield dst;
            }
            default -> throw new ModelLoadException(g.path() + ": vector '" + name + "' is " + t.type() + "; expected F32/F16/BF16");
        };
    }

    private static int intKey(GgufFile g, String key, Integer dflt) {
        Object v = g.metadata().get(key);
        if (v instanceof Long l) {
            if (l != l.intValue()) {
                throw new ModelLoadException(g.path() + ": GGUF metadata " + key + " = " + l + " is out of range");
            }
            return l.intValue();
        }
        if (v == null && dflt != null) {
            return dflt;
        }
        throw new ModelLoadException(g.path() + ": GGUF metadata " + (v == null ? "lacks " + key : key + " is not an integer"));
    }

    private static double doubleKey(GgufFile g, String key, double dflt) {
        Object v = g.metadata().get(key);
        return v instanceof Double d ? d : v instanceof Long l ? l : dflt;
    }
}
