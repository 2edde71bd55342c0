package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.RandomModelWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KvCacheDtypeTest {
    @TempDir
    Path tmp;

    @Test
    void conversionsRoundToNearestEvenAndSaturate() {
        assertEquals(1.0f, KvCacheDtype.fromBf16(KvCacheDtype.toBf16(1.0f)));
        assertEquals(-3.140625f, KvCacheDtype.fromBf16(KvCacheDtype.toBf16(-3.14159f)));
        assertEquals((byte) 0x3C, KvCacheDtype.toE5m2(1.0f));
        assertEquals((byte) 0xC0, KvCacheDtype.toE5m2(-2.0f));
        assertEquals(1.0f, KvCacheDtype.fromE5m2(KvCacheDtype.toE5m2(1.125f)), "tie to even (mantissa 00)");
        assertEquals(1.5f, KvCacheDtype.fromE5m2(KvCacheDtype.toE5m2(1.375f)), "tie to even (mantissa 10)");
        assertEquals(1.25f, KvCacheDtype.fromE5m2(KvCacheDtype.toE5m2(1.2f)));
        assertEquals(57344f, KvCacheDtype.fromE5m2(KvCacheDtype.toE5m2(1e6f)), "saturates at the largest finite value");
        assertEquals(-57344f, KvCacheDtype.fromE5m2(KvCacheDtype.toE5m2(Float.NEGATIVE_INFINITY)));
        assertEquals(0f, KvCacheDtype.fromE5m2(KvCacheDtype.toE5m2(0f)));
        for (float x = -100; x < 100; x += 0.37f) {
            float y = KvCacheDtype.fromE5m2(KvCacheDtype.toE5m2(x));
            assertTrue(Math.abs(y - x) <= Math.abs(x) * 0.125 + 1e-4, x + " -> " + y);
        }
        assertEquals(1.0f, Float.float16ToFloat(KvCacheDtype.toF16(1.0f)));
        assertEquals(1.0f, Float.float16ToFloat(KvCacheDtype.toF16(1.0f + 0x1p-11f)), "tie to even");
        assertEquals(65504f, Float.float16ToFloat(KvCacheDtype.toF16(1e6f)), "saturates at the largest finite value");
        assertEquals(-65504f, Float.float16ToFloat(KvCacheDtype.toF16(Float.NEGATIVE_INFINITY)));
        assertEquals(0x1p-24f, Float.float16ToFloat(KvCacheDtype.toF16(0x1p-24f)), "subnormals kept");
        assertEquals(KvCacheDtype.F16, KvCacheDtype.parse("float16"));
        assertEquals(KvCacheDtype.F16, KvCacheDtype.parse("fp16"));
        assertEquals(KvCacheDtype.F32, KvCacheDtype.parse("auto"));
        // auto: the model's own type, f16 for quantized weights; an explicit type wins.
        assertEquals(KvCacheDtype.F32, KvCacheDtype.resolve("auto", dev.jvllm.worker.model.WeightType.F32));
        assertEquals(KvCacheDtype.BF16, KvCacheDtype.resolve("auto", dev.jvllm.worker.model.WeightType.BF16));
        assertEquals(KvCacheDtype.F16, KvCacheDtype.resolve(null, dev.jvllm.worker.model.WeightType.F16));
        assertEquals(KvCacheDtype.F16, KvCacheDtype.resolve("AUTO", dev.jvllm.worker.model.WeightType.Q4_K));
        assertEquals(KvCacheDtype.FP8_E5M2, KvCacheDtype.resolve("fp8_e5m2", dev.jvllm.worker.model.WeightType.F32));
        assertEquals(KvCacheDtype.BF16, KvCacheDtype.parse("bfloat16"));
        assertEquals(KvCacheDtype.FP8_E5M2, KvCacheDtype.parse("fp8_e5m2"));
        assertThrows(IllegalArgumentException.class, () -> KvCacheDtype.parse("int4"));
        assertEquals(PagedKvCache.bytesPerToken(2, 8) / 4, PagedKvCache.bytesPerToken(2, 8, KvCacheDtype.FP8_E5M2));
    }

    private static float[] run(CpuModelRunner runner, PagedKvCache cache, List<StepInput.SeqChunk> seqs) {
        int n = seqs.stream().mapToInt(s -> s.tokenIds().length).sum();
        int[] rows = new int[n];
        for (int i = 0; i < n; i++) {
            rows[i] = i;
        }
        return runner.forward(new StepInput(seqs, rows), cache).clone();
    }

    /** Prefill 7 tokens then 3 decode steps of sequence A, alone or beside B; returns A's logits of every step. */
    private static List<float[]> sequenceA(LlamaWeights w, KvCacheDtype dtype, boolean withB) {
        int vocab = w.config().vocabSize();
        int[] a = {5, 9, 1, 40, 33, 2, 17, 8, 60, 4}, b = {7, 7, 3, 21, 50, 11, 30, 2, 9, 1, 6};
        List<float[]> out = new ArrayList<>();
        try (ComputePool pool = new ComputePool(2);
             PagedKvCache cache = new PagedKvCache(w.config().numLayers(), 8, 4, w.config().kvDim(), dtype)) {
            CpuModelRunner runner = new CpuModelRunner(w, pool, 32);
            int[] ta = {5, 0, 7}, tb = {1, 6, 3, 2};
            List<StepInput.SeqChunk> first = new ArrayList<>();
            if (withB) {
                first.add(new StepInput.SeqChunk(Arrays.copyOf(b, 8), 0, tb));
            }
            first.add(new StepInput.SeqChunk(Arrays.copyOf(a, 7), 0, ta));
            float[] l = run(runner, cache, first);
            int offA = withB ? 8 : 0;
            out.add(Arrays.copyOfRange(l, offA * vocab, (offA + 7) * vocab));
            for (int s = 0; s < 3; s++) {
                List<StepInput.SeqChunk> step = new ArrayList<>();
                step.add(new StepInput.SeqChunk(new int[]{a[7 + s]}, 7 + s, ta));
                if (withB) {
                    step.add(new StepInput.SeqChunk(new int[]{b[8 + s]}, 8 + s, tb));
                }
                out.add(Arrays.copyOf(run(runner, cache, step), vocab));
            }
        }
        return out;
    }

    @ParameterizedTest
    @EnumSource(value = KvCacheDtype.class, names = {"BF16", "F16", "FP8_E5M2"})
    void narrowCachesStayCloseToF32AndBatchIndependent(KvCacheDtype dtype) {
        Path dir = RandomModelWriter.builder().architecture("llama").hidden(64).layers(2).heads(4).kvHeads(2)
                .intermediate(96).vocab(70).maxPos(64).seed(13).write(tmp.resolve("m"));
        try (LlamaWeights w = LlamaWeights.load(dir)) {
            List<float[]> exact = sequenceA(w, KvCacheDtype.F32, false);
            List<float[]> alone = sequenceA(w, dtype, false), batched = sequenceA(w, dtype, true);
            double tol = switch (dtype) {
                case F16 -> 0.003;
                case BF16 -> 0.02;
                default -> 0.25;
            };
            for (int i = 0; i < exact.size(); i++) {
                assertArrayEquals(alone.get(i), batched.get(i), "logits with a " + dtype + " cache depend on the batch");
                double scale = 1, worst = 0;
                for (float x : exact.get(i)) {
                    scale = Math.max(scale, Math.abs(x));
                }
                for (int j = 0; j < exact.get(i).length; j++) {
                    worst = Math.max(worst, Math.abs(exact.get(i)[j] - alone.get(i)[j]) / scale);
                }
                assertTrue(worst < tol, dtype + " step " + i + ": relative logit error " + worst);
                if (i > 0) {
                    assertTrue(worst > 0, "the decode steps read rounded K/V, so they should differ a little");
                }
            }
        }
    }
    /**
     * A sequence's logits do not depend on how its tokens were chunked, whatever the cache type: prefilled at once
     * (a narrow cache is then widened into an f32 copy for the many rows), or in a short chunk, single decode
     * steps and a long chunk (read directly, then widened again), bit for bit. Blocks of 16 and 20 slots: the
     * kernels' vector loops and their scalar tails; sliding windows that start inside a block.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"F32,16,0", "BF16,16,0", "F16,16,0", "F16,20,0", "FP8_E5M2,16,0", "FP8_E5M2,20,0",
            "F16,16,11", "BF16,20,23"})
    void logitsDoNotDependOnChunking(KvCacheDtype dtype, int bs, int slidingWindow) {
        RandomModelWriter.Builder model = slidingWindow > 0
                ? RandomModelWriter.builder().architecture("mistral").slidingWindow(slidingWindow)
                : RandomModelWriter.builder().architecture("llama");
        Path dir = model.hidden(64).layers(2).heads(6).kvHeads(2)
                .intermediate(96).vocab(70).maxPos(64).seed(17).write(tmp.resolve("chunking"));
        int n = 40;
        int[] tokens = new java.util.Random(3).ints(n, 0, 70).toArray();
        int[] table = {2, 0, 1};
        // Also with attention segments of one block: a decode step (fewer items than twice the threads) then computes
        // each segment on its own and merges them after; the prefills merge them one after the other.
        for (int segment : new int[]{CpuModelRunner.SEGMENT_POSITIONS, bs}) {
            checkChunking(dir, tokens, table, dtype, bs, segment);
        }
    }

    private static void checkChunking(Path dir, int[] tokens, int[] table, KvCacheDtype dtype, int bs, int segment) {
        int n = tokens.length;
        try (LlamaWeights w = LlamaWeights.load(dir); ComputePool pool = new ComputePool(2)) {
            int vocab = w.config().vocabSize();
            CpuModelRunner runner = new CpuModelRunner(w, pool, 64, CpuModelRunner.TOKEN_BLOCK_FLOATS, CpuModelRunner.PANEL_FLOATS, segment);
            float[] atOnce;
            try (PagedKvCache cache = new PagedKvCache(w.config().numLayers(), 3, bs, w.config().kvDim(), dtype)) {
                atOnce = run(runner, cache, List.of(new StepInput.SeqChunk(tokens, 0, table)));
            }
            try (PagedKvCache cache = new PagedKvCache(w.config().numLayers(), 3, bs, w.config().kvDim(), dtype)) {
                int[] chunks = {5, 1, 1, 1, 14, 1, 17};
                for (int start = 0, c = 0; start < n; start += chunks[c++]) {
                    float[] got = run(runner, cache, List.of(new StepInput.SeqChunk(
                            Arrays.copyOfRange(tokens, start, start + chunks[c]), start, table)));
                    for (int i = 0; i < chunks[c]; i++) {
                        assertArrayEquals(Arrays.copyOfRange(atOnce, (start + i) * vocab, (start + i + 1) * vocab),
                                Arrays.copyOfRange(got, i * vocab, (i + 1) * vocab),
                                dtype + ", segments of " + segment + ": logits of position " + (start + i) + " depend on the chunking");
                    }
                }
            }
        }
    }
}
