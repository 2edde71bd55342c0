package dev.jvllm.scheduler;

import dev.jvllm.proto.GenerateResponse;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

/**
 * One client's Generate stream. The engine loop pushes deltas; gRPC's onReady callback flushes. While the
 * transport is not ready, deltas are coalesced into a single pending message, so a slow reader costs one
 * message's worth of memory per request instead of an unbounded queue. Synchronized because the engine
 * loop and gRPC callback threads both touch it (never for long).
 */
final class ResponseStream {
    private final StreamObserver<GenerateResponse> observer;
    /** Null when the service is called directly, without a gRPC call underneath: then always ready. */
    private final ServerCallStreamObserver<GenerateResponse> call;
    /** The unsent delta; a builder only once a second delta had to be folded into it (slow reader). */
    private GenerateResponse pending;
    private GenerateResponse.Builder merged;
    private boolean closed;
    private boolean cancelled;

    ResponseStream(StreamObserver<GenerateResponse> observer) {
        this.observer = observer;
        this.call = observer instanceof ServerCallStreamObserver<GenerateResponse> c ? c : null;
    }

    synchronized void push(GenerateResponse r) {
        if (closed || cancelled) return;
        if (merged != null) {
            ResponseCoalescer.merge(merged, r);
        } else if (pending != null) {
            merged = pending.toBuilder();
            ResponseCoalescer.merge(merged, r);
            pending = null;
        } else {
            pending = r;
        }
        flush();
    }

    synchronized void onReady() {
        flush();
    }

    synchronized void fail(Status status) {
        if (closed || cancelled) return;
        closed = true;
        pending = null;
        merged = null;
        try {
            observer.onError(status.asRuntimeException());
        } catch (RuntimeException ignored) {
            // the call is already gone
        }
    }

    synchronized void markCancelled() {
        cancelled = true;
        pending = null;
        merged = null;
    }

    synchronized boolean isCancelled() {
        return cancelled;
    }

    private void flush() {
        if ((pending == null && merged == null) || closed || cancelled || (call != null && !call.isReady())) return;
        GenerateResponse msg = merged != null ? merged.build() : pending;
        pending = null;
        merged = null;
        try {
            observer.onNext(msg);
            if (msg.getFinished()) {
                closed = true;
                observer.onCompleted();
            }
        } catch (RuntimeException e) {
            closed = true; // cancelled under us; the cancel handler aborts the request
        }
    }
}
