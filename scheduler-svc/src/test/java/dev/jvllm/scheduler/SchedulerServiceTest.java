package dev.jvllm.scheduler;

import dev.jvllm.proto.AbortRequest;
import dev.jvllm.proto.CompletionOutput;
import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.FinishReason;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.GenerateResponse;
import dev.jvllm.proto.ModelInfo;
import dev.jvllm.proto.ModelInfoRequest;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.StatsRequest;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Engine service over in-process gRPC against {@link FakeWorker}. */
class SchedulerServiceTest {
    private static final long HANG_GUARD_SECONDS = 30; // only to fail instead of hanging; never a timing claim

    private final List<AutoCloseable> cleanup = new ArrayList<>();
    private FakeWorker worker;
    private SchedulerService service;
    private EngineGrpc.EngineBlockingStub blocking;
    private EngineGrpc.EngineStub async;

    private void start(SchedulerOptions options, int maxModelLen, int blocks) throws Exception {
        worker = new FakeWorker(maxModelLen, blocks);
        String wName = InProcessServerBuilder.generateName();
        Server ws = InProcessServerBuilder.forName(wName).addService(worker).build().start();
        ManagedChannel wch = InProcessChannelBuilder.forName(wName).build();
        service = new SchedulerService(options, wch);
        service.start();
        String eName = InProcessServerBuilder.generateName();
        Server es = InProcessServerBuilder.forName(eName).addService(service).build().start();
        ManagedChannel ech = InProcessChannelBuilder.forName(eName).build();
        cleanup.add(() -> ech.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
        cleanup.add(() -> es.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
        cleanup.add(service);
        cleanup.add(() -> wch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
        cleanup.add(() -> ws.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
        blocking = EngineGrpc.newBlockingStub(ech);
        async = EngineGrpc.newStub(ech);
    }

    @AfterEach
    void tearDown() throws Exception {
        if (worker != null) worker.releaseAll();
        for (AutoCloseable c : cleanup) c.close();
    }

    private static GenerateRequest request(String id, int promptLen, SamplingParams.Builder p) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setRequestId(id).setSampling(p);
        for (int i = 0; i < promptLen; i++) b.addPromptTokenIds(2 + (i * 7 + id.length()) % 37);
        return b.build();
    }

    private EngineStats stats() {
        return blocking.getStats(StatsRequest.getDefaultInstance());
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(HANG_GUARD_SECONDS);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("gave up waiting for: " + what);
            Thread.sleep(2);
        }
    }

    /** Async call that records responses and the terminal status. */
    private static final class Collector implements ClientResponseObserver<GenerateRequest, GenerateResponse> {
        final List<GenerateResponse> responses = new java.util.concurrent.CopyOnWriteArrayList<>();
        final CompletableFuture<Status> done = new CompletableFuture<>();
        final CountDownLatch firstResponse = new CountDownLatch(1);
        volatile ClientCallStreamObserver<GenerateRequest> call;

        @Override
        public void beforeStart(ClientCallStreamObserver<GenerateRequest> requestStream) {
            call = requestStream;
        }

        @Override
        public void onNext(GenerateResponse value) {
            responses.add(value);
            firstResponse.countDown();
        }

        @Override
        public void onError(Throwable t) {
            done.complete(Status.fromThrowable(t));
        }

        @Override
        public void onCompleted() {
            done.complete(Status.OK);
        }

        Status status() throws Exception {
            return done.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS);
        }
    }

    private Collector generateAsync(GenerateRequest req) {
        Collector c = new Collector();
        async.generate(req, c);
        return c;
    }

    @Test
    void generateStreamsExactlyWhatTheCoreProduces() throws Exception {
        SchedulerOptions o = SchedulerOptions.defaults().withMaxNumBatchedTokens(64);
        start(o, 256, 128);
        GenerateRequest req = request("g1", 100, SamplingParams.newBuilder().setMaxTokens(12).setN(2).setSeed(5).setLogprobs(1).setIgnoreEos(true));
        List<GenerateResponse> responses = new ArrayList<>();
        Iterator<GenerateResponse> it = blocking.generate(req);
        it.forEachRemaining(responses::add);

        Harness h = new Harness(o, 256, 128);
        h.add(req);
        h.runUntilIdle(100);
        Harness.Result expected = h.results.get("g1");

        Map<Integer, List<Integer>> got = new java.util.TreeMap<>();
        for (GenerateResponse r : responses) {
            assertEquals("g1", r.getRequestId());
            for (CompletionOutput out : r.getOutputsList()) {
                got.computeIfAbsent(out.getIndex(), k -> new ArrayList<>()).addAll(out.getTokenIdsList());
                assertEquals(out.getTokenIdsCount(), out.getLogprobsCount());
            }
        }
        assertEquals(expected.tokens, got);
        GenerateResponse last = responses.getLast();
        assertTrue(last.getFinished());
        for (int i = 0; i < responses.size() - 1; i++) assertFalse(responses.get(i).getFinished());
        assertEquals(100, last.getUsage().getPromptTokens());
        assertEquals(24, last.getUsage().getCompletionTokens());
        assertTrue(last.getQueuedSeconds() >= 0 && last.getFirstTokenSeconds() >= last.getQueuedSeconds());
        for (CompletionOutput out : last.getOutputsList()) assertEquals(FinishReason.FINISH_REASON_LENGTH, out.getFinishReason());

        await("stats settle", () -> stats().getNumRunning() == 0);
        EngineStats s = stats();
        assertTrue(s.getWorkerConnected());
        assertEquals(s.getNumTotalBlocks(), s.getNumFreeBlocks());
        assertEquals(24, s.getGenerationTokensTotal());
        assertEquals(1, s.getRequestSuccessTotalOrThrow("length"));
        assertTrue(s.getNumSteps() > 0);

        ModelInfo info = blocking.getModelInfo(ModelInfoRequest.getDefaultInstance());
        assertEquals(256, info.getMaxModelLen());
        assertEquals(Harness.VOCAB, info.getVocabSize());
        assertEquals(128, info.getNumKvBlocks());
        assertEquals(16, info.getBlockSize());
        assertEquals("fake-model", info.getModel());
    }

    @Test
    void invalidRequestsAreRejectedWithTheFieldNamed() throws Exception {
        start(SchedulerOptions.defaults(), 64, 64);
        record Case(GenerateRequest req, String field) {}
        List<Case> cases = List.of(
                new Case(GenerateRequest.newBuilder().setRequestId("e").build(), "prompt_token_ids"),
                new Case(request("v", 3, SamplingParams.newBuilder()).toBuilder().addPromptTokenIds(999).build(), "prompt_token_ids[3]"),
                new Case(request("n", 3, SamplingParams.newBuilder().setN(-2)), "sampling.n"),
                new Case(request("n", 3, SamplingParams.newBuilder().setN(100_000)), "sampling.n"),
                new Case(request("m", 3, SamplingParams.newBuilder().setMaxTokens(-1)), "max_tokens"),
                new Case(request("t", 3, SamplingParams.newBuilder().setTemperature(-0.5f)), "temperature"),
                new Case(request("p", 3, SamplingParams.newBuilder().setTopP(1.5f)), "top_p"),
                new Case(request("s", 3, SamplingParams.newBuilder().addStopTokenIds(-3)), "stop_token_ids"),
                new Case(request("long", 64, SamplingParams.newBuilder()), "prompt has 64 tokens, maximum context length is 64"));
        for (Case c : cases) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> blocking.generate(c.req()).forEachRemaining(r -> {}));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), c.field());
            assertTrue(e.getStatus().getDescription().contains(c.field()), e.getStatus().getDescription());
        }
        // The engine keeps serving everyone else.
        List<GenerateResponse> ok = new ArrayList<>();
        blocking.generate(request("fine", 5, SamplingParams.newBuilder().setMaxTokens(3).setIgnoreEos(true))).forEachRemaining(ok::add);
        assertTrue(ok.getLast().getFinished());
    }

    @Test
    void duplicateLiveRequestIdIsAlreadyExistsAndEmptyIdIsGenerated() throws Exception {
        start(SchedulerOptions.defaults(), 256, 64);
        worker.hold();
        Collector first = generateAsync(request("dup", 5, SamplingParams.newBuilder().setMaxTokens(5).setIgnoreEos(true)));
        await("first step reaches the worker", () -> worker.stepsReceived.get() >= 1);
        Collector second = generateAsync(request("dup", 5, SamplingParams.newBuilder().setMaxTokens(5)));
        await("duplicate queued", () -> service.inboxSize() >= 1);
        worker.releaseAll();
        assertEquals(Status.Code.ALREADY_EXISTS, second.status().getCode());
        assertEquals(Status.Code.OK, first.status().getCode());
        assertEquals(5, first.responses.stream().mapToInt(r -> r.getOutputs(0).getTokenIdsCount()).sum());

        List<GenerateResponse> anon = new ArrayList<>();
        blocking.generate(request("", 5, SamplingParams.newBuilder().setMaxTokens(2))).forEachRemaining(anon::add);
        assertFalse(anon.getFirst().getRequestId().isEmpty());
    }

    @Test
    void cancellingTheCallAbortsAndFreesBlocks() throws Exception {
        start(SchedulerOptions.defaults(), 256, 64);
        worker.hold();
        Collector c = generateAsync(request("cancel-me", 60, SamplingParams.newBuilder().setMaxTokens(150).setIgnoreEos(true)));
        worker.gate.release(3);
        assertTrue(c.firstResponse.await(HANG_GUARD_SECONDS, TimeUnit.SECONDS));
        await("the request holds blocks", () -> stats().getNumRunning() == 1 && stats().getNumFreeBlocks() < 64);
        c.call.cancel("client went away", null);
        worker.releaseAll();
        await("blocks freed", () -> {
            EngineStats s = stats();
            return s.getNumRunning() == 0 && s.getNumWaiting() == 0 && s.getNumFreeBlocks() == s.getNumTotalBlocks();
        });
        assertEquals(1, stats().getRequestSuccessTotalOrThrow("abort"));
        int received = c.responses.stream().mapToInt(r -> r.getOutputs(0).getTokenIdsCount()).sum();
        assertTrue(received < 150, "the request should have been cut short, got " + received);
    }

    @Test
    void abortRpcEndsTheStreamWithAbort() throws Exception {
        start(SchedulerOptions.defaults(), 256, 64);
        worker.hold();
        Collector c = generateAsync(request("victim", 10, SamplingParams.newBuilder().setMaxTokens(200).setIgnoreEos(true)));
        worker.gate.release(2);
        assertTrue(c.firstResponse.await(HANG_GUARD_SECONDS, TimeUnit.SECONDS));
        CompletableFuture<Integer> aborted = new CompletableFuture<>();
        async.abort(AbortRequest.newBuilder().addRequestIds("victim").addRequestIds("nobody").build(),
                new io.grpc.stub.StreamObserver<>() {
                    public void onNext(dev.jvllm.proto.AbortResponse r) { aborted.complete(r.getAborted()); }
                    public void onError(Throwable t) { aborted.completeExceptionally(t); }
                    public void onCompleted() {}
                });
        worker.releaseAll();
        assertEquals(1, aborted.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS));
        assertEquals(Status.Code.OK, c.status().getCode());
        GenerateResponse last = c.responses.getLast();
        assertTrue(last.getFinished());
        assertEquals(FinishReason.FINISH_REASON_ABORT, last.getOutputs(0).getFinishReason());
        await("blocks freed", () -> stats().getNumFreeBlocks() == 64);
    }

    @Test
    void fullWaitingQueueRejectsWithResourceExhausted() throws Exception {
        start(SchedulerOptions.defaults().withMaxNumSeqs(1).withMaxWaitingRequests(1), 256, 64);
        worker.hold();
        Collector running = generateAsync(request("a", 5, SamplingParams.newBuilder().setMaxTokens(3).setIgnoreEos(true)));
        await("a is in a step", () -> worker.stepsReceived.get() >= 1);
        Collector b = generateAsync(request("bb", 5, SamplingParams.newBuilder().setMaxTokens(3).setIgnoreEos(true)));
        Collector c = generateAsync(request("ccc", 5, SamplingParams.newBuilder().setMaxTokens(3).setIgnoreEos(true)));
        await("b and c queued", () -> service.inboxSize() >= 2);
        worker.releaseAll();
        assertEquals(Status.Code.OK, running.status().getCode());
        List<Status.Code> codes = List.of(b.status().getCode(), c.status().getCode());
        assertTrue(codes.contains(Status.Code.OK) && codes.contains(Status.Code.RESOURCE_EXHAUSTED), codes.toString());
        Status rejected = b.status().isOk() ? c.status() : b.status();
        assertTrue(rejected.getDescription().contains("waiting"), rejected.getDescription());
    }

    private static List<Integer> tokens(Collector c) {
        List<Integer> out = new ArrayList<>();
        for (GenerateResponse r : c.responses) out.addAll(r.getOutputs(0).getTokenIdsList());
        return out;
    }

    @Test
    void workerStreamFailureRequeuesInFlightRequestsForRecomputeAndKeepsTheQueue() throws Exception {
        start(SchedulerOptions.defaults().withMaxNumSeqs(1), 256, 64);
        List<Boolean> attachments = new java.util.concurrent.CopyOnWriteArrayList<>();
        service.onWorkerAttachment(attachments::add);
        worker.hold();
        Collector inFlight = generateAsync(request("doomed", 10, SamplingParams.newBuilder().setMaxTokens(50).setIgnoreEos(true)));
        await("doomed is in a step", () -> worker.stepsReceived.get() >= 1);
        Collector queued = generateAsync(request("queued", 10, SamplingParams.newBuilder().setMaxTokens(5).setIgnoreEos(true)));
        await("queued reached the inbox", () -> service.inboxSize() >= 1);
        worker.failAtStep.set(3);
        worker.releaseAll();
        // The running request is recomputed on the reconnected worker and completes; nothing is lost.
        assertEquals(Status.Code.OK, inFlight.status().getCode());
        assertEquals(Status.Code.OK, queued.status().getCode());
        assertEquals(5, tokens(queued).size());
        assertEquals(50, tokens(inFlight).size());
        assertEquals(2, worker.initCacheCalls.get());
        assertEquals(List.of(false, true), attachments);
        // Same prompt and greedy sampling on an undisturbed worker: the same tokens, so recompute resumed exactly.
        Collector again = generateAsync(request("doomeD", 10, SamplingParams.newBuilder().setMaxTokens(50).setIgnoreEos(true)));
        assertEquals(Status.Code.OK, again.status().getCode());
        assertEquals(tokens(again), tokens(inFlight));
        await("blocks released", () -> stats().getNumFreeBlocks() == stats().getNumTotalBlocks());
        assertTrue(stats().getWorkerConnected());
    }

    @Test
    void aRequestThatKeepsLosingItsWorkerFailsWithUnavailable() throws Exception {
        start(SchedulerOptions.defaults(), 256, 64);
        worker.crashNextSteps.set(EngineLoop.MAX_WORKER_LOSSES + 1);
        Collector c = generateAsync(request("poison", 10, SamplingParams.newBuilder().setMaxTokens(5).setIgnoreEos(true)));
        Status s = c.status();
        assertEquals(Status.Code.UNAVAILABLE, s.getCode());
        assertTrue(s.getDescription().contains("lost its worker"), s.getDescription());
        // The engine recovers and serves the next request.
        List<GenerateResponse> after = new ArrayList<>();
        blocking.generate(request("after", 10, SamplingParams.newBuilder().setMaxTokens(3).setIgnoreEos(true))).forEachRemaining(after::add);
        assertTrue(after.getLast().getFinished());
        await("idle", () -> stats().getNumRunning() + stats().getNumWaiting() == 0);
    }

    @Test
    void idleEngineNoticesALostWorkerAndReattachesWithItsNewCapacity() throws Exception {
        start(SchedulerOptions.defaults(), 256, 64);
        List<Boolean> attachments = new java.util.concurrent.CopyOnWriteArrayList<>();
        service.onWorkerAttachment(attachments::add);
        List<GenerateResponse> warm = new ArrayList<>();
        blocking.generate(request("warm", 40, SamplingParams.newBuilder().setMaxTokens(2).setIgnoreEos(true))).forEachRemaining(warm::add);
        assertTrue(stats().getPrefixCacheQueries() > 0);
        worker.defaultBlocks = 24; // the restarted worker has a different KV capacity (24 x 16 = 384 tokens >= 256)
        worker.crashStreams();
        await("reattached without any work queued", () -> attachments.equals(List.of(false, true)));
        assertEquals(2, worker.initCacheCalls.get());
        assertEquals(24, stats().getNumTotalBlocks());
        assertEquals(24, stats().getNumFreeBlocks());
        assertEquals(24, blocking.getModelInfo(dev.jvllm.proto.ModelInfoRequest.getDefaultInstance()).getNumKvBlocks());
        // The old prefix cache died with the worker: the same prompt hits nothing and still generates.
        long hitsBefore = stats().getPrefixCacheHits();
        List<GenerateResponse> after = new ArrayList<>();
        blocking.generate(request("warm", 40, SamplingParams.newBuilder().setMaxTokens(2).setIgnoreEos(true))).forEachRemaining(after::add);
        assertTrue(after.getLast().getFinished());
        assertEquals(hitsBefore, stats().getPrefixCacheHits());
    }

    @Test
    void drainRefusesNewRequestsAndLetsRunningOnesFinish() throws Exception {
        start(SchedulerOptions.defaults(), 256, 64);
        worker.hold();
        Collector running = generateAsync(request("running", 10, SamplingParams.newBuilder().setMaxTokens(8).setIgnoreEos(true)));
        await("running is in a step", () -> worker.stepsReceived.get() >= 1);
        CompletableFuture<Boolean> drained = CompletableFuture.supplyAsync(() -> {
            try {
                return service.drain(java.time.Duration.ofSeconds(HANG_GUARD_SECONDS));
            } catch (InterruptedException e) {
                throw new RuntimeException(e);
            }
        });
        await("draining", service::draining);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> blocking.generate(request("late", 3, SamplingParams.newBuilder())).forEachRemaining(r -> {}));
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("draining"), e.getStatus().getDescription());
        worker.releaseAll();
        assertTrue(drained.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS));
        assertEquals(Status.Code.OK, running.status().getCode());
        assertEquals(8, tokens(running).size());
    }

    @Test
    void closeAbortsEverythingAndRejectsNewWork() throws Exception {
        start(SchedulerOptions.defaults(), 256, 64);
        worker.hold();
        Collector c = generateAsync(request("x", 10, SamplingParams.newBuilder().setMaxTokens(100).setIgnoreEos(true)));
        await("x is in a step", () -> worker.stepsReceived.get() >= 1);
        CompletableFuture<Void> closing = CompletableFuture.runAsync(service::close);
        worker.releaseAll();
        closing.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS);
        assertEquals(Status.Code.OK, c.status().getCode());
        assertEquals(FinishReason.FINISH_REASON_ABORT, c.responses.getLast().getOutputs(0).getFinishReason());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> blocking.generate(request("late", 3, SamplingParams.newBuilder())).forEachRemaining(r -> {}));
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
    }

    @Test
    void startRefusesAKvCacheThatCannotHoldOneMaxLengthSequence() throws Exception {
        FakeWorker small = new FakeWorker(2048, 8); // 8 blocks x 16 = 128 tokens < 2048
        String name = InProcessServerBuilder.generateName();
        Server ws = InProcessServerBuilder.forName(name).addService(small).build().start();
        ManagedChannel ch = InProcessChannelBuilder.forName(name).build();
        try (SchedulerService svc = new SchedulerService(SchedulerOptions.defaults(), ch)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, svc::start);
            assertTrue(e.getMessage().contains("fewer than one sequence"), e.getMessage());
        } finally {
            ch.shutdownNow();
            ws.shutdownNow();
        }
    }
}
