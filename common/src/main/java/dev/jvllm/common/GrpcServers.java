package dev.jvllm.common;

import io.grpc.BindableService;
import dev.jvllm.common.telemetry.Telemetry;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.ServerBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A started gRPC server with standard health checking and server reflection.
 * In-process servers are what the all-in-one {@code serve} uses; Netty servers are what each role
 * runs on its own. Services are registered identically in both.
 */
public final class GrpcServers implements AutoCloseable {
    private final Server server;
    private final HealthStatusManager health;

    private GrpcServers(Server server, HealthStatusManager health) {
        this.server = server;
        this.health = health;
    }

    public static GrpcServers inProcess(String name, List<BindableService> services) {
        return start(InProcessServerBuilder.forName(name), services);
    }

    /** Binds host:port (port 0 picks a free port). */
    public static GrpcServers netty(String host, int port, List<BindableService> services) {
        return start(NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
                .maxInboundMessageSize(GrpcChannels.MAX_MESSAGE_BYTES)
                .permitKeepAliveTime(10, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true), services);
    }

    private static GrpcServers start(ServerBuilder<?> builder, List<BindableService> services) {
        HealthStatusManager health = new HealthStatusManager();
        // Each service's calls continue the caller's trace and are counted in the installed Telemetry's metrics.
        var interceptors = Telemetry.current().serverInterceptors();
        for (BindableService s : services) {
            builder.addService(ServerInterceptors.intercept(s, interceptors));
        }
        builder.addService(health.getHealthService());
        builder.addService(ProtoReflectionServiceV1.newInstance());
        try {
            Server server = builder.build().start();
            for (BindableService s : services) {
                health.setStatus(s.bindService().getServiceDescriptor().getName(), ServingStatus.SERVING);
            }
            health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.SERVING);
            return new GrpcServers(server, health);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start gRPC server: " + e.getMessage(), e);
        }
    }

    public int port() {
        return server.getPort();
    }

    public HealthStatusManager health() {
        return health;
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    @Override
    public void close() {
        health.enterTerminalState();
        server.shutdown();
        try {
            if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
