package dev.jvllm.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.google.protobuf.Any;
import com.google.protobuf.Duration;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.HealthCheck;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.extensions.access_loggers.stream.v3.StdoutAccessLog;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * deploy/envoy/envoy.yaml parsed into Envoy's own v3 Bootstrap proto (java-control-plane's generated
 * API), typed configs included: a misspelt field, a wrong type or an unknown @type fails the parse.
 */
class EnvoyConfigTest {
    static final JsonFormat.TypeRegistry TYPES = JsonFormat.TypeRegistry.newBuilder()
            .add(HttpConnectionManager.getDescriptor())
            .add(Router.getDescriptor())
            .add(HealthCheck.getDescriptor())
            .add(HttpProtocolOptions.getDescriptor())
            .add(StdoutAccessLog.getDescriptor())
            .add(PreviousHostsPredicate.getDescriptor())
            .build();

    /** Envoy's documented router retry_on conditions (HTTP and gRPC). The proto keeps them as a string. */
    static final Set<String> RETRY_ON = Set.of("5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
            "envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers",
            "http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable");

    static Bootstrap bootstrap;

    static Bootstrap parse(String yaml) throws Exception {
        JsonNode tree = new YAMLMapper().readTree(yaml);
        Bootstrap.Builder b = Bootstrap.newBuilder();
        JsonFormat.parser().usingTypeRegistry(TYPES).merge(Repo.JSON.writeValueAsString(tree), b);
        return b.build();
    }

    @BeforeAll
    static void load() throws Exception {
        bootstrap = parse(Repo.read("deploy/envoy/envoy.yaml"));
    }

    static Listener listener(String name) {
        return bootstrap.getStaticResources().getListenersList().stream()
                .filter(l -> l.getName().equals(name)).findFirst().orElseThrow();
    }

    static Cluster cluster(String name) {
        return bootstrap.getStaticResources().getClustersList().stream()
                .filter(c -> c.getName().equals(name)).findFirst().orElseThrow();
    }

    static HttpConnectionManager hcm(Listener l) throws InvalidProtocolBufferException {
        var filter = l.getFilterChains(0).getFilters(0);
        assertEquals("envoy.filters.network.http_connection_manager", filter.getName());
        HttpConnectionManager m = filter.getTypedConfig().unpack(HttpConnectionManager.class);
        for (var f : m.getHttpFiltersList()) {
            if (f.getName().equals("envoy.filters.http.router")) {
                f.getTypedConfig().unpack(Router.class);
            }
        }
        assertEquals("envoy.filters.http.router", m.getHttpFilters(m.getHttpFiltersCount() - 1).getName(),
                "the router must be the last HTTP filter");
        return m;
    }

    @Test
    void theParserRejectsWhatEnvoyWouldReject() {
        // The check is only as good as its strictness: a misspelt field and an unknown @type must fail.
        assertThrows(InvalidProtocolBufferException.class,
                () -> parse(Repo.read("deploy/envoy/envoy.yaml").replace("lb_policy: LEAST_REQUEST", "lb_polcy: LEAST_REQUEST")));
        assertThrows(InvalidProtocolBufferException.class,
                () -> parse(Repo.read("deploy/envoy/envoy.yaml").replace("router.v3.Router", "router.v3.Routr")));
        assertThrows(InvalidProtocolBufferException.class,
                () -> parse(Repo.read("deploy/envoy/envoy.yaml").replace("timeout: 0s", "timeout: forever")));
    }

    @Test
    void envoysFieldConstraintsHold() throws Exception {
        assertEquals(List.of(), PgvRules.violations(bootstrap, TYPES));
        // The constraint check itself: a health check without its required timeout, an empty cluster name.
        String yaml = Repo.read("deploy/envoy/envoy.yaml");
        List<String> broken = PgvRules.violations(parse(yaml.replace("        - timeout: 2s\n          interval: 5s",
                "        - interval: 5s")), TYPES);
        assertTrue(broken.stream().anyMatch(v -> v.contains("health_checks[0].timeout: is required")), broken.toString());
        broken = PgvRules.violations(parse(yaml.replace("- name: envoy.filters.http.router", "- name: \"\"")), TYPES);
        assertTrue(broken.stream().anyMatch(v -> v.contains("http_filters[0].name")), broken.toString());
    }

    @Test
    void adminListensOnLoopbackOnly() {
        var admin = bootstrap.getAdmin().getAddress().getSocketAddress();
        assertEquals("127.0.0.1", admin.getAddress());
        for (Listener l : bootstrap.getStaticResources().getListenersList()) {
            assertTrue(l.getAddress().getSocketAddress().getPortValue() != admin.getPortValue(), l.getName());
        }
    }

