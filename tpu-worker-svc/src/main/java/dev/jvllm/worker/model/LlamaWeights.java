package dev.jvllm.worker.model;

import dev.jvllm.common.gguf.GgufFile;
import dev.jvllm.common.gguf.GgufFormatException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * The weights of a Llama-family model (row-major, one row per output feature, exactly as Hugging
 * Face stores {@code nn.Linear} weights). Weight matrices are used in place from the mapped
 * files (f32, bf16 or f16); small vectors (norms, biases) are converted once into off-heap f32
 * memory owned by the same arena.
 */
public final class LlamaWeights implements AutoCloseable {

    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * A [rows][cols] weight matrix, row-major, little-endian, used in place from the mapped file:
     * f32, or bf16/f16 (half the memory traffic; kernels widen it exactly to f32 in registers).
     */
    public record Matrix(MemorySegment data, WeightType type, int rows, int cols) {
        /**
         * Bytes past a block-quantized matrix's last row that the cpu kernels may read: with 128-bit vectors
         * (4 float lanes, e.g. NEON) the smallest byte vector holds 8, so int8 data is loaded 8 bytes at a time
         * for 4 lanes. Loaders pass the bytes that follow a tensor in its file; a segment that ends sooner is
         * copied into one that does not.
         */
        public static final long READ_PAST = Math.max(0, 8 - jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length());

        public Matrix {
            long readable = (long) rows * type.rowBytes(cols) + READ_PAST;
            if (type.blockQuantized() && data.byteSize() < readable) {
                data = Arena.ofAuto().allocate(readable, 64).copyFrom(data);
            }
        }

        public boolean bf16() {
            return type == WeightType.BF16;
        }

        public long rowBytes() {
            return type.rowBytes(cols);
        }
    }

    /** One decoder layer; biases and q/k norms are null when the architecture has none. */
    public record Layer(
            MemorySegment inputNorm, MemorySegment postAttentionNorm,
            Matrix wq, Matrix wk, Matrix wv, Matrix wo,
            MemorySegment bq, MemorySegment bk, MemorySegment bv, MemorySegment bo,
            MemorySegment qNorm, MemorySegment kNorm,
            Matrix wGate, Matrix wUp, Matrix wDown) {}

    private final ModelConfig config;
    private final Arena arena;
    private final Matrix tokenEmbeddings;
    private final Layer[] layers;
    private final MemorySegment finalNorm;
    private final Matrix lmHead;
    private boolean interleavedRope;

    private LlamaWeights(ModelConfig config, Arena arena, Matrix tokenEmbeddings, Layer[] layers,
                         MemorySegment finalNorm, Matrix lmHead) {
        this.config = config;
        this.arena = arena;
        this.tokenEmbeddings = tokenEmbeddings;
        this.layers = layers;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
    }

