package dev.jvllm.tokenizer;

import dev.jvllm.proto.DecodeStreamIds;
import dev.jvllm.proto.DecodeStreamRequest;
import dev.jvllm.proto.DecodeStreamResponse;
import dev.jvllm.proto.DecodeStreamStart;
import dev.jvllm.proto.TokenizerGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** A TokenizerService behind a real (in-process) gRPC server and channel, for tests. */
final class InProcessTokenizer implements AutoCloseable {
    final TokenizerService service;
    final TokenizerGrpc.TokenizerBlockingStub blocking;
    final TokenizerGrpc.TokenizerStub async;
    private final Server server;
    private final ManagedChannel channel;

    InProcessTokenizer(TokenizerService service) throws IOException {
        this.service = service;
        String name = "tokenizer-test-" + UUID.randomUUID();
        server = InProcessServerBuilder.forName(name).addService(service).build().start();
        channel = InProcessChannelBuilder.forName(name).build();
        blocking = TokenizerGrpc.newBlockingStub(channel);
        async = TokenizerGrpc.newStub(channel);
    }

    /** Runs one DecodeStream: start with {@code promptIds}, then one message per chunk; returns the deltas. */
    List<String> decodeStream(List<Integer> promptIds, List<List<Integer>> chunks, boolean skipSpecial)
            throws Exception {
        List<DecodeStreamRequest> messages = new ArrayList<>();
        messages.add(DecodeStreamRequest.newBuilder().setStart(DecodeStreamStart.newBuilder()
                .addAllPromptIds(promptIds).setSkipSpecialTokens(skipSpecial)).build());
        for (int i = 0; i < chunks.size(); i++) {
            messages.add(DecodeStreamRequest.newBuilder().setIds(DecodeStreamIds.newBuilder()
                    .addAllIds(chunks.get(i)).setLast(i == chunks.size() - 1)).build());
        }
        return rawDecodeStream(messages);
    }

    List<String> rawDecodeStream(List<DecodeStreamRequest> messages) throws Exception {
        CompletableFuture<List<String>> done = new CompletableFuture<>();
        List<String> deltas = new ArrayList<>();
        StreamObserver<DecodeStreamRequest> requests = async.decodeStream(new StreamObserver<>() {
            @Override
            public void onNext(DecodeStreamResponse r) {
                deltas.add(r.getTextDelta());
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                done.complete(deltas);
            }
        });
        messages.forEach(requests::onNext);
        requests.onCompleted();
        try {
            return done.get(30, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw (Exception) e.getCause();
        }
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        service.close();
    }
}
