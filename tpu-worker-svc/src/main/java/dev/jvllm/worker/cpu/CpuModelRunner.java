package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.ModelConfig;
import dev.jvllm.worker.model.WeightType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static dev.jvllm.worker.model.LlamaWeights.F32;

/**
 * The Llama-family forward pass on the CPU over a paged KV cache.
 * Every weight matrix is applied once per step to all of the step's tokens (rows of activations),
 * split over output features between the pool's threads. Every token row is computed on its own,
 * in a fixed order, so a sequence's logits do not depend on what else is in the batch.
 */
public final class CpuModelRunner {
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final ModelConfig c;
    private final LlamaWeights w;
    private final ComputePool pool;
    private final double[] invFreq;
    private final int maxModelLen;

    // Activations of the current step, [token][feature] flattened; grown on demand, reused across steps.
    private int capacity;
    private float[] x, xb, q, k, v, att, gate, up;
    private float[] ropeCos, ropeSin;
    private int[] positions, tokenSeq;
    private float[] logits = new float[0], finalHidden = new float[0];
    private final ThreadLocal<AttentionRows> attentionRows = ThreadLocal.withInitial(() -> new AttentionRows(config().headDim()));
    /** This step's attention work items (filled once per step by {@link #attentionItems}) and where each sequence's tokens start. */
    private int[] itemSeq = new int[0], itemKvHead = new int[0], itemRowFrom = new int[0], itemRowTo = new int[0];
    private int[] seqFirstToken = new int[0];
    private int attentionItemCount;
    /** Activations of one token block of a matmul (64K floats: 256 KB, in L2 with a panel beside them). */
    static final int TOKEN_BLOCK_FLOATS = 64 * 1024;
    /** Weights widened at once and applied to each token block in turn (32K floats: 128 KB; see matmulGroups). */
    static final int PANEL_FLOATS = 32 * 1024;
    private final int tokenBlockFloats, panelFloats, segmentPositions;
    /** Weight rows widened to f32 (a panel of groups of four), per thread: reused by every token of a tiled matmul. */
    private final ThreadLocal<float[]> widenScratch = ThreadLocal.withInitial(() -> new float[0]);
    private final ThreadLocal<float[]> accScratch = ThreadLocal.withInitial(() -> new float[VectorKernels.ACC_SCRATCH]);
    /** Per layer, the matrices applied to the same input: {q, k, v} and {gate, up}. */
    private final LlamaWeights.Matrix[][] qkvWeights, gateUpWeights;
    private final MemorySegment[][] qkvBiases;
    private float[][] qkvOut, gateUpOut;
    private final ThreadLocal<float[]> siluScratch;
    /**
     * Tokens per chunk of the per-token work (norms, rotary, KV writes, SwiGLU): spread over the pool for
     * prefills, inline for decode-sized steps, where a hand-off would cost more than the work.
     */
    private static final int PER_TOKEN_CHUNK = 8;
    /** Storage types whose kernels this JVM has already warmed up. */
    private static final java.util.Set<WeightType> WARM = java.util.EnumSet.noneOf(WeightType.class);
    private static final java.util.Set<KvCacheDtype> WARM_KV = java.util.EnumSet.noneOf(KvCacheDtype.class);

    public CpuModelRunner(LlamaWeights weights, ComputePool pool, int maxModelLen) {
        this(weights, pool, maxModelLen, TOKEN_BLOCK_FLOATS, PANEL_FLOATS, SEGMENT_POSITIONS);
    }

    /**
     * With other token-block and panel sizes: they change the order of a matmul's work, never its results. And
     * with attention segments of another length (tests: a few blocks), which does change the bits of longer rows.
     */
    CpuModelRunner(LlamaWeights weights, ComputePool pool, int maxModelLen, int tokenBlockFloats, int panelFloats, int segmentPositions) {
        this.tokenBlockFloats = tokenBlockFloats;
        this.panelFloats = panelFloats;
        this.segmentPositions = segmentPositions;
        this.w = weights;
        this.c = weights.config();
        this.pool = pool;
        this.maxModelLen = maxModelLen;
        this.invFreq = ropeInverseFrequencies(c);
        if (w.ropeFreqFactors() != null) {
            for (int i = 0; i < invFreq.length; i++) {
                invFreq[i] /= w.ropeFreqFactors()[i];
            }
        }
        int ff = c.intermediateSize();
        this.siluScratch = ThreadLocal.withInitial(() -> new float[ff]);
        this.qkvWeights = new LlamaWeights.Matrix[c.numLayers()][];
        this.gateUpWeights = new LlamaWeights.Matrix[c.numLayers()][];
        this.qkvBiases = new MemorySegment[c.numLayers()][];
        for (int l = 0; l < c.numLayers(); l++) {
            LlamaWeights.Layer layer = w.layer(l);
            qkvWeights[l] = new LlamaWeights.Matrix[]{layer.wq(), layer.wk(), layer.wv()};
            qkvBiases[l] = new MemorySegment[]{layer.bq(), layer.bk(), layer.bv()};
            gateUpWeights[l] = new LlamaWeights.Matrix[]{layer.wGate(), layer.wUp()};
        }
        java.util.Map<WeightType, LlamaWeights.Matrix> oneOfEachType = new java.util.EnumMap<>(WeightType.class);
        for (int l = 0; l < c.numLayers(); l++) {
            for (LlamaWeights.Matrix m : qkvWeights[l]) {
                oneOfEachType.putIfAbsent(m.type(), m);
            }
            for (LlamaWeights.Matrix m : gateUpWeights[l]) {
                oneOfEachType.putIfAbsent(m.type(), m);
            }
            oneOfEachType.putIfAbsent(w.layer(l).wo().type(), w.layer(l).wo());
            oneOfEachType.putIfAbsent(w.layer(l).wDown().type(), w.layer(l).wDown());
        }
        oneOfEachType.putIfAbsent(w.lmHead().type(), w.lmHead());
        oneOfEachType.putIfAbsent(w.tokenEmbeddings().type(), w.tokenEmbeddings());
        synchronized (WARM) {
            if (WARM.addAll(oneOfEachType.keySet())) {
                VectorKernels.warmUpMatmuls(oneOfEachType.values(), w.layer(0).inputNorm(), c.hiddenSize());
            }
        }
    }