    /** Reads config.json (+ generation_config.json) and maps the weights of a Hugging Face model directory. */
    public static LlamaWeights load(Path modelDir) {
        ModelConfig config = ModelConfig.read(modelDir);
        Arena arena = Arena.ofShared();
        try {
            return load(config, WeightFiles.open(modelDir, arena), arena);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * {@code --load-format dummy}: the config of {@code modelDir} (config.json alone suffices) with random
     * weights made in memory, no weight files read or written.
     *
     * @param dtype "auto" (the config's torch_dtype), "float32"/"float", "bfloat16", "float16"/"half"
     */
    public static LlamaWeights dummy(Path modelDir, String dtype, long seed) {
        ModelConfig config = ModelConfig.read(modelDir);
        String d = dtype == null || dtype.equals("auto") ? config.dtype() : dtype;
        SafetensorsFile.DType type = switch (d) {
            case "bfloat16", "bf16" -> SafetensorsFile.DType.BF16;
            case "float16", "half", "f16" -> SafetensorsFile.DType.F16;
            case "float32", "float", "f32" -> SafetensorsFile.DType.F32;
            default -> throw new ModelLoadException(modelDir + ": unsupported dtype '" + d + "' for dummy weights");
        };
        Arena arena = Arena.ofShared();
        try {
            return load(config, WeightFiles.dummy(modelDir, config, type, seed, arena), arena);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static LlamaWeights load(ModelConfig c, WeightFiles files, Arena arena) {
        long h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), ff = c.intermediateSize(), vocab = c.vocabSize();
        Converter f32 = new Converter(files, arena);
        Matrix embed = f32.weights("model.embed_tokens.weight", vocab, h);
        Layer[] layers = new Layer[c.numLayers()];
        for (int i = 0; i < layers.length; i++) {
            String p = "model.layers." + i + ".";
            layers[i] = new Layer(
                    f32.vector(p + "input_layernorm.weight", h),
                    f32.vector(p + "post_attention_layernorm.weight", h),
                    f32.weights(p + "self_attn.q_proj.weight", q, h),
                    f32.weights(p + "self_attn.k_proj.weight", kv, h),
                    f32.weights(p + "self_attn.v_proj.weight", kv, h),
                    f32.weights(p + "self_attn.o_proj.weight", h, q),
                    c.qkvBias() ? f32.vector(p + "self_attn.q_proj.bias", q) : f32.optional(p + "self_attn.q_proj.bias", q),
                    c.qkvBias() ? f32.vector(p + "self_attn.k_proj.bias", kv) : f32.optional(p + "self_attn.k_proj.bias", kv),
                    c.qkvBias() ? f32.vector(p + "self_attn.v_proj.bias", kv) : f32.optional(p + "self_attn.v_proj.bias", kv),
                    c.oBias() ? f32.vector(p + "self_attn.o_proj.bias", h) : f32.optional(p + "self_attn.o_proj.bias", h),
                    c.qkNorm() ? f32.vector(p + "self_attn.q_norm.weight", c.headDim()) : null,
                    c.qkNorm() ? f32.vector(p + "self_attn.k_norm.weight", c.headDim()) : null,
                    f32.weights(p + "mlp.gate_proj.weight", ff, h),
                    f32.weights(p + "mlp.up_proj.weight", ff, h),
                    f32.weights(p + "mlp.down_proj.weight", h, ff));
        }
        MemorySegment norm = f32.vector("model.norm.weight", h);
        // Tied models often omit lm_head.weight; an untied model without it is also served tied, as HF does.
        Matrix lmHead = !c.tieWordEmbeddings() && files.has("lm_head.weight")
                ? f32.weights("lm_head.weight", vocab, h) : embed;
        return new LlamaWeights(c, arena, embed, layers, norm, lmHead);
    }

    /** Turns stored tensors into f32 segments, converting half-precision ones once. */
    private record Converter(WeightFiles files, Arena arena) {
        MemorySegment vector(String name, long... shape) {
            return toF32(files.get(name, shape));
        }

        /** A weight matrix, in place whatever its float type. */
        Matrix weights(String name, long rows, long cols) {
            SafetensorsFile.StoredTensor t = files.get(name, rows, cols);
            WeightType type = switch (t.dtype()) {
                case F32 -> WeightType.F32;
                case BF16 -> WeightType.BF16;
                case F16 -> WeightType.F16;
            };
            return new Matrix(t.data(), type, (int) rows, (int) cols);
        }

        MemorySegment optional(String name, long... shape) {
            return files.has(name) ? vector(name, shape) : null;
        }

        private MemorySegment toF32(SafetensorsFile.StoredTensor t) {
            MemorySegment src = t.data();
            if (t.dtype() == SafetensorsFile.DType.F32) {
                return src;
            }
            long n = t.numElements();
            MemorySegment dst = arena.allocate(n * 4, 64);
            ValueLayout.OfShort half = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            boolean bf16 = t.dtype() == SafetensorsFile.DType.BF16;
            for (long i = 0; i < n; i++) {
                short bits = src.get(half, i * 2);
                float v = bf16 ? Float.intBitsToFloat((bits & 0xFFFF) << 16) : Float.float16ToFloat(bits);
                dst.set(F32, i * 4, v);
            }
            return dst;
        }
    }

    public ModelConfig config() {
        return config;
    }

    /**
     * True when q/k rows are in llama.cpp's llama-GGUF order: each head's rotary pairs are adjacent elements
     * (2i, 2i + 1) instead of HF's (i, i + headDim/2). Attention only needs q and k in the same order,
     * so the runner rotates the pairs where they are instead of permuting the weights back. False for
     * safetensors and for qwen2/qwen3 GGUF files, which llama.cpp keeps in HF order.
     */
    public boolean interleavedRope() {
        return interleavedRope;
    }

    /** Per-frequency rope divisors from a GGUF file's rope_freqs.weight (Llama 3.1+ scaling), or null. */
    float[] ropeFreqFactors;

    public float[] ropeFreqFactors() {
        return ropeFreqFactors;
    }

    /**
     * A GGUF file alone (llama.cpp architectures llama, qwen2, qwen3): hyperparameters from its metadata, tensors
     * mapped in place (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K matrices). Fails with a
     * {@link ModelLoadException} naming the file for corrupt or truncated files, other architectures, settings the
     * engine does not compute (YaRN or other rope scaling, partial rotary, sliding windows) and tensor types the
     * kernels do not compute with.
     */
    public static LlamaWeights loadGguf(Path file) {
        Arena arena = Arena.ofShared();
        try {
            GgufFile g;
            try {
                g = GgufFile.open(file, arena);
            } catch (GgufFormatException e) {
                throw new ModelLoadException(e.getMessage(), e);
            }
            ModelConfig c = GgufModel.config(g);
            LlamaWeights w = GgufModel.weights(g, c, arena);
            w.interleavedRope = GgufModel.interleavedRope(c.architecture());
            return w;
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** For {@link GgufModel}: assembles weights read from a GGUF file. */
    static LlamaWeights of(ModelConfig c, Arena arena, Matrix embed, Layer[] layers, MemorySegment norm, Matrix lmHead) {
        return new LlamaWeights(c, arena, embed, layers, norm, lmHead);
    }

    public Matrix tokenEmbeddings() {
        return tokenEmbeddings;
    }

    public Layer layer(int i) {
        return layers[i];
    }

    public MemorySegment finalNorm() {
        return finalNorm;
    }

    public Matrix lmHead() {
        return lmHead;
    }

    /** Unmaps the files and frees converted weights; the segments must not be used afterwards. */
    @Override
    public void close() {
        arena.close();
    }
}
