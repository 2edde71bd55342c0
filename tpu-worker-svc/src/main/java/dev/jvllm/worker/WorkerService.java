package dev.jvllm.worker;

import dev.jvllm.proto.DescribeRequest;
import dev.jvllm.proto.InitCacheRequest;
import dev.jvllm.proto.InitCacheResponse;
import dev.jvllm.proto.ModelConfig;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.proto.SeqOutput;
import dev.jvllm.proto.SeqSampling;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.proto.TokenIds;
import dev.jvllm.proto.TokenLogprobs;
import dev.jvllm.proto.WorkerGrpc;
import dev.jvllm.proto.WorkerInfo;
import dev.jvllm.worker.cpu.ComputePool;
import dev.jvllm.worker.cpu.CpuModelRunner;
import dev.jvllm.worker.cpu.PagedKvCache;
import dev.jvllm.worker.cpu.StepInput;
import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.sampling.Logprobs;
import dev.jvllm.worker.sampling.Sampler;
import dev.jvllm.worker.sampling.SequenceState;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The {@code Worker} gRPC service with the cpu backend: holds the weights, the paged KV cache and
 * each running sequence's sampling state, and executes the steps the scheduler sends.
 *
 * <p>gRPC threads never compute: cache setup and steps run one at a time on a single step thread,
 * which fans the matrix work out to a fixed compute pool. A bad step is answered with
 * INVALID_ARGUMENT before anything is changed, so the worker keeps serving.
 */
public final class WorkerService extends WorkerGrpc.WorkerImplBase implements AutoCloseable {
    /** At most this many sequences' worth of blocks are ever allocated, however much KV space is allowed. */
    static final int MAX_SEQS_FOR_CACHE_SIZING = 256;

    private final WorkerOptions options;
    private final LlamaWeights weights;
    private final dev.jvllm.worker.model.ModelConfig config;
    private final int maxModelLen;
    private final ComputePool pool;
    private final CpuModelRunner runner;
    private final Sampler sampler;
    private final ExecutorService stepThread;
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    // Touched only on stepThread.
    private PagedKvCache cache;
    private final Map<Long, SequenceState> sequences = new HashMap<>();
    private final Map<Long, float[]> pendingPromptLogits = new HashMap<>();

