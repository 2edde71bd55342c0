package dev.jvllm.worker;

import dev.jvllm.proto.DescribeRequest;
import dev.jvllm.proto.InitCacheRequest;
import dev.jvllm.proto.InitCacheResponse;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.proto.SeqSampling;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.proto.TokenIds;
import dev.jvllm.proto.WorkerGrpc;
import dev.jvllm.proto.WorkerInfo;
import dev.jvllm.worker.pjrt.CompileOptions;
import dev.jvllm.worker.pjrt.DeviceRuntime;
import dev.jvllm.worker.pjrt.PjrtApi;
import dev.jvllm.worker.pjrt.PjrtClient;
import dev.jvllm.worker.pjrt.PjrtElementType;
import dev.jvllm.worker.pjrt.PjrtException;
import dev.jvllm.worker.pjrt.PjrtPluginLocator;
import dev.jvllm.worker.pjrt.PjrtWorkerBackend;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Logger;

/**
 * The {@code Worker} gRPC service: validates the steps the scheduler sends and has a {@link ModelBackend}
 * execute them, the cpu backend or, for {@code --device tpu|cuda|pjrt:/path}, a PJRT device.
 *
 * <p>gRPC threads never compute: cache setup and steps run one at a time on a single step thread
 * (the cpu backend fans the matrix work out to its compute pool). A bad step is answered with
 * INVALID_ARGUMENT before anything is changed, so the worker keeps serving.
 */
