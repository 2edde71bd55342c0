package dev.jvllm.common.telemetry;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.MethodDescriptor;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * W3C trace context in carriers other than gRPC metadata: HTTP request headers (an incoming {@code traceparent}
 * continues the caller's trace) and string maps inside messages (the shared Step stream carries one per step).
 */
public final class TraceContexts {
    private static final List<String> FIELDS = List.of("traceparent", "tracestate");

    private TraceContexts() {}

    /** The context described by {@code header} (name to value, case as the carrier stores it), else root. */
    public static Context extract(OpenTelemetry otel, Function<String, String> header) {
        return otel.getPropagators().getTextMapPropagator().extract(Context.root(), header, new TextMapGetter<>() {
            @Override
            public Iterable<String> keys(Function<String, String> carrier) {
                return FIELDS;
            }

            @Override
            public String get(Function<String, String> carrier, String key) {
                return carrier == null ? null : carrier.apply(key);
            }
        });
    }

    public static Context extract(OpenTelemetry otel, Map<String, String> carrier) {
        return extract(otel, carrier::get);
    }

    /**
     * For a stub ({@code stub.withInterceptors(...)}): calls it starts are children of {@code parent}, whatever
     * context is current on the thread that starts them (asynchronous code starts calls from callbacks).
     */
    public static ClientInterceptor parentInterceptor(Context parent) {
        return new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
                try (Scope ignored = parent.makeCurrent()) {
                    return next.newCall(method, options);
                }
            }
        };
    }

    /** {@code ctx}'s trace context as a map (empty when nothing is recorded). */
    public static Map<String, String> inject(OpenTelemetry otel, Context ctx) {
        Map<String, String> out = new HashMap<>(4);
        otel.getPropagators().getTextMapPropagator().inject(ctx, out, (m, k, v) -> m.put(k, v));
        return out;
    }
}
