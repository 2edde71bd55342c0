package dev.jvllm.scheduler;

/** One physical KV block as the scheduler accounts for it. Intrusive links make free-queue removal O(1). */
final class KvBlock {
    final int id;
    int refCount;
    /** Set while the block holds a full, reusable run of tokens registered in the prefix cache. */
    BlockHash hash;
    KvBlock prevFree;
    KvBlock nextFree;

    KvBlock(int id) {
        this.id = id;
    }

    boolean inFreeQueue() {
        return prevFree != null;
    }

    @Override
    public String toString() {
        return "KvBlock[" + id + ", ref=" + refCount + (hash != null ? ", cached" : "") + "]";
    }
}