public final class WorkerService extends WorkerGrpc.WorkerImplBase implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(WorkerService.class.getName());

    private final ModelBackend backend;
    private final WorkerInfo info;
    private final int vocab;
    private final int maxModelLen;
    private final ExecutorService stepThread;
    private final AtomicBoolean closed = new AtomicBoolean();

    // Touched only on stepThread: the cache geometry InitCache laid out (0 before).
    private int blockSize;
    private int numBlocks;

    /** Serves {@code backend}, which the service closes. */
    public WorkerService(ModelBackend backend) {
        this.backend = backend;
        this.info = backend.describe();
        this.vocab = info.getConfig().getVocabSize();
        this.maxModelLen = info.getMaxModelLen();
        this.stepThread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "jvllm-worker-step");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Loads the model on the backend {@code options.device()} names; the KV cache waits for InitCache.
     * cpu: memory-mapped weights and compute threads. Anything else: the PJRT plugin is located
     * ({@link PjrtPluginLocator}: {@link PjrtPluginLocator.PluginNotFoundException} when there is none),
     * loaded and version-checked ({@link PjrtApi}: {@link PjrtException} for a missing library, a library
     * without GetPjrtApi, an incompatible PJRT C API), a client created, and the weights uploaded.
     */
    public static WorkerService load(WorkerOptions options) {
        return load(options, PjrtPluginLocator.system());
    }

    /** {@link #load(WorkerOptions)} with the plugin search given (its environment and prefixes). */
    public static WorkerService load(WorkerOptions options, PjrtPluginLocator locator) {
        ModelBackend backend = options.cpu() ? CpuWorkerBackend.load(options) : loadPjrt(options, locator);
        try {
            return new WorkerService(backend);
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
    }

    private static PjrtWorkerBackend loadPjrt(WorkerOptions options, PjrtPluginLocator locator) {
        // Read the model first: a bad model directory should not be reported as a device problem.
        dev.jvllm.worker.model.ModelConfig config = dev.jvllm.worker.model.ModelConfig.read(options.modelDir());
        PjrtPluginLocator.PluginLocation plugin = locator.locate(options.device())
                .orElseThrow(() -> new IllegalArgumentException("--device " + options.device() + " needs no plugin"));
        PjrtApi api = PjrtApi.load(plugin.library());
        PjrtClient client = PjrtClient.create(api);
        LOG.info(() -> "--device " + options.device() + ": PJRT plugin " + plugin.library() + " (found via "
                + plugin.foundVia() + "), C API " + api.version() + ", platform " + client.platformName() + " "
                + client.platformVersion());
        DeviceRuntime device;
        try {
            device = DeviceRuntime.pjrt(client, CompileOptions.singleDevice());
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
        try {
            return new PjrtWorkerBackend(pjrtOptions(options), config, device);
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
    }

    static PjrtWorkerBackend.Options pjrtOptions(WorkerOptions o) {
        PjrtElementType storage = switch (o.dtype()) {
            case "auto", "bfloat16" -> PjrtElementType.BF16;
            case "float32", "float" -> PjrtElementType.F32;
            default -> throw new IllegalArgumentException("--dtype " + o.dtype()
                    + " is not supported on --device " + o.device() + " (auto, bfloat16, float32)");
        };
        PjrtWorkerBackend.Options d = PjrtWorkerBackend.Options.defaults(o.modelDir(), o.compileCacheDir());
        int tokens = o.maxNumBatchedTokens() == 0 ? d.maxNumBatchedTokens() : o.maxNumBatchedTokens();
        int seqs = o.maxNumSeqs() == 0 ? d.maxNumSeqs() : o.maxNumSeqs();
        return new PjrtWorkerBackend.Options(o.modelDir(), o.maxModelLen(), tokens, seqs, bucketPaddingGap(),
                o.kvCacheSpaceGiB(), o.compileCacheDir(), o.seed(), storage, d.warmupParallelism(),
                d.jvllmVersion(), d.console());
    }

    /** VLLM_TPU_BUCKET_PADDING_GAP: linear token buckets of this step instead of powers of two; 0 when unset. */
    private static int bucketPaddingGap() {
        String env = System.getenv("VLLM_TPU_BUCKET_PADDING_GAP");
        if (env == null || env.isBlank()) {
            return 0;
        }
        try {
            return Math.max(0, Integer.parseInt(env.trim()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("VLLM_TPU_BUCKET_PADDING_GAP must be an integer, got '" + env + "'");
        }
    }

    public WorkerInfo info() {
        return info;
    }

    /** The backend steps run on (for tests and diagnostics). */
    ModelBackend backend() {
        return backend;
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
                } catch (RuntimeException | OutOfMemoryError e) {
                    out.onError(statusOf(e, "InitCache"));
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
        // The old layout is gone whatever happens next: no step may run against it.
        this.blockSize = 0;
        this.numBlocks = 0;
        InitCacheResponse response = backend.initCache(blockSize, requestedBlocks);
        this.blockSize = response.getBlockSize();
        this.numBlocks = response.getNumBlocks();
        return response;
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
                    } catch (RuntimeException | OutOfMemoryError e) {
                        ended = true;
                        out.onError(statusOf(e, "step " + request.getStepId()));
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
        if (numBlocks == 0) {
            throw Status.FAILED_PRECONDITION.withDescription("Step before InitCache: the KV cache is not laid out")
                    .asRuntimeException();
        }
        validate(request);
        io.opentelemetry.api.trace.Span span = stepSpan(request);
        if (span == null) {
            return backend.step(request);
        }
        try {
            StepResponse response = backend.step(request);
            span.setAttribute("jvllm.step.compute_seconds", response.getComputeSeconds());
            return response;
        } catch (RuntimeException | Error e) {
            span.setStatus(io.opentelemetry.api.trace.StatusCode.ERROR, String.valueOf(e.getMessage()));
            throw e;
        } finally {
            span.end();
        }
    }

    /**
     * The step's span, a child of the scheduler's step span whose context rides in the request (the Step stream is
     * shared by all requests, so its gRPC metadata cannot carry it); null when the step is not traced.
     */
    private static io.opentelemetry.api.trace.Span stepSpan(StepRequest request) {
        if (request.getTraceContextCount() == 0) {
            return null;
        }
        dev.jvllm.common.telemetry.Telemetry t = dev.jvllm.common.telemetry.Telemetry.current();
        if (!t.tracingEnabled()) {
            return null;
        }
        return t.tracer("dev.jvllm.worker").spanBuilder("worker_step")
                .setParent(dev.jvllm.common.telemetry.TraceContexts.extract(t.openTelemetry(), request.getTraceContextMap()))
                .setAttribute("jvllm.step.id", request.getStepId())
                .setAttribute("jvllm.step.num_seqs", (long) request.getSeqsCount())
                .startSpan();
    }

    /** Rows of logits a sequence needs this step: one per fed token for prompt logprobs, else one to sample from, else none. */
    static int logitRowsOf(ScheduledSeq s) {
        return s.getWantPromptLogprobs() ? s.getTokenIdsCount() : (s.getDoSample() ? 1 : 0);
    }

    /**
     * The status a failure is answered with: a backend's own status as is; a request it cannot serve
     * INVALID_ARGUMENT; a device out of memory RESOURCE_EXHAUSTED; anything else INTERNAL.
     */
    static StatusRuntimeException statusOf(Throwable e, String what) {
        if (e instanceof StatusRuntimeException s) {
            return s;
        }
        Status status;
        if (e instanceof IllegalArgumentException) {
            status = Status.INVALID_ARGUMENT.withDescription(e.getMessage());
        } else if (e instanceof IllegalStateException) {
            status = Status.FAILED_PRECONDITION.withDescription(e.getMessage());
        } else if (e instanceof OutOfMemoryError || (e instanceof PjrtException p && p.code() == PJRT_RESOURCE_EXHAUSTED)) {
            status = Status.RESOURCE_EXHAUSTED.withDescription(what + " ran out of memory: " + e.getMessage());
        } else {
            status = Status.INTERNAL.withDescription(what + " failed: " + e);
        }
        return status.withCause(e).asRuntimeException();
    }

    /** PJRT_Error_Code_RESOURCE_EXHAUSTED. */
    private static final int PJRT_RESOURCE_EXHAUSTED = 8;

    /** Checks a whole step before any state changes, so a bad step leaves the worker as it was. */
    private void validate(StepRequest request) {
        int bs = blockSize;
        Set<Long> finished = new HashSet<>(request.getFinishedSeqIdsList());
        Set<Long> seen = new HashSet<>();
        long logitRows = 0;
        for (ScheduledSeq s : request.getSeqsList()) {
            long id = s.getSeqId();
            if (!seen.add(id)) {
                throw invalid(what(request, id) + "appears twice in the step");
            }
            if (!s.hasNewSeq() && (!backend.hasSequence(id) || finished.contains(id))) {
                throw invalid(what(request, id) + "unknown sequence (no new_seq given and no live state)");
            }
            if (s.hasNewSeq()) {
                validateSampling(what(request, id), s.getNewSeq(), s.getStartPos());
            }
            int n = s.getTokenIdsCount();
            if (n == 0) {
                throw invalid(what(request, id) + "no token_ids");
            }
            for (int i = 0; i < n; i++) {
                int t = s.getTokenIds(i);
                if (t < 0 || t >= vocab) {
                    throw invalid(what(request, id) + "token id " + t + " outside the vocabulary [0, " + vocab + ")");
                }
            }
            if (s.getStartPos() < 0) {
                throw invalid(what(request, id) + "negative start_pos " + s.getStartPos());
            }
            long end = (long) s.getStartPos() + n;
            if (end > maxModelLen) {
                throw invalid(what(request, id) + "positions up to " + (end - 1) + " exceed max_model_len " + maxModelLen);
            }
            long needBlocks = (end + bs - 1) / bs;
            if (s.getBlockTableCount() < needBlocks) {
                throw invalid(what(request, id) + "block_table has " + s.getBlockTableCount() + " blocks but positions [0, "
                        + end + ") need " + needBlocks + " of size " + bs);
            }
            for (int i = 0; i < s.getBlockTableCount(); i++) {
                int b = s.getBlockTable(i);
                if (b < 0 || b >= numBlocks) {
                    throw invalid(what(request, id) + "block id " + b + " outside [0, " + numBlocks + ")");
                }
            }
            logitRows += logitRowsOf(s);
        }
        if (logitRows * vocab > Integer.MAX_VALUE - 8) {
            throw invalid("step " + request.getStepId() + ": " + logitRows
                    + " rows of logits (prompt logprobs) do not fit in one step; use smaller chunks");
        }
    }

    /** The prefix of a bad sequence's message; built only on the error path, not per sequence per step. */
    private static String what(StepRequest request, long seqId) {
        return "step " + request.getStepId() + ", seq " + seqId + ": ";
    }

    private void validateSampling(String what, SeqSampling ss, int startPos) {
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
        if (t < 0 || t >= vocab) {
            throw invalid(what + ": token id " + t + " outside the vocabulary [0, " + vocab + ")");
        }
    }

    private static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }

    /** Stops the step thread, then closes the backend (KV cache, weights, device). */
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
        backend.close();
    }
}
