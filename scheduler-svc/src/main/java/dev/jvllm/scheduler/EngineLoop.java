package dev.jvllm.scheduler;

import dev.jvllm.common.metrics.VllmBuckets;
import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.InitCacheResponse;
import dev.jvllm.proto.StepResponse;
import io.grpc.Status;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.context.Context;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The engine's only thread of control: drain the inbox, schedule, run the step on the worker, apply the
 * result, push deltas to the clients; park on the inbox when there is nothing to do. gRPC threads never
 * touch the {@link Scheduler}; they post commands that take effect at the next step boundary.
 */
final class EngineLoop implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(EngineLoop.class);
    private static final long RECONNECT_MIN_MILLIS = 100;
    private static final long RECONNECT_MAX_MILLIS = 5_000;

    /** Requests that lose their worker this many times are failed instead of being requeued again. */
    static final int MAX_WORKER_LOSSES = 2;

    sealed interface Command permits Submit, Abort, Cancel, Shutdown, WorkerLost {}

    /** Worker attachment changes, reported from the loop thread (health, model info). */
    interface WorkerListener {
        void workerAttached(boolean attached, int numBlocks);
    }

    /** {@code traceParent}: the Generate call's span context when tracing, else null. */
    record Submit(GenerateRequest request, long arrivalNanos, ResponseStream stream, Context traceParent) implements Command {}

    record Abort(List<String> requestIds, CompletableFuture<Integer> aborted) implements Command {}

    /** The client went away: abort, but only if {@code stream} still owns the id (not a rejected duplicate). */
    record Cancel(String requestId, ResponseStream stream) implements Command {}

    record Shutdown() implements Command {}

    /** The step stream broke outside a step (an idle engine's worker went away). */
    record WorkerLost() implements Command {}

    private final Scheduler core;
    private final WorkerClient worker;
    private final int blockSize;
    private final EngineTracing tracing;
    /** vllm:iteration_tokens_total: steps by tokens scheduled, non-cumulative, last bucket +Inf. */
    private final long[] iterationTokenBuckets = new long[VllmBuckets.ITERATION_TOKENS.length + 1];
    private long iterationTokensSum;
    private final LinkedBlockingQueue<Command> inbox = new LinkedBlockingQueue<>();
    private final Map<String, ResponseStream> streams = new HashMap<>();
    private WorkerClient.StepStream stepStream;
    private volatile boolean workerConnected;
    private volatile EngineStats stats;
    private volatile boolean stopping;
    private boolean terminated; // guarded by inbox
    private long reconnectDelayMillis = RECONNECT_MIN_MILLIS;
    private long nextReconnectNanos;
    private volatile WorkerListener listener = (attached, numBlocks) -> { };
    private static final long LOG_INTERVAL_SECONDS = 10;
    private long lastLogNanos;
    private long lastPromptTokens;
    private long lastGenerationTokens;

    EngineLoop(Scheduler core, WorkerClient worker, int blockSize) {
        this(core, worker, blockSize, new EngineTracing(dev.jvllm.common.telemetry.Telemetry.current()));
    }

    EngineLoop(Scheduler core, WorkerClient worker, int blockSize, EngineTracing tracing) {
        this.core = core;
        this.worker = worker;
        this.blockSize = blockSize;
        this.tracing = tracing;
        this.stepStream = openStepStream();
        this.workerConnected = true;
        publishStats();
    }

    /** Queues a command for the next step boundary; false once the loop has shut down (caller rejects). */
    boolean post(Command c) {
        synchronized (inbox) {
            if (terminated) return false;
            inbox.add(c);
            return true;
        }
    }

    void setWorkerListener(WorkerListener l) {
        listener = l;
    }

    private WorkerClient.StepStream openStepStream() {
        return worker.openStepStream(() -> post(new WorkerLost()));
    }

    EngineTracing tracing() {
        return tracing;
    }

    int inboxSize() {
        return inbox.size();
    }

    EngineStats stats() {
        return stats;
    }

    @Override
    public void run() {
        try {
            while (!stopping) {
                Command first = null;
                if (!workerConnected) {
                    // Reconnect whether or not work is queued: health reports the worker's absence until then.
                    if (!tryReconnect()) {
                        long waitNanos = Math.max(1, nextReconnectNanos - System.nanoTime());
                        first = inbox.poll(waitNanos, TimeUnit.NANOSECONDS);
                    }
                } else if (!core.hasWork()) {
                    logStatsOnIdle();
                    first = inbox.take();
                }
                if (first != null) handle(first);
                drainInbox();
                if (stopping || !workerConnected || !core.hasWork()) {
                    publishStats();
                    continue;
                }
                runOneStep();
                maybeLogStats();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException | Error e) {
            log.error("engine loop crashed", e);
        } finally {
            shutdownNow();
        }
    }

    private void runOneStep() throws InterruptedException {
        StepPlan plan = core.schedule();
        if (plan.isEmpty()) {
            // Nothing fits right now (should not last): wait for an inbox event instead of spinning.
            Command c = inbox.poll(20, TimeUnit.MILLISECONDS);
            if (c != null) handle(c);
            publishStats();
            return;
        }
        iterationTokenBuckets[VllmBuckets.bucketOf(VllmBuckets.ITERATION_TOKENS, plan.numTokens())]++;
        iterationTokensSum += plan.numTokens();
        Span stepSpan = tracing.startStep(plan);
        StepResponse response;
        try {
            response = stepStream.step(tracing.withContext(plan.request(), stepSpan)).get();
        } catch (ExecutionException e) {
            tracing.endStep(stepSpan, describe(e.getCause()));
            onWorkerFailure("the worker's step stream failed: " + describe(e.getCause()));
            return;
        }
        tracing.endStep(stepSpan, null);
        List<RequestOutput> outputs;
        try {
            outputs = core.update(plan, response);
        } catch (IllegalStateException e) {
            onWorkerFailure("the worker broke the step protocol: " + e.getMessage());
            return;
        }
        publishStats(); // before the clients hear of the step, so a finished client reads stats that include it
        for (RequestOutput out : outputs) deliver(out);
    }

    private void deliver(RequestOutput out) {
        ResponseStream s = out.finished() ? streams.remove(out.requestId()) : streams.get(out.requestId());
        if (out.finished()) tracing.finished(out.requestId(), out.response());
        if (s != null) s.push(out.response());
    }

    private void drainInbox() {
        Command c;
        while ((c = inbox.poll()) != null) handle(c);
    }

    private void handle(Command c) {
        switch (c) {
            case Submit s -> admit(s);
            case Abort a -> {
                int n = 0;
                for (String id : a.requestIds()) {
                    RequestOutput out = core.abort(id);
                    if (out == null) continue;
                    n++;
                    deliver(out);
                }
                a.aborted().complete(n);
            }
            case Cancel k -> {
                if (streams.get(k.requestId()) == k.stream()) {
                    streams.remove(k.requestId());
                    core.abort(k.requestId());
                    tracing.ended(k.requestId(), "cancelled by the client");
                }
            }
            case Shutdown ignored -> stopping = true;
            case WorkerLost ignored -> {
                if (workerConnected && stepStream.isBroken()) onWorkerFailure("the worker's step stream broke");
            }
        }
    }

    private void admit(Submit s) {
        if (s.stream().isCancelled()) return;
        try {
            String id = core.addRequest(s.request(), s.arrivalNanos());
            streams.put(id, s.stream());
            tracing.admitted(id, s.traceParent(), s.arrivalNanos(), s.request().getPromptTokenIdsCount());
        } catch (RequestRejectedException e) {
            Status code = switch (e.reason()) {
                case INVALID_ARGUMENT -> Status.INVALID_ARGUMENT;
                case ALREADY_EXISTS -> Status.ALREADY_EXISTS;
                case RESOURCE_EXHAUSTED -> Status.RESOURCE_EXHAUSTED;
            };
            s.stream().fail(code.withDescription(e.getMessage()));
        }
    }

    /**
     * The worker's state is gone with its stream. Running requests go back to the waiting queue to be
     * recomputed on the next worker (as a preemption would), keeping what they already streamed; one that
     * has now lost its worker more than {@value #MAX_WORKER_LOSSES} times fails with UNAVAILABLE. Waiting
     * requests keep their place. Clients never wait forever: the gateway's deadline cancels them.
     */
    private void onWorkerFailure(String why) {
        workerConnected = false;
        stepStream.close();
        int running = core.numRunning();
        List<String> failed = core.requeueAfterWorkerLoss(MAX_WORKER_LOSSES);
        log.warn("{}; requeued {} running sequences for recompute, failed {} requests; reconnecting", why,
                running - failed.size(), failed.size());
        Status status = Status.UNAVAILABLE.withDescription("request failed: " + why
                + " (the request lost its worker " + (MAX_WORKER_LOSSES + 1) + " times)");
        for (String id : failed) {
            ResponseStream s = streams.remove(id);
            tracing.ended(id, why);
            if (s != null) s.fail(status);
        }
        reconnectDelayMillis = RECONNECT_MIN_MILLIS;
        nextReconnectNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(reconnectDelayMillis);
        publishStats();
        listener.workerAttached(false, 0);
    }

    /**
     * Lays out the (possibly restarted) worker's cache afresh, re-reading its capacity: the block pool is
     * rebuilt with whatever the worker now offers, and a fresh step stream is opened.
     */
    private boolean tryReconnect() {
        if (System.nanoTime() < nextReconnectNanos) return false;
        try {
            InitCacheResponse r = worker.initCache(blockSize, core.options().numGpuBlocksOverride(), 60, TimeUnit.SECONDS);
            if (r.getBlockSize() != 0 && r.getBlockSize() != blockSize)
                throw new IllegalStateException("worker laid out blocks of " + r.getBlockSize() + " tokens, asked for " + blockSize);
            int before = core.numTotalBlocks();
            core.resetKvCache(r.getNumBlocks());
            stepStream = openStepStream();
            workerConnected = true;
            reconnectDelayMillis = RECONNECT_MIN_MILLIS;
            log.info("worker reconnected: {} KV blocks (was {}); {} requests waiting", r.getNumBlocks(), before, core.numWaiting());
            publishStats();
            listener.workerAttached(true, r.getNumBlocks());
            return true;
        } catch (RuntimeException e) {
            reconnectDelayMillis = Math.min(reconnectDelayMillis * 2, RECONNECT_MAX_MILLIS);
            nextReconnectNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(reconnectDelayMillis);
            log.warn("worker reconnect failed ({}); retrying in {} ms", describe(e), reconnectDelayMillis);
            return false;
        }
    }

    private void shutdownNow() {
        stopping = true;
        for (RequestOutput out : core.abortAll()) deliver(out);
        for (var e : streams.entrySet()) {
            tracing.ended(e.getKey(), "the engine is shutting down");
            e.getValue().fail(Status.UNAVAILABLE.withDescription("the engine is shutting down"));
        }
        streams.clear();
        synchronized (inbox) {
            terminated = true;
        }
        Command c;
        while ((c = inbox.poll()) != null) {
            switch (c) {
                case Submit s -> s.stream().fail(Status.UNAVAILABLE.withDescription("the engine is shutting down"));
                case Abort a -> a.aborted().complete(0);
                default -> { }
            }
        }
        stepStream.close();
        workerConnected = false;
        publishStats();
    }

    /**
     * vLLM's periodic engine line: at most every {@value #LOG_INTERVAL_SECONDS} s, averaged over the interval, written
     * at step boundaries and when the engine goes idle (so the end of a burst is reported); nothing while idle.
     */
    private void maybeLogStats() {
        long now = System.nanoTime();
        if (lastLogNanos == 0) {
            markLogged(now, stats);
            return;
        }
        if (now - lastLogNanos >= TimeUnit.SECONDS.toNanos(LOG_INTERVAL_SECONDS)) logStats(now);
    }

    private void logStatsOnIdle() {
        long now = System.nanoTime();
        if (lastLogNanos == 0 || now - lastLogNanos < TimeUnit.SECONDS.toNanos(LOG_INTERVAL_SECONDS)) return;
        logStats(now);
        lastLogNanos = 0; // reported: the next burst starts a fresh interval instead of averaging over the idle time
    }

    private void logStats(long now) {
        EngineStats s = stats;
        long prompt = s.getPromptTokensTotal() - lastPromptTokens;
        long generation = s.getGenerationTokensTotal() - lastGenerationTokens;
        double secs = Math.max(1e-9, (now - lastLogNanos) / 1e9);
        if ((prompt > 0 || generation > 0 || s.getNumRunning() > 0 || s.getNumWaiting() > 0) && log.isInfoEnabled()) {
            log.info(String.format(java.util.Locale.ROOT,
                    "Avg prompt throughput: %.1f tokens/s, Avg generation throughput: %.1f tokens/s, Running: %d reqs, "
                            + "Waiting: %d reqs, KV cache usage: %.1f%%, Prefix cache hit rate: %.1f%%",
                    prompt / secs, generation / secs, s.getNumRunning(), s.getNumWaiting(), 100 * s.getKvCacheUsage(),
                    s.getPrefixCacheQueries() == 0 ? 0.0 : 100.0 * s.getPrefixCacheHits() / s.getPrefixCacheQueries()));
        }
        markLogged(now, s);
    }

    private void markLogged(long now, EngineStats s) {
        lastLogNanos = now;
        lastPromptTokens = s.getPromptTokensTotal();
        lastGenerationTokens = s.getGenerationTokensTotal();
    }

    private void publishStats() {
        EngineStats.Builder b = core.statsBuilder().setWorkerConnected(workerConnected);
        if (iterationTokensSum > 0) {
            for (long c : iterationTokenBuckets) b.addIterationTokensBuckets(c);
            b.setIterationTokensSum(iterationTokensSum);
        }
        stats = b.build();
    }

    private static String describe(Throwable t) {
        if (t == null) return "unknown error";
        Status s = Status.fromThrowable(t);
        return s.getCode() + (s.getDescription() != null ? " " + s.getDescription() : "");
    }
}
