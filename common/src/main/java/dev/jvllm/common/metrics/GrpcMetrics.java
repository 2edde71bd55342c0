package dev.jvllm.common.metrics;

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
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Calls, results and latency of gRPC calls served and made by this process, under go-grpc-prometheus's names
 * ({@code grpc_server_handled_total}, {@code grpc_server_handling_seconds}, {@code grpc_client_*}). For streams
 * the latency is the whole call, start to close.
 */
public final class GrpcMetrics {
    private static final double[] LATENCY_BUCKETS =
            {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};

    private final Counter serverStarted;
    private final Counter serverHandled;
    private final Histogram serverLatency;
    private final Counter clientStarted;
    private final Counter clientHandled;
    private final Histogram clientLatency;

    public GrpcMetrics(PrometheusRegistry registry) {
        serverStarted = Counter.builder().name("grpc_server_started_total").help("RPCs started on the server.")
                .labelNames("grpc_type", "grpc_service", "grpc_method").withoutExemplars().register(registry);
        serverHandled = Counter.builder().name("grpc_server_handled_total").help("RPCs completed on the server, by status code.")
                .labelNames("grpc_type", "grpc_service", "grpc_method", "grpc_code").withoutExemplars().register(registry);
        serverLatency = Histogram.builder().name("grpc_server_handling_seconds").unit(Unit.SECONDS)
                .help("Time from the start of an RPC to its close, on the server.")
                .classicOnly().classicUpperBounds(LATENCY_BUCKETS)
                .labelNames("grpc_type", "grpc_service", "grpc_method").withoutExemplars().register(registry);
        clientStarted = Counter.builder().name("grpc_client_started_total").help("RPCs started by this process's clients.")
                .labelNames("grpc_type", "grpc_service", "grpc_method").withoutExemplars().register(registry);
        clientHandled = Counter.builder().name("grpc_client_handled_total").help("RPCs completed by this process's clients, by status code.")
                .labelNames("grpc_type", "grpc_service", "grpc_method", "grpc_code").withoutExemplars().register(registry);
        clientLatency = Histogram.builder().name("grpc_client_handling_seconds").unit(Unit.SECONDS)
                .help("Time from the start of an RPC to its close, on the client.")
                .classicOnly().classicUpperBounds(LATENCY_BUCKETS)
                .labelNames("grpc_type", "grpc_service", "grpc_method").withoutExemplars().register(registry);
    }

    public ServerInterceptor serverInterceptor() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                MethodDescriptor<Q, R> m = call.getMethodDescriptor();
                String type = type(m), service = service(m), method = method(m);
                serverStarted.labelValues(type, service, method).inc();
                long start = System.nanoTime();
                AtomicBoolean done = new AtomicBoolean();
                java.util.function.Consumer<Status.Code> record = code -> {
                    serverHandled.labelValues(type, service, method, code.name()).inc();
                    serverLatency.labelValues(type, service, method).observe((System.nanoTime() - start) / 1e9);
                };
                ServerCall<Q, R> counted = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                    @Override
                    public void close(Status status, Metadata trailers) {
                        if (done.compareAndSet(false, true)) record.accept(status.getCode());
                        super.close(status, trailers);
                    }
                };
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(counted, headers)) {
                    @Override
                    public void onCancel() {
                        if (done.compareAndSet(false, true)) record.accept(Status.Code.CANCELLED);
                        super.onCancel();
                    }
                };
            }
        };
    }

    public ClientInterceptor clientInterceptor() {
        return new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> m, CallOptions options, Channel next) {
                String type = type(m), service = service(m), method = method(m);
                return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(m, options)) {
                    @Override
                    public void start(Listener<R> listener, Metadata headers) {
                        clientStarted.labelValues(type, service, method).inc();
                        long start = System.nanoTime();
                        super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
                            @Override
                            public void onClose(Status status, Metadata trailers) {
                                clientHandled.labelValues(type, service, method, status.getCode().name()).inc();
                                clientLatency.labelValues(type, service, method).observe((System.nanoTime() - start) / 1e9);
                                super.onClose(status, trailers);
                            }
                        }, headers);
                    }
                };
            }
        };
    }

    private static String type(MethodDescriptor<?, ?> m) {
        return switch (m.getType()) {
            case UNARY -> "unary";
            case CLIENT_STREAMING -> "client_stream";
            case SERVER_STREAMING -> "server_stream";
            case BIDI_STREAMING -> "bidi_stream";
            case UNKNOWN -> "unknown";
        };
    }

    private static String service(MethodDescriptor<?, ?> m) {
        String s = m.getServiceName();
        return s == null ? "" : s;
    }

    private static String method(MethodDescriptor<?, ?> m) {
        String s = m.getBareMethodName();
        return s == null ? m.getFullMethodName() : s;
    }
}
