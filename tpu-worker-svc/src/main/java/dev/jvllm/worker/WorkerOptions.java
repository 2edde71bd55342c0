package dev.jvllm.worker;

import dev.jvllm.worker.pjrt.CompileCache;

import dev.jvllm.worker.cpu.KvCacheDtype;
import java.nio.file.Path;
import java.util.Optional;

/**
 * How to start a worker.
 *
 * @param modelDir         Hugging Face model directory (--model)
 * @param maxModelLen      longest sequence served (--max-model-len); 0: the model's max_position_embeddings
 * @param kvCacheSpaceGiB  memory for the KV cache when InitCache asks for "as many blocks as fit" (--kv-cache-space)
 * @param threads          compute threads; 0: one per available processor
 * @param seed             seed of the RNG that unseeded requests draw from (--seed)
 * @param dtype            --dtype; the cpu backend computes in float32 whatever the weights' dtype
 *                         ("auto", "float32", "float16", "bfloat16", "half", "float" accepted); the pjrt backends
 *                         store weights and KV cache as bfloat16 for auto/bfloat16, float32 for float32/float
 * @param device           --device: cpu, tpu, cuda or pjrt:/path/to/plugin.so (any other value than cpu runs the
 *                         pjrt backend on that PJRT plugin)
 * @param compileCacheDir  --compile-cache-dir: where the pjrt backends keep compiled executables
 * @param maxNumBatchedTokens --max-num-batched-tokens: largest token bucket the pjrt backends compile; 0: 512
 * @param maxNumSeqs       --max-num-seqs: largest sequence bucket the pjrt backends compile; 0: 64
 * @param loadFormat       --load-format: auto (safetensors directory or a .gguf file) or dummy (random weights
 *                         from config.json alone, as vLLM)
 * @param kvCacheDtype     --kv-cache-dtype: auto (the model's own type; f16 for quantized models), float32, bfloat16, float16 or fp8_e5m2
 */
public record WorkerOptions(Path modelDir, int maxModelLen, double kvCacheSpaceGiB, int threads, long seed,
                            String dtype, String device, Path compileCacheDir, int maxNumBatchedTokens, int maxNumSeqs,
                            String loadFormat, String kvCacheDtype) {

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
        device = device == null || device.isBlank() ? "cpu" : device.trim();
        if (!device.equals("cpu") && !device.equals("tpu") && !device.equals("cuda") && !device.startsWith("pjrt:")) {
            throw new IllegalArgumentException("unknown --device '" + device
                    + "': expected cpu, tpu, cuda or pjrt:/path/to/plugin.so");
        }
        if (device.equals("pjrt:")) {
            throw new IllegalArgumentException("--device pjrt: needs a path, e.g. pjrt:/path/to/plugin.so");
        }
        compileCacheDir = compileCacheDir == null ? defaultCompileCacheDir() : compileCacheDir;
        if (maxNumBatchedTokens < 0 || maxNumSeqs < 0) {
            throw new IllegalArgumentException("maxNumBatchedTokens and maxNumSeqs must be >= 0 (0: backend default)");
        }
        loadFormat = loadFormat == null ? "auto" : loadFormat;
        if (!loadFormat.equals("auto") && !loadFormat.equals("dummy")) {
            throw new IllegalArgumentException("unsupported --load-format '" + loadFormat + "' (auto, dummy)");
        }
        kvCacheDtype = kvCacheDtype == null ? "auto" : kvCacheDtype;
        KvCacheDtype.parse(kvCacheDtype);
    }

    /** The cpu backend with the default compile cache and bucket limits (the launcher's original constructor). */
    public WorkerOptions(Path modelDir, int maxModelLen, double kvCacheSpaceGiB, int threads, long seed, String dtype) {
        this(modelDir, maxModelLen, kvCacheSpaceGiB, threads, seed, dtype, "cpu", null, 0, 0, "auto", "auto");
    }

    /** Runs on the cpu backend (no plugin). */
    public boolean cpu() {
        return device.equals("cpu");
    }

    /** Env VLLM_XLA_CACHE_PATH (as vLLM's TPU backend), else $XDG_CACHE_HOME/jvllm/xla, else ~/.cache/jvllm/xla. */
    public static Path defaultCompileCacheDir() {
        return CompileCache.resolveRoot(Optional.empty(), System.getenv(), Path.of(System.getProperty("user.home")));
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
        return new WorkerOptions(modelDir, v, kvCacheSpaceGiB, threads, seed, dtype, device, compileCacheDir,
                maxNumBatchedTokens, maxNumSeqs, loadFormat, kvCacheDtype);
    }

    public WorkerOptions withThreads(int v) {
        return new WorkerOptions(modelDir, maxModelLen, kvCacheSpaceGiB, v, seed, dtype, device, compileCacheDir,
                maxNumBatchedTokens, maxNumSeqs, loadFormat, kvCacheDtype);
    }

    public WorkerOptions withDevice(String v) {
        return new WorkerOptions(modelDir, maxModelLen, kvCacheSpaceGiB, threads, seed, dtype, v, compileCacheDir,
                maxNumBatchedTokens, maxNumSeqs, loadFormat, kvCacheDtype);
    }

    public WorkerOptions withCompileCacheDir(Path v) {
        return new WorkerOptions(modelDir, maxModelLen, kvCacheSpaceGiB, threads, seed, dtype, device, v,
                maxNumBatchedTokens, maxNumSeqs, loadFormat, kvCacheDtype);
    }
}
