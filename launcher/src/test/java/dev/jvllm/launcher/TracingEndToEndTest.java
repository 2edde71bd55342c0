package dev.jvllm.launcher;

import dev.jvllm.common.testing.SharedData;
import dev.jvllm.common.telemetry.OtlpTraceReceiver;
import dev.jvllm.common.telemetry.OtlpTraceReceiver.ReceivedSpan;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The four roles as four JVMs exporting spans by OTLP (the standard OTEL_* variables) to a collector in this test:
 * one request sent with a W3C traceparent yields one connected trace, under the caller's span, with spans from the
 * gateway, the tokenizer, the scheduler (request, queue, prefill, decode, steps) and the worker (steps).
 */
class TracingEndToEndTest {
    static OtlpTraceReceiver collector;
    static RoleProcesses roles;
    static int gatewayPort;

    @BeforeAll
    static void start() throws Exception {
        collector = new OtlpTraceReceiver();
        roles = RoleProcesses.start(SharedData.stories260K().toString(), Map.of(
                "OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint(),
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf",
                "OTEL_BSP_SCHEDULE_DELAY", "200"));
        gatewayPort = roles.gateway;
    }

    @AfterAll
    static void stop() throws Exception {
        if (roles != null) {
            roles.close();
        }
        if (collector != null) {
            collector.close();
        }
    }

    @Test
    void oneConnectedTraceAcrossTheFourServicesUnderTheCallersTraceparent() throws Exception {
        HexFormat hex = HexFormat.of();
        byte[] t = new byte[16], s = new byte[8];
        ThreadLocalRandom.current().nextBytes(t);
        ThreadLocalRandom.current().nextBytes(s);
        String traceId = hex.formatHex(t), callerSpan = hex.formatHex(s);
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + gatewayPort + "/v1/completions"))
                .timeout(Duration.ofSeconds(120))
                .header("Content-Type", "application/json")
                .header("traceparent", "00-" + traceId + "-" + callerSpan + "-01")
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"Once upon a time\",\"max_tokens\":8,\"temperature\":0}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());

        Set<String> services = Set.of("jvllm-gateway", "jvllm-tokenizer", "jvllm-scheduler", "jvllm-worker");
        List<ReceivedSpan> trace = List.of();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60); // a hang guard for the exporters' batching
        while (System.nanoTime() < deadline) {
            trace = collector.spans().stream().filter(x -> x.traceId().equals(traceId)).toList();
            Set<String> seen = trace.stream().map(ReceivedSpan::serviceName).collect(Collectors.toSet());
            Set<String> names = trace.stream().map(ReceivedSpan::name).collect(Collectors.toSet());
            // Each service exports on its own schedule: a server span (the scheduler's Generate) can arrive after
            // the spans under it, so wait until every span's parent has arrived, not only until every name has.
            Set<String> ids = trace.stream().map(ReceivedSpan::spanId).collect(Collectors.toSet());
            long roots = trace.stream().filter(x -> !ids.contains(x.parentSpanId())).count();
            if (seen.containsAll(services) && roots == 1 && names.containsAll(Set.of("POST /v1/completions", "llm_request",
                    "queue", "prefill", "decode", "engine_step", "worker_step", "jvllm.v1.Engine/Generate"))) break;
            Thread.sleep(50);
        }
        String summary = trace.stream().map(x -> x.serviceName() + ":" + x.name()).sorted().toList().toString();
        assertEquals(services, trace.stream().map(ReceivedSpan::serviceName).collect(Collectors.toSet()), summary);

        // Connected: one root, the gateway's HTTP span, under the caller's span; every other span's parent is in the trace.
        Set<String> ids = trace.stream().map(ReceivedSpan::spanId).collect(Collectors.toSet());
        List<ReceivedSpan> roots = trace.stream().filter(x -> !ids.contains(x.parentSpanId())).toList();
        assertEquals(1, roots.size(), "roots " + roots + " in " + summary);
        assertEquals("POST /v1/completions", roots.getFirst().name());
        assertEquals("jvllm-gateway", roots.getFirst().serviceName());
        assertEquals(callerSpan, roots.getFirst().parentSpanId());

        Map<String, ReceivedSpan> byId = trace.stream().collect(Collectors.toMap(ReceivedSpan::spanId, x -> x));
        assertTrue(trace.stream().anyMatch(x -> x.serviceName().equals("jvllm-tokenizer")
                && byId.get(x.parentSpanId()).serviceName().equals("jvllm-gateway")), "tokenizer under the gateway: " + summary);
        ReceivedSpan request = trace.stream().filter(x -> x.name().equals("llm_request")).findFirst().orElseThrow();
        assertEquals("jvllm.v1.Engine/Generate", byId.get(request.parentSpanId()).name());
        for (String phase : List.of("queue", "prefill", "decode")) {
            ReceivedSpan p = trace.stream().filter(x -> x.name().equals(phase)).findFirst().orElseThrow();
            assertEquals(request.spanId(), p.parentSpanId(), phase);
        }
        List<ReceivedSpan> workerSteps = trace.stream().filter(x -> x.name().equals("worker_step")).toList();
        for (ReceivedSpan w : workerSteps) {
            assertEquals("jvllm-worker", w.serviceName());
            ReceivedSpan step = byId.get(w.parentSpanId());
            assertEquals("engine_step", step.name());
            assertEquals(request.spanId(), step.parentSpanId());
        }
    }
}
