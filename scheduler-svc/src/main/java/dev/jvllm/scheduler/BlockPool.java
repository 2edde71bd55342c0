package dev.jvllm.scheduler;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Fixed set of KV blocks with reference counts, a free queue in LRU order and the prefix-cache index.
 *
 * <p>A block whose refcount drops to 0 goes to the tail of the free queue but keeps its hash, so a later
 * request with the same prefix can take it back (cache hit). Allocation takes from the head: the least
 * recently freed block is evicted first, and only then does it lose its cache entry.
 */
final class BlockPool {
    private final KvBlock[] blocks;
    private final KvBlock head = new KvBlock(-1); // sentinel: head.nextFree is the LRU block
    private final KvBlock tail = new KvBlock(-2);
    private final Map<BlockHash, KvBlock> cached = new HashMap<>();
    private int numFree;

    BlockPool(int numBlocks) {
        if (numBlocks < 1) throw new IllegalArgumentException("need at least one KV block, got " + numBlocks);
        blocks = new KvBlock[numBlocks];
        head.nextFree = tail;
        tail.prevFree = head;
        for (int i = 0; i < numBlocks; i++) {
            blocks[i] = new KvBlock(i);
            appendFree(blocks[i]);
        }
    }

    int numBlocks() {
        return blocks.length;
    }

    int numFree() {
        return numFree;
    }

    KvBlock block(int id) {
        return blocks[id];
    }

    KvBlock lookup(BlockHash hash) {
        return cached.get(hash);
    }

    /** Takes the least recently freed block, evicting its prefix-cache entry. Caller checked numFree(). */
    KvBlock allocate() {
        KvBlock b = head.nextFree;
        if (b == tail) throw new IllegalStateException("no free KV block");
        unlinkFree(b);
        evictHash(b);
        b.refCount = 1;
        return b;
    }

    /** Takes a reference on a cache hit, pulling the block out of the free queue if nobody held it. */
    void touch(KvBlock b) {
        if (b.refCount == 0) unlinkFree(b);
        b.refCount++;
    }

    /** Drops one reference per block; callers pass tail blocks first so those are evicted first. */
    void free(List<KvBlock> table) {
        for (int i = table.size() - 1; i >= 0; i--) {
            KvBlock b = table.get(i);
            if (b.refCount <= 0) throw new IllegalStateException("double free of " + b);
            if (--b.refCount == 0) appendFree(b);
        }
    }

    /** Registers a freshly computed full block. Keeps the existing block when another one already has the hash. */
    void cache(KvBlock b, BlockHash hash) {
        if (b.hash != null) return;
        if (cached.putIfAbsent(hash, b) == null) b.hash = hash;
    }

    /** Forgets every cached prefix (the worker dropped its cache contents). Only valid with no live block. */
    void resetCache() {
        for (KvBlock b : blocks) b.hash = null;
        cached.clear();
    }

    private void evictHash(KvBlock b) {
        if (b.hash != null) {
            cached.remove(b.hash, b);
            b.hash = null;
        }
    }

    private void appendFree(KvBlock b) {
        b.prevFree = tail.prevFree;
        b.nextFree = tail;
        tail.prevFree.nextFree = b;
        tail.prevFree = b;
        numFree++;
    }

    private void unlinkFree(KvBlock b) {
        b.prevFree.nextFree = b.nextFree;
        b.nextFree.prevFree = b.prevFree;
        b.prevFree = null;
        b.nextFree = null;
        numFree--;
    }

    /** Checks the free queue against refcounts and the cache index; throws on the first inconsistency. */
    void checkConsistency() {
        int n = 0;
        for (KvBlock b = head.nextFree; b != tail; b = b.nextFree) {
            if (b.refCount != 0) throw new IllegalStateException("free queue holds referenced " + b);
            if (++n > blocks.length) throw new IllegalStateException("free queue has a cycle");
        }
        if (n != numFree) throw new IllegalStateException("free count " + numFree + " but queue holds " + n);
        for (KvBlock b : blocks) {
            if (b.refCount < 0) throw new IllegalStateException("negative refcount " + b);
            if ((b.refCount == 0) != b.inFreeQueue()) throw new IllegalStateException("free queue membership " + b);
            if (b.hash != null && cached.get(b.hash) != b) throw new IllegalStateException("stale hash on " + b);
        }
        for (Map.Entry<BlockHash, KvBlock> e : cached.entrySet())
            if (e.getValue().hash == null || !e.getValue().hash.equals(e.getKey()))
                throw new IllegalStateException("cache index points at " + e.getValue());
    }
}
