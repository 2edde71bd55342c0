package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Off-heap key and value caches (f32, bf16 or fp8 e5m2: {@link KvCacheDtype}), one pair of segments per layer. Values are laid out
 * [block][slot in block][kv head][head dim] (a token's V for all kv heads is contiguous); keys are
 * transposed within a block, [block][kv head][head dim][slot in block], so that the scores of a
 * whole block are a sum of head-dim vectors over the slots, with no horizontal reductions.
 */
public final class PagedKvCache implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final int numBlocks;
    private final int blockSize;
    private final int kvDim;
    private final MemorySegment[] keys;
    private final MemorySegment[] values;
    private final KvCacheDtype dtype;

    public PagedKvCache(int numLayers, int numBlocks, int blockSize, int kvDim) {
        this(numLayers, numBlocks, blockSize, kvDim, KvCacheDtype.F32);
    }

    public PagedKvCache(int numLayers, int numBlocks, int blockSize, int kvDim, KvCacheDtype dtype) {
        this.dtype = dtype;
        this.numBlocks = numBlocks;
        this.blockSize = blockSize;
        this.kvDim = kvDim;
        this.keys = new MemorySegment[numLayers];
        this.values = new MemorySegment[numLayers];
        // The fp8 kernels may read a few bytes past the last entry (LlamaWeights.Matrix.READ_PAST).
        long bytes = (long) numBlocks * blockSize * kvDim * dtype.bytesPerElement() + LlamaWeights.Matrix.READ_PAST;
        for (int l = 0; l < numLayers; l++) {
            keys[l] = arena.allocate(bytes, 64);
            values[l] = arena.allocate(bytes, 64);
        }
    }

    public static long bytesPerToken(int numLayers, int kvDim) {
        return bytesPerToken(numLayers, kvDim, KvCacheDtype.F32);
    }

    public static long bytesPerToken(int numLayers, int kvDim, KvCacheDtype dtype) {
        return 2L * numLayers * kvDim * dtype.bytesPerElement();
    }

    public KvCacheDtype dtype() {
        return dtype;
    }

    public int numBlocks() {
        return numBlocks;
    }

    public int blockSize() {
        return blockSize;
    }

    public MemorySegment keys(int layer) {
        return keys[layer];
    }

    public MemorySegment values(int layer) {
        return values[layer];
    }

    /** Byte offset of the V row of {@code position} for kv head 0, given the sequence's block table. */
    public long tokenOffset(int[] blockTable, int position) {
        int block = blockTable[position / blockSize];
        return ((long) block * blockSize + position % blockSize) * kvDim * dtype.bytesPerElement();
    }

    /** Byte offset of key element (kv head 0, dim 0, slot 0) of a block; dim d of head h is {@code (h * headDim + d) * blockSize} floats further. */
    public long keyBlockOffset(int block) {
        return (long) block * blockSize * kvDim * dtype.bytesPerElement();
    }

    @Override
    public void close() {
        arena.close();
    }
}
