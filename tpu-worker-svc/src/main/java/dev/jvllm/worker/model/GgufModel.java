package dev.jvllm.worker.model;

import dev.jvllm.common.gguf.GgufFile;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** The llama.cpp names and metadata keys of a llama GGUF, mapped onto {@link ModelConfig} and {@link LlamaWeights}. */
final class GgufModel {
    private GgufModel() {}

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static ModelConfig config(GgufFile g) {
        Object archValue = g.metadata().get("general.architecture");
        if (!(archValue instanceof String arch)) {
            throw new ModelLoadException(g.path() + ": GGUF metadata lacks general.architecture");
        }
        if (!arch.equals("llama")) {
            throw new ModelLoadException(g.path() + ": unsupported GGUF architecture '" + arch + "' (supported: llama)");
        }
        int hidden = intKey(g, "llama.embedding_length", null);
        int layers = intKey(g, "llama.block_count", null);
        int heads = intKey(g, "llama.attention.head_count", null);
        int kvHeads = intKey(g, "llama.attention.head_count_kv", heads);
        int inter = intKey(g, "llama.feed_forward_length", null);
        int maxPos = intKey(g, "llama.context_length", 2048);
        if (hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || inter <= 0 || maxPos <= 0) {
            throw new ModelLoadException(g.path() + ": GGUF sizes must be positive (embedding_length " + hidden + ", block_count "
                    + layers + ", head_count " + heads + ", head_count_kv " + kvHeads + ", feed_forward_length " + inter
                    + ", context_length " + maxPos + ")");
        }
        if (layers > g.tensors().size()) {   // each block has several tensors; also keeps a lie from sizing a huge array
            throw new ModelLoadException(g.path() + ": block_count " + layers + " but only " + g.tensors().size() + " tensors");
        }
        if (heads % kvHeads != 0 || hidden % heads != 0 || hidden / heads % 2 != 0) {
            throw new ModelLoadException(g.path() + ": head_count " + heads + " / head_count_kv " + kvHeads
                    + " do not divide embedding_length " + hidden + " into even heads");
        }
        int headDim = hidden / heads;
        int ropeDims = intKey(g, "llama.rope.dimension_count", headDim);
        if (ropeDims != headDim) {
            throw new ModelLoadException(g.path() + ": partial rotary (rope.dimension_count " + ropeDims + " of head size "
                    + headDim + ") is not supported");
        }
        double eps = doubleKey(g, "llama.attention.layer_norm_rms_epsilon", 1e-5);
        double theta = doubleKey(g, "llama.rope.freq_base", 10000);
        GgufFile.Tensor embed = g.tensors().get("token_embd.weight");
        if (embed == null) {
            throw new ModelLoadException(g.path() + ": missing tensor 'token_embd.weight'");
        }
        int vocab = (int) embed.dims()[embed.dims().length - 1];
        boolean tied = !g.tensors().containsKey("output.weight");
        // llama.cpp ends generation at any of these (Llama 3 Instruct: <|eot_id|>, <|eom_id|> beside <|end_of_text|>).
        List<Integer> eos = new ArrayList<>();
        for (String key : List.of("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")) {
            if (g.metadata().get(key) instanceof Long id && id >= 0 && id < vocab && !eos.contains(id.intValue())) {
                eos.add(id.intValue());
            }
        }
        return new ModelConfig(arch, hidden, layers, heads, kvHeads, headDim, inter, vocab, maxPos, eps, theta, null, tied,
                false, false, false, 0, embed.type().name().toLowerCase(), eos);
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
                    null, null, null, null, null, null,
                    matrix(g, p + "ffn_gate.weight", ff, h), matrix(g, p + "ffn_up.weight", ff, h),
                    matrix(g, p + "ffn_down.weight", h, ff));
        }
        MemorySegment norm = vector(g, "output_norm.weight", h, arena);
        LlamaWeights.Matrix lmHead = c.tieWordEmbeddings() ? embed : matrix(g, "output.weight", vocab, h);
        return LlamaWeights.of(c, arena, embed, layers, norm, lmHead);
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
        };
        return new LlamaWeights.Matrix(t.data(), type, (int) rows, (int) cols);
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
