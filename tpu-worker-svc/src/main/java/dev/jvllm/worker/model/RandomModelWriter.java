package dev.jvllm.worker.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a randomly initialised Hugging Face model directory (config.json, model.safetensors or
 * shards + index, optional generation_config.json) from a seeded RNG: the same builder settings
 * always give the same bytes. Used by tests and by {@code --load-format dummy}.
 *
 * <pre>{@code
 * Path dir = RandomModelWriter.builder().architecture("qwen3").hidden(64).layers(2).heads(4).kvHeads(2)
 *         .headDim(32).vocab(256).dtype("bf16").seed(7).write(tmp.resolve("m"));
 * }</pre>
 */
public final class RandomModelWriter {
    private RandomModelWriter() {}

    public static Builder builder() {
        return new Builder();
    }

    /** A builder preset with the hyperparameters of a Hugging Face config.json (e.g. a shapes/ file). */
    public static Builder fromConfig(Path configJson) {
        JsonNode c = ModelConfig.readJson(configJson);
        Builder b = new Builder();
        b.architecture = c.path("model_type").asText("llama");
        b.hidden = c.path("hidden_size").asInt(b.hidden);
        b.layers = c.path("num_hidden_layers").asInt(b.layers);
        b.heads = c.path("num_attention_heads").asInt(b.heads);
        b.kvHeads = c.path("num_key_value_heads").asInt(b.heads);
        b.headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : 0;
        b.intermediate = c.path("intermediate_size").asInt(b.intermediate);
        b.vocab = c.path("vocab_size").asInt(b.vocab);
        b.maxPos = c.path("max_position_embeddings").asInt(b.maxPos);
        b.tied = c.path("tie_word_embeddings").asBoolean(false);
        b.ropeTheta = c.path("rope_theta").asDouble(b.ropeTheta);
        b.rmsNormEps = c.path("rms_norm_eps").asDouble(b.rmsNormEps);
        b.llama3RopeScaling = "llama3".equals(c.path("rope_scaling").path("rope_type").asText(""));
        if (b.llama3RopeScaling) {
            b.ropeScalingNode = (ObjectNode) c.get("rope_scaling");
        }
        b.qkBias = c.path("attention_bias").asBoolean(false) || b.architecture.equals("qwen2");
        b.qkNorm = b.architecture.equals("qwen3");
        b.dtype = switch (c.path("torch_dtype").asText("float32")) {
            case "bfloat16" -> "bf16";
            case "float16" -> "f16";
            default -> "f32";
        };
        if (c.hasNonNull("eos_token_id")) {
            List<Integer> eos = new ArrayList<>();
            JsonNode e = c.get("eos_token_id");
            if (e.isArray()) {
                e.forEach(n -> eos.add(n.asInt()));
            } else {
                eos.add(e.asInt());
            }
            b.eosTokenIds = eos;
        }
        return b;
    }

    public static final class Builder {
        private String architecture = "llama";
        private int hidden = 64, layers = 2, heads = 4, kvHeads = 2, headDim = 0, intermediate = 128;
        private int vocab = 256, maxPos = 512, shards = 1;
        private boolean tied = false, llama3RopeScaling = false, qkBias = false, qkNorm = false;
        private Integer slidingWindow = null;
        private String dtype = "f32";
        private double ropeTheta = 10000.0, rmsNormEps = 1e-5;
        private long seed = 0;
        private List<Integer> eosTokenIds = null;
        private ObjectNode ropeScalingNode = null;

        /** llama, qwen2, qwen3 or mistral; qwen2 implies q/k/v biases and qwen3 implies q/k norms. */
        public Builder architecture(String a) {
            this.architecture = a;
            if (a.equals("qwen2")) {
                qkBias = true;
            }
            if (a.equals("qwen3")) {
                qkNorm = true;
            }
            return this;
        }

