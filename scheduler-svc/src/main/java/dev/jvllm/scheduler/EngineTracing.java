package dev.jvllm.scheduler;

import dev.jvllm.common.telemetry.Telemetry;
import dev.jvllm.common.telemetry.TraceContexts;
import dev.jvllm.proto.GenerateResponse;
import dev.jvllm.proto.StepRequest;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;

import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The engine's part of a request's trace, in vLLM's shape: an {@code llm_request} span under the Generate call's
 * server span, with {@code queue}, {@code prefill} and {@code decode} children (built when the request finishes from
 * the timings the scheduler already keeps, so the per-token path does no tracing work), and one {@code engine_step}
 * span per step. A step serves many requests: it is parented under the first traced request it carries and linked to
 * the others, and its context rides in {@code StepRequest.trace_context} so the worker's step span joins the trace.
 * Used only from the engine loop thread; inert when tracing is off.
 */
final class EngineTracing {
    private static final AttributeKey<String> REQUEST_ID = AttributeKey.stringKey("gen_ai.request.id");
    private static final AttributeKey<Long> PROMPT_TOKENS = AttributeKey.longKey("gen_ai.usage.prompt_tokens");
    private static final AttributeKey<Long> COMPLETION_TOKENS = AttributeKey.longKey("gen_ai.usage.completion_tokens");
    private static final AttributeKey<Double> TIME_IN_QUEUE = AttributeKey.doubleKey("gen_ai.latency.time_in_queue");
    private static final AttributeKey<Double> TTFT = AttributeKey.doubleKey("gen_ai.latency.time_to_first_token");
    private static final AttributeKey<Double> E2E = AttributeKey.doubleKey("gen_ai.latency.e2e");
    private static final AttributeKey<Long> STEP_ID = AttributeKey.longKey("jvllm.step.id");
    private static final AttributeKey<Long> STEP_SEQS = AttributeKey.longKey("jvllm.step.num_seqs");
    private static final AttributeKey<Long> STEP_PREFILL = AttributeKey.longKey("jvllm.step.prefill_tokens");
    private static final AttributeKey<Long> STEP_DECODE = AttributeKey.longKey("jvllm.step.decode_tokens");
    private static final int MAX_STEP_LINKS = 64;

    private final Telemetry telemetry;
    private final Tracer tracer;
    private final boolean enabled;
    private final Map<String, Traced> requests = new HashMap<>();

    /** Wall-clock and monotonic time of the request's arrival: spans need epoch times, the scheduler keeps nanoTime. */
    private record Traced(Span span, long arrivalEpochNanos, long arrivalNanos) {}

    EngineTracing(Telemetry telemetry) {
        this.telemetry = telemetry;
        this.tracer = telemetry.tracer("dev.jvllm.scheduler");
        this.enabled = telemetry.tracingEnabled();
    }

    /** The caller's context when tracing (captured on the gRPC thread), else null. */
    Context captureParent() {
        return enabled ? Context.current() : null;
    }

    void admitted(String requestId, Context parent, long arrivalNanos, int promptTokens) {
        if (parent == null) return;
        long epoch = epochNanosOf(arrivalNanos);
        Span span = tracer.spanBuilder("llm_request").setParent(parent)
                .setStartTimestamp(epoch, TimeUnit.NANOSECONDS)
                .setAttribute(REQUEST_ID, requestId)
                .setAttribute(PROMPT_TOKENS, (long) promptTokens)
                .startSpan();
        requests.put(requestId, new Traced(span, epoch, arrivalNanos));
    }

    /** The request's last response: queue, prefill and decode spans from its timings, then the request span ends. */
    void finished(String requestId, GenerateResponse last) {
        Traced t = requests.remove(requestId);
        if (t == null) return;
        long now = System.nanoTime();
        long end = t.arrivalEpochNanos + (now - t.arrivalNanos);
        Context parent = Context.root().with(t.span);
        long queued = secondsToNanos(last.getQueuedSeconds());
        long firstToken = secondsToNanos(last.getFirstTokenSeconds());
        if (queued > 0 || firstToken > 0) {
            long scheduledAt = t.arrivalEpochNanos + queued;
            phase("queue", parent, t.arrivalEpochNanos, scheduledAt);
            if (firstToken > 0) {
                phase("prefill", parent, scheduledAt, t.arrivalEpochNanos + firstToken);
                phase("decode", parent, t.arrivalEpochNanos + firstToken, end);
            } else {
                phase("prefill", parent, scheduledAt, end);
            }
        } else {
            phase("queue", parent, t.arrivalEpochNanos, end);
        }
        Span s = t.span;
        s.setAttribute(COMPLETION_TOKENS, (long) last.getUsage().getCompletionTokens());
        s.setAttribute(TIME_IN_QUEUE, last.getQueuedSeconds());
        if (last.getFirstTokenSeconds() > 0) s.setAttribute(TTFT, last.getFirstTokenSeconds());
        s.setAttribute(E2E, (now - t.arrivalNanos) / 1e9);
        if (!last.getOutputsList().isEmpty())
            s.setAttribute("gen_ai.response.finish_reasons", last.getOutputs(0).getFinishReason().name());
        s.end(end, TimeUnit.NANOSECONDS);
    }

    /** The request ended without a final response (cancelled by its client, failed, engine shutting down). */
    void ended(String requestId, String why) {
        Traced t = requests.remove(requestId);
        if (t == null) return;
        t.span.setStatus(StatusCode.ERROR, why);
        t.span.end();
    }

    /** Starts the step's span; null when no traced request is in the step. */
    Span startStep(StepPlan plan) {
        if (!enabled || requests.isEmpty()) return null;
        SpanBuilder b = null;
        Set<String> seen = new HashSet<>();
        int links = 0;
        for (StepPlan.Entry e : plan.entries) {
            String id = e.seq().request.id;
            if (!seen.add(id)) continue;
            Traced t = requests.get(id);
            if (t == null) continue;
            if (b == null) b = tracer.spanBuilder("engine_step").setParent(Context.root().with(t.span));
            else if (links++ < MAX_STEP_LINKS) b.addLink(t.span.getSpanContext());
        }
        if (b == null) return null;
        return b.setAttribute(STEP_ID, plan.request().getStepId())
                .setAttribute(STEP_SEQS, (long) plan.numSeqs())
                .setAttribute(STEP_PREFILL, (long) plan.numPrefillTokens())
                .setAttribute(STEP_DECODE, (long) plan.numDecodeTokens())
                .startSpan();
    }

    StepRequest withContext(StepRequest request, Span step) {
        if (step == null) return request;
        return request.toBuilder()
                .putAllTraceContext(TraceContexts.inject(telemetry.openTelemetry(), Context.root().with(step)))
                .build();
    }

    void endStep(Span step, String failure) {
        if (step == null) return;
        if (failure != null) step.setStatus(StatusCode.ERROR, failure);
        step.end();
    }

    private void phase(String name, Context parent, long startEpochNanos, long endEpochNanos) {
        tracer.spanBuilder(name).setParent(parent)
                .setStartTimestamp(startEpochNanos, TimeUnit.NANOSECONDS).startSpan()
                .end(Math.max(startEpochNanos, endEpochNanos), TimeUnit.NANOSECONDS);
    }

    private static long secondsToNanos(double seconds) {
        return (long) (seconds * 1e9);
    }

    private static long epochNanosOf(long nanoTime) {
        Instant now = Instant.now();
        long nowEpoch = now.getEpochSecond() * 1_000_000_000L + now.getNano();
        return nowEpoch - (System.nanoTime() - nanoTime);
    }
}
