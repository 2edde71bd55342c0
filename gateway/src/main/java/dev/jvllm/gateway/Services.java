package dev.jvllm.gateway;

import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.TokenizerGrpc;
import io.grpc.Channel;

import java.util.concurrent.Executor;

/** What request handlers share: options, the model registry and the two upstream channels. */
record Services(GatewayOptions options, ModelRegistry models, Channel tokenizerChannel, Channel engineChannel,
                GatewayMetrics metrics, java.util.concurrent.atomic.AtomicBoolean draining) {

    Services(GatewayOptions options, ModelRegistry models, Channel tokenizerChannel, Channel engineChannel,
             GatewayMetrics metrics) {
        this(options, models, tokenizerChannel, engineChannel, metrics, new java.util.concurrent.atomic.AtomicBoolean());
    }

    /** A tokenizer stub whose callbacks run on {@code executor} (the connection's event loop). */
    TokenizerGrpc.TokenizerStub tokenizer(Executor executor) {
        return TokenizerGrpc.newStub(tokenizerChannel).withExecutor(executor);
    }

    EngineGrpc.EngineStub engine(Executor executor) {
        return EngineGrpc.newStub(engineChannel).withExecutor(executor);
    }
}