        public Builder hidden(int v) { hidden = v; return this; }
        public Builder layers(int v) { layers = v; return this; }
        public Builder heads(int v) { heads = v; return this; }
        public Builder kvHeads(int v) { kvHeads = v; return this; }
        /** 0: hidden / heads, and no head_dim key in config.json. */
        public Builder headDim(int v) { headDim = v; return this; }
        public Builder intermediate(int v) { intermediate = v; return this; }
        public Builder vocab(int v) { vocab = v; return this; }
        public Builder maxPos(int v) { maxPos = v; return this; }
        public Builder tied(boolean v) { tied = v; return this; }
        /** f32, f16 or bf16 (torch names float32, float16, bfloat16 also accepted). */
        public Builder dtype(String v) { dtype = v; return this; }
        public Builder ropeScalingLlama3(boolean v) { llama3RopeScaling = v; return this; }
        public Builder ropeTheta(double v) { ropeTheta = v; return this; }
        /** Attention biases: config attention_bias (q/k/v/o) for llama/qwen3; always on (q/k/v only) for qwen2. */
        public Builder qkBias(boolean v) { qkBias = v; return this; }
        public Builder qkNorm(boolean v) { qkNorm = v; return this; }
        public Builder slidingWindow(Integer v) { slidingWindow = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder shards(int v) { shards = v; return this; }
        /** Written to generation_config.json; null: no generation_config.json, eos 2 in config.json. */
        public Builder eosTokenIds(List<Integer> v) { eosTokenIds = v; return this; }

        /** Writes the model into {@code dir} (created if needed) and returns {@code dir}. */
        public Path write(Path dir) {
            try {
                Files.createDirectories(dir);
                writeConfig(dir);
                writeWeights(dir);
                return dir;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write random model to " + dir, e);
            }
        }

        private int effectiveHeadDim() {
            return headDim > 0 ? headDim : hidden / heads;
        }

        private void writeConfig(Path dir) throws IOException {
            ObjectMapper json = new ObjectMapper();
            ObjectNode c = json.createObjectNode();
            String archClass = switch (architecture) {
                case "qwen2" -> "Qwen2ForCausalLM";
                case "qwen3" -> "Qwen3ForCausalLM";
                case "mistral" -> "MistralForCausalLM";
                default -> "LlamaForCausalLM";
            };
            c.putArray("architectures").add(archClass);
            c.put("model_type", architecture);
            c.put("hidden_size", hidden);
            c.put("intermediate_size", intermediate);
            c.put("num_hidden_layers", layers);
            c.put("num_attention_heads", heads);
            c.put("num_key_value_heads", kvHeads);
            if (headDim > 0) {
                c.put("head_dim", headDim);
            }
            c.put("vocab_size", vocab);
            c.put("max_position_embeddings", maxPos);
            c.put("rms_norm_eps", rmsNormEps);
            c.put("rope_theta", ropeTheta);
            if (llama3RopeScaling) {
                ObjectNode rs = ropeScalingNode != null ? ropeScalingNode : c.objectNode()
                        .put("rope_type", "llama3").put("factor", 8.0).put("low_freq_factor", 1.0)
                        .put("high_freq_factor", 4.0).put("original_max_position_embeddings", Math.max(16, maxPos / 8));
                c.set("rope_scaling", rs);
            } else {
                c.putNull("rope_scaling");
            }
            c.put("tie_word_embeddings", tied);
            c.put("hidden_act", "silu");
            if (!architecture.equals("qwen2")) {
                c.put("attention_bias", qkBias);
            }
            if (architecture.equals("mistral") || slidingWindow != null) {
                if (slidingWindow == null) {
                    c.putNull("sliding_window");
                } else {
                    c.put("sliding_window", slidingWindow);
                    if (!architecture.equals("mistral")) {
                        c.put("use_sliding_window", true);
                    }
                }
            }
            c.put("torch_dtype", switch (dtype) {
                case "bf16", "bfloat16" -> "bfloat16";
                case "f16", "float16" -> "float16";
                default -> "float32";
            });
            c.put("bos_token_id", 1);
            c.put("eos_token_id", 2);
            json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("config.json").toFile(), c);
            if (eosTokenIds != null) {
                ObjectNode g = json.createObjectNode();
                g.put("bos_token_id", 1);
                if (eosTokenIds.size() == 1) {
                    g.put("eos_token_id", eosTokenIds.getFirst());
                } else {
                    ArrayNode a = g.putArray("eos_token_id");
                    eosTokenIds.forEach(a::add);
                }
                json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("generation_config.json").toFile(), g);
            }
        }

        /** How a tensor's random values are drawn: uniform in [center - scale, center + scale]. */
        private record Spec(String name, long[] shape, double center, double scale) {
            long numel() {
                long n = 1;
                for (long d : shape) {
                    n *= d;
                }
                return n;
            }
        }