    /** The attention kernels for this cache's storage type, compiled before the first step uses them. */
    private static void warmUpAttention(KvCacheDtype kv) {
        synchronized (WARM_KV) {
            if (WARM_KV.add(kv)) {
                VectorKernels.warmUpAttention(kv);
            }
            // A narrow cache's prefill runs the f32 kernels on a widened copy (WidenedKv).
            if (WARM_KV.add(KvCacheDtype.F32)) {
                VectorKernels.warmUpAttention(KvCacheDtype.F32);
            }
        }
    }

    public ModelConfig config() {
        return c;
    }

    /** HF rotary frequencies 1/theta^(2i/d), with Llama 3 or linear scaling when configured. */
    static double[] ropeInverseFrequencies(ModelConfig c) {
        int half = c.headDim() / 2;
        double[] f = new double[half];
        for (int i = 0; i < half; i++) {
            f[i] = 1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / c.headDim());
        }
        ModelConfig.RopeScaling rs = c.ropeScaling();
        if (rs != null && rs.type().equals("linear")) {
            for (int i = 0; i < half; i++) {
                f[i] /= rs.factor();
            }
        } else if (rs != null && rs.type().equals("llama3")) {
            double lowFreqWavelen = rs.originalMaxPositionEmbeddings() / rs.lowFreqFactor();
            double highFreqWavelen = rs.originalMaxPositionEmbeddings() / rs.highFreqFactor();
            for (int i = 0; i < half; i++) {
                double wavelen = 2 * Math.PI / f[i];
                if (wavelen > lowFreqWavelen) {
                    f[i] = f[i] / rs.factor();
                } else if (wavelen >= highFreqWavelen) {
                    double smooth = (rs.originalMaxPositionEmbeddings() / wavelen - rs.lowFreqFactor())
                            / (rs.highFreqFactor() - rs.lowFreqFactor());
                    f[i] = (1 - smooth) * f[i] / rs.factor() + smooth * f[i];
                }
            }
        }
        return f;
    }

    /**
     * Runs one step: writes the new tokens' K/V into {@code cache} and returns the logits of
     * {@code input.logitRows()}, row after row ({@code vocab} floats each). The returned array is
     * reused by the next call.
     */
    public float[] forward(StepInput input, PagedKvCache cache) {
        int T = input.numTokens();
        if (T == 0) {
            return logits;
        }
        ensureCapacity(T);
        warmUpAttention(cache.dtype());
        int hidden = c.hiddenSize();
        embedTokens(input);
        ropeTables(T);
        attentionItemCount = attentionItems(input, cache.dtype() != KvCacheDtype.F32);
        for (int l = 0; l < c.numLayers(); l++) {
            LlamaWeights.Layer layer = w.layer(l);
            attentionBlock(layer, l, input, cache, T);
            mlpBlock(layer, l, T);
        }
        int rows = input.logitRows().length;
        if (finalHidden.length < rows * hidden) {
            finalHidden = new float[rows * hidden];
        }
        for (int r = 0; r < rows; r++) {
            VectorKernels.rmsNorm(finalHidden, r * hidden, x, input.logitRows()[r] * hidden, w.finalNorm(), hidden,
                    (float) c.rmsNormEps());
        }
        long need = (long) rows * c.vocabSize();
        if (need > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("too many logit rows in one step: " + rows);
        }
        if (logits.length < need) {
            logits = new float[(int) need];
        }
        if (rows > 0) {
            matmul(logits, finalHidden, rows, w.lmHead(), null);
        }
        return logits;
    }

    private void embedTokens(StepInput input) {
        int hidden = c.hiddenSize();
        int t = 0;
        for (int s = 0; s < input.seqs().size(); s++) {
            StepInput.SeqChunk seq = input.seqs().get(s);
            for (int i = 0; i < seq.tokenIds().length; i++, t++) {
                VectorKernels.copyRow(w.tokenEmbeddings(), seq.tokenIds()[i], x, t * hidden);
                positions[t] = seq.startPos() + i;
                tokenSeq[t] = s;
            }
        }
    }

    private void ropeTables(int T) {
        int half = c.headDim() / 2;
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < half; i++) {
                double angle = positions[t] * invFreq[i];
                ropeCos[t * half + i] = (float) Math.cos(angle);
                ropeSin[t * half + i] = (float) Math.sin(angle);
            }
        }
    }

    private void attentionBlock(LlamaWeights.Layer layer, int l, StepInput input, PagedKvCache cache, int T) {
        int hidden = c.hiddenSize(), qDim = c.qDim(), kvDim = c.kvDim(), hd = c.headDim();
        float eps = (float) c.rmsNormEps();
        pool.parallelFor(T, PER_TOKEN_CHUNK, (from, to) -> {
            for (int t = from; t < to; t++) {
                VectorKernels.rmsNorm(xb, t * hidden, x, t * hidden, layer.inputNorm(), hidden, eps);
            }
        });
        matmuls(qkvOut, xb, T, qkvWeights[l], qkvBiases[l]);
        pool.parallelFor(T, PER_TOKEN_CHUNK, (from, to) -> {
            for (int t = from; t < to; t++) {
                for (int h = 0; h < c.numHeads(); h++) {
                    int off = t * qDim + h * hd;
                    if (layer.qNorm() != null) {
                        VectorKernels.rmsNorm(q, off, q, off, layer.qNorm(), hd, eps);
                    }
                    rotateHalf(q, off, t);
                }
                for (int h = 0; h < c.numKvHeads(); h++) {
                    int off = t * kvDim + h * hd;
                    if (layer.kNorm() != null) {
                        VectorKernels.rmsNorm(k, off, k, off, layer.kNorm(), hd, eps);
                    }
                    rotateHalf(k, off, t);
                }
            }
            writeKvCache(input, cache, l, from, to);
        });
        pagedAttention(input, cache, l, T);
        matmul(xb, att, T, layer.wo(), layer.bo());
        VectorKernels.add(x, xb, T * hidden);
    }

    private void mlpBlock(LlamaWeights.Layer layer, int l, int T) {
        int hidden = c.hiddenSize(), ff = c.intermediateSize();
        pool.parallelFor(T, PER_TOKEN_CHUNK, (from, to) -> {
            for (int t = from; t < to; t++) {
                VectorKernels.rmsNorm(xb, t * hidden, x, t * hidden, layer.postAttentionNorm(), hidden, (float) c.rmsNormEps());
            }
        });
        matmuls(gateUpOut, xb, T, gateUpWeights[l], null);
        pool.parallelFor(T, PER_TOKEN_CHUNK, (from, to) -> {
            float[] scratch = siluScratch.get();
            for (int t = from; t < to; t++) {
                VectorKernels.siluTimes(gate, up, t * ff, ff, scratch);
            }
        });
        matmul(xb, gate, T, layer.wDown(), null);
        VectorKernels.add(x, xb, T * hidden);
    }

    /**
     * HF rotary embedding: element i pairs with element i + headDim/2 (rotate_half); with GGUF weights
     * (q/k rows in llama.cpp order) element 2i pairs with 2i + 1, the same rotation of the same values.
     */
    private void rotateHalf(float[] vec, int off, int t) {
        int half = c.headDim() / 2;
        int stride = w.interleavedRope() ? 2 : 1, partner = w.interleavedRope() ? 1 : half;
        for (int i = 0; i < half; i++) {
            float cos = ropeCos[t * half + i], sin = ropeSin[t * half + i];
            int a = off + i * stride, b = a + partner;
            float x0 = vec[a], x1 = vec[b];
            vec[a] = x0 * cos - x1 * sin;
            vec[b] = x1 * cos + x0 * sin;
        }
    }

    /** Writes the K/V rows of tokens [from, to) into their cache slots. */
    private void writeKvCache(StepInput input, PagedKvCache cache, int l, int from, int to) {
        int kvDim = c.kvDim(), bs = cache.blockSize();
        KvCacheDtype dtype = cache.dtype();
        int eb = dtype.bytesPerElement();
        MemorySegment kc = cache.keys(l), vc = cache.values(l);
        for (int t = from; t < to; t++) {
            int[] table = input.seqs().get(tokenSeq[t]).blockTable();
            long valueBase = cache.tokenOffset(table, positions[t]);
            long keyBase = cache.keyBlockOffset(table[positions[t] / bs]) + (long) (positions[t] % bs) * eb;
            switch (dtype) {
                case F32 -> {
                    MemorySegment.copy(v, t * kvDim, vc, F32, valueBase, kvDim);
                    for (int i = 0; i < kvDim; i++) {
                        kc.set(F32, keyBase + (long) i * bs * 4, k[t * kvDim + i]);
                    }
                }
                case BF16 -> {
                    for (int i = 0; i < kvDim; i++) {
                        vc.set(HALF, valueBase + 2L * i, KvCacheDtype.toBf16(v[t * kvDim + i]));
                        kc.set(HALF, keyBase + (long) i * bs * 2, KvCacheDtype.toBf16(k[t * kvDim + i]));
                    }
                }
                case F16 -> {
                    for (int i = 0; i < kvDim; i++) {
                        vc.set(HALF, valueBase + 2L * i, KvCacheDtype.toF16(v[t * kvDim + i]));
                        kc.set(HALF, keyBase + (long) i * bs * 2, KvCacheDtype.toF16(k[t * kvDim + i]));
                    }
                }
                case FP8_E5M2 -> {
                    for (int i = 0; i < kvDim; i++) {
                        vc.set(ValueLayout.JAVA_BYTE, valueBase + i, KvCacheDtype.toE5m2(v[t * kvDim + i]));
                        kc.set(ValueLayout.JAVA_BYTE, keyBase + (long) i * bs, KvCacheDtype.toE5m2(k[t * kvDim + i]));
                    }
                }
            }
        }
    }

    /**
     * Causal attention of each (token, head) over its sequence's cached positions, block by block
     * with an online softmax: scores of one block, then one rescale of the running output. Rows that
     * read the same keys and values (the query heads of one kv head, and consecutive tokens of one
     * sequence) go four at a time, so each cached vector is loaded once for the four; a row's sums are
     * the same whichever rows share its group.
     *
     * <p>Positions go in segments of {@link #SEGMENT_POSITIONS}: each segment's softmax state starts afresh
     * and the segments' states are merged in order, so a step with few items (a decode of one sequence: 3 kv
     * heads over 2 threads ran 2:1) can hand each segment to any thread and merge afterwards, with the same
     * bits as a step that runs an item's segments one after the other.
     */
    private void pagedAttention(StepInput input, PagedKvCache cache, int l, int T) {
        int hd = c.headDim(), qDim = c.qDim(), group = c.numHeads() / c.numKvHeads();
        int bs = cache.blockSize();
        float scale = (float) (1.0 / Math.sqrt(hd));
        MemorySegment kc = cache.keys(l), vc = cache.values(l);
        int window = c.slidingWindow() > 0 && c.slidingWindow() < maxModelLen ? c.slidingWindow() : 0;
        KvCacheDtype kvType = cache.dtype();
        int eb = kvType.bytesPerElement();
        long rowBytes = (long) c.kvDim() * eb;
        int items = attentionItemCount;
        int segBlocks = Math.max(1, segmentPositions / bs);
        int units = items < 2 * pool.threads() ? segmentUnits(items, group, bs, segBlocks, window) : items;
        boolean split = units > items;
        if (split && partSum.length < 4 * units) {
            partMax = new float[4 * units];
            partSum = new float[4 * units];
            partOut = new float[4 * units * hd];
        }
        boolean fullBlocks = VectorKernels.softmaxFullBlock4Fits(bs);
        long call = ++attentionCalls;
        pool.parallelFor(units, 1, (from, to) -> {
            AttentionRows a = attentionRows.get();
            if (a.scores.length < 4 * bs) {
                a.scores = new float[4 * bs];
            }
            float[] scores = a.scores, segOut = a.segOut;
            for (int u = from; u < to; u++) {
                int item = split ? unitItem[u] : u;
                int s = itemSeq[item], g = itemKvHead[item], rowFrom = itemRowFrom[item];
                int rows = itemRowTo[item] - rowFrom;
                int[] table = input.seqs().get(s).blockTable();
                for (int r = 0; r < 4; r++) {
                    int row = rowFrom + Math.min(r, rows - 1);   // a group of fewer than 4 repeats its last row
                    int t = seqFirstToken[s] + row / group, h = g * group + row % group;
                    a.qOff[r] = t * qDim + h * hd;
                    a.oOff[r] = Math.min(r, rows - 1) * hd;
                    a.pos[r] = positions[t];
                    a.lo[r] = window > 0 ? Math.max(0, positions[t] - window + 1) : 0;
                    a.pOff[r] = Math.min(r, rows - 1) * bs;
                }
                long keyHeadOff = (long) g * hd * bs * eb, valueHeadOff = (long) g * hd * eb;
                int firstBlock = a.lo[0] / bs, lastBlock = a.pos[rows - 1] / bs;
                // A narrow cache read by many rows of this sequence (a prefill) is widened once per thread, and
                // the f32 kernels, which sum as the narrow ones do, run on the copy: the same bits as decode's
                // direct reads, without widening every key again for every group of four rows.
                WidenedKv wide = !split && kvType != KvCacheDtype.F32 && input.seqs().get(s).tokenIds().length * group >= WIDEN_MIN_ROWS
                        ? widenedKv.get().cover(call, s, g, lastBlock + 1, table, cache, l, hd, rowBytes) : null;
                MemorySegment ks = wide == null ? kc : wide.keys, vs = wide == null ? vc : wide.values;
                KvCacheDtype kt = wide == null ? kvType : KvCacheDtype.F32;
                long vStride = wide == null ? rowBytes : 4L * hd;
                int segFrom = split ? unitSegment[u] : firstBlock / segBlocks, segTo = split ? segFrom : lastBlock / segBlocks;
                for (int seg = segFrom; seg <= segTo; seg++) {
                    for (int r = 0; r < 4; r++) {
                        a.max[r] = Float.NEGATIVE_INFINITY;
                        a.sum[r] = 0f;
                    }
                    java.util.Arrays.fill(segOut, 0, rows * hd, 0f);
                    int bTo = Math.min(lastBlock, seg * segBlocks + segBlocks - 1);
                    for (int b = Math.max(firstBlock, seg * segBlocks); b <= bTo; b++) {
                        long keyOff = wide == null ? cache.keyBlockOffset(table[b]) + keyHeadOff : (long) b * hd * bs * 4;
                        long valueOff = wide == null ? (long) table[b] * bs * rowBytes + valueHeadOff : (long) b * bs * hd * 4;
                        if (rows == 1) {
                            VectorKernels.blockScores(ks, keyOff, bs, q, a.qOff[0], hd, scale, scores, kt);
                            if (softmaxStep(a, 0, scores, 0, b * bs, bs)) {
                                VectorKernels.accumulateValues(segOut, 0, hd, scores, a.rowFirst[0], a.rowLast[0], vs, valueOff, vStride, kt);
                            }
                            continue;
                        }
                        VectorKernels.blockScores4(ks, keyOff, bs, q, a.qOff[0], a.qOff[1], a.qOff[2], a.qOff[3], hd, scale, scores, kt);
                        if (fullBlocks && a.lo[rows - 1] <= b * bs && a.pos[0] >= b * bs + bs - 1) {
                            // Every row sees the whole block: the four rows' softmax step at once.
                            VectorKernels.softmaxFullBlock4(scores, a.max, a.sum, a.correction, a.work);
                            for (int r = 0; r < rows; r++) {
                                if (a.correction[r] != 1f) {
                                    VectorKernels.scale(segOut, a.oOff[r], hd, a.correction[r]);
                                }
                            }
                            VectorKernels.accumulateValues4(segOut, a.oOff[0], a.oOff[1], a.oOff[2], a.oOff[3], hd, scores, a.pOff[0],
                                    a.pOff[1], a.pOff[2], a.pOff[3], 0, bs - 1, vs, valueOff, vStride, kt);
                            continue;
                        }
                        int first = bs, last = -1;
                        for (int r = 0; r < rows; r++) {
                            if (softmaxStep(a, r, scores, r * bs, b * bs, bs)) {
                                first = Math.min(first, a.rowFirst[r]);
                                last = Math.max(last, a.rowLast[r]);
                            }
                        }
                        if (first > last) {
                            continue;
                        }
                        for (int r = 0; r < rows; r++) {   // weights 0 outside a row's own slots (all of them if it has none)
                            int own = Math.max(first, Math.min(a.rowFirst[r], last + 1));
                            int ownEnd = Math.max(own, Math.min(a.rowLast[r] + 1, last + 1));
                            java.util.Arrays.fill(scores, r * bs + first, r * bs + own, 0f);
                            java.util.Arrays.fill(scores, r * bs + ownEnd, r * bs + last + 1, 0f);
                        }
                        VectorKernels.accumulateValues4(segOut, a.oOff[0], a.oOff[1], a.oOff[2], a.oOff[3], hd, scores, a.pOff[0],
                                a.pOff[1], a.pOff[2], a.pOff[3], first, last, vs, valueOff, vStride, kt);
                    }
                    for (int r = 0; r < rows; r++) {
                        if (split) {
                            partMax[4 * u + r] = a.max[r];
                            partSum[4 * u + r] = a.sum[r];
                            System.arraycopy(segOut, r * hd, partOut, (4 * u + r) * hd, hd);
                        } else {
                            mergeSegment(a.runMax, a.runSum, a.runOut, r, hd, seg == segFrom, a.max[r], a.sum[r], segOut, r * hd);
                        }
                    }
                }
                if (!split) {
                    for (int r = 0; r < rows; r++) {
                        System.arraycopy(a.runOut, r * hd, att, a.qOff[r], hd);
                        VectorKernels.scale(att, a.qOff[r], hd, 1f / a.runSum[r]);
                    }
                }
            }
        });
        if (split) {
            ComputePool.RangeTask merge = (from, to) -> {
                AttentionRows a = attentionRows.get();
                for (int item = from; item < to; item++) {
                    int s = itemSeq[item], g = itemKvHead[item], rowFrom = itemRowFrom[item];
                    for (int r = 0; r < itemRowTo[item] - rowFrom; r++) {
                        for (int u = itemFirstUnit[item]; u < itemFirstUnit[item + 1]; u++) {
                            mergeSegment(a.runMax, a.runSum, a.runOut, r, hd, u == itemFirstUnit[item], partMax[4 * u + r],
                                    partSum[4 * u + r], partOut, (4 * u + r) * hd);
                        }
                        int row = rowFrom + r, t = seqFirstToken[s] + row / group, h = g * group + row % group;
                        System.arraycopy(a.runOut, r * hd, att, t * qDim + h * hd, hd);
                        VectorKernels.scale(att, t * qDim + h * hd, hd, 1f / a.runSum[r]);
                    }
                }
            };
            // Chunks of at least MERGE_CHUNK_FLOATS: a decode's few merges stay on this thread (one chunk runs inline),
            // cheaper than a hand-off; long contexts on many threads are spread.
            long floatsPerItem = Math.max(1, (long) units * 4 * hd / items);
            pool.parallelFor(items, (int) Math.min(items, (MERGE_CHUNK_FLOATS + floatsPerItem - 1) / floatsPerItem), merge);
        }
    }

    /**
     * Positions per segment of a row's attention (see pagedAttention): 16 blocks of 16. Long enough that a merge
     * (one exp and one pass over the row's output) is rare next to the blocks' work, short enough to split a
     * decode's few hundred positions.
     */
    static final int SEGMENT_POSITIONS = 256;
    /** The least partial output (floats) that split attention's merge hands to another thread. */
    private static final int MERGE_CHUNK_FLOATS = 1 << 16;
    /** When a step's attention is split into segments: each unit's item and segment, and each item's first unit. */
    private int[] unitItem = new int[0], unitSegment = new int[0], itemFirstUnit = new int[0];
    /** The split units' softmax states: per unit and row (4 per unit), max, sum and unnormalized output. */
    private float[] partMax = new float[0], partSum = new float[0], partOut = new float[0];

    /** Fills unitItem, unitSegment and itemFirstUnit with one unit per segment of each item; returns the number of units. */
    private int segmentUnits(int items, int group, int bs, int segBlocks, int window) {
        if (itemFirstUnit.length < items + 1) {
            itemFirstUnit = new int[items + 1];
        }
        int units = 0;
        for (int pass = 0; pass < 2; pass++) {
            units = 0;
            for (int item = 0; item < items; item++) {
                int first = seqFirstToken[itemSeq[item]];
                int lo = window > 0 ? Math.max(0, positions[first + itemRowFrom[item] / group] - window + 1) : 0;
                int segFrom = lo / bs / segBlocks, segTo = positions[first + (itemRowTo[item] - 1) / group] / bs / segBlocks;
                itemFirstUnit[item] = units;
                for (int seg = segFrom; seg <= segTo; seg++, units++) {
                    if (pass == 1) {
                        unitItem[units] = item;
                        unitSegment[units] = seg;
                    }
                }
            }
            itemFirstUnit[items] = units;
            if (units == items) {
                return units;
            }
            if (unitItem.length < units) {
                unitItem = new int[units];
                unitSegment = new int[units];
            }
        }
        return units;
    }

    /**
     * Merges one segment's softmax state of row r (its max m, sum l, unnormalized output o at oOff) into the
     * row's running state; the first segment is copied. A segment the row sees none of (l == 0) changes nothing.
     */
    private static void mergeSegment(float[] runMax, float[] runSum, float[] runOut, int r, int hd, boolean first, float m, float l,
                                     float[] o, int oOff) {
        if (first || runSum[r] == 0f) {
            runMax[r] = m;
            runSum[r] = l;
            System.arraycopy(o, oOff, runOut, r * hd, hd);
        } else if (l > 0f) {
            float max = Math.max(runMax[r], m), keep = VectorKernels.exp(runMax[r] - max), add = VectorKernels.exp(m - max);
            runMax[r] = max;
            runSum[r] = runSum[r] * keep + l * add;
            VectorKernels.scaleAndAdd(runOut, r * hd, keep, o, oOff, add, hd);
        }
    }

    /**
     * One block of row r's online softmax, its raw scores at {@code scores[off + j]} for the block's slots j
     * (block positions from {@code blockStart}): sets {@code a.rowFirst[r], a.rowLast[r]} to the row's causal
     * slots, turns their scores into weights exp(score - running max), and rescales the row's output and sum
     * when the max grows. Returns false (and an empty range) when the row sees none of the block's slots.
     */
    private boolean softmaxStep(AttentionRows a, int r, float[] scores, int off, int blockStart, int bs) {
        int first = Math.max(a.lo[r], blockStart) - blockStart, last = Math.min(a.pos[r], blockStart + bs - 1) - blockStart;
        a.rowFirst[r] = first;
        a.rowLast[r] = last;
        if (first > last) {
            return false;
        }
        float newMax = Math.max(a.max[r], VectorKernels.maxOf(scores, off + first, last - first + 1));
        if (newMax > a.max[r] && a.sum[r] > 0f) {
            float correction = VectorKernels.exp(a.max[r] - newMax);
            a.sum[r] *= correction;
            VectorKernels.scale(a.segOut, a.oOff[r], c.headDim(), correction);
        }
        a.max[r] = newMax;
        a.sum[r] += VectorKernels.expShiftedSum(scores, off + first, last - first + 1, newMax);
        return true;
    }

    /** Rows of one sequence in a step from which a narrow cache is widened once for them (decode steps read it directly). */
    private static final int WIDEN_MIN_ROWS = 16;
    /** Counts pagedAttention calls: a widened copy belongs to one call (one layer of one step). */
    private long attentionCalls;
    private final ThreadLocal<WidenedKv> widenedKv = ThreadLocal.withInitial(WidenedKv::new);

    /**
     * Per thread: the keys and values of one (sequence, kv head) of a narrow cache, widened to f32 in the f32
     * cache's layouts (keys [block][dim][slot], values [block][slot][dim]), blocks [0, blocks) of its table.
     */
    private static final class WidenedKv {
        MemorySegment keys = MemorySegment.NULL, values = MemorySegment.NULL;
        long call = -1;
        int seq, kvHead, blocks;

        WidenedKv cover(long call, int seq, int kvHead, int need, int[] table, PagedKvCache cache, int layer, int hd, long rowBytes) {
            if (this.call != call || this.seq != seq || this.kvHead != kvHead) {
                this.call = call;
                this.seq = seq;
                this.kvHead = kvHead;
                blocks = 0;
            }
            if (need <= blocks) {
                return this;
            }
            int bs = cache.blockSize();
            long bytes = (long) need * bs * hd * 4;
            if (keys.byteSize() < bytes) {
                long size = Math.max(bytes, 2 * keys.byteSize());
                keys = java.lang.foreign.Arena.ofAuto().allocate(size, 64);
                values = java.lang.foreign.Arena.ofAuto().allocate(size, 64);
                blocks = 0;
            }
            KvCacheDtype dtype = cache.dtype();
            int eb = dtype.bytesPerElement();
            long valueHeadOff = (long) kvHead * hd * eb;
            MemorySegment kc = cache.keys(layer), vc = cache.values(layer);
            for (int b = blocks; b < need; b++) {
                VectorKernels.widenKv(kc, cache.keyBlockOffset(table[b]) + (long) kvHead * hd * bs * eb, hd * bs, dtype,
                        keys, (long) b * hd * bs * 4);
                for (int j = 0; j < bs; j++) {
                    VectorKernels.widenKv(vc, ((long) table[b] * bs + j) * rowBytes + valueHeadOff, hd, dtype, values,
                            ((long) b * bs + j) * hd * 4);
                }
            }
            blocks = need;
            return this;
        }
    }

    /** Per-thread state of the attention rows in flight. */
    private static final class AttentionRows {
        float[] scores = new float[0];
        /** Per row: the current segment's output (at oOff), and the output of the segments merged so far. */
        final float[] segOut, runOut;
        final int[] qOff = new int[4], oOff = new int[4], pos = new int[4], lo = new int[4], pOff = new int[4], rowFirst = new int[4],
                rowLast = new int[4];
        final float[] max = new float[4], sum = new float[4], correction = new float[4], work = new float[64];
        final float[] runMax = new float[4], runSum = new float[4];

        AttentionRows(int headDim) {
            segOut = new float[4 * headDim];
            runOut = new float[4 * headDim];
        }
    }

    /**
     * Fills the attention work items of this step: for each sequence and kv head, its (token, query head)
     * rows in groups of four, the latest tokens first (they attend to the most positions, so the
     * pool's threads end their share of a prefill together). With {@code kvHeadMajor} (a narrow cache) a
     * sequence's items go kv head by kv head, so a thread's run of items mostly shares one widened copy of the
     * cache (see WidenedKv). Returns the number of items.
     */
    private int attentionItems(StepInput input, boolean kvHeadMajor) {
        int group = c.numHeads() / c.numKvHeads(), kvHeads = c.numKvHeads();
        int n = 0;
        for (StepInput.SeqChunk seq : input.seqs()) {
            n += kvHeads * ((seq.tokenIds().length * group + 3) / 4);
        }
        if (itemSeq.length < n) {
            itemSeq = new int[n];
            itemKvHead = new int[n];
            itemRowFrom = new int[n];
            itemRowTo = new int[n];
        }
        if (seqFirstToken.length < input.seqs().size()) {
            seqFirstToken = new int[input.seqs().size()];
        }
        int item = 0, token = 0;
        for (int s = 0; s < input.seqs().size(); s++) {
            seqFirstToken[s] = token;
            int rows = input.seqs().get(s).tokenIds().length * group;
            token += input.seqs().get(s).tokenIds().length;
            int groups = (rows + 3) / 4;
            for (int i = 0; i < groups * kvHeads; i++, item++) {
                int g = kvHeadMajor ? i / groups : i % kvHeads, to = rows - 4 * (kvHeadMajor ? i % groups : i / kvHeads);
                itemSeq[item] = s;
                itemKvHead[item] = g;
                itemRowFrom[item] = Math.max(0, to - 4);
                itemRowTo[item] = to;
            }
        }
        return n;
    }

    private void matmul(float[] out, float[] in, int T, LlamaWeights.Matrix weight, MemorySegment bias) {
        matmuls(new float[][]{out}, in, T, new LlamaWeights.Matrix[]{weight}, bias == null ? null : new MemorySegment[]{bias});
    }

    /**
     * outs[m][t][r] = W_m[r] . in[t] (+ bias_m[r]) for every matrix m applied to the same input (q/k/v,
     * gate/up: one handoff to the pool for all of them). Work is split over groups of 4 rows; each
     * group's weights are streamed once for all the step's tokens. With 4 or more tokens the group is
     * widened to f32 once and applied to 4 x 4 (rows x tokens) register tiles, token block by token
     * block so the activations stay in L2.
     */
    private void matmuls(float[][] outs, float[] in, int T, LlamaWeights.Matrix[] ws, MemorySegment[] biases) {
        if (T <= VectorKernels.DIRECT_MAX_TOKENS) {
            boolean direct = true;
            for (LlamaWeights.Matrix m : ws) {
                direct &= VectorKernels.readsRowsDirectly(m.type());
            }
            if (direct) {
                matmulsDirect(outs, in, T, ws, biases);
                return;
            }
        }
        int[] firstGroup = new int[ws.length + 1];
        long work = 0;
        for (int m = 0; m < ws.length; m++) {
            firstGroup[m + 1] = firstGroup[m] + (ws[m].rows() + 3) / 4;
            work += (long) ws[m].rows() * ws[m].cols();
        }
        int groups = firstGroup[ws.length];
        // Decode-size steps that mix in a type dotRows does not read (Q5_K at narrow vectors) stream the weights
        // from memory: one contiguous range per thread, which dotRows reads as two streams half the range apart
        // (scattered ranges restart the prefetcher). Larger steps are compute-bound: smaller chunks even out the threads.
        int minGroups = T <= VectorKernels.DIRECT_MAX_TOKENS ? (groups + pool.threads() - 1) / pool.threads()
                : (int) Math.max(1, 16384L * groups / Math.max(1, work * T));
        pool.parallelFor(groups, minGroups, (from, to) -> {
            int m = 0;
            for (int g = from; g < to; ) {
                while (g >= firstGroup[m + 1]) {
                    m++;
                }
                int end = Math.min(to, firstGroup[m + 1]);
                int base = firstGroup[m];
                matmulGroups(outs[m], in, T, ws[m], biases == null ? null : biases[m], g - base, end - base);
                g = end;
            }
        });
    }

    /**
     * The decode path of {@link #matmuls}: each matrix's row groups in pairs, group p with group p + half, as
     * work items handed out in small chunks, so a thread whose weight reads ran slower leaves its last chunks
     * to the other, while each thread still reads two sequential streams half a matrix apart (with one
     * range per thread, split in two by dotRows, threads waiting for each other were 12% of a Q8_0 decode
     * profile; with these chunks 7%, and decode 123 against 117 tok/s, mean of nine alternating pairs).
     */
    private void matmulsDirect(float[][] outs, float[] in, int T, LlamaWeights.Matrix[] ws, MemorySegment[] biases) {
        int[] firstItem = new int[ws.length + 1];
        for (int m = 0; m < ws.length; m++) {
            int pairs = ws[m].rows() / 8, rest = ws[m].rows() - 8 * pairs;
            firstItem[m + 1] = firstItem[m] + pairs + (rest > 0 ? 1 : 0);
        }
        pool.parallelFor(firstItem[ws.length], 1, (from, to) -> {
            float[] acc = accScratch.get();
            int m = 0;
            for (int i = from; i < to; ) {
                while (i >= firstItem[m + 1]) {
                    m++;
                }
                LlamaWeights.Matrix w = ws[m];
                int rows = w.rows(), pairs = rows / 8;
                MemorySegment bias = biases == null ? null : biases[m];
                int p = i - firstItem[m], pEnd = Math.min(to - firstItem[m], pairs);
                if (p < pairs) {
                    VectorKernels.dotRowGroupPairs(w, p, pEnd, pairs, in, T, outs[m], acc);
                    addBias(outs[m], T, rows, bias, p, pEnd);
                    addBias(outs[m], T, rows, bias, p + pairs, pEnd + pairs);
                    i += pEnd - p;
                } else {
                    VectorKernels.dotRows(w, 8 * pairs, rows, in, T, outs[m], acc);
                    addBias(outs[m], T, rows, bias, 2 * pairs, (rows + 3) / 4);
                    i++;
                }
            }
        });
    }

    private void matmulGroups(float[] out, float[] in, int T, LlamaWeights.Matrix weight, MemorySegment bias, int from, int to) {
        int rows = weight.rows(), cols = weight.cols();
        if (T <= VectorKernels.DIRECT_MAX_TOKENS && VectorKernels.readsRowsDirectly(weight.type())) {
            VectorKernels.dotRows(weight, from * 4, Math.min(rows, to * 4), in, T, out, accScratch.get());
            addBias(out, T, rows, bias, from, to);
            return;
        }
        int tokenBlock = Math.max(4, (tokenBlockFloats / cols) & ~3);
        // A step with more tokens than one block widens a panel of groups once and applies it to every token
        // block: widened again for each block, a K-quant's dequantization took 31% of a 128-token prefill.
        int panel = T <= tokenBlock ? 1 : Math.max(1, panelFloats / (4 * cols));
        float[] wf = widenScratch.get();
        if (wf.length < panel * 4 * cols) {
            wf = new float[panel * 4 * cols];
            widenScratch.set(wf);
        }
        float[] acc = accScratch.get();
        for (int p0 = from; p0 < to; p0 += panel) {
            int p1 = Math.min(to, p0 + panel);
            for (int g = p0; g < p1; g++) {
                VectorKernels.widenRows(weight, g * 4, Math.min(4, rows - g * 4), wf, (g - p0) * 4 * cols);
            }
            for (int t0 = 0; t0 < T; t0 += tokenBlock) {
                int t1 = Math.min(T, t0 + tokenBlock);
                for (int g = p0; g < p1; g++) {
                    int r0 = g * 4, wOff = (g - p0) * 4 * cols;
                    int n = Math.min(4, rows - r0);
                    if (n == 4) {
                        int t = t0;
                        for (; t + 4 <= t1; t += 4) {
                            VectorKernels.dot4x4(wf, wOff, cols, r0, rows, in, t, out, acc);
                        }
                        for (; t < t1; t++) {
                            VectorKernels.dot4x1(wf, wOff, cols, r0, rows, in, t, out, acc);
                        }
                    } else {
                        for (int r = 0; r < n; r++) {
                            for (int t = t0; t < t1; t++) {
                                out[t * rows + r0 + r] = VectorKernels.dot(wf, wOff + r * cols, in, t * cols, cols);
                            }
                        }
                    }
                }
            }
        }
        addBias(out, T, rows, bias, from, to);
    }

    private static void addBias(float[] out, int T, int rows, MemorySegment bias, int fromGroup, int toGroup) {
        if (bias != null) {
            for (int r = fromGroup * 4; r < Math.min(rows, toGroup * 4); r++) {
                float b = bias.get(F32, (long) r * 4);
                for (int t = 0; t < T; t++) {
                    out[t * rows + r] += b;
                }
            }
        }
    }

    private void ensureCapacity(int T) {
        if (T <= capacity) {
            return;
        }
        int n = Math.max(T, capacity * 2);
        x = new float[n * c.hiddenSize()];
        xb = new float[n * Math.max(c.hiddenSize(), c.qDim())];
        q = new float[n * c.qDim()];
        k = new float[n * c.kvDim()];
        v = new float[n * c.kvDim()];
        att = new float[n * c.qDim()];
        gate = new float[n * c.intermediateSize()];
        up = new float[n * c.intermediateSize()];
        ropeCos = new float[n * c.headDim() / 2];
        ropeSin = new float[n * c.headDim() / 2];
        positions = new int[n];
        tokenSeq = new int[n];
        qkvOut = new float[][]{q, k, v};
        gateUpOut = new float[][]{gate, up};
        capacity = n;
    }
}
