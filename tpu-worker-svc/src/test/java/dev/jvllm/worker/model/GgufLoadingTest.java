package dev.jvllm.worker.model;

import dev.jvllm.common.testing.HfToGguf;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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

    /** A tensor as HF stores it: its shape and values. */
    private record Tensor(long[] shape, float[] values) {}

    /** Every tensor of a single-file f32 safetensors model, by HF name. */
    private static Map<String, Tensor> read(Path dir) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (Arena arena = Arena.ofConfined()) {
            for (SafetensorsFile.StoredTensor t : SafetensorsFile.open(dir.resolve("model.safetensors"), arena).tensors().values()) {
                float[] v = new float[(int) t.numElements()];
                for (int i = 0; i < v.length; i++) {
                    v[i] = t.data().get(F32, 4L * i);
                }
                out.put(t.name(), new Tensor(t.shape(), v));
            }
        }
        return out;
    }

    /**
     * What convert_hf_to_gguf writes for the model in {@code st}: {@code <arch>.}-prefixed metadata (key_length only when
     * config.json has head_dim; rope.dimension_count for llama), q/k rows permuted for llama only, matrices of
     * {@code type} and 1-D tensors in F32. Returns the weights as the engine will see them, in HF order and names.
     */
    private static Map<String, Tensor> writeGguf(Path st, Map<String, Tensor> w, int type, Path file) throws IOException {
        return writeGguf(st, w, name -> type, file);
    }

    /** As above, with each matrix's GGML type id chosen by its HF name (as llama.cpp's quantizer mixes types). */
    private static Map<String, Tensor> writeGguf(Path st, Map<String, Tensor> w, java.util.function.ToIntFunction<String> typeOf,
                                                 Path file) throws IOException {
        ModelConfig c = ModelConfig.read(st);
        String arch = c.architecture(), a = arch + ".";
        GgufWriter g = new GgufWriter().meta("general.architecture", arch).meta("general.alignment", 32)
                .meta(a + "embedding_length", c.hiddenSize()).meta(a + "block_count", c.numLayers())
                .meta(a + "feed_forward_length", c.intermediateSize()).meta(a + "attention.head_count", c.numHeads())
                .meta(a + "attention.head_count_kv", c.numKvHeads()).meta(a + "context_length", c.maxPositionEmbeddings())
                .meta(a + "rope.freq_base", (float) c.ropeTheta())
                .meta(a + "attention.layer_norm_rms_epsilon", (float) c.rmsNormEps());
        if (ModelConfig.readJson(st.resolve("config.json")).has("head_dim")) {
            g.meta(a + "attention.key_length", c.headDim()).meta(a + "attention.value_length", c.headDim());
        }
        if (arch.equals("llama")) {
            g.meta(a + "rope.dimension_count", c.headDim());
        }
        if (c.ropeScaling() != null && c.ropeScaling().type().equals("llama3")) {
            float[] factors = llama3RopeFactors(c);
            if (zeroFirstRopeFactor) {
                factors[0] = 0;
            }
            g.tensor("rope_freqs.weight", 0, factors, c.headDim() / 2);
        }
        Map<String, Tensor> seen = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : w.entrySet()) {
            String name = e.getKey();
            long[] shape = e.getValue().shape();
            float[] values = e.getValue().values();
            if (arch.equals("llama") && name.matches(".*\\.[qk]_proj\\.(weight|bias)")) {
                values = HfToGguf.permuteRotary(values, name.contains("q_proj") ? c.numHeads() : c.numKvHeads(), (int) shape[0]);
            }
            int t = shape.length == 1 ? 0 : typeOf.applyAsInt(name);
            g.tensor(HfToGguf.tensorName(name), t, values, shape);
            seen.put(name, new Tensor(shape, GgufWriter.roundTrip(t, e.getValue().values())));
        }
        g.write(file);
        return seen;
    }

    /** The per-frequency divisors llama.cpp's converter stores for Llama 3.1+ rope scaling, by its formula. */
    private static float[] llama3RopeFactors(ModelConfig c) {
        ModelConfig.RopeScaling rs = c.ropeScaling();
        double oldLen = rs.originalMaxPositionEmbeddings();
        double lowWavelen = oldLen / rs.lowFreqFactor(), highWavelen = oldLen / rs.highFreqFactor();
        float[] f = new float[c.headDim() / 2];
        for (int i = 0; i < f.length; i++) {
            double freq = 1.0 / Math.pow(c.ropeTheta(), 2.0 * i / c.headDim());
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highWavelen) {
                f[i] = 1;
            } else if (wavelen > lowWavelen) {
                f[i] = (float) rs.factor();
            } else {
                double smooth = (oldLen / wavelen - rs.lowFreqFactor()) / (rs.highFreqFactor() - rs.lowFreqFactor());
                f[i] = (float) (1 / ((1 - smooth) / rs.factor() + smooth));
            }
        }
        return f;
    }

    /** A single-file f32 safetensors model with these tensors and the config of {@code like}. */
    private static Path writeSafetensors(Map<String, Tensor> w, Path like, Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.copy(like.resolve("config.json"), dir.resolve("config.json"));
        StringBuilder header = new StringBuilder("{");
        long off = 0;
        for (Map.Entry<String, Tensor> e : w.entrySet()) {
            long[] s = e.getValue().shape();
            header.append(header.length() > 1 ? "," : "").append('"').append(e.getKey()).append("\":{\"dtype\":\"F32\",\"shape\":")
                    .append(java.util.Arrays.toString(s).replace(" ", "")).append(",\"data_offsets\":[").append(off).append(',')
                    .append(off + 4L * e.getValue().values().length).append("]}");
            off += 4L * e.getValue().values().length;
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate((int) (8 + padded + off)).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(h);
        while (b.position() < 8 + padded) {
            b.put((byte) ' ');
        }
        for (Tensor t : w.values()) {
            for (float x : t.values()) {
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

    /**
     * Converts the safetensors model {@code st} to GGUF with each matrix type and checks the GGUF gives the logits of
     * the same (round-tripped) weights loaded from safetensors; {@code exactF32}: F32 files must match bit for bit.
     */
    private void assertGgufLogitsMatchSafetensors(Path st, int[] types, boolean exactF32) throws IOException {
        for (int type : types) {
            assertGgufLogitsMatchSafetensors(st, String.valueOf(type), name -> type, type == 0 && exactF32);
        }
    }

    /** As above for one file whose matrices have the types {@code typeOf} gives their HF names. */
    private void assertGgufLogitsMatchSafetensors(Path st, String label, java.util.function.ToIntFunction<String> typeOf,
                                                  boolean exact) throws IOException {
        Map<String, Tensor> weights = read(st);
        ModelConfig hf = ModelConfig.read(st);
        Path gguf = tmp.resolve(hf.architecture() + "-" + label + ".gguf");
        Map<String, Tensor> seen = writeGguf(st, weights, typeOf, gguf);
        Path same = writeSafetensors(seen, st, tmp.resolve(hf.architecture() + "-same-" + label));
        float[] want, got;
        try (LlamaWeights w = LlamaWeights.load(same)) {
            want = logits(w);
        }
        try (LlamaWeights w = LlamaWeights.loadGguf(gguf)) {
            assertEquals(weightType(typeOf.applyAsInt("model.layers.0.self_attn.q_proj.weight")), w.layer(0).wq().type());
            assertEquals(weightType(typeOf.applyAsInt("model.layers.0.mlp.down_proj.weight")), w.layer(0).wDown().type());
            ModelConfig c = w.config();
            assertEquals(List.of(hf.architecture(), hf.hiddenSize(), hf.numLayers(), hf.numHeads(), hf.numKvHeads(),
                            hf.headDim(), hf.intermediateSize(), hf.vocabSize(), hf.maxPositionEmbeddings(), hf.ropeTheta(),
                            hf.tieWordEmbeddings(), hf.qkvBias(), hf.oBias(), hf.qkNorm()),
                    List.of(c.architecture(), c.hiddenSize(), c.numLayers(), c.numHeads(), c.numKvHeads(),
                            c.headDim(), c.intermediateSize(), c.vocabSize(), c.maxPositionEmbeddings(), c.ropeTheta(),
                            c.tieWordEmbeddings(), c.qkvBias(), c.oBias(), c.qkNorm()));
            got = logits(w);
        }
        if (exact) {
            assertArrayEquals(want, got, "F32 GGUF logits differ from the same weights in safetensors");
        } else {
            assertClose(want, got, 1e-5);
        }
    }

    /** The engine's storage type for a GGML type id. */
    private static WeightType weightType(int ggmlType) {
        return switch (ggmlType) {
            case 0 -> WeightType.F32;
            case 2 -> WeightType.Q4_0;
            case 3 -> WeightType.Q4_1;
            case 6 -> WeightType.Q5_0;
            case 7 -> WeightType.Q5_1;
            case 8 -> WeightType.Q8_0;
            case 13 -> WeightType.Q5_K;
            default -> throw new IllegalArgumentException("GGML type " + ggmlType);
        };
    }

    @Test
    void f32AndQ8_0GgufGiveTheLogitsOfTheSameWeightsInSafetensors() throws Exception {
        // Same weights; only q.k is summed in another order (llama GGUF's rotary layout), hence not bit-exact.
        assertGgufLogitsMatchSafetensors(safetensorsModel(), new int[]{0, 8, 2}, false);
    }

    @Test
    void q4_1Q5_0AndQ5_1GgufGiveTheLogitsOfTheSameWeightsInSafetensors() throws Exception {
        // llama.cpp's types for rows that are not whole 256-element super-blocks (Q4_K -> Q5_0, Q5_K -> Q5_1).
        assertGgufLogitsMatchSafetensors(safetensorsModel(), new int[]{3, 6, 7}, false);
    }

    @Test
    void testQuantizersReconstructValuesWithinHalfAQuantizationStep() {
        // The writer's quantizers must be real ones (else the logits comparisons above would test little):
        // values in [-1, 1] come back within half a step of 2 / 15 (4-bit) or 2 / 31 (5-bit), plus f16 and
        // Q5_K's 6-bit scale rounding. Q5_0 (as ggml's) maps the largest magnitude to -16 and clamps the far
        // end at 15, so there up to a whole step d = 1 / 16.
        java.util.SplittableRandom rng = new java.util.SplittableRandom(3);
        float[] x = new float[4 * 256];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rng.nextDouble(-1, 1);
        }
        for (int type : new int[]{3, 6, 7, 13}) {
            float[] y = GgufWriter.roundTrip(type, x);
            double worst = 0;
            for (int i = 0; i < x.length; i++) {
                worst = Math.max(worst, Math.abs(x[i] - y[i]));
            }
            double bound = type == 6 ? 1.05 / 16 : 0.6 * (type == 3 ? 2.0 / 15 : 2.0 / 31);
            assertTrue(worst <= bound, "GGML type " + type + ": worst error " + worst + ", bound " + bound);
        }
    }

    @Test
    void q5_KAndMixedTypeGgufGiveTheLogitsOfTheSameWeightsInSafetensors() throws Exception {
        // Q5_K rows are whole 256-element super-blocks: hidden and intermediate sizes of 256.
        Path st = RandomModelWriter.builder().architecture("qwen2").hidden(256).layers(1).heads(4).kvHeads(2)
                .intermediate(256).vocab(VOCAB).maxPos(128).tied(false).dtype("f32").seed(15).write(tmp.resolve("st256"));
        assertGgufLogitsMatchSafetensors(st, new int[]{13}, false);
        // Types mixed per tensor, as in a Q4_K_M / Q5_K_M file: every type warmed up and computed in one model.
        assertGgufLogitsMatchSafetensors(st, "mixed", name -> switch (name.replaceAll(".*\\.(\\w+)\\.weight", "$1")) {
            case "q_proj", "gate_proj", "up_proj" -> 13;
            case "k_proj" -> 6;
            case "v_proj" -> 7;
            case "o_proj" -> 3;
            case "down_proj" -> 8;
            case "embed_tokens" -> 2;
            default -> 13;
        }, false);
    }

    @Test
    void llama3RopeScalingStoredAsRopeFreqsGivesTheLogitsOfTheSameWeightsInSafetensors() throws Exception {
        // Llama 3.1+: the converter writes the scaling as rope_freqs.weight, not as metadata; ignoring it
        // would rotate most frequencies up to 8x too fast.
        Path st = RandomModelWriter.builder().architecture("llama").hidden(HIDDEN).layers(LAYERS).heads(HEADS).kvHeads(KV_HEADS)
                .intermediate(INTER).vocab(VOCAB).maxPos(128).tied(false).ropeScalingLlama3(true).dtype("f32").seed(14)
                .write(tmp.resolve("llama3-rope-st"));
        assertEquals("llama3", ModelConfig.read(st).ropeScaling().type());
        assertGgufLogitsMatchSafetensors(st, new int[]{0}, false);
        Path bad = tmp.resolve("bad-rope-freqs.gguf");
        zeroFirstRopeFactor = true;
        try {
            writeGguf(st, read(st), 0, bad);
        } finally {
            zeroFirstRopeFactor = false;
        }
        assertMessage(bad, "rope_freqs.weight[0] = 0.0 is not a positive factor");
    }

    /** Makes {@link #writeGguf} store a zero rope factor (a corrupt file). */
    private static boolean zeroFirstRopeFactor;

    @Test
    void qwen2GgufWithQkvBiasesAndGqaGivesTheLogitsOfTheSameWeightsInSafetensors() throws Exception {
        Path st = RandomModelWriter.builder().architecture("qwen2").hidden(HIDDEN).layers(LAYERS).heads(HEADS).kvHeads(KV_HEADS)
                .intermediate(INTER).vocab(VOCAB).maxPos(128).tied(false).ropeTheta(1_000_000).dtype("f32").seed(12)
                .write(tmp.resolve("qwen2"));
        assertTrue(ModelConfig.read(st).qkvBias());
        // No q/k permutation for qwen (NEOX rope): the same rows, so F32 is bit-exact.
        assertGgufLogitsMatchSafetensors(st, new int[]{0, 8}, true);
    }

    @Test
    void qwen3GgufWithQkNormsAndExplicitHeadDimGivesTheLogitsOfTheSameWeightsInSafetensors() throws Exception {
        Path st = RandomModelWriter.builder().architecture("qwen3").hidden(HIDDEN).layers(LAYERS).heads(HEADS).kvHeads(KV_HEADS)
                .headDim(24).intermediate(INTER).vocab(VOCAB).maxPos(128).tied(true).ropeTheta(1_000_000).dtype("f32").seed(13)
                .write(tmp.resolve("qwen3"));
        ModelConfig c = ModelConfig.read(st);
        assertTrue(c.qkNorm() && c.tieWordEmbeddings() && c.qDim() != c.hiddenSize());
        assertGgufLogitsMatchSafetensors(st, new int[]{0, 8}, true);
    }

    /** A GGUF with the hyperparameters of a small {@code arch} model (plus {@code extra}) and only token_embd. */
    private Path configOnly(String name, String arch, Map<String, Object> extra) throws IOException {
        String a = arch + ".";
        GgufWriter g = new GgufWriter().meta("general.architecture", arch).meta(a + "embedding_length", HIDDEN)
                .meta(a + "block_count", 1).meta(a + "feed_forward_length", INTER).meta(a + "attention.head_count", HEADS)
                .meta(a + "attention.head_count_kv", KV_HEADS);
        extra.forEach(g::meta);
        Path file = tmp.resolve(name + ".gguf");
        g.tensor("token_embd.weight", 0, new float[VOCAB * HIDDEN], VOCAB, HIDDEN).write(file);
        return file;
    }

    private static ModelConfig configOf(Path file) {
        try (Arena arena = Arena.ofConfined()) {
            return GgufModel.config(dev.jvllm.common.gguf.GgufFile.open(file, arena));
        }
    }

    @Test
    void ropeScalingKeysMapToLinearScalingOrFailNamingTheKey() throws Exception {
        ModelConfig.RopeScaling linear4 = new ModelConfig.RopeScaling("linear", 4, 0, 0, 0);
        assertEquals(linear4, configOf(configOnly("linear", "qwen2",
                Map.of("qwen2.rope.scaling.type", "linear", "qwen2.rope.scaling.factor", 4f))).ropeScaling());
        // llama.cpp reads a factor without a type as linear scaling, and never scales with type none.
        assertEquals(linear4, configOf(configOnly("untyped", "qwen3", Map.of("qwen3.rope.scaling.factor", 4f))).ropeScaling());
        assertEquals(null, configOf(configOnly("none", "qwen3",
                Map.of("qwen3.rope.scaling.type", "none", "qwen3.rope.scaling.factor", 4f))).ropeScaling());
        assertEquals(null, configOf(configOnly("plain", "qwen2", Map.of())).ropeScaling());
        // The key is read under the file's own architecture, not llama's.
        assertEquals(null, configOf(configOnly("other-arch", "qwen2", Map.of("llama.rope.scaling.factor", 4f))).ropeScaling());

        assertMessage(configOnly("yarn", "qwen2", Map.of("qwen2.rope.scaling.type", "yarn", "qwen2.rope.scaling.factor", 4f,
                "qwen2.rope.scaling.original_context_length", 32768)), "qwen2.rope.scaling.type 'yarn' is not supported");
        assertMessage(configOnly("longrope", "qwen3", Map.of("qwen3.rope.scaling.type", "longrope")),
                "qwen3.rope.scaling.type 'longrope' is not supported");
    }

    @Test
    void qwenSettingsTheEngineDoesNotComputeFailAtLoadNamingTheFileAndKey() throws Exception {
        assertMessage(configOnly("gemma3", "gemma3", Map.of()),
                "unsupported GGUF architecture 'gemma3' (supported: llama, qwen2, qwen3)");
        assertMessage(configOnly("partial-rotary", "qwen3", Map.of("qwen3.attention.key_length", 24,
                "qwen3.rope.dimension_count", 12)), "partial rotary (qwen3.rope.dimension_count 12 of head size 24)");
        assertMessage(configOnly("swa", "qwen2", Map.of("qwen2.attention.sliding_window", 32)), "qwen2.attention.sliding_window");
        assertMessage(configOnly("value-length", "qwen3", Map.of("qwen3.attention.key_length", 24,
                "qwen3.attention.value_length", 16)), "qwen3.attention.value_length 16");

        // A qwen3 file without its q/k norms must not load as a plain llama.
        Path st = RandomModelWriter.builder().architecture("qwen3").hidden(HIDDEN).layers(1).heads(HEADS).kvHeads(KV_HEADS)
                .headDim(24).intermediate(INTER).vocab(VOCAB).tied(true).dtype("f32").seed(14).write(tmp.resolve("qwen3-nonorm"));
        Map<String, Tensor> weights = read(st);
        weights.remove("model.layers.0.self_attn.k_norm.weight");
        Path noNorm = tmp.resolve("qwen3-no-k-norm.gguf");
        writeGguf(st, weights, 0, noNorm);
        assertMessage(noNorm, "missing tensor 'blk.0.attn_k_norm.weight'");
    }

    @Test
    void corruptTruncatedAndUnsupportedFilesFailAtLoadWithTheReason() throws Exception {
        Path st = safetensorsModel();
        Path good = tmp.resolve("good.gguf");
        writeGguf(st, read(st), 0, good);
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
        assertMessage(arch, "unsupported GGUF architecture 'gpt2' (supported: llama, qwen2, qwen3)");
        Path unknownType = tmp.resolve("type99.gguf");
        new GgufWriter().meta("general.architecture", "llama").raw("token_embd.weight", 99, new byte[64], 64, 1).write(unknownType);
        assertMessage(unknownType, "unsupported GGML type 99");
        Path q2k = tmp.resolve("q2_k.gguf");   // a type the kernels do not compute with
        new GgufWriter().meta("general.architecture", "llama").raw("token_embd.weight", 10, new byte[84], 256, 1).write(q2k);
        assertMessage(q2k, "unsupported GGML type 10");
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
