package dev.jvllm.worker;

import dev.jvllm.proto.InitCacheResponse;
import dev.jvllm.proto.ModelConfig;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.proto.SeqOutput;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.proto.TokenLogprobs;
import dev.jvllm.proto.WorkerInfo;
import dev.jvllm.worker.cpu.ComputePool;
import dev.jvllm.worker.cpu.KvCacheDtype;
import dev.jvllm.worker.cpu.CpuModelRunner;
import dev.jvllm.worker.cpu.PagedKvCache;
import dev.jvllm.worker.cpu.StepInput;
import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.sampling.Logprobs;
import dev.jvllm.worker.sampling.Sampler;
import dev.jvllm.worker.sampling.SequenceState;
import io.grpc.Status;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntUnaryOperator;

/**
 * The cpu backend: memory-mapped weights, a paged KV cache in host memory, the forward pass on a
 * fixed compute pool, and each running sequence's sampling state. Every sampling feature and
 * prompt logprobs are supported.
 */
public final class CpuWorkerBackend implements ModelBackend {
    /** At most this many sequences' worth of blocks are ever allocated, however much KV space is allowed. */
    static final int MAX_SEQS_FOR_CACHE_SIZING = 256;

    private final WorkerOptions options;
    private final LlamaWeights weights;
    private final dev.jvllm.worker.model.ModelConfig config;
    private final int maxModelLen;
    private final ComputePool pool;
    private final CpuModelRunner runner;
    private final Sampler sampler;
    private final WorkerInfo info;

    private final KvCacheDtype kvType;
    private PagedKvCache cache;
    private final Map<Long, SequenceState> sequences = new HashMap<>();
    private final Map<Long, float[]> pendingPromptLogits = new HashMap<>();

    private CpuWorkerBackend(WorkerOptions options, LlamaWeights weights) {
        this.options = options;
        this.weights = weights;
        this.config = weights.config();
        int modelMax = config.maxPositionEmbeddings();
        if (options.maxModelLen() > modelMax) {
            throw new IllegalArgumentException("--max-model-len " + options.maxModelLen()
                    + " exceeds the model's max_position_embeddings " + modelMax);
        }
        this.maxModelLen = options.maxModelLen() == 0 ? modelMax : options.maxModelLen();
        int threads = options.threads() == 0 ? Runtime.getRuntime().availableProcessors() : options.threads();
        // vLLM's CPU backend pins its OpenMP threads from VLLM_CPU_OMP_THREADS_BIND ("0-3", "0,2,4"); so do we.
        this.pool = new ComputePool(threads, System.getenv("VLLM_CPU_OMP_THREADS_BIND"));
        this.runner = new CpuModelRunner(weights, pool, maxModelLen);
        this.sampler = new Sampler(config.vocabSize(), options.seed());
        this.kvType = KvCacheDtype.resolve(options.kvCacheDtype(), weights.layer(0).wq().type());
        this.info = describe(options, config, maxModelLen, kvType);
    }

