package dev.jvllm.common.telemetry;

import dev.jvllm.common.GrpcChannels;
import dev.jvllm.common.GrpcServers;
import dev.jvllm.common.metrics.PrometheusText;
import dev.jvllm.common.metrics.PrometheusTextParser;
import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.StatsRequest;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.SpanData;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GrpcTracingTest {
    /** Records the span current inside the handler (what the service's own spans would nest under). */
    static final class Engine extends EngineGrpc.EngineImplBase {
        final AtomicReference<Span> seen = new AtomicReference<>();

        @Override
        public void getStats(StatsRequest request, StreamObserver<EngineStats> out) {
            seen.set(Span.current());
            out.onNext(EngineStats.newBuilder().setNumRunning(1).build());
            out.onCompleted();
        }
    }

    @AfterEach
    void uninstall() {
        Telemetry.current().close();
    }

    @Test
    void serverSpanContinuesTheCallersTraceThroughMetadata() {
        InMemorySpanExporter exporter = InMemorySpanExporter.create();
        Telemetry t = Telemetry.install(Telemetry.withSpanExporter("test", exporter));
        String name = "trace-" + UUID.randomUUID();
        Engine engine = new Engine();
        try (GrpcServers server = GrpcServers.inProcess(name, List.of(engine))) {
            ManagedChannel ch = GrpcChannels.open(GrpcChannels.inProcess(name));
            Span root = t.tracer("test").spanBuilder("http request").startSpan();
            try (Scope ignored = root.makeCurrent()) {
                EngineGrpc.newBlockingStub(ch).getStats(StatsRequest.getDefaultInstance());
            } finally {
                root.end();
                ch.shutdownNow();
            }
            List<SpanData> spans = exporter.getFinishedSpanItems();
            SpanData client = spans.stream().filter(s -> s.getKind() == SpanKind.CLIENT).findFirst().orElseThrow();
            SpanData srv = spans.stream().filter(s -> s.getKind() == SpanKind.SERVER).findFirst().orElseThrow();
            assertEquals("jvllm.v1.Engine/GetStats", srv.getName());
            assertEquals(root.getSpanContext().getTraceId(), srv.getTraceId());
            assertEquals(root.getSpanContext().getSpanId(), client.getParentSpanId());
            assertEquals(client.getSpanId(), srv.getParentSpanId());
            assertEquals(srv.getSpanId(), engine.seen.get().getSpanContext().getSpanId(), "handler runs inside the server span");

            var families = PrometheusTextParser.parse(new String(PrometheusText.toBytes(t.registry()), StandardCharsets.UTF_8));
            Map<String, String> labels = Map.of("grpc_service", "jvllm.v1.Engine", "grpc_method", "GetStats", "grpc_code", "OK");
            assertEquals(1, families.get("grpc_server_handled_total").series("", labels).getFirst().value());
            assertEquals(1, families.get("grpc_client_handled_total").series("", labels).getFirst().value());
        }
    }

    @Test
    void pollingCallsOutsideARequestStartNoTrace() {
        InMemorySpanExporter exporter = InMemorySpanExporter.create();
        Telemetry.install(Telemetry.withSpanExporter("test", exporter));
        String name = "poll-" + UUID.randomUUID();
        try (GrpcServers server = GrpcServers.inProcess(name, List.of(new Engine()))) {
            ManagedChannel ch = GrpcChannels.open(GrpcChannels.inProcess(name));
            EngineGrpc.newBlockingStub(ch).getStats(StatsRequest.getDefaultInstance()); // e.g. a /metrics scrape
            ch.shutdownNow();
            assertEquals(List.of(), exporter.getFinishedSpanItems());
        }
    }

    @Test
    void withoutAnEndpointNothingIsTracedOrPropagated() {
        Telemetry t = Telemetry.install(Telemetry.create("test", null, Map.of()));
        assertFalse(t.tracingEnabled());
        String name = "notrace-" + UUID.randomUUID();
        Engine engine = new Engine();
        try (GrpcServers server = GrpcServers.inProcess(name, List.of(engine))) {
            ManagedChannel ch = GrpcChannels.open(GrpcChannels.inProcess(name));
            EngineGrpc.newBlockingStub(ch).getStats(StatsRequest.getDefaultInstance());
            ch.shutdownNow();
            assertFalse(engine.seen.get().getSpanContext().isValid());
        }
    }

    @Test
    void exportsByOtlpHttpWhenTheStandardVariablesSaySo() throws Exception {
        try (OtlpTraceReceiver receiver = new OtlpTraceReceiver()) {
            Telemetry t = Telemetry.create("jvllm-test", null, Map.of(
                    "OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint(), "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"));
            assertTrue(t.tracingEnabled());
            Span parent = t.tracer("test").spanBuilder("parent").startSpan();
            t.tracer("test").spanBuilder("child").setParent(Context.current().with(parent)).startSpan().end();
            parent.end();
            t.close(); // flushes
            List<OtlpTraceReceiver.ReceivedSpan> got = receiver.spans();
            assertEquals(2, got.size(), got.toString());
            var child = got.stream().filter(s -> s.name().equals("child")).findFirst().orElseThrow();
            assertEquals("jvllm-test", child.serviceName());
            assertEquals(parent.getSpanContext().getTraceId(), child.traceId());
            assertEquals(parent.getSpanContext().getSpanId(), child.parentSpanId());
        }
    }

    @Test
    void incomingTraceparentHeaderIsContinued() {
        Telemetry t = Telemetry.withSpanExporter("test", InMemorySpanExporter.create());
        String traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        Context ctx = TraceContexts.extract(t.openTelemetry(), Map.of("traceparent", traceparent));
        assertEquals("0af7651916cd43dd8448eb211c80319c", Span.fromContext(ctx).getSpanContext().getTraceId());
        Span child = t.tracer("test").spanBuilder("child").setParent(ctx).startSpan();
        Map<String, String> carried = TraceContexts.inject(t.openTelemetry(), Context.root().with(child));
        assertTrue(carried.get("traceparent").startsWith("00-0af7651916cd43dd8448eb211c80319c-" + child.getSpanContext().getSpanId()));
        child.end();
        t.close();
    }
}
