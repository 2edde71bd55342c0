package dev.jvllm.launcher;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code jvllm serve}: vLLM's flag names where they exist. With no {@code --role} all four services
 * run in this JVM over in-process gRPC; with a role, this process runs that one service on Netty gRPC
 * (or HTTP, for the gateway) and reaches the others at the given addresses.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a model over the OpenAI-compatible HTTP API.")
public final class ServeCommand implements Callable<Integer> {

    public enum Role { all, gateway, tokenizer, scheduler, worker }

    @Parameters(index = "0", arity = "0..1", paramLabel = "MODEL", description = "Same as --model.")
    String modelPositional;

    @Option(names = "--model", paramLabel = "DIR|ORG/NAME",
            description = "Model directory in Hugging Face layout, or a hub id (downloaded once into the hub cache).")
    String model;

    @Option(names = "--tokenizer", paramLabel = "DIR|ORG/NAME", description = "Tokenizer directory or hub id (default: the model's).")
    String tokenizer;

    @Option(names = "--served-model-name", split = ",", paramLabel = "NAME",
            description = "Model name(s) the API answers to (default: the --model value).")
    List<String> servedModelNames = new ArrayList<>();

    @Option(names = "--host", defaultValue = "0.0.0.0", description = "HTTP bind address (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", defaultValue = "8000", description = "HTTP port (default: ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;

    @Option(names = "--api-key", description = "Require 'Authorization: Bearer KEY' on /v1/* (default: env VLLM_API_KEY).")
    String apiKey;

    @Option(names = "--max-model-len", defaultValue = "0", description = "Context length (default: the model's).")
    int maxModelLen;

    @Option(names = "--max-num-seqs", defaultValue = "256", description = "Sequences per step (default: ${DEFAULT-VALUE}).")
    int maxNumSeqs;

    @Option(names = "--max-num-batched-tokens", defaultValue = "2048",
            description = "Token budget per step (default: ${DEFAULT-VALUE}).")
    int maxNumBatchedTokens;

    @Option(names = "--block-size", defaultValue = "16", description = "KV cache block size in tokens (default: ${DEFAULT-VALUE}).")
    int blockSize;

    @Option(names = "--kv-cache-space", paramLabel = "GiB",
            description = "KV cache size in GiB (default: env VLLM_CPU_KVCACHE_SPACE, else 4).")
    Double kvCacheSpace;

    @Option(names = "--num-gpu-blocks-override", defaultValue = "0", description = "Use this many KV blocks.")
    int numGpuBlocksOverride;

    @Option(names = "--enable-prefix-caching", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Automatic prefix caching (default: on).")
    boolean enablePrefixCaching;

    @Option(names = "--scheduling-policy", defaultValue = "fcfs", description = "fcfs or priority (default: ${DEFAULT-VALUE}).")
    String schedulingPolicy;

    @Option(names = "--max-waiting-requests", defaultValue = "1024",
            description = "Requests that may wait before new ones are refused with 503 (default: ${DEFAULT-VALUE}).")
    int maxWaitingRequests;

    @Option(names = "--seed", defaultValue = "0", description = "Random seed for unseeded sampling (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--dtype", defaultValue = "auto", description = "Compute dtype (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--load-format", defaultValue = "auto",
            description = "auto (safetensors directory or .gguf file) or dummy (random weights for config.json alone) "
                    + "(default: ${DEFAULT-VALUE}).")
    String loadFormat;

    @Option(names = "--kv-cache-dtype", defaultValue = "auto",
            description = "KV cache element type: auto (the model's own type; float16 for quantized GGUF weights), float32, bfloat16, float16 or fp8_e5m2 (default: ${DEFAULT-VALUE}).")
    String kvCacheDtype;

    @Option(names = "--device", defaultValue = "cpu",
            description = "Worker backend: cpu, tpu, cuda or pjrt:/path/to/plugin.so (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--compile-cache-dir", paramLabel = "DIR",
            description = "Where compiled XLA executables are kept (default: VLLM_XLA_CACHE_PATH, else ~/.cache/jvllm/xla).")
    String compileCacheDir;

    @Option(names = "--otlp-traces-endpoint", paramLabel = "URL",
            description = "Export OpenTelemetry traces by OTLP (e.g. grpc://jaeger:4317; default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT "
                    + "or OTEL_EXPORTER_OTLP_ENDPOINT; unset: no tracing).")
    String otlpTracesEndpoint;

    @Option(names = "--metrics-port", paramLabel = "PORT",
            description = "Serve this process's gRPC and JVM metrics at http://GRPC_HOST:PORT/metrics (worker, tokenizer, scheduler roles; "
                    + "the gateway serves every metric on its HTTP port).")
    Integer metricsPort;

    @Option(names = "--tensor-parallel-size", defaultValue = "1", description = "Devices per model (cpu: 1).")
    int tensorParallelSize;

    @Option(names = "--threads", defaultValue = "0", description = "CPU compute threads (default: all cores).")
    int threads;

    @Option(names = "--chat-template", paramLabel = "FILE|TEMPLATE", description = "Chat template overriding the model's.")
    String chatTemplate;

    @Option(names = "--download-dir", paramLabel = "DIR",
            description = "Hub cache directory (default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub).")
    String downloadDir;

    @Option(names = "--revision", paramLabel = "REV", description = "Hub revision (branch, tag or commit) of the model (default: main).")
    String revision;

    @Option(names = "--tokenizer-revision", paramLabel = "REV", description = "Hub revision of --tokenizer (default: main).")
    String tokenizerRevision;

    @Option(names = "--max-request-body-bytes", defaultValue = "16777216",
            description = "Largest accepted HTTP request body (default: ${DEFAULT-VALUE}).")
    int maxRequestBodyBytes;

    @Option(names = "--role", defaultValue = "all",
            description = "Which service this process runs: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
    Role role;

    @Option(names = "--grpc-host", defaultValue = "0.0.0.0", description = "gRPC bind address for a role (default: ${DEFAULT-VALUE}).")
    String grpcHost;

    @Option(names = "--grpc-port", description = "gRPC port of this role (defaults: scheduler 50051, tokenizer 50052, worker 50053). "
            + "With --role all, also exposes the Engine and Tokenizer services on this port.")
    Integer grpcPort;

    @Option(names = "--worker-address", defaultValue = "localhost:50053", description = "Worker host:port (scheduler role).")
    String workerAddress;

    @Option(names = "--scheduler-address", defaultValue = "localhost:50051", description = "Scheduler host:port (gateway role).")
    String schedulerAddress;

    @Option(names = "--worker-wait-timeout", defaultValue = "600", paramLabel = "SECONDS",
            description = "How long the scheduler waits for its worker to come up (default: ${DEFAULT-VALUE}).")
    long workerWaitTimeout;

    @Option(names = "--request-timeout", defaultValue = "600", paramLabel = "SECONDS",
            description = "Deadline of one generation, from arrival at the gateway; propagated to the scheduler as the gRPC "
                    + "deadline, which aborts the request when it passes (default: ${DEFAULT-VALUE}).")
    long requestTimeout;

    @Option(names = "--shutdown-timeout", defaultValue = "30", paramLabel = "SECONDS",
            description = "On SIGTERM: health fails and new requests are refused at once, running ones get this long "
                    + "to finish before the process exits (default: ${DEFAULT-VALUE}).")
    long shutdownTimeout;

    @Option(names = "--tokenizer-address", defaultValue = "localhost:50052", description = "Tokenizer host:port (gateway role).")
    String tokenizerAddress;

    public static ServeCommand parse(String... args) {
        ServeCommand cmd = new ServeCommand();
        new CommandLine(cmd).setCaseInsensitiveEnumValuesAllowed(true).parseArgs(args);
        return cmd;
    }

    /** The model argument, from --model or the positional MODEL. */
    String modelArg() {
        return model != null ? model : modelPositional;
    }

    String requireModelArg() {
        String m = modelArg();
        if (m == null) {
            throw new CommandLine.ParameterException(new CommandLine(this), "a model is required: --model DIR|ORG/NAME");
        }
        return m;
    }

    List<String> servedNames() {
        if (!servedModelNames.isEmpty()) {
            return List.copyOf(servedModelNames);
        }
        return modelArg() == null ? List.of() : List.of(modelArg());
    }

    String effectiveApiKey() {
        if (apiKey != null && !apiKey.isEmpty()) {
            return apiKey;
        }
        String env = System.getenv("VLLM_API_KEY");
        return env == null || env.isEmpty() ? null : env;
    }

    int grpcPortFor(Role r) {
        if (grpcPort != null) {
            return grpcPort;
        }
        return switch (r) {
            case scheduler -> 50051;
            case tokenizer -> 50052;
            case worker -> 50053;
            default -> 0;
        };
    }

    @Override
    public Integer call() throws Exception {
        Deployment deployment = Deployment.start(this);
        CountDownLatch stopped = new CountDownLatch(1);
        // SIGTERM (what Kubernetes sends) runs this hook: drain first, then close everything.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                deployment.drain(java.time.Duration.ofSeconds(shutdownTimeout));
            } finally {
                deployment.close();
                stopped.countDown();
            }
        }, "jvllm-shutdown"));
        stopped.await();
        return 0;
    }
}
