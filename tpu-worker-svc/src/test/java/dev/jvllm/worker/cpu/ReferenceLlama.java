package dev.jvllm.worker.cpu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * A deliberately plain float64 Llama/Qwen/Mistral forward pass for tests: whole files read into
 * heap arrays, no paging, no batching, every position recomputed from scratch.
 */
final class ReferenceLlama {
    final JsonNode cfg;
    final Map<String, double[]> t = new HashMap<>();
    final int hidden, layers, heads, kvHeads, headDim, inter, vocab;
    final double eps, theta;
    final boolean tied;
    final int window;

    ReferenceLlama(Path dir, int maxModelLen) throws IOException {
        ObjectMapper om = new ObjectMapper();
        cfg = om.readTree(dir.resolve("config.json").toFile());
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.exists(index)) {
            java.util.Set<String> files = new java.util.TreeSet<>();
            om.readTree(index.toFile()).get("weight_map").forEach(n -> files.add(n.asText()));
            for (String f : files) {
                readSafetensors(dir.resolve(f), om);
            }
        } else {
            readSafetensors(dir.resolve("model.safetensors"), om);
        }
        hidden = cfg.get("hidden_size").asInt();
        layers = cfg.get("num_hidden_layers").asInt();
        heads = cfg.get("num_attention_heads").asInt();
        kvHeads = cfg.get("num_key_value_heads").asInt();
        headDim = cfg.hasNonNull("head_dim") ? cfg.get("head_dim").asInt() : hidden / heads;
        inter = cfg.get("intermediate_size").asInt();
        vocab = cfg.get("vocab_size").asInt();
        eps = cfg.get("rms_norm_eps").asDouble();
        theta = cfg.get("rope_theta").asDouble();
        tied = cfg.path("tie_word_embeddings").asBoolean(false) || !t.containsKey("lm_head.weight");
        int w = cfg.hasNonNull("sliding_window") ? cfg.get("sliding_window").asInt() : 0;
        window = w > 0 && w < maxModelLen ? w : 0;
    }

    private void readSafetensors(Path file, ObjectMapper om) throws IOException {
        byte[] all = Files.readAllBytes(file);
        ByteBuffer bb = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        int n = (int) bb.getLong(0);
        JsonNode header = om.readTree(new String(all, 8, n, java.nio.charset.StandardCharsets.UTF_8));
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            String dtype = e.getValue().get("dtype").asText();
            long begin = e.getValue().get("data_offsets").get(0).asLong();
            long end = e.getValue().get("data_offsets").get(1).asLong();
            int size = dtype.equals("F32") ? 4 : 2;
            double[] v = new double[(int) ((end - begin) / size)];
            for (int i = 0; i < v.length; i++) {
                int at = 8 + n + (int) begin + i * size;
                v[i] = switch (dtype) {
                    case "F32" -> bb.getFloat(at);
                    case "F16" -> Float.float16ToFloat(bb.getShort(at));
                    default -> Float.intBitsToFloat((bb.getShort(at) & 0xFFFF) << 16);
                };
            }
            t.put(e.getKey(), v);
        }
    }

    private double[] w(String name) {
        return t.get(name);
    }

    double[] invFreq() {
        double[] f = new double[headDim / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = Math.pow(theta, -2.0 * i / headDim);
        }
        JsonNode rs = cfg.get("rope_scaling");
        if (rs != null && !rs.isNull() && "llama3".equals(rs.path("rope_type").asText())) {
            double factor = rs.get("factor").asDouble(), lo = rs.get("low_freq_factor").asDouble();
            double hi = rs.get("high_freq_factor").asDouble(), old = rs.get("original_max_position_embeddings").asDouble();
            for (int i = 0; i < f.length; i++) {
                double wavelen = 2 * Math.PI / f[i];
                if (wavelen < old / hi) {
                    continue;
                }
                if (wavelen > old / lo) {
                    f[i] /= factor;
                } else {
                    double smooth = (old / wavelen - lo) / (hi - lo);
                    f[i] = (1 - smooth) * f[i] / factor + smooth * f[i];
                }
            }
        }
        return f;
    }

    /** Logits after every position of {@code tokens}: [position][vocab]. */
    double[][] logits(int[] tokens) {
        int T = tokens.length, qDim = heads * headDim, kvDim = kvHeads * headDim;
        double[][] x = new double[T][];
        for (int p = 0; p < T; p++) {
            x[p] = slice(w("model.embed_tokens.weight"), tokens[p] * hidden, hidden);
        }
        double[] inv = invFreq();
        for (int l = 0; l < layers; l++) {
            String pre = "model.layers." + l + ".";
            double[][] q = new double[T][], k = new double[T][], v = new double[T][];
            for (int p = 0; p < T; p++) {
                double[] xn = rmsNorm(x[p], w(pre + "input_layernorm.weight"));
                q[p] = linear(w(pre + "self_attn.q_proj.weight"), w(pre + "self_attn.q_proj.bias"), xn, qDim);
                k[p] = linear(w(pre + "self_attn.k_proj.weight"), w(pre + "self_attn.k_proj.bias"), xn, kvDim);
                v[p] = linear(w(pre + "self_attn.v_proj.weight"), w(pre + "self_attn.v_proj.bias"), xn, kvDim);
                for (int h = 0; h < heads; h++) {
                    headNormAndRope(q[p], h, w(pre + "self_attn.q_norm.weight"), p, inv);
                }
                for (int h = 0; h < kvHeads; h++) {
                    headNormAndRope(k[p], h, w(pre + "self_attn.k_norm.weight"), p, inv);
                }
            }
            for (int p = 0; p < T; p++) {
                double[] att = new double[qDim];
                for (int h = 0; h < heads; h++) {
                    int kh = h / (heads / kvHeads);
                    int lo = window > 0 ? Math.max(0, p - window + 1) : 0;
                    double[] s = new double[p + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = lo; j <= p; j++) {
                        double d = 0;
                        for (int i = 0; i < headDim; i++) {
                            d += q[p][h * headDim + i] * k[j][kh * headDim + i];
                        }
                        s[j] = d / Math.sqrt(headDim);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = lo; j <= p; j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    for (int j = lo; j <= p; j++) {
                        for (int i = 0; i < headDim; i++) {
                            att[h * headDim + i] += s[j] / sum * v[j][kh * headDim + i];
                        }
                    }
                }
                double[] o = linear(w(pre + "self_attn.o_proj.weight"), w(pre + "self_attn.o_proj.bias"), att, hidden);
                for (int i = 0; i < hidden; i++) {
                    x[p][i] += o[i];
                }
                double[] xn = rmsNorm(x[p], w(pre + "post_attention_layernorm.weight"));
                double[] g = linear(w(pre + "mlp.gate_proj.weight"), null, xn, inter);
                double[] u = linear(w(pre + "mlp.up_proj.weight"), null, xn, inter);
                for (int i = 0; i < inter; i++) {
                    g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
                }
                double[] d = linear(w(pre + "mlp.down_proj.weight"), null, g, hidden);
                for (int i = 0; i < hidden; i++) {
                    x[p][i] += d[i];
                }
            }
        }
        double[][] out = new double[T][];
        double[] head = tied ? w("model.embed_tokens.weight") : w("lm_head.weight");
        for (int p = 0; p < T; p++) {
            out[p] = linear(head, null, rmsNorm(x[p], w("model.norm.weight")), vocab);
        }
        return out;
    }

    private void headNormAndRope(double[] vec, int h, double[] norm, int pos, double[] inv) {
        int off = h * headDim;
        if (norm != null) {
            double[] n = rmsNorm(slice(vec, off, headDim), norm);
            System.arraycopy(n, 0, vec, off, headDim);
        }
        int half = headDim / 2;
        for (int i = 0; i < half; i++) {
            double c = Math.cos(pos * inv[i]), s = Math.sin(pos * inv[i]);
            double a = vec[off + i], b = vec[off + half + i];
            vec[off + i] = a * c - b * s;
            vec[off + half + i] = b * c + a * s;
        }
    }

    private double[] rmsNorm(double[] x, double[] weight) {
        double ss = 0;
        for (double d : x) {
            ss += d * d;
        }
        double inv = 1 / Math.sqrt(ss / x.length + eps);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * inv * weight[i];
        }
        return out;
    }

    private static double[] linear(double[] w, double[] bias, double[] x, int rows) {
        double[] out = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = bias == null ? 0 : bias[r];
            for (int c = 0; c < x.length; c++) {
                s += w[r * x.length + c] * x[c];
            }
            out[r] = s;
        }
        return out;
    }

    private static double[] slice(double[] a, int off, int n) {
        double[] s = new double[n];
        System.arraycopy(a, off, s, 0, n);
        return s;
    }
}
