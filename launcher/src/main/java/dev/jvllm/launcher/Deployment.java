package dev.jvllm.launcher;

import dev.jvllm.common.GrpcChannels;
import dev.jvllm.common.GrpcServers;
import dev.jvllm.common.hub.HubException;
import dev.jvllm.common.hub.HubFiles;
import dev.jvllm.common.hub.HubModelResolver;
import dev.jvllm.common.hub.HubOptions;
import dev.jvllm.common.telemetry.Telemetry;
import dev.jvllm.gateway.GatewayOptions;
import dev.jvllm.gateway.GatewayServer;
import dev.jvllm.scheduler.SchedulerOptions;
import dev.jvllm.scheduler.SchedulerService;
import dev.jvllm.tokenizer.TokenizerOptions;
import dev.jvllm.tokenizer.TokenizerService;
import dev.jvllm.worker.WorkerOptions;
import dev.jvllm.worker.WorkerService;
import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * The services one {@code serve} process runs, started in dependency order and closed in reverse.
 * All-in-one and single-role processes use the same service classes; only the channels differ.
 */
public final class Deployment implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Deployment.class);

    private final Deque<AutoCloseable> started = new ArrayDeque<>();
    /** Every gRPC server this process runs, for their health status. */
    private volatile boolean draining;
    private final List<GrpcServers> grpcServers = new java.util.concurrent.CopyOnWriteArrayList<>();
    private GatewayServer gateway;
    private GrpcServers grpcServer;
    private SchedulerService scheduler;
    private ManagedChannel frontChannel;
    private HubOptions hubOptions;
    private Path modelDir;
    private Path tokenizerDir;

    private Deployment() {}

    public static Deployment start(ServeCommand cmd) {
        return start(cmd, HubOptions.fromEnvironment());
    }

    /** Starts with explicit hub settings (endpoint, token, offline) instead of the environment's. */
    public static Deployment start(ServeCommand cmd, HubOptions hub) {
        Deployment d = new Deployment();
        d.hubOptions = hub;
        try {
            // Before any channel or server exists: they pick up the installed telemetry's interceptors.
            Telemetry telemetry = d.own(Telemetry.install(Telemetry.create(
                    cmd.role == ServeCommand.Role.all ? "jvllm" : "jvllm-" + cmd.role, cmd.otlpTracesEndpoint)));
            if (cmd.metricsPort != null) {
                telemetry.startMetricsServer(cmd.grpcHost, cmd.metricsPort);
            }
            switch (cmd.role) {
                case all -> d.startAllInOne(cmd);
                case worker -> d.grpcServer = d.ownServer(GrpcServers.netty(cmd.grpcHost, cmd.grpcPortFor(cmd.role),
                        List.of(d.own(d.loadWorker(cmd)))));
                case tokenizer -> d.grpcServer = d.ownServer(GrpcServers.netty(cmd.grpcHost, cmd.grpcPortFor(cmd.role),
                        List.of(d.own(d.loadTokenizer(cmd)))));
                case scheduler -> {
                    ManagedChannel worker = d.ownChannel(openRemote(cmd.workerAddress));
                    d.scheduler = d.own(startScheduler(cmd, worker));
                    d.grpcServer = d.ownServer(GrpcServers.netty(cmd.grpcHost, cmd.grpcPortFor(cmd.role), List.of(d.scheduler)));
                    d.reportWorkerAttachment();
                }
                case gateway -> {
                    ManagedChannel tok = d.ownChannel(openRemote(cmd.tokenizerAddress));
                    ManagedChannel eng = d.ownChannel(openRemote(cmd.schedulerAddress));
                    d.startGateway(cmd, tok, eng);
                }
            }
            if (d.grpcServer != null) {
                log.info("{} serving gRPC on {}:{}", cmd.role, cmd.grpcHost, d.grpcServer.port());
            }
            return d;
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
    }

    private void startAllInOne(ServeCommand cmd) {
        String id = UUID.randomUUID().toString();
        String workerName = "jvllm-worker-" + id;
        String frontName = "jvllm-front-" + id;
        WorkerService worker = own(loadWorker(cmd));
        own(GrpcServers.inProcess(workerName, List.of(worker)));
        TokenizerService tokenizer = own(loadTokenizer(cmd));
        scheduler = own(startScheduler(cmd, ownChannel(GrpcChannels.open(GrpcChannels.inProcess(workerName)))));
        List<BindableService> front = List.of(tokenizer, scheduler);
        ownServer(GrpcServers.inProcess(frontName, front));
        if (cmd.grpcPort != null) {
            grpcServer = ownServer(GrpcServers.netty(cmd.grpcHost, cmd.grpcPort, front));
        }
        reportWorkerAttachment();
        frontChannel = ownChannel(GrpcChannels.open(GrpcChannels.inProcess(frontName)));
        startGateway(cmd, frontChannel, frontChannel);
    }

    private WorkerService loadWorker(ServeCommand cmd) {
        if (cmd.tensorParallelSize != 1) {
            throw new IllegalArgumentException("--tensor-parallel-size " + cmd.tensorParallelSize
                    + " is not supported yet (use 1)");
        }
        Path model = modelDir(cmd);
        WorkerOptions defaults = WorkerOptions.defaults(model);
        double kvSpace = cmd.kvCacheSpace != null ? cmd.kvCacheSpace : defaults.kvCacheSpaceGiB();
        Path compileCache = cmd.compileCacheDir != null ? Path.of(cmd.compileCacheDir) : WorkerOptions.defaultCompileCacheDir();
        return WorkerService.load(new WorkerOptions(model, cmd.maxModelLen, kvSpace, cmd.threads, cmd.seed, cmd.dtype,
                cmd.device, compileCache, cmd.maxNumBatchedTokens, cmd.maxNumSeqs, cmd.loadFormat, cmd.kvCacheDtype));
    }

    private TokenizerService loadTokenizer(ServeCommand cmd) {
        Path model = modelDir(cmd);
        if (cmd.tokenizer != null && tokenizerDir == null) {
            tokenizerDir = resolve(cmd.tokenizer, cmd.tokenizerRevision, cmd.downloadDir, HubFiles.TOKENIZER);
        }
        return TokenizerService.load(new TokenizerOptions(model, tokenizerDir, cmd.chatTemplate));
    }

    /** The model as a local directory: given as one, or downloaded from the hub into its cache. */
    private Path modelDir(ServeCommand cmd) {
        if (modelDir == null) {
            modelDir = resolve(cmd.requireModelArg(), cmd.revision, cmd.downloadDir, HubFiles.MODEL);
        }
        return modelDir;
    }

    private Path resolve(String model, String revision, String downloadDir, HubFiles files) {
        try (HubModelResolver hub = new HubModelResolver(hubOptions)) {
            return hub.resolve(model, revision, downloadDir == null ? null : Path.of(downloadDir), files);
        } catch (HubException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    private static SchedulerService startScheduler(ServeCommand cmd, ManagedChannel worker) {
        SchedulerOptions options = SchedulerOptions.defaults()
                .withBlockSize(cmd.blockSize)
                .withMaxNumSeqs(cmd.maxNumSeqs)
                .withMaxNumBatchedTokens(cmd.maxNumBatchedTokens)
                .withMaxModelLen(cmd.maxModelLen)
                .withEnablePrefixCaching(cmd.enablePrefixCaching)
                .withSchedulingPolicy(cmd.schedulingPolicy)
                .withMaxWaitingRequests(cmd.maxWaitingRequests)
                .withNumGpuBlocksOverride(cmd.numGpuBlocksOverride)
                .withModelName(cmd.servedNames().isEmpty() ? "" : cmd.servedNames().get(0));
        // A separately started worker may still be loading its weights: wait for it rather than exit,
        // so roles can start in any order (compose, Kubernetes).
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(cmd.workerWaitTimeout);
        long backoffMillis = 100;
        while (true) {
            SchedulerService s = new SchedulerService(options, worker);
            try {
                s.start();
                return s;
            } catch (IllegalStateException e) {
                s.close();
                if (!workerUnreachable(e) || System.nanoTime() > deadline) {
                    throw e;
                }
                log.info("waiting for the worker at {}: {}", cmd.role == ServeCommand.Role.all ? "in-process" : cmd.workerAddress,
                        e.getMessage());
            }
            try {
                Thread.sleep(backoffMillis);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the worker", ie);
            }
            backoffMillis = Math.min(backoffMillis * 2, 2000);
        }
    }

    private static boolean workerUnreachable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof io.grpc.StatusRuntimeException sre) {
                io.grpc.Status.Code code = sre.getStatus().getCode();
                return code == io.grpc.Status.Code.UNAVAILABLE || code == io.grpc.Status.Code.DEADLINE_EXCEEDED;
            }
        }
        return false;
    }

    private void startGateway(ServeCommand cmd, ManagedChannel tokenizer, ManagedChannel engine) {
        GatewayOptions options = GatewayOptions.builder()
                .host(cmd.host)
                .port(cmd.port)
                .servedModelNames(cmd.servedNames())
                .apiKey(cmd.effectiveApiKey())
                .maxRequestBodyBytes(cmd.maxRequestBodyBytes)
                .requestTimeout(java.time.Duration.ofSeconds(cmd.requestTimeout))
                .build();
        gateway = own(new GatewayServer(options, tokenizer, engine));
        int bound = gateway.start();
        log.info("OpenAI-compatible API on http://{}:{} (model {})", cmd.host, bound, cmd.servedNames());
    }

    /** A channel to another role's process; keepalive pings detect a peer lost to a network cut within ~30 s. */
    private static ManagedChannel openRemote(String address) {
        return GrpcChannels.openWithKeepAlive(address, java.time.Duration.ofSeconds(20), java.time.Duration.ofSeconds(10));
    }

    private GrpcServers ownServer(GrpcServers server) {
        grpcServers.add(server);
        return own(server);
    }

    /**
     * The Engine service's gRPC health follows the worker: NOT_SERVING while the scheduler has none attached
     * (its step stream broke and it is reconnecting), SERVING again once it is back.
     */
    private void reportWorkerAttachment() {
        scheduler.onWorkerAttachment(this::setEngineHealth);
        setEngineHealth(scheduler.workerAttached());
    }

    private void setEngineHealth(boolean attached) {
        if (draining) return; // stays NOT_SERVING until exit
        ServingStatus status = attached ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
        for (GrpcServers s : grpcServers) {
            s.health().setStatus(dev.jvllm.proto.EngineGrpc.SERVICE_NAME, status);
            s.health().setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, status);
        }
    }

    /**
     * Graceful shutdown (SIGTERM), before {@link #close()}: health turns NOT_SERVING / 503 at once, new requests
     * are refused (the gateway also closes its listening socket), and requests already running get up to
     * {@code timeout} to finish. Returns true when everything finished in time.
     */
    public boolean drain(java.time.Duration timeout) {
        draining = true;
        long deadline = System.nanoTime() + timeout.toNanos();
        log.info("draining: refusing new requests, giving running ones up to {} s", timeout.toSeconds());
        for (GrpcServers s : grpcServers) {
            s.health().setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.NOT_SERVING);
            if (scheduler != null) s.health().setStatus(dev.jvllm.proto.EngineGrpc.SERVICE_NAME, ServingStatus.NOT_SERVING);
        }
        boolean done = true;
        if (gateway != null) {
            done = gateway.drain(timeout);
        }
        if (scheduler != null) {
            try {
                done &= scheduler.drain(java.time.Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                done = false;
            }
        }
        log.info(done ? "drained: every running request finished" : "drain timed out: aborting what is left");
        return done;
    }

    private <T extends AutoCloseable> T own(T resource) {
        started.push(resource);
        return resource;
    }

    private ManagedChannel ownChannel(ManagedChannel channel) {
        started.push(() -> {
            channel.shutdown();
            if (!channel.awaitTermination(2, TimeUnit.SECONDS)) {
                channel.shutdownNow();
            }
        });
        return channel;
    }

    /** The HTTP port the gateway bound, or -1 when this process runs no gateway. */
    public int httpPort() {
        return gateway == null ? -1 : gateway.port();
    }

    /** The gRPC port this process serves, or -1. */
    public int grpcPort() {
        return grpcServer == null ? -1 : grpcServer.port();
    }

    public SchedulerService scheduler() {
        return scheduler;
    }

    /** In-process channel to the Engine and Tokenizer services (all-in-one mode), else null. */
    public ManagedChannel frontChannel() {
        return frontChannel;
    }

    @Override
    public synchronized void close() {
        while (!started.isEmpty()) {
            AutoCloseable c = started.pop();
            try {
                c.close();
            } catch (Exception e) {
                log.warn("error while shutting down {}: {}", c.getClass().getSimpleName(), e.toString());
            }
        }
    }
}
