package dev.jvllm.common.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What llama.cpp's convert_hf_to_gguf makes of a Hugging Face model, for tests that write GGUF files: tokenizer
 * metadata ({@code tokenizer.ggml.*}, {@code tokenizer.chat_template}) from a tokenizer directory, so a GGUF file
 * alone tokenizes exactly like the original tokenizer.json; tensor names; the llama q/k row permutation.
 */
public final class HfToGguf {
    private static final ObjectMapper JSON = new ObjectMapper();

    private HfToGguf() {}

    /**
     * A byte-level BPE tokenizer ({@code tokenizer.ggml.model = "gpt2"}): tokens in id order, merges as
     * "left right", added tokens typed control (3) when special else user-defined (4), the config's bos/eos tokens
     * and chat template. add_bos_token is false, as these tokenizer.json files add no BOS.
     */
    public static Map<String, Object> byteLevelBpe(Path dir, String pre) throws IOException {
        JsonNode tok = JSON.readTree(Files.readString(dir.resolve("tokenizer.json")));
        JsonNode config = JSON.readTree(Files.readString(dir.resolve("tokenizer_config.json")));
        Vocabulary v = vocabulary(tok);
        List<String> merges = new ArrayList<>();
        for (JsonNode m : tok.get("model").get("merges")) {
            merges.add(m.isArray() ? m.get(0).asText() + " " + m.get(1).asText() : m.asText());
        }
        Map<String, Object> md = new LinkedHashMap<>();
        md.put("tokenizer.ggml.model", "gpt2");
        md.put("tokenizer.ggml.pre", pre);
        md.put("tokenizer.ggml.tokens", v.tokens);
        md.put("tokenizer.ggml.token_type", v.types);
        md.put("tokenizer.ggml.merges", merges);
        putId(md, "tokenizer.ggml.bos_token_id", config.path("bos_token").asText(null), v);
        putId(md, "tokenizer.ggml.eos_token_id", config.path("eos_token").asText(null), v);
        putId(md, "tokenizer.ggml.padding_token_id", config.path("pad_token").asText(null), v);
        md.put("tokenizer.ggml.add_bos_token", false);
        if (config.hasNonNull("chat_template")) {
            md.put("tokenizer.chat_template", config.get("chat_template").asText());
        }
        return md;
    }

