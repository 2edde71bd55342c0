package dev.jvllm.worker.pjrt;

import dev.jvllm.worker.model.ModelConfig;

/**
 * What a compiled step program is specialised on: the subset of {@link ModelConfig} that the StableHLO emitter
 * bakes into the program's shapes and constants. {@link #of} is the only way from a model to a shape, and it refuses
 * what the emitter cannot express yet (o_proj bias, sliding-window attention, linear RoPE scaling), so an unsupported
 * model fails at load instead of computing something else. Tests build small shapes directly.
 *
 * @param ropeScaling null unless the model uses rope_type "llama3"
 */
public record LlamaShape(
        String architecture,
        int hidden,
        int layers,
        int heads,
        int kvHeads,
        int headDim,
        int intermediate,
        int vocab,
        int maxPositions,
        double rmsEps,
        double ropeTheta,
        Llama3RopeScaling ropeScaling,
        boolean qkvBias,
        boolean qkNorm,
        boolean tiedEmbeddings) {

    /** Llama 3.x frequency-dependent RoPE scaling (rope_scaling.rope_type = "llama3"). */
    public record Llama3RopeScaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {}

    public LlamaShape {
        if (hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || headDim <= 0 || intermediate <= 0 || vocab <= 0) {
            throw new IllegalArgumentException("model dimensions must be positive");
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("num_attention_heads (" + heads + ") must be a multiple of num_key_value_heads (" + kvHeads + ")");
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("head_dim must be even for rotary embeddings, got " + headDim);
        }
    }

    /** The emitter's view of a model read by {@link ModelConfig#read}; unsupported features are refused here. */
    public static LlamaShape of(ModelConfig c) {
        if (c.oBias()) {
            throw new IllegalArgumentException("the pjrt backend does not support attention_bias on o_proj yet ("
                    + c.architecture() + " with attention_bias=true)");
        }
        if (c.slidingWindow() > 0) {
            throw new IllegalArgumentException("the pjrt backend does not support sliding-window attention yet (sliding_window="
                    + c.slidingWindow() + ")");
        }
        Llama3RopeScaling scaling = null;
        if (c.ropeScaling() != null) {
            ModelConfig.RopeScaling rs = c.ropeScaling();
            if (!rs.type().equals("llama3")) {
                throw new IllegalArgumentException("the pjrt backend does not support rope_scaling type '" + rs.type() + "' yet (llama3 only)");
            }
            scaling = new Llama3RopeScaling(rs.factor(), rs.lowFreqFactor(), rs.highFreqFactor(), rs.originalMaxPositionEmbeddings());
        }
        return new LlamaShape(c.architecture(), c.hiddenSize(), c.numLayers(), c.numHeads(), c.numKvHeads(), c.headDim(),
                c.intermediateSize(), c.vocabSize(), c.maxPositionEmbeddings(), c.rmsNormEps(), c.ropeTheta(), scaling,
                c.qkvBias(), c.qkNorm(), c.tieWordEmbeddings());
    }

    /** The same shape with the output head shared with the embedding (an untied checkpoint without lm_head.weight). */
    public LlamaShape withTiedEmbeddings() {
        return new LlamaShape(architecture, hidden, layers, heads, kvHeads, headDim, intermediate, vocab, maxPositions, rmsEps,
                ropeTheta, ropeScaling, qkvBias, qkNorm, true);
    }

    public int qDim() { return heads * headDim; }

    public int kvDim() { return kvHeads * headDim; }
}
