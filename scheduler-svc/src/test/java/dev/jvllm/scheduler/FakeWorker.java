package dev.jvllm.scheduler;

import dev.jvllm.proto.DescribeRequest;
import dev.jvllm.proto.InitCacheRequest;
import dev.jvllm.proto.InitCacheResponse;
import dev.jvllm.proto.ModelConfig;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.proto.WorkerGrpc;
import dev.jvllm.proto.WorkerInfo;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;

import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/** In-process Worker for tests: serves {@link FakeModel}; steps can be held (gate) or made to fail. */
final class FakeWorker extends WorkerGrpc.WorkerImplBase {
    final int maxModelLen;
    /** Blocks InitCache lays out when the scheduler asks for "all": change it to mimic a restart with another capacity. */
    volatile int defaultBlocks;
    /** Fail the stream on each of the next this-many steps received (a worker that keeps dying). */
    final AtomicInteger crashNextSteps = new AtomicInteger();
    private final java.util.Set<StreamObserver<StepResponse>> openStreams = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Each step takes one permit: drain to hold the engine mid-step, release to let it go on. */
    final Semaphore gate = new Semaphore(Integer.MAX_VALUE / 2);
    /** Fail the step stream when this many steps have been received (0 = never). */
    final AtomicLong failAtStep = new AtomicLong();
    final AtomicLong stepsReceived = new AtomicLong();
    final AtomicInteger initCacheCalls = new AtomicInteger();
    /** trace_context of every step received (empty maps when the scheduler is not tracing). */
    final java.util.List<java.util.Map<String, String>> stepTraceContexts = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile FakeModel model;

    FakeWorker(int maxModelLen, int defaultBlocks) {
        this.maxModelLen = maxModelLen;
        this.defaultBlocks = defaultBlocks;
    }

    /** Breaks every open step stream, as a worker process dying between steps would. */
    void crashStreams() {
        for (StreamObserver<StepResponse> out : openStreams) {
            openStreams.remove(out);
            out.onError(Status.UNAVAILABLE.withDescription("injected worker death").asRuntimeException());
        }
    }

    void hold() {
        gate.drainPermits();
    }

    void releaseAll() {
        gate.release(Integer.MAX_VALUE / 2);
    }

    @Override
    public void describe(DescribeRequest request, StreamObserver<WorkerInfo> out) {
        out.onNext(WorkerInfo.newBuilder().setModel("fake-model").setBackend("fake").setMaxModelLen(maxModelLen)
                .addAllEosTokenIds(Harness.EOS)
                .setConfig(ModelConfig.newBuilder().setArchitecture("llama").setVocabSize(Harness.VOCAB)
                        .setMaxPositionEmbeddings(maxModelLen).setDtype("float32"))
                .build());
        out.onCompleted();
    }

    @Override
    public void initCache(InitCacheRequest request, StreamObserver<InitCacheResponse> out) {
        initCacheCalls.incrementAndGet();
        int n = request.getNumBlocks() > 0 ? request.getNumBlocks() : defaultBlocks;
        model = new FakeModel(Harness.VOCAB, request.getBlockSize(), n);
        out.onNext(InitCacheResponse.newBuilder().setNumBlocks(n).setBlockSize(request.getBlockSize()).build());
        out.onCompleted();
    }

    @Override
    public StreamObserver<StepRequest> step(StreamObserver<StepResponse> out) {
        openStreams.add(out);
        return new StreamObserver<>() {
            @Override
            public void onNext(StepRequest req) {
                long n = stepsReceived.incrementAndGet();
                stepTraceContexts.add(req.getTraceContextMap());
                gate.acquireUninterruptibly();
                if (crashNextSteps.getAndUpdate(v -> Math.max(0, v - 1)) > 0) {
                    openStreams.remove(out);
                    out.onError(Status.UNAVAILABLE.withDescription("injected worker crash").asRuntimeException());
                    return;
                }
                if (failAtStep.get() > 0 && n >= failAtStep.get()) {
                    failAtStep.set(0);
                    openStreams.remove(out);
                    out.onError(Status.INTERNAL.withDescription("injected worker crash").asRuntimeException());
                    return;
                }
                StepResponse resp;
                try {
                    FakeModel m = model;
                    synchronized (m) {
                        resp = m.step(req);
                    }
                } catch (AssertionError e) {
                    out.onError(Status.INTERNAL.withDescription("contract violation: " + e.getMessage()).asRuntimeException());
                    throw e;
                }
                out.onNext(resp);
            }

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onCompleted() {
                openStreams.remove(out);
                out.onCompleted();
            }
        };
    }
}
