package dev.jvllm.worker.pjrt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The shape of a Llama-family model as the StableHLO emitter needs it, read from Hugging Face's config.json.
 * Kept separate from the CPU backend's model classes so the pjrt package has no dependency on them.
 *
 * @param ropeScaling null unless config.json asks for rope_type "llama3"
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

    public int qDim() { return heads * headDim; }

    public int kvDim() { return kvHeads * headDim; }

    public static LlamaShape fromConfigJson(Path configJson) {
        try {
            return fromJson(new ObjectMapper().readTree(Files.readString(configJson)));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + configJson, e);
        }
    }

    public static LlamaShape fromJson(JsonNode c) {
        String type = text(c, "model_type", "llama").toLowerCase(Locale.ROOT);
        String arch = switch (type) {
            case "llama", "mistral", "qwen2", "qwen3" -> type;
            default -> throw new IllegalArgumentException("unsupported model_type for the pjrt backend: " + type);
        };
        int hidden = required(c, "hidden_size");
        int heads = required(c, "num_attention_heads");
        int kvHeads = c.path("num_key_value_heads").asInt(heads);
        int headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
        Llama3RopeScaling scaling = null;
        JsonNode rs = c.path("rope_scaling");
        if (rs.isObject()) {
            String ropeType = text(rs, "rope_type", text(rs, "type", ""));
            if (ropeType.equals("llama3")) {
                scaling = new Llama3RopeScaling(rs.path("factor").asDouble(8.0), rs.path("low_freq_factor").asDouble(1.0),
                        rs.path("high_freq_factor").asDouble(4.0), rs.path("original_max_position_embeddings").asInt(8192));
            } else if (!ropeType.isEmpty() && !ropeType.equals("default")) {
                throw new IllegalArgumentException("unsupported rope_scaling type: " + ropeType);
            }
        }
        // Qwen2 has q/k/v biases without saying so in config.json; others say attention_bias.
        boolean qkvBias = arch.equals("qwen2") || c.path("attention_bias").asBoolean(false);
        return new LlamaShape(arch, hidden, required(c, "num_hidden_layers"), heads, kvHeads, headDim,
                required(c, "intermediate_size"), required(c, "vocab_size"), c.path("max_position_embeddings").asInt(2048),
                c.path("rms_norm_eps").asDouble(1e-5), c.path("rope_theta").asDouble(10000.0), scaling, qkvBias,
                arch.equals("qwen3"), c.path("tie_word_embeddings").asBoolean(false));
    }

    private static int required(JsonNode c, String field) {
        if (!c.hasNonNull(field)) throw new IllegalArgumentException("config.json lacks " + field);
        return c.get(field).asInt();
    }

    private static String text(JsonNode c, String field, String dflt) {
        return c.hasNonNull(field) ? c.get(field).asText() : dflt;
    }
}
