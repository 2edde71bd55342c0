package dev.jvllm.common.telemetry;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.context.propagation.TextMapPropagator;
import io.opentelemetry.context.propagation.TextMapSetter;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * gRPC spans with the trace context carried in call metadata (W3C {@code traceparent}/{@code tracestate}): the client
 * side opens a CLIENT span under the caller's current span and injects it; the server side extracts it, opens a
 * SERVER span, and makes it current while the service's handlers run, so the service's own spans nest under it.
 * With the no-op OpenTelemetry both interceptors pass calls through untouched.
 */
final class GrpcTracing {
    static final String SCOPE = "dev.jvllm.grpc";
    private static final AttributeKey<String> RPC_SYSTEM = AttributeKey.stringKey("rpc.system");
    private static final AttributeKey<String> RPC_SERVICE = AttributeKey.stringKey("rpc.service");
    private static final AttributeKey<String> RPC_METHOD = AttributeKey.stringKey("rpc.method");
    private static final AttributeKey<Long> RPC_GRPC_STATUS = AttributeKey.longKey("rpc.grpc.status_code");

    private static final TextMapSetter<Metadata> SETTER =
            (md, key, value) -> md.put(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER), value);
    private static final TextMapGetter<Metadata> GETTER = new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(Metadata md) {
            return md.keys();
        }

        @Override
        public String get(Metadata md, String key) {
            return md == null || key.endsWith(Metadata.BINARY_HEADER_SUFFIX) ? null
                    : md.get(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER));
        }
    };

    /** Polling and control calls: traced under a caller's trace, but never the start of one (scrapes, health checks). */
    private static final java.util.Set<String> UNTRACED_ROOTS =
            java.util.Set.of("GetStats", "GetModelInfo", "GetInfo", "Describe", "InitCache", "Check", "Watch");

    private final boolean enabled;
    private final Tracer tracer;
    private final TextMapPropagator propagator;

    GrpcTracing(OpenTelemetry otel) {
        this.enabled = otel != OpenTelemetry.noop();
        this.tracer = otel.getTracer(SCOPE);
        this.propagator = otel.getPropagators().getTextMapPropagator();
    }

    ClientInterceptor clientInterceptor() {
        return new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
                Context parent = Context.current();
                // Calls made outside any request (health checks, scrapes, startup) start no trace of their own.
                if (!enabled || !Span.fromContext(parent).getSpanContext().isValid()) return next.newCall(method, options);
                Span span = start(method, SpanKind.CLIENT, parent);
                Context ctx = parent.with(span);
                AtomicBoolean ended = new AtomicBoolean();
                return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
                    @Override
                    public void start(Listener<R> listener, Metadata headers) {
                        propagator.inject(ctx, headers, SETTER);
                        super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
                            @Override
                            public void onClose(Status status, Metadata trailers) {
                                if (ended.compareAndSet(false, true)) end(span, status);
                                super.onClose(status, trailers);
                            }
                        }, headers);
                    }

                    @Override
                    public void cancel(String message, Throwable cause) {
                        try {
                            super.cancel(message, cause);
                        } finally {
                            if (ended.compareAndSet(false, true)) end(span, Status.CANCELLED);
                        }
                    }
                };
            }
        };
    }

    ServerInterceptor serverInterceptor() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                if (!enabled) return next.startCall(call, headers);
                Context parent = propagator.extract(Context.root(), headers, GETTER);
                if (!Span.fromContext(parent).getSpanContext().isValid()
                        && UNTRACED_ROOTS.contains(call.getMethodDescriptor().getBareMethodName()))
                    return next.startCall(call, headers);
                Span span = start(call.getMethodDescriptor(), SpanKind.SERVER, parent);
                Context ctx = parent.with(span);
                AtomicBoolean ended = new AtomicBoolean();
                ServerCall<Q, R> traced = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                    @Override
                    public void close(Status status, Metadata trailers) {
                        if (ended.compareAndSet(false, true)) end(span, status);
                        super.close(status, trailers);
                    }
                };
                ServerCall.Listener<Q> delegate;
                try (Scope ignored = ctx.makeCurrent()) {
                    delegate = next.startCall(traced, headers);
                }
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(delegate) {
                    @Override
                    public void onMessage(Q message) {
                        try (Scope ignored = ctx.makeCurrent()) {
                            super.onMessage(message);
                        }
                    }

                    @Override
                    public void onHalfClose() {
                        try (Scope ignored = ctx.makeCurrent()) {
                            super.onHalfClose();
                        }
                    }

                    @Override
                    public void onCancel() {
                        try (Scope ignored = ctx.makeCurrent()) {
                            super.onCancel();
                        } finally {
                            if (ended.compareAndSet(false, true)) end(span, Status.CANCELLED);
                        }
                    }

                    @Override
                    public void onComplete() {
                        try (Scope ignored = ctx.makeCurrent()) {
                            super.onComplete();
                        }
                    }

                    @Override
                    public void onReady() {
                        try (Scope ignored = ctx.makeCurrent()) {
                            super.onReady();
                        }
                    }
                };
            }
        };
    }

    private Span start(MethodDescriptor<?, ?> method, SpanKind kind, Context parent) {
        String service = method.getServiceName();
        String full = method.getFullMethodName();
        return tracer.spanBuilder(full)
                .setParent(parent)
                .setSpanKind(kind)
                .setAttribute(RPC_SYSTEM, "grpc")
                .setAttribute(RPC_SERVICE, service == null ? "" : service)
                .setAttribute(RPC_METHOD, method.getBareMethodName() == null ? full : method.getBareMethodName())
                .startSpan();
    }

    private static void end(Span span, Status status) {
        span.setAttribute(RPC_GRPC_STATUS, (long) status.getCode().value());
        if (!status.isOk()) span.setStatus(StatusCode.ERROR, status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription()));
        span.end();
    }
}
