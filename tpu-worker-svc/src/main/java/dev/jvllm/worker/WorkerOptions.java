package dev.jvllm.worker;

import java.nio.file.Path;

/**
 * How to start a worker.
 *
 * @param modelDir         Hugging Face model directory (--model)
 * @param maxModelLen      longest sequence served (--max-model-len); 0: the model's max_position_embeddings
 * @param kvCacheSpaceGiB  memory for the KV cache when InitCache asks for "as many blocks as fit" (--kv-cache-space)
 * @param threads          compute threads; 0: one per available processor
 * @param seed             seed of the RNG that unseeded requests draw from (--seed)
 * @param dtype            --dtype; the cpu backend computes in float32 whatever the weights' dtype
 *                         ("auto", "float32", "float16", "bfloat16", "half", "float" accepted)
 */
public record WorkerOptions(Path modelDir, int maxModelLen, double kvCacheSpaceGiB, int threads, long seed,
                            String dtype) {

    public static final double DEFAULT_KV_CACHE_SPACE_GIB = 4.0;

    public WorkerOptions {
        if (modelDir == null) {
            throw new IllegalArgumentException("modelDir is required");
        }
        if (maxModelLen < 0) {
            throw new IllegalArgumentException("maxModelLen must be >= 0, got " + maxModelLen);
        }
        if (!(kvCacheSpaceGiB > 0)) {
            throw new IllegalArgumentException("kvCacheSpaceGiB must be > 0, got " + kvCacheSpaceGiB);
        }
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0, got " + threads);
        }
        dtype = dtype == null ? "auto" : dtype;
        switch (dtype) {
            case "auto", "float32", "float", "float16", "half", "bfloat16" -> { }
            default -> throw new IllegalArgumentException("unsupported dtype '" + dtype
                    + "' (auto, float32, float16, bfloat16)");
        }
    }

    /** Defaults: model length, KV space from env VLLM_CPU_KVCACHE_SPACE (GiB) else 4, all cores, seed 0, auto dtype. */
    public static WorkerOptions defaults(Path modelDir) {
        return new WorkerOptions(modelDir, 0, defaultKvCacheSpaceGiB(), 0, 0, "auto");
    }

    public static double defaultKvCacheSpaceGiB() {
        String env = System.getenv("VLLM_CPU_KVCACHE_SPACE");
        if (env != null && !env.isBlank()) {
            try {
                double v = Double.parseDouble(env.trim());
                if (v > 0) {
                    return v;
                }
            } catch (NumberFormatException ignored) {
                // fall through to the default
            }
        }
        return DEFAULT_KV_CACHE_SPACE_GIB;
    }

    public WorkerOptions withMaxModelLen(int v) {
        return new WorkerOptions(modelDir, v, kvCacheSpaceGiB, threads, seed, dtype);
    }

    public WorkerOptions withKvCacheSpaceGiB(double v) {
        return new WorkerOptions(modelDir, maxModelLen, v, threads, seed, dtype);
    }

    public WorkerOptions withThreads(int v) {
        return new WorkerOptions(modelDir, maxModelLen, kvCacheSpaceGiB, v, seed, dtype);
    }

    public WorkerOptions withSeed(long v) {
        return new WorkerOptions(modelDir, maxModelLen, kvCacheSpaceGiB, threads, v, dtype);
    }
}