    @Test
    void openAiRoutesStreamWithoutTimeoutAndRetryOnlyBeforeAnyByteIsSent() throws Exception {
        Listener api = listener("openai_api");
        assertEquals(8000, api.getAddress().getSocketAddress().getPortValue());
        HttpConnectionManager m = hcm(api);
        m.getAccessLog(0).getTypedConfig().unpack(StdoutAccessLog.class);
        assertTrue(m.getStreamIdleTimeout().getSeconds() >= 60, "SSE streams need a generous stream idle timeout");
        assertEquals(Duration.getDefaultInstance(), m.getRequestTimeout());
        Route v1 = m.getRouteConfig().getVirtualHosts(0).getRoutesList().stream()
                .filter(r -> r.getMatch().getPrefix().equals("/v1/")).findFirst().orElseThrow();
        assertEquals("gateway", v1.getRoute().getCluster());
        assertTrue(v1.getRoute().hasTimeout(), "the route timeout must be set explicitly (Envoy's default is 15s)");
        assertEquals(0, v1.getRoute().getTimeout().getSeconds());
        assertEquals(0, v1.getRoute().getTimeout().getNanos());
        String retryOn = v1.getRoute().getRetryPolicy().getRetryOn();
        assertEquals(List.of("connect-failure", "reset-before-request"), Arrays.asList(retryOn.split(",")));
        assertTrue(RETRY_ON.containsAll(Arrays.asList(retryOn.split(","))), retryOn);
        v1.getRoute().getRetryPolicy().getRetryHostPredicate(0).getTypedConfig().unpack(PreviousHostsPredicate.class);
        for (var vh : m.getRouteConfig().getVirtualHostsList()) {
            for (Route r : vh.getRoutesList()) {
                assertTrue(r.getRoute().getCluster().equals("gateway"), "every API route goes to the gateways");
            }
        }
    }

    @Test
    void gatewayClusterIsLeastRequestOverDnsWithHttpHealthChecks() {
        Cluster gw = cluster("gateway");
        assertEquals(Cluster.DiscoveryType.STRICT_DNS, gw.getType());
        assertEquals(Cluster.LbPolicy.LEAST_REQUEST, gw.getLbPolicy());
        var addr = gw.getLoadAssignment().getEndpoints(0).getLbEndpoints(0).getEndpoint().getAddress().getSocketAddress();
        assertEquals("gateway", addr.getAddress());
        assertEquals(8000, addr.getPortValue());
        HealthCheck hc = gw.getHealthChecks(0);
        assertEquals("/health", hc.getHttpHealthCheck().getPath());
        assertTrue(hc.hasInterval() && hc.hasTimeout() && hc.hasUnhealthyThreshold() && hc.hasHealthyThreshold(),
                "Envoy requires interval, timeout and both thresholds");
    }

    @Test
    void grpcListenerRoutesTheEngineServiceOverHttp2() throws Exception {
        Listener grpc = listener("engine_grpc");
        assertEquals(50051, grpc.getAddress().getSocketAddress().getPortValue());
        HttpConnectionManager m = hcm(grpc);
        assertEquals(HttpConnectionManager.CodecType.HTTP2, m.getCodecType());
        Route engine = m.getRouteConfig().getVirtualHosts(0).getRoutes(0);
        assertEquals("/jvllm.v1.Engine/", engine.getMatch().getPrefix());
        String pkg = Repo.read("proto/src/main/proto/engine.proto").lines()
                .filter(l -> l.startsWith("package ")).findFirst().orElseThrow()
                .replace("package ", "").replace(";", "").strip();
        assertEquals("/" + pkg + ".Engine/", engine.getMatch().getPrefix(), "route prefix must follow engine.proto's package");
        assertTrue(engine.getMatch().hasGrpc());
        assertEquals(0, engine.getRoute().getTimeout().getSeconds(), "Generate streams must not be cut");

        Cluster sched = cluster("scheduler_grpc");
        String key = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
        Any options = sched.getTypedExtensionProtocolOptionsOrThrow(key);
        HttpProtocolOptions http = options.unpack(HttpProtocolOptions.class);
        assertTrue(http.getExplicitHttpConfig().hasHttp2ProtocolOptions(), "gRPC upstream must speak HTTP/2");
        assertEquals(engine.getRoute().getCluster(), sched.getName());
        var addr = sched.getLoadAssignment().getEndpoints(0).getLbEndpoints(0).getEndpoint().getAddress().getSocketAddress();
        assertEquals("scheduler:50051", addr.getAddress() + ":" + addr.getPortValue());
        assertTrue(sched.getHealthChecks(0).hasGrpcHealthCheck());
    }

    @Test
    void statsListenerExposesOnlyReadinessAndPrometheusStats() throws Exception {
        HttpConnectionManager m = hcm(listener("stats"));
        List<String> paths = m.getRouteConfig().getVirtualHosts(0).getRoutesList().stream()
                .map(r -> r.getMatch().getPath()).toList();
        assertEquals(List.of("/ready", "/stats/prometheus"), paths);
        var admin = cluster("envoy_admin").getLoadAssignment().getEndpoints(0).getLbEndpoints(0).getEndpoint()
                .getAddress().getSocketAddress();
        assertEquals(bootstrap.getAdmin().getAddress().getSocketAddress(), admin);
    }
}
