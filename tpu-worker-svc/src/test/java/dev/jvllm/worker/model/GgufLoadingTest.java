package dev.jvllm.worker.model;

import dev.jvllm.worker.cpu.ComputePool;
import dev.jvllm.worker.cpu.CpuModelRunner;
import dev.jvllm.worker.cpu.PagedKvCache;
import dev.jvllm.worker.cpu.StepInput;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GGUF files written by {@link GgufWriter} give the logits of the same weights in safetensors. */
class GgufLoadingTest {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static ComputePool pool;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() {
        pool = new ComputePool(2);
    }

    @AfterAll
    static void stop() {
        pool.close();
    }

    private static final int HIDDEN = 64, HEADS = 4, KV_HEADS = 2, LAYERS = 2, INTER = 96, VOCAB = 97;

    private Path safetensorsModel() {
        return RandomModelWriter.builder().architecture("llama").hidden(HIDDEN).layers(LAYERS).heads(HEADS).kvHeads(KV_HEADS)
                .intermediate(INTER).vocab(VOCAB).maxPos(128).tied(false).dtype("f32").seed(11).write(tmp.resolve("st"));
    }

    /** HF name -> GGUF name, and the tensors, read back as floats. */
    private static Map<String, float[]> read(Path dir) {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (Arena arena = Arena.ofConfined()) {
            WeightFiles files = WeightFiles.open(dir, arena);
            List<String> names = new ArrayList<>(List.of("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"));
            for (int i = 0; i < LAYERS; i++) {
                for (String n : List.of("input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj",
                        "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")) {
                    names.add("model.layers." + i + "." + n + ".weight");
                }
            }
            for (String n : names) {
                SafetensorsFile.StoredTensor t = files.get(n, files.has(n) ? shapeOf(dir, n, arena) : new long[0]);
                float[] v = new float[(int) t.numElements()];
                for (int i = 0; i < v.length; i++) {
                    v[i] = t.data().get(F32, 4L * i);
                }
                out.put(n, v);
            }
        }
        return out;
    }

    private static long[] shapeOf(Path dir, String name, Arena arena) {
        return SafetensorsFile.open(dir.resolve("model.safetensors"), arena).tensors().get(name).shape();
    }

    private static String ggufName(String hf) {
        return switch (hf) {
            case "model.embed_tokens.weight" -> "token_embd.weight";
            case "model.norm.weight" -> "output_norm.weight";
            case "lm_head.weight" -> "output.weight";
            default -> {
                String[] p = hf.split("\\.", 4);   // model, layers, i, rest
                String rest = p[3].replace(".weight", "");
                yield "blk." + p[2] + "." + switch (rest) {
                    case "input_layernorm" -> "attn_norm";
                    case "post_attention_layernorm" -> "ffn_norm";
                    case "self_attn.q_proj" -> "attn_q";
                    case "self_attn.k_proj" -> "attn_k";
                    case "self_attn.v_proj" -> "attn_v";
                    case "self_attn.o_proj" -> "attn_output";
                    case "mlp.gate_proj" -> "ffn_gate";
                    case "mlp.up_proj" -> "ffn_up";
                    default -> "ffn_down";
                } + ".weight";
            }
        };
    }