    /**
     * A SentencePiece tokenizer ({@code "llama"}) from a tokenizer.json whose BPE merges came from SentencePiece
     * scores: the piece made by the merge of rank i scores -i (its first merge), so the merges derived back from
     * the scores come out in the same order; other pieces score far below. {@code <0xNN>} pieces are byte tokens
     * (6), the unk token unknown (2), other special added tokens control (3).
     */
    public static Map<String, Object> sentencePiece(Path dir) throws IOException {
        JsonNode tok = JSON.readTree(Files.readString(dir.resolve("tokenizer.json")));
        Vocabulary v = vocabulary(tok);
        float[] scores = new float[v.tokens.size()];
        Arrays.fill(scores, -1e6f);
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < v.tokens.size(); i++) {
            ids.putIfAbsent(v.tokens.get(i), i);
        }
        int rank = 0;
        boolean[] scored = new boolean[scores.length];
        for (JsonNode m : tok.get("model").get("merges")) {
            String merged = m.isArray() ? m.get(0).asText() + m.get(1).asText() : m.asText().replaceFirst(" ", "");
            int id = ids.get(merged);
            if (!scored[id]) {
                scored[id] = true;
                scores[id] = -rank;
            }
            rank++;
        }
        String unk = tok.get("model").path("unk_token").asText(null);
        for (int i = 0; i < v.types.length; i++) {
            if (v.tokens.get(i).matches("<0x[0-9A-F]{2}>")) {
                v.types[i] = 6;
                scores[i] = 0;
            } else if (v.tokens.get(i).equals(unk)) {
                v.types[i] = 2;
                scores[i] = 0;
            }
        }
        Map<String, Object> md = new LinkedHashMap<>();
        md.put("tokenizer.ggml.model", "llama");
        md.put("tokenizer.ggml.tokens", v.tokens);
        md.put("tokenizer.ggml.scores", scores);
        md.put("tokenizer.ggml.token_type", v.types);
        return md;
    }

    private record Vocabulary(List<String> tokens, int[] types) {}

    private static Vocabulary vocabulary(JsonNode tok) {
        Map<Integer, String> byId = new HashMap<>();
        Map<Integer, Integer> types = new HashMap<>();
        tok.get("model").get("vocab").properties().forEach(e -> {
            byId.put(e.getValue().asInt(), e.getKey());
            types.put(e.getValue().asInt(), 1);
        });
        for (JsonNode a : tok.get("added_tokens")) {
            byId.put(a.get("id").asInt(), a.get("content").asText());
            types.put(a.get("id").asInt(), a.get("special").asBoolean() ? 3 : 4);
        }
        int n = byId.keySet().stream().mapToInt(Integer::intValue).max().orElseThrow() + 1;
        List<String> tokens = new ArrayList<>(n);
        int[] typeArray = new int[n];
        for (int i = 0; i < n; i++) {
            tokens.add(byId.getOrDefault(i, "[UNUSED_" + i + "]"));
            typeArray[i] = types.getOrDefault(i, 5);
        }
        return new Vocabulary(tokens, typeArray);
    }

    private static void putId(Map<String, Object> md, String key, String token, Vocabulary v) {
        int id = token == null ? -1 : v.tokens.indexOf(token);
        if (id >= 0) {
            md.put(key, id);
        }
    }

    /** The name convert_hf_to_gguf gives an HF tensor (llama-arch.cpp's names). */
    public static String tensorName(String hf) {
        return switch (hf) {
            case "model.embed_tokens.weight" -> "token_embd.weight";
            case "model.norm.weight" -> "output_norm.weight";
            case "lm_head.weight" -> "output.weight";
            default -> {
                String[] p = hf.split("\\.", 4);   // model, layers, i, rest
                yield "blk." + p[2] + "." + switch (p[3]) {
                    case "input_layernorm.weight" -> "attn_norm.weight";
                    case "post_attention_layernorm.weight" -> "ffn_norm.weight";
                    case "self_attn.q_proj.weight" -> "attn_q.weight";
                    case "self_attn.k_proj.weight" -> "attn_k.weight";
                    case "self_attn.v_proj.weight" -> "attn_v.weight";
                    case "self_attn.o_proj.weight" -> "attn_output.weight";
                    case "self_attn.q_proj.bias" -> "attn_q.bias";
                    case "self_attn.k_proj.bias" -> "attn_k.bias";
                    case "self_attn.v_proj.bias" -> "attn_v.bias";
                    case "self_attn.o_proj.bias" -> "attn_output.bias";
                    case "self_attn.q_norm.weight" -> "attn_q_norm.weight";
                    case "self_attn.k_norm.weight" -> "attn_k_norm.weight";
                    case "mlp.gate_proj.weight" -> "ffn_gate.weight";
                    case "mlp.up_proj.weight" -> "ffn_up.weight";
                    case "mlp.down_proj.weight" -> "ffn_down.weight";
                    default -> throw new IllegalArgumentException(hf);
                };
            }
        };
    }

    /**
     * convert_hf_to_gguf's LlamaModel.permute of q/k rows (weights or biases; llama architecture only): the rows
     * of each head, (head, 2, hd/2), become (head, hd/2, 2), so rotary pairs are adjacent.
     */
    public static float[] permuteRotary(float[] w, int heads, int rows) {
        int hd = rows / heads, cols = w.length / rows;
        float[] out = new float[w.length];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < hd / 2; i++) {
                for (int j = 0; j < 2; j++) {
                    System.arraycopy(w, (h * hd + j * hd / 2 + i) * cols, out, (h * hd + 2 * i + j) * cols, cols);
                }
            }
        }
        return out;
    }
}
