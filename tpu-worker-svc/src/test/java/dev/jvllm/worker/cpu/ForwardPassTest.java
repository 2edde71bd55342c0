package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.RandomModelWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The paged, batched forward pass against a float64 full-recompute reference, over a schedule that
 * mixes chunked prefills and decodes of sequences with shuffled, non-contiguous block tables.
 */
class ForwardPassTest {
    static final int BLOCK = 4, NUM_BLOCKS = 48, MAX_LEN = 64;
    static ComputePool pool;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void startPool() {
        pool = new ComputePool(2);
    }

    @AfterAll
    static void stopPool() {
        pool.close();
    }

    static Stream<Arguments> models() {
        return Stream.of(
                Arguments.of("llama untied GQA llama3-rope f32", RandomModelWriter.builder().architecture("llama")
                        .hidden(64).layers(2).heads(4).kvHeads(2).intermediate(96).vocab(97).maxPos(MAX_LEN)
                        .ropeScalingLlama3(true).tied(false).dtype("f32").seed(1)),
                Arguments.of("llama tied bf16 sharded", RandomModelWriter.builder().architecture("llama")
                        .hidden(48).layers(2).heads(6).kvHeads(3).intermediate(80).vocab(101).maxPos(MAX_LEN)
                        .tied(true).dtype("bf16").shards(3).seed(2)),
                Arguments.of("qwen2 biases tied f16", RandomModelWriter.builder().architecture("qwen2")
                        .hidden(64).layers(2).heads(4).kvHeads(1).intermediate(96).vocab(90).maxPos(MAX_LEN)
                        .tied(true).dtype("f16").ropeTheta(1e6).seed(3)),
                Arguments.of("qwen3 qk-norm head_dim 24", RandomModelWriter.builder().architecture("qwen3")
                        .hidden(64).layers(2).heads(4).kvHeads(2).headDim(24).intermediate(96).vocab(99)
                        .maxPos(MAX_LEN).tied(false).dtype("f32").seed(4)),
                Arguments.of("llama attention_bias", RandomModelWriter.builder().architecture("llama")
                        .hidden(32).layers(1).heads(2).kvHeads(2).intermediate(48).vocab(70).maxPos(MAX_LEN)
                        .qkBias(true).seed(7)),
                Arguments.of("mistral no window", RandomModelWriter.builder().architecture("mistral")
                        .hidden(64).layers(2).heads(8).kvHeads(2).intermediate(64).vocab(95).maxPos(MAX_LEN)
                        .slidingWindow(null).seed(5)),
                Arguments.of("mistral sliding window 6", RandomModelWriter.builder().architecture("mistral")
                        .hidden(32).layers(2).heads(4).kvHeads(2).intermediate(64).vocab(95).maxPos(MAX_LEN)
                        .slidingWindow(6).seed(6)));
    }

    /** One sequence's part of a step: tokens [start, start + n) of its full token list. */
    record Piece(int seq, int start, int n) {}

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void matchesFloat64ReferenceAndIsBatchIndependent(String name, RandomModelWriter.Builder model) throws Exception {
        checkAgainstReference(name, model, BLOCK);
    }

