package dev.jvllm.gateway;

import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.ModelInfo;
import dev.jvllm.proto.ModelInfoRequest;
import io.grpc.Channel;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The served model names and the engine's model facts (max_model_len, vocab, EOS ids), fetched once from
 * Engine.GetModelInfo and cached; a failed fetch is retried by the next request.
 */
final class ModelRegistry {
    /** What requests need to know about the model. */
    record Model(List<String> names, String root, int maxModelLen, int vocabSize, Set<Integer> eosTokenIds, long created) {
        String primaryName() { return names.getFirst(); }

        boolean serves(String name) { return names.contains(name); }
    }

    private final List<String> configuredNames;
    private final EngineGrpc.EngineStub engine;
    private final Duration timeout;
    private final long created = System.currentTimeMillis() / 1000;
    private volatile CompletableFuture<Model> model;

    ModelRegistry(List<String> servedModelNames, Channel engineChannel, Duration timeout) {
        this.configuredNames = List.copyOf(servedModelNames);
        this.engine = EngineGrpc.newStub(engineChannel);
        this.timeout = timeout;
    }

    CompletableFuture<Model> model() {
        CompletableFuture<Model> f = model;
        if (f != null && !f.isCompletedExceptionally()) return f;
        synchronized (this) {
            if (model == null || model.isCompletedExceptionally()) {
                model = GrpcCalls.<ModelInfo>unary(o -> engine.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                                .getModelInfo(ModelInfoRequest.getDefaultInstance(), o))
                        .thenApply(this::toModel);
            }
            return model;
        }
    }

    private Model toModel(ModelInfo info) {
        List<String> names = configuredNames.isEmpty()
                ? List.of(info.getModel().isEmpty() ? "default" : info.getModel()) : configuredNames;
        return new Model(names, info.getModel().isEmpty() ? names.getFirst() : info.getModel(), info.getMaxModelLen(), info.getVocabSize(), new HashSet<>(info.getEosTokenIdsList()), created);
    }
}
