package dev.jvllm.gateway;

import io.grpc.stub.StreamObserver;

import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/** Unary async stub calls as futures. */
final class GrpcCalls {
    private GrpcCalls() {}

    static <T> CompletableFuture<T> unary(Consumer<StreamObserver<T>> call) {
        CompletableFuture<T> f = new CompletableFuture<>();
        call.accept(new StreamObserver<>() {
            T value;

            @Override
            public void onNext(T v) { value = v; }

            @Override
            public void onError(Throwable t) { f.completeExceptionally(t); }

            @Override
            public void onCompleted() { f.complete(value); }
        });
        return f;
    }
}