    /** Blocks of 16 slots: one vector of scores per block, where attention takes its whole-block fast paths. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void matchesFloat64ReferenceAndIsBatchIndependentWithBlocksOf16(String name, RandomModelWriter.Builder model) throws Exception {
        checkAgainstReference(name, model, 16);
    }

    /**
     * Attention in segments of two blocks, so most rows merge several segments' softmax states: a sequence
     * decoding alone has fewer attention items than twice the threads, and each of its segments is then computed on
     * its own and merged after, while in a batch (and in a prefill) an item's segments run one after the other.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void matchesFloat64ReferenceAndIsBatchIndependentWithShortSegments(String name, RandomModelWriter.Builder model) throws Exception {
        checkAgainstReference(name, model, BLOCK, 2 * BLOCK);
    }

    /**
     * Token blocks of four tokens and weight panels of one or two groups of rows (as 2048-wide matrices get,
     * scaled to these small ones): the prefill steps span several of both, partial panels included, and the
     * logits are bit for bit those of the default sizes.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void tokenBlocksAndWeightPanelsChangeNoBit(String name, RandomModelWriter.Builder model) throws Exception {
        Path dir = model.write(tmp.resolve(name.replace(' ', '_') + "_panels"));
        Random rnd = new Random(7);
        try (LlamaWeights weights = LlamaWeights.load(dir)) {
            int vocab = weights.config().vocabSize();
            int[][] tokens = {randomTokens(rnd, 23, vocab), randomTokens(rnd, 17, vocab)};
            int[][] tables = shuffledBlockTables(rnd, tokens, BLOCK);
            List<List<Piece>> schedule = List.of(
                    List.of(new Piece(0, 0, 13), new Piece(1, 0, 17)),
                    List.of(new Piece(0, 13, 9)),
                    List.of(new Piece(0, 22, 1)));
            int hidden = weights.config().hiddenSize();
            CpuModelRunner[] runners = {new CpuModelRunner(weights, pool, MAX_LEN),
                    new CpuModelRunner(weights, pool, MAX_LEN, 4 * hidden + 7, 2 * 4 * hidden + 5, CpuModelRunner.SEGMENT_POSITIONS)};
            List<float[]> byRunner0 = new ArrayList<>();
            for (int r = 0; r < runners.length; r++) {
                try (PagedKvCache cache = new PagedKvCache(weights.config().numLayers(), NUM_BLOCKS, BLOCK, weights.config().kvDim())) {
                    for (int s = 0; s < schedule.size(); s++) {
                        float[] logits = run(runners[r], cache, schedule.get(s), tokens, tables);
                        if (r == 0) {
                            byRunner0.add(logits.clone());   // forward reuses its logits array
                        } else {
                            assertArrayEquals(byRunner0.get(s), logits, name + ": step " + s + " differs with small token blocks and panels");
                        }
                    }
                }
            }
        }
    }

    private void checkAgainstReference(String name, RandomModelWriter.Builder model, int block) throws Exception {
        checkAgainstReference(name, model, block, CpuModelRunner.SEGMENT_POSITIONS);
    }

    private void checkAgainstReference(String name, RandomModelWriter.Builder model, int block, int segment) throws Exception {
        Path dir = model.write(tmp.resolve(name.replace(' ', '_') + "_" + block + "_" + segment));
        Random rnd = new Random(42);
        ReferenceLlama ref = new ReferenceLlama(dir, MAX_LEN);
        int[][] tokens = {randomTokens(rnd, 19, ref.vocab), randomTokens(rnd, 9, ref.vocab), randomTokens(rnd, 25, ref.vocab)};
        int[][] tables = shuffledBlockTables(rnd, tokens, block);
        // Prefill in chunks of different sizes, then decode one token per step; sequences join and leave.
        List<List<Piece>> schedule = List.of(
                List.of(new Piece(0, 0, 5), new Piece(1, 0, 7)),
                List.of(new Piece(0, 5, 9), new Piece(2, 0, 11), new Piece(1, 7, 1)),
                List.of(new Piece(0, 14, 1), new Piece(1, 8, 1), new Piece(2, 11, 10)),
                List.of(new Piece(2, 21, 1), new Piece(0, 15, 1)),
                List.of(new Piece(0, 16, 1), new Piece(2, 22, 1)),
                List.of(new Piece(2, 23, 1), new Piece(0, 17, 1)),
                List.of(new Piece(0, 18, 1), new Piece(2, 24, 1)));
        double[][][] expected = new double[tokens.length][][];
        for (int s = 0; s < tokens.length; s++) {
            expected[s] = ref.logits(tokens[s]);
        }
        List<float[]> mixedRowsOfSeq0 = new ArrayList<>();
        try (LlamaWeights weights = LlamaWeights.load(dir);
             PagedKvCache cache = new PagedKvCache(weights.config().numLayers(), NUM_BLOCKS, block, weights.config().kvDim())) {
            CpuModelRunner runner = new CpuModelRunner(weights, pool, MAX_LEN, CpuModelRunner.TOKEN_BLOCK_FLOATS, CpuModelRunner.PANEL_FLOATS, segment);
            int vocab = weights.config().vocabSize();
            double worst = 0;
            for (List<Piece> step : schedule) {
                float[] logits = run(runner, cache, step, tokens, tables);
                int row = 0;
                for (Piece p : step) {
                    for (int i = 0; i < p.n(); i++, row++) {
                        double[] want = expected[p.seq()][p.start() + i];
                        double scale = Arrays.stream(want).map(Math::abs).max().orElse(1);
                        for (int tkn = 0; tkn < vocab; tkn++) {
                            double err = Math.abs(logits[row * vocab + tkn] - want[tkn]) / Math.max(1, scale);
                            worst = Math.max(worst, err);
                        }
                        if (p.seq() == 0) {
                            mixedRowsOfSeq0.add(Arrays.copyOfRange(logits, row * vocab, (row + 1) * vocab));
                        }
                    }
                }
            }
            assertTrue(worst < 1e-4, name + ": worst relative logit error " + worst);
        }
        // The same sequence alone, same chunks and blocks, in a fresh cache: bit-identical logits.
        try (LlamaWeights weights = LlamaWeights.load(dir);
             PagedKvCache cache = new PagedKvCache(weights.config().numLayers(), NUM_BLOCKS, block, weights.config().kvDim())) {
            CpuModelRunner runner = new CpuModelRunner(weights, pool, MAX_LEN, CpuModelRunner.TOKEN_BLOCK_FLOATS, CpuModelRunner.PANEL_FLOATS, segment);
            int vocab = weights.config().vocabSize();
            int k = 0;
            for (List<Piece> step : schedule) {
                for (Piece p : step) {
                    if (p.seq() == 0) {
                        float[] logits = run(runner, cache, List.of(p), tokens, tables);
                        for (int i = 0; i < p.n(); i++) {
                            assertArrayEquals(mixedRowsOfSeq0.get(k++), Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab),
                                    "logits of a sequence alone differ from the same sequence in a batch");
                        }
                    }
                }
            }
        }
    }

    private static float[] run(CpuModelRunner runner, PagedKvCache cache, List<Piece> step, int[][] tokens, int[][] tables) {
        List<StepInput.SeqChunk> chunks = new ArrayList<>();
        int total = 0;
        for (Piece p : step) {
            chunks.add(new StepInput.SeqChunk(Arrays.copyOfRange(tokens[p.seq()], p.start(), p.start() + p.n()),
                    p.start(), tables[p.seq()]));
            total += p.n();
        }
        int[] rows = new int[total];
        for (int i = 0; i < total; i++) {
            rows[i] = i;
        }
        return runner.forward(new StepInput(chunks, rows), cache);
    }

    static int[] randomTokens(Random rnd, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = rnd.nextInt(vocab);
        }
        return t;
    }

    static int[][] shuffledBlockTables(Random rnd, int[][] tokens, int block) {
        List<Integer> free = new ArrayList<>();
        for (int b = 0; b < NUM_BLOCKS; b++) {
            free.add(b);
        }
        java.util.Collections.shuffle(free, rnd);
        int[][] tables = new int[tokens.length][];
        int next = 0;
        for (int s = 0; s < tokens.length; s++) {
            tables[s] = new int[(tokens[s].length + block - 1) / block];
            for (int i = 0; i < tables[s].length; i++) {
                tables[s][i] = free.get(next++);
            }
        }
        return tables;
    }
}
