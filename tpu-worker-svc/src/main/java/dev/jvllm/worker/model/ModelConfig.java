package dev.jvllm.worker.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The hyperparameters of a Llama-family model, read from a Hugging Face {@code config.json}
 * (and {@code generation_config.json} for the EOS ids).
 *
 * @param slidingWindow attention window in tokens, or 0 when the model attends to everything
 * @param ropeScaling   llama3-style frequency scaling, or null
 * @param qkvBias       q/k/v projections carry a bias (qwen2, llama attention_bias)
 * @param oBias         o projection carries a bias (llama attention_bias)
 * @param qkNorm        per-head RMSNorm on q and k before RoPE (qwen3)
 */
public record ModelConfig(
        String architecture,
        int hiddenSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int intermediateSize,
        int vocabSize,
        int maxPositionEmbeddings,
        double rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean oBias,
        boolean qkNorm,
        int slidingWindow,
        String dtype,
        List<Integer> eosTokenIds) {

    /** Llama 3 RoPE frequency scaling ({@code rope_type: "llama3"}), or linear position scaling. */
    public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                              int originalMaxPositionEmbeddings) {}

    public int qDim() {
        return numHeads * headDim;
    }

    public int kvDim() {
        return numKvHeads * headDim;
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    public static ModelConfig read(Path modelDir) {
        Path configFile = modelDir.resolve("config.json");
        JsonNode c = readJson(configFile);
        try {
            return parse(c, configFile, readEosIds(modelDir, c));
        } catch (ModelLoadException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new ModelLoadException(configFile + ": " + e.getMessage(), e);
        }
    }

    static JsonNode readJson(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new ModelLoadException(file + ": file not found");
        }
        try {
            JsonNode node = JSON.readTree(file.toFile());
            if (node == null || !node.isObject()) {
                throw new ModelLoadException(file + ": not a JSON object");
            }
            return node;
        } catch (IOException e) {
            throw new ModelLoadException(file + ": invalid JSON: " + e.getMessage(), e);
        }
    }

    private static List<Integer> readEosIds(Path modelDir, JsonNode config) {
        Path genFile = modelDir.resolve("generation_config.json");
        if (Files.isRegularFile(genFile)) {
            JsonNode gen = readJson(genFile);
            if (gen.hasNonNull("eos_token_id")) {
                return intList(gen.get("eos_token_id"));
            }
        }
        return config.hasNonNull("eos_token_id") ? intList(config.get("eos_token_id")) : List.of();
    }

    private static List<Integer> intList(JsonNode node) {
        List<Integer> ids = new ArrayList<>();
        if (node.isArray()) {
            node.forEach(n -> ids.add(n.asInt()));
        } else {
            ids.add(node.asInt());
        }
        return List.copyOf(ids);
    }

    private static ModelConfig parse(JsonNode c, Path file, List<Integer> eos) {
        String arch = architectureOf(c, file);
        int hidden = required(c, "hidden_size", file);
        int heads = required(c, "num_attention_heads", file);
        int kvHeads = c.hasNonNull("num_key_value_heads") ? c.get("num_key_value_heads").asInt() : heads;
        int headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
        int layers = required(c, "num_hidden_layers", file);
        int inter = required(c, "intermediate_size", file);
        int vocab = required(c, "vocab_size", file);
        int maxPos = c.hasNonNull("max_position_embeddings") ? c.get("max_position_embeddings").asInt() : 2048;
        if (hidden <= 0 || heads <= 0 || kvHeads <= 0 || headDim <= 0 || layers <= 0 || inter <= 0 || vocab <= 0
                || maxPos <= 0) {
            throw new ModelLoadException(file + ": sizes must be positive");
        }
        if (heads % kvHeads != 0) {
            throw new ModelLoadException(file + ": num_attention_heads " + heads
                    + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        if (headDim % 2 != 0) {
            throw new ModelLoadException(file + ": head_dim " + headDim + " must be even for RoPE");
        }
        String act = c.path("hidden_act").asText("silu");
        if (!act.equals("silu")) {
            throw new ModelLoadException(file + ": hidden_act '" + act + "' is not supported (only silu)");
        }
        double eps = c.path("rms_norm_eps").asDouble(1e-6);
        double theta = c.path("rope_theta").asDouble(10000.0);
        boolean tied = c.path("tie_word_embeddings").asBoolean(false);
        boolean attentionBias = c.path("attention_bias").asBoolean(false);
        boolean qkvBias = arch.equals("qwen2") || attentionBias;
        // HF: attention_bias puts biases on q/k/v/o (llama, qwen3); qwen2 always has q/k/v biases, never o.
        boolean oBias = attentionBias && !arch.equals("qwen2");
        boolean qkNorm = arch.equals("qwen3");
        int window = 0;
        if (c.hasNonNull("sliding_window")) {
            boolean applies = arch.equals("mistral") || c.path("use_sliding_window").asBoolean(false);
            if (applies) {
                window = c.get("sliding_window").asInt();
            }
        }
        String dtype = c.path("torch_dtype").asText(c.path("dtype").asText("float32"));
        return new ModelConfig(arch, hidden, layers, heads, kvHeads, headDim, inter, vocab, maxPos, eps, theta,
                ropeScaling(c.get("rope_scaling"), file), tied, qkvBias, oBias, qkNorm, window, dtype, eos);
    }

    private static String architectureOf(JsonNode c, Path file) {
        String type = c.path("model_type").asText("");
        if (type.isEmpty() && c.path("architectures").isArray() && !c.path("architectures").isEmpty()) {
            String a = c.path("architectures").get(0).asText();
            type = switch (a) {
                case "LlamaForCausalLM" -> "llama";
                case "Qwen2ForCausalLM" -> "qwen2";
                case "Qwen3ForCausalLM" -> "qwen3";
                case "MistralForCausalLM" -> "mistral";
                default -> a;
            };
        }
        return switch (type) {
            case "llama", "qwen2", "qwen3", "mistral" -> type;
            default -> throw new ModelLoadException(file + ": unsupported model_type '" + type
                    + "' (supported: llama, qwen2, qwen3, mistral)");
        };
    }

    private static RopeScaling ropeScaling(JsonNode node, Path file) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = node.path("rope_type").asText(node.path("type").asText(""));
        return switch (type) {
            case "default", "" -> null;
            case "llama3" -> new RopeScaling("llama3", node.path("factor").asDouble(8.0),
                    node.path("low_freq_factor").asDouble(1.0), node.path("high_freq_factor").asDouble(4.0),
                    node.path("original_max_position_embeddings").asInt(8192));
            case "linear" -> new RopeScaling("linear", node.path("factor").asDouble(1.0), 0, 0, 0);
            default -> throw new ModelLoadException(file + ": rope_scaling type '" + type
                    + "' is not supported (supported: llama3, linear)");
        };
    }

    private static int required(JsonNode c, String key, Path file) {
        JsonNode n = c.get(key);
        if (n == null || !n.isNumber()) {
            throw new ModelLoadException(file + ": missing or non-numeric '" + key + "'");
        }
        return n.asInt();
    }
}
