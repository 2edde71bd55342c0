package dev.jvllm.common.telemetry;

import dev.jvllm.common.metrics.GrpcMetrics;
import io.grpc.ClientInterceptor;
import io.grpc.ManagedChannel;
import io.grpc.ServerInterceptor;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.exporter.otlp.trace.OtlpGrpcSpanExporter;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.SpanProcessor;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A process's tracing and metrics: the OpenTelemetry SDK when an OTLP endpoint is configured (else the no-op API,
 * so untraced processes pay nothing), and a Prometheus registry holding this process's gRPC and JVM metrics.
 * <p>
 * One per process, {@link #install installed} before channels and servers are created: {@code GrpcChannels} and
 * {@code GrpcServers} add its interceptors (trace context in gRPC metadata, spans, call counters) to every channel
 * and server. Services get their tracer from {@link #current()}.
 */
public final class Telemetry implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Telemetry.class);
    private static volatile Telemetry current;

    private final String serviceName;
    private final OpenTelemetry openTelemetry;
    private final OpenTelemetrySdk sdk; // null when tracing is off
    private final ManagedChannel exportChannel; // OTLP/gRPC only
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final GrpcMetrics grpcMetrics;
    private final GrpcTracing grpcTracing;
    private HTTPServer metricsServer;

    private Telemetry(String serviceName, OpenTelemetrySdk sdk, ManagedChannel exportChannel) {
        this.serviceName = serviceName;
        this.sdk = sdk;
        this.openTelemetry = sdk != null ? sdk : OpenTelemetry.noop();
        this.exportChannel = exportChannel;
        this.grpcMetrics = new GrpcMetrics(registry);
        this.grpcTracing = new GrpcTracing(openTelemetry);
        JvmMetrics.builder().register(registry);
    }

    /** No tracing; metrics only. */
    public static Telemetry noTracing(String serviceName) {
        return new Telemetry(serviceName, null, null);
    }

    /**
     * Tracing exported by OTLP when {@code otlpTracesEndpoint} (vLLM's {@code --otlp-traces-endpoint}) is given, or
     * when {@code OTEL_EXPORTER_OTLP_TRACES_ENDPOINT} / {@code OTEL_EXPORTER_OTLP_ENDPOINT} is set; otherwise none.
     * The protocol is {@code OTEL_EXPORTER_OTLP_TRACES_PROTOCOL} / {@code OTEL_EXPORTER_OTLP_PROTOCOL}: {@code grpc}
     * (the default, as in vLLM) or {@code http/protobuf}. {@code OTEL_SERVICE_NAME} overrides the service name;
     * {@code OTEL_BSP_SCHEDULE_DELAY} (ms) sets the export batching delay.
     */
    public static Telemetry create(String serviceName, String otlpTracesEndpoint) {
        return create(serviceName, otlpTracesEndpoint, System.getenv());
    }

    static Telemetry create(String serviceName, String otlpTracesEndpoint, Map<String, String> env) {
        String name = nonEmpty(env.get("OTEL_SERVICE_NAME")) ? env.get("OTEL_SERVICE_NAME") : serviceName;
        String tracesEndpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        String baseEndpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT");
        String protocol = firstNonEmpty(env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), env.get("OTEL_EXPORTER_OTLP_PROTOCOL"), "grpc")
                .toLowerCase(Locale.ROOT);
        boolean http = protocol.startsWith("http");
        if (!protocol.equals("grpc") && !protocol.equals("http/protobuf"))
            throw new IllegalArgumentException("unsupported OTLP protocol '" + protocol + "' (use grpc or http/protobuf)");
        String endpoint;
        if (nonEmpty(otlpTracesEndpoint)) endpoint = otlpTracesEndpoint;
        else if (nonEmpty(tracesEndpoint)) endpoint = tracesEndpoint;
        else if (nonEmpty(baseEndpoint)) endpoint = http ? baseEndpoint.replaceAll("/+$", "") + "/v1/traces" : baseEndpoint;
        else return noTracing(name);
        if (!endpoint.contains("://")) endpoint = "http://" + endpoint;
        if (endpoint.startsWith("grpc://")) endpoint = "http://" + endpoint.substring("grpc://".length());
        SpanExporter exporter;
        ManagedChannel channel = null;
        if (http) {
            exporter = OtlpHttpSpanExporter.builder().setEndpoint(endpoint).build();
        } else {
            URI uri = URI.create(endpoint);
            int port = uri.getPort() > 0 ? uri.getPort() : 4317;
            // The exporter's own channel: plain grpc-java, without this class's interceptors (no spans about spans).
            NettyChannelBuilder b = NettyChannelBuilder.forAddress(uri.getHost(), port);
            if ("https".equals(uri.getScheme())) b.useTransportSecurity(); else b.usePlaintext();
            channel = b.build();
            @SuppressWarnings("deprecation")
            OtlpGrpcSpanExporter grpcExporter = OtlpGrpcSpanExporter.builder().setChannel(channel).build();
            exporter = grpcExporter;
        }
        log.info("exporting traces of {} by OTLP ({}) to {}", name, http ? "http/protobuf" : "grpc", endpoint);
        long delayMillis = 5000; // the SDK's default; OTEL_BSP_SCHEDULE_DELAY as the SDK's autoconfiguration reads it
        if (nonEmpty(env.get("OTEL_BSP_SCHEDULE_DELAY"))) delayMillis = Long.parseLong(env.get("OTEL_BSP_SCHEDULE_DELAY").trim());
        return new Telemetry(name, sdk(name, BatchSpanProcessor.builder(exporter)
                .setScheduleDelay(java.time.Duration.ofMillis(delayMillis)).build()), channel);
    }

    /** Tracing into {@code exporter}, each span exported as it ends (tests: an InMemorySpanExporter). */
    public static Telemetry withSpanExporter(String serviceName, SpanExporter exporter) {
        return new Telemetry(serviceName, sdk(serviceName, SimpleSpanProcessor.create(exporter)), null);
    }

    private static OpenTelemetrySdk sdk(String serviceName, SpanProcessor processor) {
        Resource resource = Resource.getDefault().merge(Resource.create(
                Attributes.of(io.opentelemetry.api.common.AttributeKey.stringKey("service.name"), serviceName)));
        SdkTracerProvider tracers = SdkTracerProvider.builder().setResource(resource).addSpanProcessor(processor).build();
        return OpenTelemetrySdk.builder()
                .setTracerProvider(tracers)
                .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
                .build();
    }

    /** Makes {@code t} the process's telemetry (what new channels, servers and services use); returns it. */
    public static Telemetry install(Telemetry t) {
        current = t;
        return t;
    }

    /** The installed telemetry, or a process-wide default without tracing. */
    public static Telemetry current() {
        Telemetry t = current;
        if (t != null) return t;
        synchronized (Telemetry.class) {
            if (current == null) current = noTracing("jvllm");
            return current;
        }
    }

    public String serviceName() {
        return serviceName;
    }

    public OpenTelemetry openTelemetry() {
        return openTelemetry;
    }

    /** True when spans are recorded and exported; services skip building trace-only data otherwise. */
    public boolean tracingEnabled() {
        return sdk != null;
    }

    public Tracer tracer(String instrumentationScope) {
        return openTelemetry.getTracer(instrumentationScope);
    }

    /** This process's gRPC and JVM metrics. */
    public PrometheusRegistry registry() {
        return registry;
    }

    /** Trace-context propagation, client spans, then call metrics. */
    public ClientInterceptor[] clientInterceptors() {
        return new ClientInterceptor[]{grpcMetrics.clientInterceptor(), grpcTracing.clientInterceptor()};
    }

    /** Server spans continuing the caller's trace, then call metrics. */
    public ServerInterceptor[] serverInterceptors() {
        return new ServerInterceptor[]{grpcMetrics.serverInterceptor(), grpcTracing.serverInterceptor()};
    }

    /**
     * Serves {@link #registry()} at {@code http://host:port/metrics} (for roles without the gateway's HTTP port).
     * Port 0 picks a free one; returns the bound port.
     */
    public synchronized int startMetricsServer(String host, int port) {
        if (metricsServer != null) throw new IllegalStateException("metrics server already started");
        try {
            metricsServer = HTTPServer.builder().hostname(host).port(port).registry(registry).buildAndStart();
            return metricsServer.getPort();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serve metrics on " + host + ":" + port + ": " + e.getMessage(), e);
        }
    }

    /** Flushes pending spans and stops the exporter and metrics server. */
    @Override
    public synchronized void close() {
        if (metricsServer != null) {
            metricsServer.close();
            metricsServer = null;
        }
        if (sdk != null) {
            sdk.getSdkTracerProvider().forceFlush().join(5, TimeUnit.SECONDS);
            sdk.close();
        }
        if (exportChannel != null) exportChannel.shutdownNow();
        if (current == this) current = null;
    }

    private static boolean nonEmpty(String s) {
        return s != null && !s.isBlank();
    }

    private static String firstNonEmpty(String... values) {
        for (String v : values) if (nonEmpty(v)) return v;
        return null;
    }
}
