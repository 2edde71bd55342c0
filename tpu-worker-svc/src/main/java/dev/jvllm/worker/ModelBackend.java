package dev.jvllm.worker;

import dev.jvllm.proto.InitCacheResponse;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.proto.WorkerInfo;

/**
 * Where a worker's steps execute: the cpu backend ({@link CpuWorkerBackend}) or a PJRT device
 * ({@link dev.jvllm.worker.pjrt.PjrtWorkerBackend}). {@link WorkerService} owns everything that is the
 * same for both (gRPC, the single step thread, validating a step against the model and the cache
 * geometry) and calls a backend only from its step thread, so backends need no locking.
 *
 * <p>Exceptions become gRPC statuses in the service: {@link IllegalArgumentException} is INVALID_ARGUMENT
 * (a request this backend cannot serve, e.g. a sampling feature it lacks), {@link IllegalStateException}
 * FAILED_PRECONDITION, a {@link io.grpc.StatusRuntimeException} keeps its status, anything else INTERNAL.
 */
public interface ModelBackend extends AutoCloseable {

    /** Model, backend name, max_model_len and KV bytes per token; constant for the backend's lifetime. */
    WorkerInfo describe();

    /**
     * Lays out the KV cache ({@code numBlocks == 0}: as many blocks as the configured KV space holds)
     * and forgets every sequence. Arguments are already range-checked.
     */
    InitCacheResponse initCache(int blockSize, int numBlocks);

    /** Whether the backend holds live state for this sequence (a step without new_seq needs it). */
    boolean hasSequence(long seqId);

    /** Executes one step that {@link WorkerService} has validated against {@link #describe()} and the cache. */
    StepResponse step(StepRequest request);

    /** Frees the cache, the weights and any device; called once, after the last step. */
    @Override
    void close();
}
