/**
 * The jvllm scheduler: continuous batching over a paged KV cache, after vLLM v1.
 *
 * <p>Two layers. The core is pure and synchronous: {@link dev.jvllm.scheduler.Scheduler} (queues, token
 * budget, chunked prefill, preemption by recompute, stop conditions, stats) over
 * {@code KvCacheManager}/{@code BlockPool} (blocks, refcounts, LRU free queue, prefix-cache hash index).
 * It never does I/O and never touches tensors: {@code schedule()} yields a {@link dev.jvllm.scheduler.StepPlan}
 * (a worker StepRequest) and {@code update()} turns the worker's StepResponse into per-request deltas.
 *
 * <p>The shell does the I/O: {@link dev.jvllm.scheduler.SchedulerService} serves the Engine gRPC API and
 * posts commands to the {@code EngineLoop}, the single thread that owns the core and drives the worker's
 * Step stream through {@link dev.jvllm.scheduler.WorkerClient}.
 */
package dev.jvllm.scheduler;