    /** llama.cpp's convert_hf_to_gguf permute of q/k rows: (head, 2, hd/2) -> (head, hd/2, 2). */
    private static float[] permute(float[] w, int heads, int cols) {
        int hd = HIDDEN / HEADS;
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

    private static long[] shape(String hf) {
        int q = HIDDEN, kv = KV_HEADS * HIDDEN / HEADS;
        if (hf.endsWith("norm.weight")) {
            return new long[]{HIDDEN};
        }
        return switch (hf.replaceAll("model\\.layers\\.\\d+\\.", "")) {
            case "model.embed_tokens.weight", "lm_head.weight" -> new long[]{VOCAB, HIDDEN};
            case "self_attn.q_proj.weight" -> new long[]{q, HIDDEN};
            case "self_attn.k_proj.weight", "self_attn.v_proj.weight" -> new long[]{kv, HIDDEN};
            case "self_attn.o_proj.weight" -> new long[]{HIDDEN, q};
            case "mlp.down_proj.weight" -> new long[]{HIDDEN, INTER};
            default -> new long[]{INTER, HIDDEN};
        };
    }

    /** Writes the model as GGUF with matrices of {@code type}; returns the weights as the engine will see them. */
    private static Map<String, float[]> writeGguf(Map<String, float[]> w, int type, Path file) throws IOException {
        GgufWriter g = new GgufWriter().meta("general.architecture", "llama").meta("general.alignment", 32)
                .meta("llama.embedding_length", HIDDEN).meta("llama.block_count", LAYERS)
                .meta("llama.feed_forward_length", INTER).meta("llama.attention.head_count", HEADS)
                .meta("llama.attention.head_count_kv", KV_HEADS).meta("llama.context_length", 128)
                .meta("llama.rope.freq_base", 10000f).meta("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        Map<String, float[]> seen = new LinkedHashMap<>();
        for (Map.Entry<String, float[]> e : w.entrySet()) {
            long[] shape = shape(e.getKey());
            boolean vector = shape.length == 1;
            float[] values = e.getValue();
            if (e.getKey().endsWith("q_proj.weight")) {
                values = permute(values, HEADS, HIDDEN);
            } else if (e.getKey().endsWith("k_proj.weight")) {
                values = permute(values, KV_HEADS, HIDDEN);
            }
            int t = vector ? 0 : type;
            g.tensor(ggufName(e.getKey()), t, values, shape);
            // What the engine computes with, back in HF row order.
            float[] stored = GgufWriter.roundTrip(t, e.getValue());
            seen.put(e.getKey(), stored);
        }
        g.write(file);
        return seen;
    }

    /** A single-file f32 safetensors model with these tensors and the config of {@code like}. */
    private static Path writeSafetensors(Map<String, float[]> w, Path like, Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.copy(like.resolve("config.json"), dir.resolve("config.json"));
        StringBuilder header = new StringBuilder("{");
        long off = 0;
        for (Map.Entry<String, float[]> e : w.entrySet()) {
            long[] s = shape(e.getKey());
            header.append(header.length() > 1 ? "," : "").append('"').append(e.getKey()).append("\":{\"dtype\":\"F32\",\"shape\":")
                    .append(java.util.Arrays.toString(s).replace(" ", "")).append(",\"data_offsets\":[").append(off).append(',')
                    .append(off + 4L * e.getValue().length).append("]}");
            off += 4L * e.getValue().length;
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate((int) (8 + padded + off)).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(h);
        while (b.position() < 8 + padded) {
            b.put((byte) ' ');
        }
        for (float[] v : w.values()) {
            for (float x : v) {
                b.putFloat(x);
            }
        }
        Files.write(dir.resolve("model.safetensors"), b.array());
        return dir;
    }

    private static float[] logits(LlamaWeights w) {
        int[] prompt = {3, 17, 42, 5, 96, 1, 0, 64, 33};
        try (PagedKvCache cache = new PagedKvCache(w.config().numLayers(), 4, 16, w.config().kvDim())) {
            CpuModelRunner runner = new CpuModelRunner(w, pool, 64);
            int vocab = w.config().vocabSize();
            float[] all = new float[(prompt.length + 2) * vocab];
            int[] rows = new int[prompt.length];
            for (int i = 0; i < rows.length; i++) {
                rows[i] = i;
            }
            int[] table = {2, 0};
            System.arraycopy(runner.forward(new StepInput(List.of(new StepInput.SeqChunk(prompt, 0, table)), rows), cache), 0,
                    all, 0, prompt.length * vocab);
            for (int s = 0; s < 2; s++) {
                float[] l = runner.forward(new StepInput(List.of(new StepInput.SeqChunk(new int[]{7 + s}, prompt.length + s, table)),
                        new int[]{0}), cache);
                System.arraycopy(l, 0, all, (prompt.length + s) * vocab, vocab);
            }
            return all;
        }
    }

    private static void assertClose(float[] want, float[] got, double tol) {
        assertEquals(want.length, got.length);
        double worst = 0, scale = 0;
        for (float x : want) {
            scale = Math.max(scale, Math.abs(x));
        }
        for (int i = 0; i < want.length; i++) {
            worst = Math.max(worst, Math.abs(want[i] - got[i]) / Math.max(1, scale));
        }
        assertTrue(worst < tol, "worst relative logit difference " + worst);
    }

    @Test
    void f32AndQ8_0GgufGiveTheLogitsOfTheSameWeightsInSafetensors() throws Exception {
        Path st = safetensorsModel();
        Map<String, float[]> weights = read(st);
        for (int type : new int[]{0, 8, 2}) {
            Path gguf = tmp.resolve("m-" + type + ".gguf");
            Map<String, float[]> seen = writeGguf(weights, type, gguf);
            Path same = writeSafetensors(seen, st, tmp.resolve("same-" + type));
            float[] want, got;
            try (LlamaWeights w = LlamaWeights.load(same)) {
                want = logits(w);
            }
            try (LlamaWeights w = LlamaWeights.loadGguf(gguf)) {
                assertEquals(type == 8 ? WeightType.Q8_0 : type == 2 ? WeightType.Q4_0 : WeightType.F32, w.layer(0).wq().type());
                assertEquals(VOCAB, w.config().vocabSize());
                assertEquals(KV_HEADS, w.config().numKvHeads());
                got = logits(w);
            }
            // Same weights; only q.k is summed in another order (GGUF's rotary layout).
            assertClose(want, got, 1e-5);
        }
    }

    @Test
    void corruptTruncatedAndUnsupportedFilesFailAtLoadWithTheReason() throws Exception {
        Path st = safetensorsModel();
        Map<String, float[]> weights = read(st);
        Path good = tmp.resolve("good.gguf");
        writeGguf(weights, 0, good);
        byte[] bytes = Files.readAllBytes(good);

        Path truncated = tmp.resolve("truncated.gguf");
        Files.write(truncated, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        assertMessage(truncated, "truncated");
        Path header = tmp.resolve("header.gguf");
        Files.write(header, java.util.Arrays.copyOf(bytes, 40));
        assertMessage(header, "truncated");
        Path magic = tmp.resolve("magic.gguf");
        byte[] bad = bytes.clone();
        bad[0] = 'X';
        Files.write(magic, bad);
        assertMessage(magic, "bad magic");

        Path arch = tmp.resolve("arch.gguf");
        new GgufWriter().meta("general.architecture", "gpt2").tensor("token_embd.weight", 0, new float[64], 1, 64).write(arch);
        assertMessage(arch, "unsupported GGUF architecture 'gpt2'");
        Path unknownType = tmp.resolve("type99.gguf");
        new GgufWriter().meta("general.architecture", "llama").raw("token_embd.weight", 99, new byte[64], 64, 1).write(unknownType);
        assertMessage(unknownType, "unsupported GGML type 99");
        Path q5 = tmp.resolve("q5_0.gguf");
        new GgufWriter().meta("general.architecture", "llama").raw("token_embd.weight", 6, new byte[22], 32, 1).write(q5);
        assertMessage(q5, "unsupported GGML type 6");
        Path partial = tmp.resolve("partial-block.gguf");
        new GgufWriter().meta("general.architecture", "llama").raw("token_embd.weight", 8, new byte[34], 20, 1).write(partial);
        assertMessage(partial, "not a whole number of Q8_0 blocks");
    }

    @Test
    void generationEndsAtTheEosEotAndEomTokensOfTheTokenizerMetadata() throws Exception {
        Path file = tmp.resolve("eog.gguf");
        new GgufWriter().meta("general.architecture", "llama").meta("llama.embedding_length", HIDDEN).meta("llama.block_count", 1)
                .meta("llama.feed_forward_length", INTER).meta("llama.attention.head_count", HEADS)
                .meta("tokenizer.ggml.eos_token_id", 5).meta("tokenizer.ggml.eot_token_id", 7)
                .meta("tokenizer.ggml.eom_token_id", 5)
                .tensor("token_embd.weight", 0, new float[VOCAB * HIDDEN], VOCAB, HIDDEN).write(file);
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(List.of(5, 7), GgufModel.config(dev.jvllm.common.gguf.GgufFile.open(file, arena)).eosTokenIds());
        }
    }

    private static void assertMessage(Path file, String part) {
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> LlamaWeights.loadGguf(file).close());
        assertTrue(e.getMessage().contains(part) && e.getMessage().contains(file.getFileName().toString()),
                "message should name the file and say '" + part + "': " + e.getMessage());
    }
}
