package dev.jvllm.scheduler;

/**
 * Scheduler configuration, named after vLLM's engine arguments.
 *
 * @param blockSize            --block-size: tokens per KV block.
 * @param maxNumSeqs           --max-num-seqs: sequences in one step (and running at once).
 * @param maxNumBatchedTokens  --max-num-batched-tokens: tokens fed to the worker in one step.
 * @param maxModelLen          --max-model-len: prompt + output limit; 0 = the worker's.
 * @param enablePrefixCaching  --enable-prefix-caching / --no-enable-prefix-caching.
 * @param schedulingPolicy     --scheduling-policy: "fcfs" or "priority" (lower value first, then arrival).
 * @param maxWaitingRequests   waiting sequences admitted before new requests get RESOURCE_EXHAUSTED;
 *                             0 = unbounded. Default 1024: enough to keep a full batch fed many times
 *                             over while still pushing back on a flood instead of growing without bound.
 * @param numGpuBlocksOverride --num-gpu-blocks-override: KV blocks to ask the worker for; 0 = all it has.
 * @param modelName            --served-model-name reported by GetModelInfo and mixed into prefix-cache
 *                             hashes; empty = the worker's model.
 */
public record SchedulerOptions(
        int blockSize,
        int maxNumSeqs,
        int maxNumBatchedTokens,
        int maxModelLen,
        boolean enablePrefixCaching,
        String schedulingPolicy,
        int maxWaitingRequests,
        int numGpuBlocksOverride,
        String modelName) {

    public static final int DEFAULT_BLOCK_SIZE = 16;
    public static final int DEFAULT_MAX_NUM_SEQS = 256;
    public static final int DEFAULT_MAX_NUM_BATCHED_TOKENS = 2048;
    public static final int DEFAULT_MAX_WAITING_REQUESTS = 1024;

    public SchedulerOptions {
        if (blockSize < 1) throw new IllegalArgumentException("--block-size must be >= 1, got " + blockSize);
        if (maxNumSeqs < 1) throw new IllegalArgumentException("--max-num-seqs must be >= 1, got " + maxNumSeqs);
        if (maxNumBatchedTokens < 1)
            throw new IllegalArgumentException("--max-num-batched-tokens must be >= 1, got " + maxNumBatchedTokens);
        if (maxModelLen < 0) throw new IllegalArgumentException("--max-model-len must be >= 0, got " + maxModelLen);
        if (schedulingPolicy == null || schedulingPolicy.isEmpty()) schedulingPolicy = "fcfs";
        if (!schedulingPolicy.equals("fcfs") && !schedulingPolicy.equals("priority"))
            throw new IllegalArgumentException("--scheduling-policy must be fcfs or priority, got " + schedulingPolicy);
        if (maxWaitingRequests < 0)
            throw new IllegalArgumentException("max waiting requests must be >= 0, got " + maxWaitingRequests);
        if (numGpuBlocksOverride < 0)
            throw new IllegalArgumentException("--num-gpu-blocks-override must be >= 0, got " + numGpuBlocksOverride);
        if (modelName == null) modelName = "";
    }

    public static SchedulerOptions defaults() {
        return new SchedulerOptions(DEFAULT_BLOCK_SIZE, DEFAULT_MAX_NUM_SEQS, DEFAULT_MAX_NUM_BATCHED_TOKENS, 0,
                true, "fcfs", DEFAULT_MAX_WAITING_REQUESTS, 0, "");
    }

    public boolean priorityPolicy() {
        return schedulingPolicy.equals("priority");
    }

    public SchedulerOptions withBlockSize(int v) {
        return new SchedulerOptions(v, maxNumSeqs, maxNumBatchedTokens, maxModelLen, enablePrefixCaching,
                schedulingPolicy, maxWaitingRequests, numGpuBlocksOverride, modelName);
    }

    public SchedulerOptions withMaxNumSeqs(int v) {
        return new SchedulerOptions(blockSize, v, maxNumBatchedTokens, maxModelLen, enablePrefixCaching,
                schedulingPolicy, maxWaitingRequests, numGpuBlocksOverride, modelName);
    }

    public SchedulerOptions withMaxNumBatchedTokens(int v) {
        return new SchedulerOptions(blockSize, maxNumSeqs, v, maxModelLen, enablePrefixCaching,
                schedulingPolicy, maxWaitingRequests, numGpuBlocksOverride, modelName);
    }

    public SchedulerOptions withMaxModelLen(int v) {
        return new SchedulerOptions(blockSize, maxNumSeqs, maxNumBatchedTokens, v, enablePrefixCaching,
                schedulingPolicy, maxWaitingRequests, numGpuBlocksOverride, modelName);
    }

    public SchedulerOptions withEnablePrefixCaching(boolean v) {
        return new SchedulerOptions(blockSize, maxNumSeqs, maxNumBatchedTokens, maxModelLen, v,
                schedulingPolicy, maxWaitingRequests, numGpuBlocksOverride, modelName);
    }

    public SchedulerOptions withSchedulingPolicy(String v) {
        return new SchedulerOptions(blockSize, maxNumSeqs, maxNumBatchedTokens, maxModelLen, enablePrefixCaching,
                v, maxWaitingRequests, numGpuBlocksOverride, modelName);
    }

    public SchedulerOptions withMaxWaitingRequests(int v) {
        return new SchedulerOptions(blockSize, maxNumSeqs, maxNumBatchedTokens, maxModelLen, enablePrefixCaching,
                schedulingPolicy, v, numGpuBlocksOverride, modelName);
    }

    public SchedulerOptions withNumGpuBlocksOverride(int v) {
        return new SchedulerOptions(blockSize, maxNumSeqs, maxNumBatchedTokens, maxModelLen, enablePrefixCaching,
                schedulingPolicy, maxWaitingRequests, v, modelName);
    }

    public SchedulerOptions withModelName(String v) {
        return new SchedulerOptions(blockSize, maxNumSeqs, maxNumBatchedTokens, maxModelLen, enablePrefixCaching,
                schedulingPolicy, maxWaitingRequests, numGpuBlocksOverride, v);
    }
}
