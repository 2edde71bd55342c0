package dev.jvllm.gateway;

import io.grpc.Channel;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * The OpenAI-compatible HTTP server. It never tokenizes or runs a model: it calls the Tokenizer and Engine services
 * over the given gRPC channels (in-process or remote), asynchronously, on the Netty event loops.
 *
 * <pre>
 *   GatewayServer gw = new GatewayServer(GatewayOptions.defaults(List.of("my-model")), tokenizerChannel, engineChannel);
 *   int port = gw.start();
 *   ...
 *   gw.close();
 * </pre>
 */
public final class GatewayServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GatewayServer.class);

    private final GatewayOptions options;
    private final Services services;
    private EventLoopGroup boss;
    private EventLoopGroup workers;
    private io.netty.channel.Channel serverChannel;
    private final ChannelGroup connections = new DefaultChannelGroup("gateway-connections", GlobalEventExecutor.INSTANCE);
    private volatile int port = -1;

    public GatewayServer(GatewayOptions options, Channel tokenizerChannel, Channel engineChannel) {
        this.options = options;
        this.services = new Services(options, new ModelRegistry(options.servedModelNames(), engineChannel,
                options.controlTimeout()), tokenizerChannel, engineChannel, new GatewayMetrics());
    }

    public GatewayOptions options() { return options; }

    Services services() { return services; }

    /**
     * Binds and starts serving; returns the bound port (ephemeral when the configured port is 0).
     *
     * @throws java.io.UncheckedIOException when the address cannot be bound
     */
    public synchronized int start() {
        if (serverChannel != null) throw new IllegalStateException("already started");
        int threads = options.workerThreads() > 0 ? options.workerThreads() : Runtime.getRuntime().availableProcessors();
        boss = new NioEventLoopGroup(1, new DefaultThreadFactory("gateway-boss", true));
        workers = new NioEventLoopGroup(threads, new DefaultThreadFactory("gateway-io", true));
        ServerBootstrap b = new ServerBootstrap()
                .group(boss, workers)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(32 * 1024, 64 * 1024))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        connections.add(ch);
                        ChannelPipeline p = ch.pipeline();
                        p.addLast("idle", new IdleStateHandler(0, 0, options.idleTimeout().toMillis(), TimeUnit.MILLISECONDS));
                        p.addLast("http", new HttpServerCodec());
                        p.addLast("aggregator", new BodySizeLimiter(options.maxRequestBodyBytes()));
                        p.addLast("router", new HttpRouter(services));
                    }
                });
        ChannelFuture bind = b.bind(new InetSocketAddress(options.host(), options.port())).awaitUninterruptibly();
        if (!bind.isSuccess()) {
            shutdownGroups();
            Throwable cause = bind.cause();
            String what = "cannot bind HTTP server to " + options.host() + ":" + options.port() + ": " + cause;
            if (cause instanceof java.io.IOException io) throw new java.io.UncheckedIOException(what, io);
            throw new IllegalStateException(what, cause);
        }
        serverChannel = bind.channel();
        port = ((InetSocketAddress) serverChannel.localAddress()).getPort();
        log.info("OpenAI-compatible API listening on http://{}:{}", options.host(), port);
        // Warm the model info cache; failures are retried on demand.
        services.models().model();
        return port;
    }

    /** The bound port, or -1 before {@link #start()}. */
    public int port() { return port; }

    /**
     * Graceful drain (SIGTERM): from now on /health answers 503 and every new request gets 503 with
     * Retry-After and Connection: close; the listening socket is closed at once so new connections fail fast
     * (a proxy such as Envoy retries those on another replica); idle keep-alive connections are closed.
     * Requests already running finish. Returns true when all did within {@code timeout}, false when it ran
     * out; either way the caller then {@link #close()}s.
     */
    public boolean drain(java.time.Duration timeout) {
        services.draining().set(true);
        io.netty.channel.Channel listening;
        synchronized (this) {
            listening = serverChannel;
        }
        if (listening == null) return true;
        listening.close().syncUninterruptibly();
        for (io.netty.channel.Channel ch : connections) {
            ch.eventLoop().execute(() -> {
                HttpRouter r = ch.pipeline().get(HttpRouter.class);
                if (r == null || !r.busy()) ch.close();
            });
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        int busy;
        while ((busy = busyConnections()) > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (busy > 0) log.warn("drain timed out with {} requests still running; closing them", busy);
        else log.info("drained: no request running");
        return busy == 0;
    }

    /** Whether {@link #drain} has begun. */
    public boolean draining() {
        return services.draining().get();
    }

    private int busyConnections() {
        int n = 0;
        for (io.netty.channel.Channel ch : connections) {
            HttpRouter r = ch.pipeline().get(HttpRouter.class);
            if (r != null && r.busy() && ch.isActive()) n++;
        }
        return n;
    }

    /** Stops accepting, closes open connections (aborting their generations) and shuts the event loops down. */
    @Override
    public synchronized void close() {
        if (serverChannel == null) return;
        serverChannel.close().syncUninterruptibly();
        connections.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        shutdownGroups();
        serverChannel = null;
    }

    private void shutdownGroups() {
        if (boss != null) boss.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        if (workers != null) workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