    private WorkerService(WorkerOptions options, LlamaWeights weights) {
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
        this.pool = new ComputePool(threads);
        this.runner = new CpuModelRunner(weights, pool, maxModelLen);
        this.sampler = new Sampler(config.vocabSize(), options.seed());
        this.stepThread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "jvllm-worker-step");
            t.setDaemon(true);
            return t;
        });
    }

    /** Loads the model (memory-mapped) and prepares the compute threads; the KV cache waits for InitCache. */
    public static WorkerService load(WorkerOptions options) {
        LlamaWeights weights = LlamaWeights.load(options.modelDir());
        try {
            return new WorkerService(options, weights);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    public WorkerInfo info() {
        dev.jvllm.worker.model.ModelConfig c = config;
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
                .setKvBytesPerBlockToken(PagedKvCache.bytesPerToken(c.numLayers(), c.kvDim()))
                .build();
    }

    @Override
    public void describe(DescribeRequest request, StreamObserver<WorkerInfo> out) {
        out.onNext(info());
        out.onCompleted();
    }

    @Override
    public void initCache(InitCacheRequest request, StreamObserver<InitCacheResponse> out) {
        try {
            stepThread.execute(() -> {
                try {
                    out.onNext(initCache(request.getBlockSize(), request.getNumBlocks()));
                    out.onCompleted();
                } catch (StatusRuntimeException e) {
                    out.onError(e);
                } catch (RuntimeException | OutOfMemoryError e) {
                    out.onError(Status.RESOURCE_EXHAUSTED.withDescription("cannot allocate the KV cache: " + e)
                            .asRuntimeException());
                }
            });
        } catch (RejectedExecutionException e) {
            out.onError(Status.UNAVAILABLE.withDescription("worker is shutting down").asRuntimeException());
        }
    }

    private InitCacheResponse initCache(int blockSize, int requestedBlocks) {
        if (blockSize <= 0 || blockSize > 4096) {
            throw invalid("block_size must be in [1, 4096], got " + blockSize);
        }
        if (requestedBlocks < 0) {
            throw invalid("num_blocks must be >= 0, got " + requestedBlocks);
        }
        long bytesPerBlock = PagedKvCache.bytesPerToken(config.numLayers(), config.kvDim()) * blockSize;
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
            cache = new PagedKvCache(config.numLayers(), numBlocks, blockSize, config.kvDim());
        }
        return InitCacheResponse.newBuilder().setNumBlocks(numBlocks).setBlockSize(blockSize).build();
    }

    @Override
    public StreamObserver<StepRequest> step(StreamObserver<StepResponse> out) {
        return new StreamObserver<>() {
            // Written and read on stepThread only.
            private boolean ended;

            @Override
            public void onNext(StepRequest request) {
                submit(() -> {
                    if (ended) {
                        return;
                    }
                    try {
                        out.onNext(runStep(request));
                    } catch (StatusRuntimeException e) {
                        ended = true;
                        out.onError(e);
                    } catch (RuntimeException | OutOfMemoryError e) {
                        ended = true;
                        out.onError(Status.INTERNAL.withDescription("step " + request.getStepId() + " failed: " + e)
                                .withCause(e).asRuntimeException());
                    }
                });
            }

            @Override
            public void onError(Throwable t) {
                submit(() -> ended = true);
            }

            @Override
            public void onCompleted() {
                submit(() -> {
                    if (!ended) {
                        ended = true;
                        out.onCompleted();
                    }
                });
            }

            private void submit(Runnable r) {
                try {
                    stepThread.execute(r);
                } catch (RejectedExecutionException e) {
                    // Shutting down: the server's shutdown ends the call.
                }
            }
        };
    }

    /** Validates, then executes one step. Runs on the step thread. */
    StepResponse runStep(StepRequest request) {
        if (cache == null) {
            throw Status.FAILED_PRECONDITION.withDescription("Step before InitCache: the KV cache is not laid out")
                    .asRuntimeException();
        }
        validate(request);
        long started = System.nanoTime();
        for (long id : request.getFinishedSeqIdsList()) {
            sequences.remove(id);
            pendingPromptLogits.remove(id);
        }
        List<StepInput.SeqChunk> chunks = new ArrayList<>(request.getSeqsCount());
        int[] firstRow = new int[request.getSeqsCount()];
        int rowCount = 0;
        for (int i = 0; i < request.getSeqsCount(); i++) {
            ScheduledSeq s = request.getSeqs(i);
            if (s.hasNewSeq()) {
                sequences.put(s.getSeqId(), new SequenceState(s.getNewSeq()));
                pendingPromptLogits.remove(s.getSeqId());
            }
            int[] tokens = toArray(s.getTokenIdsList());
            sequences.get(s.getSeqId()).feed(s.getStartPos(), tokens);
            chunks.add(new StepInput.SeqChunk(tokens, s.getStartPos(), toArray(s.getBlockTableList())));
            firstRow[i] = rowCount;
            rowCount += logitRowsOf(s);
        }
        int[] logitRows = new int[rowCount];
        int r = 0;
        int tokenBase = 0;
        for (ScheduledSeq s : request.getSeqsList()) {
            int n = s.getTokenIdsCount();
            if (s.getWantPromptLogprobs()) {
                for (int t = 0; t < n; t++) {
                    logitRows[r++] = tokenBase + t;
                }
            } else if (s.getDoSample()) {
                logitRows[r++] = tokenBase + n - 1;
            }
            tokenBase += n;
        }
        float[] logits = runner.forward(new StepInput(chunks, logitRows), cache);

        int vocab = config.vocabSize();
        StepResponse.Builder response = StepResponse.newBuilder().setStepId(request.getStepId());
        for (int i = 0; i < request.getSeqsCount(); i++) {
            ScheduledSeq s = request.getSeqs(i);
            SequenceState state = sequences.get(s.getSeqId());
            SeqOutput.Builder o = SeqOutput.newBuilder().setSeqId(s.getSeqId()).setTokenId(-1);
            int lastRowOff = (firstRow[i] + logitRowsOf(s) - 1) * vocab;
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

    private static int logitRowsOf(ScheduledSeq s) {
        return s.getWantPromptLogprobs() ? s.getTokenIdsCount() : (s.getDoSample() ? 1 : 0);
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

    /** Checks a whole step before any state changes, so a bad step leaves the worker as it was. */
    private void validate(StepRequest request) {
        int vocab = config.vocabSize();
        int bs = cache.blockSize();
        Set<Long> finished = new HashSet<>(request.getFinishedSeqIdsList());
        Set<Long> seen = new HashSet<>();
        long logitRows = 0;
        for (ScheduledSeq s : request.getSeqsList()) {
            long id = s.getSeqId();
            String what = "step " + request.getStepId() + ", seq " + id + ": ";
            if (!seen.add(id)) {
                throw invalid(what + "appears twice in the step");
            }
            if (!s.hasNewSeq() && (!sequences.containsKey(id) || finished.contains(id))) {
                throw invalid(what + "unknown sequence (no new_seq given and no live state)");
            }
            if (s.hasNewSeq()) {
                validateSampling(what, s.getNewSeq(), s.getStartPos());
            }
            int n = s.getTokenIdsCount();
            if (n == 0) {
                throw invalid(what + "no token_ids");
            }
            for (int t : s.getTokenIdsList()) {
                if (t < 0 || t >= vocab) {
                    throw invalid(what + "token id " + t + " outside the vocabulary [0, " + vocab + ")");
                }
            }
            if (s.getStartPos() < 0) {
                throw invalid(what + "negative start_pos " + s.getStartPos());
            }
            long end = (long) s.getStartPos() + n;
            if (end > maxModelLen) {
                throw invalid(what + "positions up to " + (end - 1) + " exceed max_model_len " + maxModelLen);
            }
            long needBlocks = (end + bs - 1) / bs;
            if (s.getBlockTableCount() < needBlocks) {
                throw invalid(what + "block_table has " + s.getBlockTableCount() + " blocks but positions [0, "
                        + end + ") need " + needBlocks + " of size " + bs);
            }
            for (int b : s.getBlockTableList()) {
                if (b < 0 || b >= cache.numBlocks()) {
                    throw invalid(what + "block id " + b + " outside [0, " + cache.numBlocks() + ")");
                }
            }
            logitRows += logitRowsOf(s);
        }
        if (logitRows * vocab > Integer.MAX_VALUE - 8) {
            throw invalid("step " + request.getStepId() + ": " + logitRows
                    + " rows of logits (prompt logprobs) do not fit in one step; use smaller chunks");
        }
    }

    private void validateSampling(String what, SeqSampling ss, int startPos) {
        int vocab = config.vocabSize();
        SamplingParams p = ss.getParams();
        if (ss.getPrefixTokenIdsCount() > 0 && ss.getPrefixTokenIdsCount() != startPos) {
            throw invalid(what + "new_seq.prefix_token_ids has " + ss.getPrefixTokenIdsCount()
                    + " tokens; it must be empty or hold all " + startPos + " tokens before start_pos");
        }
        for (int t : ss.getPrefixTokenIdsList()) {
            checkToken(what + "prefix_token_ids", t);
        }
        if (ss.getNumPromptTokens() < 0) {
            throw invalid(what + "negative num_prompt_tokens");
        }
        if (p.hasTemperature() && !(p.getTemperature() >= 0 && Float.isFinite(p.getTemperature()))) {
            throw invalid(what + "temperature must be >= 0, got " + p.getTemperature());
        }
        if (p.hasTopP() && !(p.getTopP() > 0 && p.getTopP() <= 1)) {
            throw invalid(what + "top_p must be in (0, 1], got " + p.getTopP());
        }
        if (p.getTopK() < -1) {
            throw invalid(what + "top_k must be -1, 0 (disabled) or positive, got " + p.getTopK());
        }
        if (!(p.getMinP() >= 0 && p.getMinP() <= 1)) {
            throw invalid(what + "min_p must be in [0, 1], got " + p.getMinP());
        }
        if (p.hasRepetitionPenalty() && !(p.getRepetitionPenalty() > 0 && Float.isFinite(p.getRepetitionPenalty()))) {
            throw invalid(what + "repetition_penalty must be > 0, got " + p.getRepetitionPenalty());
        }
        if (!Float.isFinite(p.getPresencePenalty()) || !Float.isFinite(p.getFrequencyPenalty())) {
            throw invalid(what + "presence/frequency penalties must be finite");
        }
        if (p.getMinTokens() < 0) {
            throw invalid(what + "min_tokens must be >= 0");
        }
        if (p.hasLogprobs() && (p.getLogprobs() < 0 || p.getLogprobs() > vocab)) {
            throw invalid(what + "logprobs must be in [0, " + vocab + "], got " + p.getLogprobs());
        }
        if (p.hasPromptLogprobs() && (p.getPromptLogprobs() < 0 || p.getPromptLogprobs() > vocab)) {
            throw invalid(what + "prompt_logprobs must be in [0, " + vocab + "], got " + p.getPromptLogprobs());
        }
        for (Map.Entry<Integer, Float> e : p.getLogitBiasMap().entrySet()) {
            checkToken(what + "logit_bias", e.getKey());
            if (!Float.isFinite(e.getValue())) {
                throw invalid(what + "logit_bias for token " + e.getKey() + " is not finite");
            }
        }
        for (int t : p.getAllowedTokenIdsList()) {
            checkToken(what + "allowed_token_ids", t);
        }
        for (TokenIds w : p.getBadWordsIdsList()) {
            for (int t : w.getIdsList()) {
                checkToken(what + "bad_words_ids", t);
            }
        }
        for (int t : ss.getStopIdsList()) {
            checkToken(what + "stop_ids", t);
        }
    }

    private void checkToken(String what, int t) {
        if (t < 0 || t >= config.vocabSize()) {
            throw invalid(what + ": token id " + t + " outside the vocabulary [0, " + config.vocabSize() + ")");
        }
    }

    private static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }

    private static int[] toArray(List<Integer> list) {
        int[] a = new int[list.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = list.get(i);
        }
        return a;
    }

    /** Stops the step thread, then frees the KV cache, the weights' mappings and the compute threads. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        stepThread.shutdown();
        try {
            if (!stepThread.awaitTermination(30, TimeUnit.SECONDS)) {
                stepThread.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        pool.close();
        if (cache != null) {
            cache.close();
            cache = null;
        }
        weights.close();
    }
}
