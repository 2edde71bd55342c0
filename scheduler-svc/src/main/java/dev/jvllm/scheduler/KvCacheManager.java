package dev.jvllm.scheduler;

import java.security.MessageDigest;
import java.util.List;

/**
 * Per-sequence block tables over a {@link BlockPool}, with automatic prefix caching: full blocks are
 * registered under a chained hash once the worker has computed them, and a new sequence starts from the
 * longest run of cached blocks matching its tokens.
 */
final class KvCacheManager {
    private final BlockPool pool;
    private final int blockSize;
    private final boolean prefixCaching;
    private final String modelName;
    private final MessageDigest sha256 = BlockHash.newDigest();

    KvCacheManager(int numBlocks, int blockSize, boolean prefixCaching, String modelName) {
        this.pool = new BlockPool(numBlocks);
        this.blockSize = blockSize;
        this.prefixCaching = prefixCaching;
        this.modelName = modelName;
    }

    BlockPool pool() {
        return pool;
    }

    boolean prefixCaching() {
        return prefixCaching;
    }

    /**
     * Whether the sequence's blocks go through the hash index. With prefix caching off, the n sequences of
     * one request still share their prompt blocks this way, under a namespace private to the request.
     */
    boolean usesCache(Sequence s) {
        return prefixCaching || s.request.seqs.size() > 1;
    }

    int blocksFor(int numTokens) {
        return (numTokens + blockSize - 1) / blockSize;
    }

    /**
     * Longest cached prefix of the sequence's tokens, in whole blocks, never covering the last token: the
     * worker must feed at least one token to produce logits for the next one.
     */
    List<KvBlock> findCachedPrefix(Sequence s) {
        if (!usesCache(s)) return List.of();
        int maxBlocks = (s.numTokens() - 1) / blockSize;
        ensureHashes(s, maxBlocks);
        List<KvBlock> hits = new java.util.ArrayList<>();
        for (int i = 0; i < maxBlocks; i++) {
            KvBlock b = pool.lookup(s.blockHashes.get(i));
            if (b == null) break;
            hits.add(b);
        }
        return hits;
    }

    /**
     * Grows the sequence's table so it covers its computed tokens plus {@code numNewTokens}, first taking
     * references on {@code hits} (a new sequence's cached prefix). All-or-nothing: false leaves no trace.
     */
    boolean allocateSlots(Sequence s, List<KvBlock> hits, int numNewTokens) {
        int have = s.blockTable.size() + hits.size();
        int computed = hits.isEmpty() ? s.numComputed : hits.size() * blockSize;
        int needed = blocksFor(computed + numNewTokens) - have;
        int hitsFromFreeQueue = 0;
        for (KvBlock b : hits) if (b.refCount == 0) hitsFromFreeQueue++;
        if (Math.max(needed, 0) + hitsFromFreeQueue > pool.numFree()) return false;
        for (KvBlock b : hits) {
            pool.touch(b);
            s.blockTable.add(b);
        }
        s.numRegisteredBlocks = Math.max(s.numRegisteredBlocks, s.blockTable.size());
        for (int i = 0; i < needed; i++) s.blockTable.add(pool.allocate());
        return true;
    }

    /** Registers the sequence's newly computed full blocks so others (and a recompute) can reuse them. */
    void cacheComputedBlocks(Sequence s) {
        if (!usesCache(s)) return;
        int full = Math.min(s.numComputed / blockSize, s.blockTable.size());
        if (full <= s.numRegisteredBlocks) return;
        ensureHashes(s, full);
        for (int i = s.numRegisteredBlocks; i < full; i++) pool.cache(s.blockTable.get(i), s.blockHashes.get(i));
        s.numRegisteredBlocks = full;
    }

    void free(Sequence s) {
        pool.free(s.blockTable);
        s.blockTable.clear();
        s.numRegisteredBlocks = 0;
    }

    private void ensureHashes(Sequence s, int numBlocks) {
        String extra = null;
        for (int i = s.blockHashes.size(); i < numBlocks; i++) {
            BlockHash parent = i == 0 ? null : s.blockHashes.get(i - 1);
            if (i == 0) extra = modelName + '\u0000' + s.request.cacheSalt
                    + (prefixCaching ? "" : "\u0000request#" + s.request.arrivalOrder);
            s.blockHashes.add(BlockHash.of(sha256, parent, s.tokensArray(), i * blockSize, (i + 1) * blockSize, extra));
        }
    }
}
