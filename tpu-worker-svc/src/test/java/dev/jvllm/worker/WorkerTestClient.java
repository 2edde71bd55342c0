package dev.jvllm.worker;

import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.proto.WorkerGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A WorkerService behind an in-process gRPC server, with a blocking helper around the Step stream. */
final class WorkerTestClient implements AutoCloseable {
    final WorkerService service;
    final Server server;
    final ManagedChannel channel;
    final WorkerGrpc.WorkerBlockingStub blocking;
    final WorkerGrpc.WorkerStub async;

    WorkerTestClient(WorkerService service) throws IOException {
        this.service = service;
        String name = InProcessServerBuilder.generateName();
        this.server = InProcessServerBuilder.forName(name).directExecutor().addService(service).build().start();
        this.channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        this.blocking = WorkerGrpc.newBlockingStub(channel);
        this.async = WorkerGrpc.newStub(channel);
    }

    /** One open Step stream: send a request, wait for its response (or the stream's error). */
    final class StepStream implements AutoCloseable {
        private final LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        private final StreamObserver<StepRequest> requests;
        final CompletableFuture<Void> done = new CompletableFuture<>();

        StepStream() {
            requests = async.step(new StreamObserver<>() {
                @Override
                public void onNext(StepResponse r) {
                    events.add(r);
                }

                @Override
                public void onError(Throwable t) {
                    events.add(t);
                    done.completeExceptionally(t);
                }

                @Override
                public void onCompleted() {
                    done.complete(null);
                }
            });
        }

        StepResponse step(StepRequest request) {
            requests.onNext(request);
            try {
                Object e = events.poll(30, TimeUnit.SECONDS);
                if (e instanceof StatusRuntimeException sre) {
                    throw sre;
                }
                if (e instanceof Throwable t) {
                    throw new RuntimeException(t);
                }
                if (e == null) {
                    throw new IllegalStateException("no step response within 30 s");
                }
                return (StepResponse) e;
            } catch (InterruptedException ex) {
                throw new RuntimeException(ex);
            }
        }

        @Override
        public void close() {
            if (!done.isDone()) {
                requests.onCompleted();
            }
        }
    }

    StepStream openStream() {
        return new StepStream();
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        service.close();
    }
}