    /** Loads the model (memory-mapped) and prepares the compute threads; the KV cache waits for InitCache. */
    public static CpuWorkerBackend load(WorkerOptions options) {
        LlamaWeights weights = loadWeights(options);
        try {
            return new CpuWorkerBackend(options, weights);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /** A safetensors directory, a bare .gguf file, or (--load-format dummy) random weights for a config.json. */
    private static LlamaWeights loadWeights(WorkerOptions options) {
        if (options.loadFormat().equals("dummy")) {
            return LlamaWeights.dummy(options.modelDir(), options.dtype(), options.seed());
        }
        if (options.modelDir().getFileName() != null && options.modelDir().getFileName().toString().endsWith(".gguf")) {
            return LlamaWeights.loadGguf(options.modelDir());
        }
        return LlamaWeights.load(options.modelDir());
    }

    private static WorkerInfo describe(WorkerOptions options, dev.jvllm.worker.model.ModelConfig c, int maxModelLen,
                                       KvCacheDtype kvType) {
        return WorkerInfo.newBuilder()
                .setModel(options.modelDir().toString())
                .setConfig(ModelConfig.newBuilder()
                        .setArchitecture(c.architecture()).setHiddenSize(c.hiddenSize()).setNumLayers(c.numLayers())
                        .setNumHeads(c.numHeads()).setNumKvHeads(c.numKvHeads()).setHeadDim(c.headDim())
                        .setIntermediateSize(c.intermediateSize()).setVocabSize(c.vocabSize())
                        .setMaxPositionEmbeddings(c.maxPositionEmbeddings()).setDtype(c.dtype()))
                .addAllEosTokenIds(c.eosTokenIds())
                .setBackend("cpu")
                .setMaxModelLen(maxModelLen)
                .setKvBytesPerBlockToken(PagedKvCache.bytesPerToken(c.numLayers(), c.kvDim(), kvType))
                .build();
    }

    @Override
    public WorkerInfo describe() {
        return info;
    }

    @Override
    public InitCacheResponse initCache(int blockSize, int requestedBlocks) {
        long bytesPerBlock = PagedKvCache.bytesPerToken(config.numLayers(), config.kvDim(), kvType) * blockSize;
        long blocksPerSeq = (maxModelLen + blockSize - 1) / blockSize;
        int numBlocks = requestedBlocks;
        if (numBlocks == 0) {
            long fit = (long) (options.kvCacheSpaceGiB() * (1L << 30)) / bytesPerBlock;
            numBlocks = (int) Math.min(Integer.MAX_VALUE, Math.min(fit, blocksPerSeq * MAX_SEQS_FOR_CACHE_SIZING));
            if (numBlocks < 1) {
                throw Status.RESOURCE_EXHAUSTED.withDescription("KV cache space of " + options.kvCacheSpaceGiB()
                        + " GiB holds no block of " + bytesPerBlock + " bytes").asRuntimeException();
            }
        }
        sequences.clear();
        pendingPromptLogits.clear();
        if (cache == null || cache.blockSize() != blockSize || cache.numBlocks() != numBlocks) {
            if (cache != null) {
                cache.close();
                cache = null;
            }
            try {
                cache = new PagedKvCache(config.numLayers(), numBlocks, blockSize, config.kvDim(), kvType);
            } catch (RuntimeException | OutOfMemoryError e) {
                throw Status.RESOURCE_EXHAUSTED.withDescription("cannot allocate the KV cache: " + e)
                        .withCause(e).asRuntimeException();
            }
        }
        return InitCacheResponse.newBuilder().setNumBlocks(numBlocks).setBlockSize(blockSize).build();
    }

    @Override
    public boolean hasSequence(long seqId) {
        return sequences.containsKey(seqId);
    }

    @Override
    public StepResponse step(StepRequest request) {
        long started = System.nanoTime();
        for (long id : request.getFinishedSeqIdsList()) {
            sequences.remove(id);
            pendingPromptLogits.remove(id);
        }
        List<StepInput.SeqChunk> chunks = new ArrayList<>(request.getSeqsCount());
        int[] firstRow = new int[request.getSeqsCount()];
        SequenceState[] states = new SequenceState[request.getSeqsCount()];
        int rowCount = 0;
        for (int i = 0; i < request.getSeqsCount(); i++) {
            ScheduledSeq s = request.getSeqs(i);
            if (s.hasNewSeq()) {
                states[i] = new SequenceState(s.getNewSeq());
                sequences.put(s.getSeqId(), states[i]);
                pendingPromptLogits.remove(s.getSeqId());
            } else {
                states[i] = sequences.get(s.getSeqId());
            }
            int[] tokens = toArray(s.getTokenIdsCount(), s::getTokenIds);
            states[i].feed(s.getStartPos(), tokens);
            chunks.add(new StepInput.SeqChunk(tokens, s.getStartPos(), toArray(s.getBlockTableCount(), s::getBlockTable)));
            firstRow[i] = rowCount;
            rowCount += WorkerService.logitRowsOf(s);
        }
        // A sequence's logit rows are its last logitRowsOf tokens: all of them, the last one, or none.
        int[] logitRows = new int[rowCount];
        int r = 0;
        int tokenEnd = 0;
        for (ScheduledSeq s : request.getSeqsList()) {
            tokenEnd += s.getTokenIdsCount();
            for (int t = tokenEnd - WorkerService.logitRowsOf(s); t < tokenEnd; t++) {
                logitRows[r++] = t;
            }
        }
        float[] logits = runner.forward(new StepInput(chunks, logitRows), cache);

        int vocab = config.vocabSize();
        StepResponse.Builder response = StepResponse.newBuilder().setStepId(request.getStepId());
        for (int i = 0; i < request.getSeqsCount(); i++) {
            ScheduledSeq s = request.getSeqs(i);
            SequenceState state = states[i];
            SeqOutput.Builder o = SeqOutput.newBuilder().setSeqId(s.getSeqId()).setTokenId(-1);
            int lastRowOff = (firstRow[i] + WorkerService.logitRowsOf(s) - 1) * vocab;
            if (s.getWantPromptLogprobs()) {
                addPromptLogprobs(o, s, state, logits, firstRow[i] * vocab);
                if (!s.getDoSample()) {
                    float[] last = new float[vocab];
                    System.arraycopy(logits, lastRowOff, last, 0, vocab);
                    pendingPromptLogits.put(s.getSeqId(), last);
                } else {
                    pendingPromptLogits.remove(s.getSeqId());
                }
            }
            if (s.getDoSample()) {
                Sampler.Result result = sampler.sample(logits, lastRowOff, state);
                o.setTokenId(result.tokenId());
                if (result.logprobs() != null) {
                    o.setLogprobs(result.logprobs());
                }
            }
            response.addOutputs(o);
        }
        return response.setComputeSeconds((System.nanoTime() - started) / 1e9).build();
    }

    /**
     * Prompt logprobs of the fed tokens: token_ids[i] from row i-1, and token_ids[0] (when start_pos > 0)
     * from the last row of the sequence's previous chunk. Prompt logprobs use the raw model logits.
     */
    private void addPromptLogprobs(SeqOutput.Builder o, ScheduledSeq s, SequenceState state, float[] logits,
                                   int firstRowOff) {
        int vocab = config.vocabSize();
        SamplingParams p = state.params();
        int topN = p.hasPromptLogprobs() ? p.getPromptLogprobs() : 0;
        if (s.getStartPos() > 0) {
            float[] previous = pendingPromptLogits.get(s.getSeqId());
            if (previous != null) {
                o.addPromptLogprobs(Logprobs.of(previous, 0, vocab, s.getTokenIds(0), topN));
            } else {
                // The logits that predicted this token were computed before the sequence's state was restarted.
                o.addPromptLogprobs(TokenLogprobs.newBuilder().setTokenId(s.getTokenIds(0)));
            }
        }
        for (int t = 1; t < s.getTokenIdsCount(); t++) {
            o.addPromptLogprobs(Logprobs.of(logits, firstRowOff + (t - 1) * vocab, vocab, s.getTokenIds(t), topN));
        }
    }

    /** Through the primitive indexed getter: the proto's List<Integer> view boxes every id above 127. */
    private static int[] toArray(int n, IntUnaryOperator get) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = get.applyAsInt(i);
        }
        return a;
    }

    /** Frees the KV cache, the weights' mappings and the compute threads. */
    @Override
    public void close() {
        pool.close();
        if (cache != null) {
            cache.close();
            cache = null;
        }
        weights.close();
    }
}
