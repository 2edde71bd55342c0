package dev.jvllm.scheduler;

import dev.jvllm.proto.AbortRequest;
import dev.jvllm.proto.AbortResponse;
import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.GenerateResponse;
import dev.jvllm.proto.InitCacheResponse;
import dev.jvllm.proto.ModelInfo;
import dev.jvllm.proto.ModelInfoRequest;
import dev.jvllm.proto.StatsRequest;
import dev.jvllm.proto.WorkerInfo;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The Engine gRPC service: a thin asynchronous shell around {@link Scheduler}. gRPC threads validate and
 * post to the {@link EngineLoop}'s inbox; the loop (one dedicated thread) owns the scheduler and the
 * worker's Step stream. Usage: {@code new SchedulerService(options, workerChannel)}, {@link #start()},
 * register on any io.grpc.Server, {@link #close()} on shutdown.
 */
public final class SchedulerService extends EngineGrpc.EngineImplBase implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SchedulerService.class);
    private static final long DESCRIBE_TIMEOUT_SECONDS = 60;
    private static final long INIT_CACHE_TIMEOUT_SECONDS = 600;

    private final SchedulerOptions options;
    private final WorkerClient worker;
    private volatile ModelInfo modelInfo;
    private volatile ModelSpec model;
    private volatile int maxN;
    private volatile EngineLoop loop;
    private Thread loopThread;
    private volatile boolean closed;
    private volatile boolean draining;
    private final java.util.List<java.util.function.Consumer<Boolean>> workerListeners = new java.util.concurrent.CopyOnWriteArrayList<>();

    public SchedulerService(SchedulerOptions options, Channel workerChannel) {
        this.options = options;
        this.worker = new WorkerClient(workerChannel);
    }

    /**
     * Describes the worker, lays out its KV cache and starts the engine loop.
     *
     * @throws IllegalStateException with a clear message when the configuration cannot work (e.g. not even
     *                               one max-length sequence fits the KV cache).
     */
    public synchronized void start() {
        if (loop != null) throw new IllegalStateException("already started");
        if (closed) throw new IllegalStateException("closed");
        WorkerInfo info;
        try {
            info = worker.describe(DESCRIBE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (io.grpc.StatusRuntimeException e) {
            throw new IllegalStateException("cannot reach the worker (Describe failed: " + e.getStatus() + ")", e);
        }
        int workerMax = info.getMaxModelLen() > 0 ? info.getMaxModelLen() : info.getConfig().getMaxPositionEmbeddings();
        int maxModelLen = options.maxModelLen() > 0 ? options.maxModelLen() : workerMax;
        if (workerMax > 0 && maxModelLen > workerMax)
            throw new IllegalStateException("--max-model-len " + maxModelLen + " is larger than the worker's maximum "
                    + workerMax + " (model " + info.getModel() + ")");
        if (maxModelLen < 2)
            throw new IllegalStateException("the worker reports no usable max model length; pass --max-model-len");
        int vocab = info.getConfig().getVocabSize();
        InitCacheResponse cache;
        try {
            cache = worker.initCache(options.blockSize(), options.numGpuBlocksOverride(), INIT_CACHE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (io.grpc.StatusRuntimeException e) {
            throw new IllegalStateException("the worker could not lay out its KV cache (InitCache failed: " + e.getStatus() + ")", e);
        }
        if (cache.getNumBlocks() < 1)
            throw new IllegalStateException("the worker has room for no KV block; give it more --kv-cache-space");
        if (cache.getBlockSize() != 0 && cache.getBlockSize() != options.blockSize())
            throw new IllegalStateException("worker laid out blocks of " + cache.getBlockSize() + " tokens, asked for " + options.blockSize());
        long capacity = (long) cache.getNumBlocks() * options.blockSize();
        if (capacity < maxModelLen)
            throw new IllegalStateException("the KV cache has " + cache.getNumBlocks() + " blocks of " + options.blockSize()
                    + " tokens (" + capacity + " tokens), fewer than one sequence of max model length " + maxModelLen
                    + "; give the worker more KV cache space (--kv-cache-space / --num-gpu-blocks-override) or lower --max-model-len");
        String name = options.modelName().isEmpty() ? info.getModel() : options.modelName();
        ModelSpec spec = new ModelSpec(name, vocab, maxModelLen, info.getEosTokenIdsList());
        Scheduler core = new Scheduler(options, spec, cache.getNumBlocks(), System::nanoTime);
        if (core.maxNumSeqs() < options.maxNumSeqs())
            log.warn("--max-num-seqs {} exceeds --max-num-batched-tokens {}: at most {} sequences will run at once",
                    options.maxNumSeqs(), options.maxNumBatchedTokens(), core.maxNumSeqs());
        model = spec;
        maxN = core.maxNumSeqs();
        modelInfo = ModelInfo.newBuilder()
                .setModel(name).setMaxModelLen(maxModelLen).setVocabSize(vocab)
                .addAllEosTokenIds(info.getEosTokenIdsList()).setBlockSize(options.blockSize())
                .setNumKvBlocks(cache.getNumBlocks()).setArchitecture(info.getConfig().getArchitecture())
                .setDtype(info.getConfig().getDtype()).build();
        loop = new EngineLoop(core, worker, options.blockSize());
        loop.setWorkerListener((attached, numBlocks) -> {
            if (attached) modelInfo = modelInfo.toBuilder().setNumKvBlocks(numBlocks).build();
            for (var l : workerListeners) l.accept(attached);
        });
        loopThread = Thread.ofPlatform().name("jvllm-engine-loop").daemon(true).start(loop);
        log.info("engine started: model {}, max model len {}, {} KV blocks of {} tokens, --max-num-seqs {}, --max-num-batched-tokens {}, prefix caching {}",
                name, maxModelLen, cache.getNumBlocks(), options.blockSize(), options.maxNumSeqs(),
                options.maxNumBatchedTokens(), options.enablePrefixCaching() ? "on" : "off");
    }

    /**
     * Calls {@code listener} (from the engine thread) each time the worker detaches (its step stream broke)
     * or attaches again (reconnected): e.g. to flip the gRPC health status to NOT_SERVING and back.
     */
    public void onWorkerAttachment(java.util.function.Consumer<Boolean> listener) {
        workerListeners.add(listener);
    }

    /** Whether a worker is attached right now (false while the engine is reconnecting). */
    public boolean workerAttached() {
        return stats().getWorkerConnected();
    }

    /**
     * Graceful drain: new Generate calls are refused with UNAVAILABLE from now on, while requests already
     * admitted run to completion. Returns true once none is left, false when {@code timeout} ran out first
     * (the caller then {@link #close()}s, which aborts the rest).
     */
    public boolean drain(java.time.Duration timeout) throws InterruptedException {
        draining = true;
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            EngineStats s = stats();
            if (s.getNumRunning() == 0 && s.getNumWaiting() == 0 && inboxSize() == 0) return true;
            if (System.nanoTime() >= deadline) return false;
            Thread.sleep(20);
        }
    }

    public boolean draining() {
        return draining;
    }

    public ModelInfo modelInfo() {
        return modelInfo;
    }

    /** Latest stats snapshot (published by the engine loop at every step boundary). */
    public EngineStats stats() {
        EngineLoop l = loop;
        return l == null ? EngineStats.getDefaultInstance() : l.stats();
    }

    /** Commands not yet picked up by the engine loop (for tests and debugging). */
    int inboxSize() {
        EngineLoop l = loop;
        return l == null ? 0 : l.inboxSize();
    }

    @Override
    public void generate(GenerateRequest request, StreamObserver<GenerateResponse> responseObserver) {
        long arrival = System.nanoTime();
        EngineLoop l = loop;
        if (l == null || closed) {
            responseObserver.onError(Status.UNAVAILABLE.withDescription("the engine is not running").asRuntimeException());
            return;
        }
        if (draining) {
            responseObserver.onError(Status.UNAVAILABLE.withDescription("the engine is draining before shutdown; retry on another replica")
                    .asRuntimeException());
            return;
        }
        String problem = RequestValidator.check(request, model, maxN);
        if (problem != null) {
            responseObserver.onError(Status.INVALID_ARGUMENT.withDescription(problem).asRuntimeException());
            return;
        }
        GenerateRequest req = request.getRequestId().isEmpty()
                ? request.toBuilder().setRequestId("req-" + UUID.randomUUID()).build() : request;
        ResponseStream stream = new ResponseStream(responseObserver);
        String id = req.getRequestId();
        if (responseObserver instanceof ServerCallStreamObserver<GenerateResponse> call) {
            // Fires on client cancellation, deadline, or the caller's Context being cancelled (e.g. the
            // gateway's HTTP client disconnected): abort and free the KV blocks at the next step boundary.
            call.setOnCancelHandler(() -> {
                stream.markCancelled();
                l.post(new EngineLoop.Cancel(id, stream));
            });
            call.setOnReadyHandler(stream::onReady);
        }
        if (!l.post(new EngineLoop.Submit(req, arrival, stream, l.tracing().captureParent())))
            stream.fail(Status.UNAVAILABLE.withDescription("the engine is shutting down"));
    }

    @Override
    public void abort(AbortRequest request, StreamObserver<AbortResponse> responseObserver) {
        EngineLoop l = loop;
        if (l == null) {
            responseObserver.onNext(AbortResponse.getDefaultInstance());
            responseObserver.onCompleted();
            return;
        }
        CompletableFuture<Integer> done = new CompletableFuture<>();
        done.whenComplete((n, err) -> {
            responseObserver.onNext(AbortResponse.newBuilder().setAborted(n == null ? 0 : n).build());
            responseObserver.onCompleted();
        });
        if (!l.post(new EngineLoop.Abort(request.getRequestIdsList(), done))) done.complete(0);
    }

    @Override
    public void getModelInfo(ModelInfoRequest request, StreamObserver<ModelInfo> responseObserver) {
        ModelInfo info = modelInfo;
        if (info == null) {
            responseObserver.onError(Status.UNAVAILABLE.withDescription("the engine is not running").asRuntimeException());
            return;
        }
        responseObserver.onNext(info);
        responseObserver.onCompleted();
    }

    @Override
    public void getStats(StatsRequest request, StreamObserver<EngineStats> responseObserver) {
        responseObserver.onNext(stats());
        responseObserver.onCompleted();
    }

    /** Aborts every request (clients get a final ABORT response), stops the loop and closes the step stream. */
    @Override
    public void close() {
        Thread t;
        EngineLoop l;
        synchronized (this) {
            if (closed) return;
            closed = true;
            t = loopThread;
            l = loop;
        }
        if (l == null) return;
        l.post(new EngineLoop.Shutdown());
        try {
            t.join(TimeUnit.SECONDS.toMillis(10));
            if (t.isAlive()) { // stuck waiting on the worker
                t.interrupt();
                t.join(TimeUnit.SECONDS.toMillis(10));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