        private List<Spec> specs() {
            int hd = effectiveHeadDim();
            long q = (long) heads * hd, kv = (long) kvHeads * hd;
            List<Spec> s = new ArrayList<>();
            s.add(new Spec("model.embed_tokens.weight", new long[]{vocab, hidden}, 0, 1.0));
            for (int i = 0; i < layers; i++) {
                String p = "model.layers." + i + ".";
                s.add(new Spec(p + "input_layernorm.weight", new long[]{hidden}, 1, 0.1));
                s.add(linear(p + "self_attn.q_proj.weight", q, hidden));
                s.add(linear(p + "self_attn.k_proj.weight", kv, hidden));
                s.add(linear(p + "self_attn.v_proj.weight", kv, hidden));
                if (qkBias) {
                    s.add(new Spec(p + "self_attn.q_proj.bias", new long[]{q}, 0, 0.2));
                    s.add(new Spec(p + "self_attn.k_proj.bias", new long[]{kv}, 0, 0.2));
                    s.add(new Spec(p + "self_attn.v_proj.bias", new long[]{kv}, 0, 0.2));
                }
                if (qkNorm) {
                    s.add(new Spec(p + "self_attn.q_norm.weight", new long[]{hd}, 1, 0.2));
                    s.add(new Spec(p + "self_attn.k_norm.weight", new long[]{hd}, 1, 0.2));
                }
                s.add(linear(p + "self_attn.o_proj.weight", hidden, q));
                if (qkBias && !architecture.equals("qwen2")) {
                    s.add(new Spec(p + "self_attn.o_proj.bias", new long[]{hidden}, 0, 0.2));
                }
                s.add(new Spec(p + "post_attention_layernorm.weight", new long[]{hidden}, 1, 0.1));
                s.add(linear(p + "mlp.gate_proj.weight", intermediate, hidden));
                s.add(linear(p + "mlp.up_proj.weight", intermediate, hidden));
                s.add(linear(p + "mlp.down_proj.weight", hidden, intermediate));
            }
            s.add(new Spec("model.norm.weight", new long[]{hidden}, 1, 0.1));
            if (!tied) {
                s.add(linear("lm_head.weight", vocab, hidden));
            }
            return s;
        }

        private static Spec linear(String name, long out, long in) {
            return new Spec(name, new long[]{out, in}, 0, Math.sqrt(3.0 / in));
        }

        private void writeWeights(Path dir) throws IOException {
            List<Spec> specs = specs();
            int n = Math.max(1, Math.min(shards, specs.size()));
            SplittableRandom rng = new SplittableRandom(seed);
            if (n == 1) {
                writeFile(dir.resolve("model.safetensors"), specs, rng);
                return;
            }
            ObjectMapper json = new ObjectMapper();
            ObjectNode index = json.createObjectNode();
            index.putObject("metadata");
            ObjectNode map = index.putObject("weight_map");
            int per = (specs.size() + n - 1) / n;
            for (int i = 0; i < n; i++) {
                List<Spec> part = specs.subList(Math.min(specs.size(), i * per), Math.min(specs.size(), (i + 1) * per));
                String fileName = String.format("model-%05d-of-%05d.safetensors", i + 1, n);
                writeFile(dir.resolve(fileName), part, rng);
                part.forEach(sp -> map.put(sp.name(), fileName));
            }
            json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("model.safetensors.index.json").toFile(), index);
        }

        private void writeFile(Path file, List<Spec> specs, SplittableRandom rng) throws IOException {
            String st = switch (dtype) {
                case "bf16", "bfloat16" -> "BF16";
                case "f16", "float16" -> "F16";
                case "f32", "float32" -> "F32";
                default -> throw new IllegalArgumentException("dtype must be f32, f16 or bf16, not " + dtype);
            };
            int bytes = st.equals("F32") ? 4 : 2;
            ObjectMapper json = new ObjectMapper();
            Map<String, Object> header = new LinkedHashMap<>();
            long offset = 0;
            for (Spec s : specs) {
                long len = s.numel() * bytes;
                Map<String, Object> entry = new LinkedHashMap<>();
                entry.put("dtype", st);
                entry.put("shape", s.shape());
                entry.put("data_offsets", new long[]{offset, offset + len});
                header.put(s.name(), entry);
                offset += len;
            }
            byte[] h = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
            int padded = (h.length + 7) / 8 * 8;
            ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded).put(h);
            while (head.hasRemaining()) {
                head.put((byte) ' ');
            }
            head.flip();
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(head);
                ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
                for (Spec s : specs) {
                    for (long i = 0, n = s.numel(); i < n; i++) {
                        if (buf.remaining() < 4) {
                            buf.flip();
                            while (buf.hasRemaining()) {
                                ch.write(buf);
                            }
                            buf.clear();
                        }
                        float v = (float) (s.center() + s.scale() * (2 * rng.nextDouble() - 1));
                        switch (st) {
                            case "F32" -> buf.putFloat(v);
                            case "F16" -> buf.putShort(Float.floatToFloat16(v));
                            default -> buf.putShort(toBf16(v));
                        }
                    }
                }
                buf.flip();
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
            }
        }

        /** Round-to-nearest-even truncation of an f32 to bfloat16 (finite inputs only). */
        private static short toBf16(float v) {
            int bits = Float.floatToRawIntBits(v);
            int rounding = 0x7FFF + ((bits >>> 16) & 1);
            return (short) ((bits + rounding) >>> 16);
        }
    }
}
