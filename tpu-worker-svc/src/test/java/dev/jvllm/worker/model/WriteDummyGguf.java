package dev.jvllm.worker.model;

import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Not a test: writes a llama GGUF with random weights for a config.json (e.g. a shapes/ file), matrices
 * in F32 (0), F16 (1) or Q8_0 (8), to benchmark the GGUF path. Usage: WriteDummyGguf CONFIG_DIR TYPE OUT.gguf
 * The file carries a synthetic SentencePiece vocabulary of the config's size, so both this engine and
 * llama.cpp can load (and serve) the same file.
 */
public final class WriteDummyGguf {
    public static void main(String[] args) throws Exception {
        ModelConfig c = ModelConfig.read(Path.of(args[0]));
        int type = Integer.parseInt(args[1]);
        SplittableRandom rng = new SplittableRandom(1);
        GgufWriter g = new GgufWriter().meta("general.architecture", "llama").meta("general.alignment", 32)
                .meta("llama.embedding_length", c.hiddenSize()).meta("llama.block_count", c.numLayers())
                .meta("llama.feed_forward_length", c.intermediateSize()).meta("llama.attention.head_count", c.numHeads())
                .meta("llama.attention.head_count_kv", c.numKvHeads()).meta("llama.context_length", c.maxPositionEmbeddings())
                .meta("llama.rope.freq_base", (float) c.ropeTheta()).meta("llama.attention.layer_norm_rms_epsilon", (float) c.rmsNormEps());
        syntheticVocabulary(g, c.vocabSize());
        int h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), ff = c.intermediateSize(), v = c.vocabSize();
        g.tensor("token_embd.weight", type, random(rng, (long) v * h, 1), v, h);
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "blk." + l + ".";
            g.tensor(p + "attn_norm.weight", 0, norm(rng, h), h).tensor(p + "ffn_norm.weight", 0, norm(rng, h), h);
            g.tensor(p + "attn_q.weight", type, random(rng, (long) q * h, Math.sqrt(3.0 / h)), q, h);
            g.tensor(p + "attn_k.weight", type, random(rng, (long) kv * h, Math.sqrt(3.0 / h)), kv, h);
            g.tensor(p + "attn_v.weight", type, random(rng, (long) kv * h, Math.sqrt(3.0 / h)), kv, h);
            g.tensor(p + "attn_output.weight", type, random(rng, (long) h * q, Math.sqrt(3.0 / q)), h, q);
            g.tensor(p + "ffn_gate.weight", type, random(rng, (long) ff * h, Math.sqrt(3.0 / h)), ff, h);
            g.tensor(p + "ffn_up.weight", type, random(rng, (long) ff * h, Math.sqrt(3.0 / h)), ff, h);
            g.tensor(p + "ffn_down.weight", type, random(rng, (long) h * ff, Math.sqrt(3.0 / ff)), h, ff);
        }
        g.tensor("output_norm.weight", 0, norm(rng, h), h);
        if (!c.tieWordEmbeddings()) {
            g.tensor("output.weight", type, random(rng, (long) v * h, Math.sqrt(3.0 / h)), v, h);
        }
        g.write(Path.of(args[2]));
    }

    /** <unk>, <s>, </s>, the 256 byte tokens, then distinct pieces ("▁a", "b", "▁ab", ...) ranked by score. */
    private static void syntheticVocabulary(GgufWriter g, int size) {
        java.util.List<String> tokens = new java.util.ArrayList<>(java.util.List.of("<unk>", "<s>", "</s>"));
        int[] types = new int[size];
        float[] scores = new float[size];
        types[0] = 2;
        types[1] = 3;
        types[2] = 3;
        for (int b = 0; b < 256 && tokens.size() < size; b++) {
            types[tokens.size()] = 6;
            tokens.add(String.format("<0x%02X>", b));
        }
        for (int n = 0; tokens.size() < size; n++) {
            StringBuilder piece = new StringBuilder();
            for (int k = n / 2; ; k = k / 26 - 1) {
                piece.insert(0, (char) ('a' + k % 26));
                if (k < 26) {
                    break;
                }
            }
            if (n % 2 == 0) {
                piece.insert(0, '\u2581');
            }
            scores[tokens.size()] = -tokens.size();
            types[tokens.size()] = 1;
            tokens.add(piece.toString());
        }
        g.meta("tokenizer.ggml.model", "llama").meta("tokenizer.ggml.tokens", tokens).meta("tokenizer.ggml.scores", scores)
                .meta("tokenizer.ggml.token_type", types).meta("tokenizer.ggml.bos_token_id", 1).meta("tokenizer.ggml.eos_token_id", 2);
    }

    private static float[] random(SplittableRandom rng, long n, double scale) {
        float[] a = new float[Math.toIntExact(n)];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (scale * (2 * rng.nextDouble() - 1));
        }
        return a;
    }

    private static float[] norm(SplittableRandom rng, int n) {
        float[] a = random(rng, n, 0.1);
        for (int i = 0; i < n; i++) {
            a[i] += 1;
        }
        return a;
    }
}
