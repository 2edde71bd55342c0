package dev.jvllm.gateway;

import java.time.Duration;
import java.util.List;

/**
 * Gateway configuration (vLLM flag names in parentheses).
 *
 * @param host                 bind address (--host), default "0.0.0.0"
 * @param port                 HTTP port (--port), default 8000; 0 binds an ephemeral port
 * @param servedModelNames     --served-model-name aliases, first is primary; empty: the engine's model name
 * @param apiKey               --api-key / VLLM_API_KEY; null or empty: no authentication
 * @param maxRequestBodyBytes  larger bodies get 413
 * @param maxN                 upper bound for {@code n}
 * @param maxStopStrings       upper bound for the number of {@code stop} strings
 * @param maxLogprobs          upper bound for {@code logprobs}/{@code top_logprobs}/{@code prompt_logprobs} (vLLM --max-logprobs)
 * @param workerThreads        Netty worker event loop threads; 0: number of cores
 * @param controlTimeout       deadline for small control calls (health, model info, tokenize)
 * @param idleTimeout          a connection with no request in flight and no traffic for this long is closed
 * @param requestTimeout       deadline of a whole generation (--request-timeout), set on every gRPC call it makes
 *                             and so propagated to the scheduler, which aborts the request when it passes;
 *                             default 600 s
 */
public record GatewayOptions(String host, int port, List<String> servedModelNames, String apiKey,
                             int maxRequestBodyBytes, int maxN, int maxStopStrings, int maxLogprobs,
                             int workerThreads, Duration controlTimeout, Duration idleTimeout, Duration requestTimeout) {

    public static final int DEFAULT_MAX_BODY = 16 * 1024 * 1024;

    public GatewayOptions {
        host = host == null || host.isEmpty() ? "0.0.0.0" : host;
        servedModelNames = servedModelNames == null ? List.of() : List.copyOf(servedModelNames);
        apiKey = apiKey == null || apiKey.isEmpty() ? null : apiKey;
        if (maxRequestBodyBytes <= 0) maxRequestBodyBytes = DEFAULT_MAX_BODY;
        if (maxN <= 0) maxN = 128;
        if (maxStopStrings <= 0) maxStopStrings = 64;
        if (maxLogprobs <= 0) maxLogprobs = 20;
        if (workerThreads < 0) throw new IllegalArgumentException("workerThreads < 0");
        if (controlTimeout == null) controlTimeout = Duration.ofSeconds(30);
        if (idleTimeout == null || idleTimeout.isZero() || idleTimeout.isNegative()) idleTimeout = Duration.ofSeconds(60);
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port out of range: " + port);
        if (requestTimeout == null || requestTimeout.isZero() || requestTimeout.isNegative())
            requestTimeout = DEFAULT_REQUEST_TIMEOUT;
    }

    public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(600);

    /** Without a request timeout: the default applies. */
    public GatewayOptions(String host, int port, List<String> servedModelNames, String apiKey,
                          int maxRequestBodyBytes, int maxN, int maxStopStrings, int maxLogprobs,
                          int workerThreads, Duration controlTimeout, Duration idleTimeout) {
        this(host, port, servedModelNames, apiKey, maxRequestBodyBytes, maxN, maxStopStrings, maxLogprobs, workerThreads,
                controlTimeout, idleTimeout, DEFAULT_REQUEST_TIMEOUT);
    }

    /** Defaults: 0.0.0.0:8000, API key from VLLM_API_KEY when set. */
    public static GatewayOptions defaults(List<String> servedModelNames) {
        return new GatewayOptions("0.0.0.0", 8000, servedModelNames, System.getenv("VLLM_API_KEY"),
                DEFAULT_MAX_BODY, 128, 64, 20, 0, Duration.ofSeconds(30), Duration.ofSeconds(60), DEFAULT_REQUEST_TIMEOUT);
    }

    public GatewayOptions withHost(String h) {
        return new GatewayOptions(h, port, servedModelNames, apiKey, maxRequestBodyBytes, maxN, maxStopStrings, maxLogprobs, workerThreads, controlTimeout, idleTimeout, requestTimeout);
    }

    public GatewayOptions withPort(int p) {
        return new GatewayOptions(host, p, servedModelNames, apiKey, maxRequestBodyBytes, maxN, maxStopStrings, maxLogprobs, workerThreads, controlTimeout, idleTimeout, requestTimeout);
    }

    public GatewayOptions withApiKey(String k) {
        return new GatewayOptions(host, port, servedModelNames, k, maxRequestBodyBytes, maxN, maxStopStrings, maxLogprobs, workerThreads, controlTimeout, idleTimeout, requestTimeout);
    }

    public GatewayOptions withMaxRequestBodyBytes(int b) {
        return new GatewayOptions(host, port, servedModelNames, apiKey, b, maxN, maxStopStrings, maxLogprobs, workerThreads, controlTimeout, idleTimeout, requestTimeout);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builder with the defaults above (no API key unless set; the launcher resolves VLLM_API_KEY). */
    public static final class Builder {
        private String host = "0.0.0.0";
        private int port = 8000;
        private List<String> servedModelNames = List.of();
        private String apiKey;
        private int maxRequestBodyBytes = DEFAULT_MAX_BODY;
        private int maxN = 128;
        private int maxStopStrings = 64;
        private int maxLogprobs = 20;
        private int workerThreads;
        private Duration controlTimeout = Duration.ofSeconds(30);
        private Duration idleTimeout = Duration.ofSeconds(60);
        private Duration requestTimeout = DEFAULT_REQUEST_TIMEOUT;

        private Builder() {}

        public Builder host(String v) { host = v; return this; }
        public Builder port(int v) { port = v; return this; }
        public Builder servedModelNames(List<String> v) { servedModelNames = v; return this; }
        public Builder apiKey(String v) { apiKey = v; return this; }
        public Builder maxRequestBodyBytes(int v) { maxRequestBodyBytes = v; return this; }
        public Builder maxN(int v) { maxN = v; return this; }
        public Builder maxStopStrings(int v) { maxStopStrings = v; return this; }
        public Builder maxLogprobs(int v) { maxLogprobs = v; return this; }
        public Builder workerThreads(int v) { workerThreads = v; return this; }
        public Builder controlTimeout(Duration v) { controlTimeout = v; return this; }
        public Builder idleTimeout(Duration v) { idleTimeout = v; return this; }
        public Builder requestTimeout(Duration v) { requestTimeout = v; return this; }

        public GatewayOptions build() {
            return new GatewayOptions(host, port, servedModelNames, apiKey, maxRequestBodyBytes, maxN, maxStopStrings,
                    maxLogprobs, workerThreads, controlTimeout, idleTimeout, requestTimeout);
        }
    }
}
