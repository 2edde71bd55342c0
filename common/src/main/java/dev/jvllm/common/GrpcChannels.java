package dev.jvllm.common;

import dev.jvllm.common.telemetry.Telemetry;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;

/**
 * Opens a channel to another service. The target decides the transport, so the same
 * service code runs in one JVM ({@code inproc:NAME}) or across processes ({@code host:port}).
 */
public final class GrpcChannels {
    public static final String IN_PROCESS_PREFIX = "inproc:";

    /** Messages carry whole prompts and logits-free step batches; 64 MiB covers long contexts. */
    public static final int MAX_MESSAGE_BYTES = 64 << 20;

    private GrpcChannels() {}

    /** Calls carry the installed {@link Telemetry}'s trace context and are counted in its metrics. */
    public static ManagedChannel open(String target) {
        if (target.startsWith(IN_PROCESS_PREFIX)) {
            return InProcessChannelBuilder.forName(target.substring(IN_PROCESS_PREFIX.length()))
                    .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                    .intercept(Telemetry.current().clientInterceptors())
                    .build();
        }
        return NettyChannelBuilder.forTarget(target)
                .usePlaintext()
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .intercept(Telemetry.current().clientInterceptors())
                .build();
    }

    /**
     * Like {@link #open(String)}, with HTTP/2 keepalive pings on network channels: a peer that vanished without
     * closing its connection (network cut, frozen host) fails the channel's calls within about
     * {@code keepAliveTime + keepAliveTimeout} instead of never. Servers from {@link GrpcServers#netty} permit
     * pings every 10 s or more, also without calls.
     */
    public static ManagedChannel openWithKeepAlive(String target, java.time.Duration keepAliveTime,
                                                   java.time.Duration keepAliveTimeout) {
        if (target.startsWith(IN_PROCESS_PREFIX)) {
            return open(target);
        }
        return NettyChannelBuilder.forTarget(target)
                .usePlaintext()
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .keepAliveTime(keepAliveTime.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)
                .keepAliveTimeout(keepAliveTimeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)
                .keepAliveWithoutCalls(true)
                .intercept(Telemetry.current().clientInterceptors())
                .build();
    }

    public static String inProcess(String name) {
        return IN_PROCESS_PREFIX + name;
    }
}
