package dev.jvllm.scheduler;

import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.InitCacheResponse;
import dev.jvllm.proto.StepResponse;
import io.grpc.Status;
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

    sealed interface Command permits Submit, Abort, Cancel, Shutdown {}

    record Submit(GenerateRequest request, long arrivalNanos, ResponseStream stream) implements Command {}

    record Abort(List<String> requestIds, CompletableFuture<Integer> aborted) implements Command {}

    /** The client went away: abort, but only if {@code stream} still owns the id (not a rejected duplicate). */
    record Cancel(String requestId, ResponseStream stream) implements Command {}

    record Shutdown() implements Command {}

    private final Scheduler core;
    private final WorkerClient worker;
    private final int blockSize;
    private final LinkedBlockingQueue<Command> inbox = new LinkedBlockingQueue<>();
    private final Map<String, ResponseStream> streams = new HashMap<>();
    private WorkerClient.StepStream stepStream;
    private volatile boolean workerConnected;
    private volatile EngineStats stats;
    private volatile boolean stopping;
    private boolean terminated; // guarded by inbox
    private long reconnectDelayMillis = RECONNECT_MIN_MILLIS;
    private long nextReconnectNanos;
    private static final long LOG_INTERVAL_SECONDS = 10;
    private long lastLogNanos;
    private long lastPromptTokens;
    private long lastGenerationTokens;

    EngineLoop(Scheduler core, WorkerClient worker, int blockSize) {
        this.core = core;
        this.worker = worker;
        this.blockSize = blockSize;
        this.stepStream = worker.openStepStream();
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
                if (!core.hasWork()) first = inbox.take();
                else if (!workerConnected && !tryReconnect()) first = inbox.poll(reconnectDelayMillis, TimeUnit.MILLISECONDS);
                if (first != null) handle(first);
                drainInbox();
                if (stopping || !workerConnected || !core.hasWork()) {
                    publishStats();
                    continue;
                }
                runOneStep();
                publishStats();
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
            return;
        }
        StepResponse response;
        try {
            response = stepStream.step(plan.request()).get();
        } catch (ExecutionException e) {
            onWorkerFailure("the worker's step stream failed: " + describe(e.getCause()));
            return;
        }
        List<RequestOutput> outputs;
        try {
            outputs = core.update(plan, response);
        } catch (IllegalStateException e) {
            onWorkerFailure("the worker broke the step protocol: " + e.getMessage());
            return;
        }
        for (RequestOutput out : outputs) deliver(out);
    }

    private void deliver(RequestOutput out) {
        ResponseStream s = out.finished() ? streams.remove(out.requestId()) : streams.get(out.requestId());
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
                }
            }
            case Shutdown ignored -> stopping = true;
        }
    }

    private void admit(Submit s) {
        if (s.stream().isCancelled()) return;
        try {
            String id = core.addRequest(s.request(), s.arrivalNanos());
            streams.put(id, s.stream());
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
     * Requests with state on the worker cannot continue on a broken stream: fail them now rather than let
     * clients hang. Requests still waiting keep their place and run once a worker is back.
     */
    private void onWorkerFailure(String why) {
        log.warn("{}; failing the requests in flight", why);
        workerConnected = false;
        stepStream.close();
        Status status = Status.UNAVAILABLE.withDescription("request failed: " + why);
        for (String id : core.failRunning()) {
            ResponseStream s = streams.remove(id);
            if (s != null) s.fail(status);
        }
        reconnectDelayMillis = RECONNECT_MIN_MILLIS;
        nextReconnectNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(reconnectDelayMillis);
    }

    /** Re-lays the worker's cache with the same geometry and opens a fresh step stream. */
    private boolean tryReconnect() {
        if (System.nanoTime() < nextReconnectNanos) return false;
        try {
            InitCacheResponse r = worker.initCache(blockSize, core.numTotalBlocks(), 60, TimeUnit.SECONDS);
            if (r.getNumBlocks() != core.numTotalBlocks())
                throw new IllegalStateException("worker now offers " + r.getNumBlocks() + " KV blocks, expected " + core.numTotalBlocks());
            stepStream = worker.openStepStream();
            workerConnected = true;
            reconnectDelayMillis = RECONNECT_MIN_MILLIS;
            log.info("worker reconnected");
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
        for (ResponseStream s : streams.values()) s.fail(Status.UNAVAILABLE.withDescription("the engine is shutting down"));
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

    /** vLLM-style periodic one-liner while the engine is busy. */
    private void maybeLogStats() {
        long now = System.nanoTime();
        if (now - lastLogNanos < TimeUnit.SECONDS.toNanos(LOG_INTERVAL_SECONDS)) return;
        EngineStats s = stats;
        double secs = (now - lastLogNanos) / 1e9;
        if (lastLogNanos != 0 && log.isInfoEnabled()) {
            log.info(String.format("prompt throughput %.1f tokens/s, generation throughput %.1f tokens/s, running %d, waiting %d, "
                            + "KV cache usage %.1f%%, prefix cache hit rate %.1f%%, preemptions %d",
                    (s.getPromptTokensTotal() - lastPromptTokens) / secs, (s.getGenerationTokensTotal() - lastGenerationTokens) / secs,
                    s.getNumRunning(), s.getNumWaiting(), 100 * s.getKvCacheUsage(),
                    s.getPrefixCacheQueries() == 0 ? 0.0 : 100.0 * s.getPrefixCacheHits() / s.getPrefixCacheQueries(),
                    s.getNumPreemptions()));
        }
        lastLogNanos = now;
        lastPromptTokens = s.getPromptTokensTotal();
        lastGenerationTokens = s.getGenerationTokensTotal();
    }

    private void publishStats() {
        stats = core.stats().toBuilder().setWorkerConnected(workerConnected).build();
    }

    private static String describe(Throwable t) {
        if (t == null) return "unknown error";
        Status s = Status.fromThrowable(t);
        return s.getCode() + (s.getDescription() != null ? " " + s.getDescription() : "");
    }
}
