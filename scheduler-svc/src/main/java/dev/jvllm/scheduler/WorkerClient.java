package dev.jvllm.scheduler;

import dev.jvllm.proto.DescribeRequest;
import dev.jvllm.proto.InitCacheRequest;
import dev.jvllm.proto.InitCacheResponse;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.proto.WorkerGrpc;
import dev.jvllm.proto.WorkerInfo;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;

import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** The scheduler's view of one worker: Describe and InitCache (start-up, blocking) and the bidi Step stream. */
public final class WorkerClient {
    private final WorkerGrpc.WorkerBlockingStub blocking;
    private final WorkerGrpc.WorkerStub async;

    public WorkerClient(Channel channel) {
        this.blocking = WorkerGrpc.newBlockingStub(channel);
        this.async = WorkerGrpc.newStub(channel);
    }

    public WorkerInfo describe(long timeout, TimeUnit unit) {
        return blocking.withDeadlineAfter(timeout, unit).describe(DescribeRequest.getDefaultInstance());
    }

    public InitCacheResponse initCache(int blockSize, int numBlocks, long timeout, TimeUnit unit) {
        return blocking.withDeadlineAfter(timeout, unit)
                .initCache(InitCacheRequest.newBuilder().setBlockSize(blockSize).setNumBlocks(numBlocks).build());
    }

    /**
     * Opens a stream that calls {@code onBroken} once, from a gRPC thread, when it breaks for any reason
     * other than {@link StepStream#close()}: how an idle engine notices a worker that went away.
     */
    public StepStream openStepStream(Runnable onBroken) {
        return new StepStream(async, onBroken);
    }

    /**
     * One open Step stream. Requests are answered in order, so pending futures form a FIFO. Once the stream
     * breaks, every pending and later step fails with the cause: the caller needs a new stream (after a
     * fresh InitCache, since the worker's sequence state is gone).
     */
    public static final class StepStream implements AutoCloseable {
        private final ArrayDeque<CompletableFuture<StepResponse>> pending = new ArrayDeque<>();
        private final StreamObserver<StepRequest> requests;
        private Throwable broken;
        private final Runnable onBroken;
        private volatile boolean closing;

        StepStream(WorkerGrpc.WorkerStub stub, Runnable onBroken) {
            this.onBroken = onBroken;
            this.requests = stub.step(new StreamObserver<>() {
                @Override
                public void onNext(StepResponse r) {
                    CompletableFuture<StepResponse> f;
                    synchronized (StepStream.this) {
                        f = pending.poll();
                    }
                    if (f != null) f.complete(r);
                    else fail(Status.INTERNAL.withDescription("worker sent a StepResponse nobody asked for").asRuntimeException());
                }

                @Override
                public void onError(Throwable t) {
                    fail(t);
                }

                @Override
                public void onCompleted() {
                    fail(Status.UNAVAILABLE.withDescription("worker closed the step stream").asRuntimeException());
                }
            });
        }

        /** Sends one step; completes with its response, or exceptionally when the stream breaks. */
        public CompletableFuture<StepResponse> step(StepRequest request) {
            CompletableFuture<StepResponse> f = new CompletableFuture<>();
            synchronized (this) {
                if (broken != null) {
                    f.completeExceptionally(broken);
                    return f;
                }
                pending.add(f);
            }
            try {
                requests.onNext(request); // only the engine loop thread sends, so no further locking
            } catch (RuntimeException e) {
                fail(e);
            }
            return f;
        }

        public synchronized boolean isBroken() {
            return broken != null;
        }

        private void fail(Throwable t) {
            ArrayDeque<CompletableFuture<StepResponse>> failed;
            boolean first;
            synchronized (this) {
                first = broken == null;
                if (first) broken = t;
                failed = new ArrayDeque<>(pending);
                pending.clear();
            }
            for (CompletableFuture<StepResponse> f : failed) f.completeExceptionally(t);
            if (first && !closing && onBroken != null) onBroken.run();
        }

        @Override
        public void close() {
            closing = true;
            boolean wasOpen;
            synchronized (this) {
                wasOpen = broken == null;
            }
            fail(new StatusRuntimeException(Status.CANCELLED.withDescription("step stream closed by the scheduler")));
            if (wasOpen) {
                try {
                    requests.onCompleted();
                } catch (RuntimeException ignored) {
                    // already torn down
                }
            }
        }
    }
}
