package dev.jvllm.scheduler;

import dev.jvllm.common.GrpcChannels;
import dev.jvllm.common.GrpcServers;
import dev.jvllm.common.telemetry.Telemetry;
import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.GenerateResponse;
import dev.jvllm.proto.SamplingParams;
import io.grpc.ManagedChannel;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.context.Scope;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.SpanData;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The engine's spans (request, queue/prefill/decode, steps) join the caller's trace; the step context reaches the worker. */
class EngineTracingTest {
    private final List<AutoCloseable> cleanup = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : cleanup.reversed()) c.close();
        Telemetry.current().close();
    }

    private EngineGrpc.EngineBlockingStub start(FakeWorker worker, SchedulerService[] service) {
        String w = "worker-" + UUID.randomUUID(), e = "engine-" + UUID.randomUUID();
        cleanup.add(GrpcServers.inProcess(w, List.of(worker)));
        ManagedChannel wch = GrpcChannels.open(GrpcChannels.inProcess(w));
        cleanup.add(wch::shutdownNow);
        service[0] = new SchedulerService(SchedulerOptions.defaults().withBlockSize(4), wch);
        service[0].start();
        cleanup.add(service[0]);
        cleanup.add(GrpcServers.inProcess(e, List.of(service[0])));
        ManagedChannel ech = GrpcChannels.open(GrpcChannels.inProcess(e));
        cleanup.add(ech::shutdownNow);
        return EngineGrpc.newBlockingStub(ech);
    }

    private static GenerateRequest request(int promptLen, int maxTokens) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder()
                .setSampling(SamplingParams.newBuilder().setTemperature(0).setMaxTokens(maxTokens).setIgnoreEos(true));
        for (int i = 0; i < promptLen; i++) b.addPromptTokenIds(2 + i % 30);
        return b.build();
    }

    @Test
    void oneTraceFromTheCallerThroughQueuePrefillDecodeAndSteps() throws Exception {
        InMemorySpanExporter exporter = InMemorySpanExporter.create();
        Telemetry t = Telemetry.install(Telemetry.withSpanExporter("scheduler-test", exporter));
        FakeWorker worker = new FakeWorker(128, 64);
        SchedulerService[] service = new SchedulerService[1];
        EngineGrpc.EngineBlockingStub engine = start(worker, service);

        Span root = t.tracer("test").spanBuilder("caller").startSpan();
        int tokens = 0;
        try (Scope ignored = root.makeCurrent()) {
            for (Iterator<GenerateResponse> it = engine.generate(request(10, 5)); it.hasNext(); ) {
                tokens += it.next().getOutputs(0).getTokenIdsCount();
            }
        } finally {
            root.end();
        }
        assertEquals(5, tokens);
        String trace = root.getSpanContext().getTraceId();
        List<SpanData> spans = awaitSpans(exporter, "jvllm.v1.Engine/Generate");
        // Startup calls (Describe, InitCache) and the long-lived Step stream are traces of their own.
        for (SpanData s : spans) if (!s.getName().startsWith("jvllm.v1.Worker/")) assertEquals(trace, s.getTraceId(), s.getName());

        SpanData generate = one(spans, "jvllm.v1.Engine/Generate", SpanKindFilter.SERVER);
        SpanData request = one(spans, "llm_request", null);
        assertEquals(generate.getSpanId(), request.getParentSpanId());
        for (String phase : List.of("queue", "prefill", "decode")) {
            SpanData p = one(spans, phase, null);
            assertEquals(request.getSpanId(), p.getParentSpanId(), phase);
            assertFalse(p.getEndEpochNanos() < p.getStartEpochNanos(), phase);
        }
        List<SpanData> steps = spans.stream().filter(s -> s.getName().equals("engine_step")).toList();
        assertFalse(steps.isEmpty());
        for (SpanData s : steps) assertEquals(request.getSpanId(), s.getParentSpanId());
        // Each step's context travelled to the worker inside the StepRequest.
        List<String> sent = worker.stepTraceContexts.stream().map(m -> m.get("traceparent")).toList();
        for (SpanData s : steps)
            assertTrue(sent.stream().anyMatch(tp -> tp.startsWith("00-" + trace + "-" + s.getSpanId() + "-")),
                    "step " + s.getSpanId() + " not in " + sent);

        EngineStats stats = service[0].stats();
        assertEquals(14, stats.getIterationTokensBucketsCount());
        assertEquals(stats.getNumSteps(), stats.getIterationTokensBucketsList().stream().mapToLong(Long::longValue).sum());
        assertEquals(10 + 5 - 1, stats.getIterationTokensSum()); // every prompt token once, then one per decode step
    }

    @Test
    void withoutTracingStepsCarryNoContext() {
        Telemetry.install(Telemetry.noTracing("scheduler-test"));
        FakeWorker worker = new FakeWorker(128, 64);
        EngineGrpc.EngineBlockingStub engine = start(worker, new SchedulerService[1]);
        engine.generate(request(6, 3)).forEachRemaining(r -> { });
        assertFalse(worker.stepTraceContexts.isEmpty());
        for (var m : worker.stepTraceContexts) assertTrue(m.isEmpty(), m.toString());
    }

    private enum SpanKindFilter { SERVER }

    private static SpanData one(List<SpanData> spans, String name, SpanKindFilter kind) {
        List<SpanData> found = spans.stream().filter(s -> s.getName().equals(name))
                .filter(s -> kind == null || s.getKind() == io.opentelemetry.api.trace.SpanKind.SERVER).toList();
        assertEquals(1, found.size(), name + " in " + spans.stream().map(SpanData::getName).toList());
        return found.getFirst();
    }

    /** The server span ends just after the client saw the last message; wait for it (a hang guard, not a timing claim). */
    private static List<SpanData> awaitSpans(InMemorySpanExporter exporter, String name) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (exporter.getFinishedSpanItems().stream().noneMatch(s -> s.getName().equals(name)
                && s.getKind() == io.opentelemetry.api.trace.SpanKind.SERVER)) {
            if (System.nanoTime() > deadline) throw new AssertionError("no " + name + " span in " + exporter.getFinishedSpanItems());
            Thread.sleep(5);
        }
        return exporter.getFinishedSpanItems();
    }
}
