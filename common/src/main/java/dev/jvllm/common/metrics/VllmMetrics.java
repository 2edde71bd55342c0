package dev.jvllm.common.metrics;

import dev.jvllm.proto.EngineStats;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.Collector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;

import java.util.ArrayDeque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * vLLM's metric families under vLLM's names, labels and buckets, so HPAs and dashboards written for vLLM work unchanged.
 * <ul>
 *   <li>Engine-wide gauges and counters (running/waiting, KV usage, token and request totals, preemptions, prefix cache,
 *   tokens per step) are read from the scheduler's {@link EngineStats}: the owner calls {@link #update} with a fresh
 *   snapshot (the gateway fetches one with Engine.GetStats on every scrape), and the callback metrics report it. The
 *   engine's totals are monotonic, so they are exposed as counters.</li>
 *   <li>Per-request histograms (TTFT, inter-token latency, queue/prefill/decode/e2e time, token counts) are observed by
 *   the process that sees the request's stream: {@link #startRequest()} and {@link RequestTimer}.</li>
 * </ul>
 * Every sample carries {@code model_name}. Thread-safe.
 */
public final class VllmMetrics {
    /** Average throughput gauges look back this far (vLLM logs and averaged over its 10 s logging interval). */
    static final long THROUGHPUT_WINDOW_NANOS = 10_000_000_000L;
    private static final List<String> FINISH_REASONS = List.of("stop", "length", "abort");

    private final String modelName;
    private final PrometheusRegistry registry;
    // The one model_name series of each per-request histogram, looked up once: observed per token.
    private final DistributionDataPoint timeToFirstToken;
    private final DistributionDataPoint interTokenLatency;
    private final DistributionDataPoint timePerOutputToken;
    private final DistributionDataPoint e2eLatency;
    private final DistributionDataPoint queueTime;
    private final DistributionDataPoint prefillTime;
    private final DistributionDataPoint decodeTime;
    private final DistributionDataPoint promptTokens;
    private final DistributionDataPoint generationTokens;

    private volatile EngineStats stats = EngineStats.getDefaultInstance();
    private final ArrayDeque<Sample> samples = new ArrayDeque<>(); // guarded by itself
    private volatile double promptThroughput;
    private volatile double generationThroughput;

    private record Sample(long nanos, long promptTokens, long generationTokens) {}

    /** A registry of its own holding only vLLM's families; {@code maxModelLen} sizes the token-count buckets. */
    public VllmMetrics(String modelName, int maxModelLen) {
        this(modelName, maxModelLen, new PrometheusRegistry());
    }

    public VllmMetrics(String modelName, int maxModelLen, PrometheusRegistry registry) {
        this.modelName = modelName;
        this.registry = registry;
        String m = "model_name";

        gauge("vllm:num_requests_running", "Number of requests in model execution batches.", s -> s.getNumRunning());
        gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", s -> s.getNumWaiting());
        gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", EngineStats::getKvCacheUsage);
        gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage. (Deprecated alias of vllm:kv_cache_usage_perc.)",
                EngineStats::getKvCacheUsage);
        GaugeWithCallback.builder().name("vllm:avg_prompt_throughput_toks_per_s")
                .help("Average prefill throughput in tokens/s.").labelNames(m)
                .callback(cb -> cb.call(promptThroughput, modelName)).register(registry);
        GaugeWithCallback.builder().name("vllm:avg_generation_throughput_toks_per_s")
                .help("Average generation throughput in tokens/s.").labelNames(m)
                .callback(cb -> cb.call(generationThroughput, modelName)).register(registry);

        counter("vllm:prompt_tokens", "Number of prefill tokens processed.", EngineStats::getPromptTokensTotal);
        counter("vllm:generation_tokens", "Number of generation tokens processed.", EngineStats::getGenerationTokensTotal);
        counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.", EngineStats::getNumPreemptions);
        counter("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.",
                EngineStats::getPrefixCacheQueries);
        counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.",
                EngineStats::getPrefixCacheHits);
        CounterWithCallback.builder().name("vllm:request_success").help("Count of successfully processed requests.")
                .labelNames(m, "finished_reason")
                .callback(cb -> {
                    EngineStats s = stats;
                    Set<String> reasons = new LinkedHashSet<>(FINISH_REASONS);
                    reasons.addAll(s.getRequestSuccessTotalMap().keySet());
                    for (String r : reasons) cb.call(s.getRequestSuccessTotalOrDefault(r, 0L), modelName, r);
                }).register(registry);
        registry.register(new IterationTokens());

        timeToFirstToken = histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
                VllmBuckets.TIME_TO_FIRST_TOKEN);
        interTokenLatency = histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
                VllmBuckets.PER_TOKEN);
        timePerOutputToken = histogram("vllm:time_per_output_token_seconds",
                "Histogram of time per output token in seconds.", VllmBuckets.PER_TOKEN);
        e2eLatency = histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
                VllmBuckets.REQUEST_LATENCY);
        queueTime = histogram("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
                VllmBuckets.REQUEST_LATENCY);
        prefillTime = histogram("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.",
                VllmBuckets.REQUEST_LATENCY);
        decodeTime = histogram("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.",
                VllmBuckets.REQUEST_LATENCY);
        double[] tokenBuckets = VllmBuckets.oneTwoFive(Math.max(1, maxModelLen));
        promptTokens = histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", tokenBuckets);
        generationTokens = histogram("vllm:request_generation_tokens", "Number of generation tokens processed.", tokenBuckets);
    }

    public String modelName() {
        return modelName;
    }

    public PrometheusRegistry registry() {
        return registry;
    }

    /** The latest engine snapshot; also advances the average-throughput gauges. */
    public void update(EngineStats s) {
        update(s, System.nanoTime());
    }

    void update(EngineStats s, long nowNanos) {
        stats = s;
        synchronized (samples) {
            Sample now = new Sample(nowNanos, s.getPromptTokensTotal(), s.getGenerationTokensTotal());
            Sample last = samples.peekLast();
            if (last != null && (now.promptTokens < last.promptTokens || now.generationTokens < last.generationTokens))
                samples.clear(); // the engine restarted: its totals began again
            samples.addLast(now);
            // Keep one sample at or beyond the window as the baseline; drop older ones.
            while (samples.size() > 2) {
                var it = samples.iterator();
                it.next();
                Sample second = it.next();
                if (nowNanos - second.nanos >= THROUGHPUT_WINDOW_NANOS) samples.removeFirst(); else break;
            }
            Sample base = samples.peekFirst();
            double secs = (nowNanos - base.nanos) / 1e9;
            if (base == now || secs <= 0) {
                promptThroughput = 0;
                generationThroughput = 0;
            } else {
                promptThroughput = (now.promptTokens - base.promptTokens) / secs;
                generationThroughput = (now.generationTokens - base.generationTokens) / secs;
            }
        }
    }

    public EngineStats stats() {
        return stats;
    }

    /** Times one request from now (call when it arrives). */
    public RequestTimer startRequest(String requestId) {
        return new RequestTimer(requestId, System.nanoTime());
    }

    /** Times one request that arrived at {@code arrivalNanos} ({@link System#nanoTime()}). */
    public RequestTimer startRequest(String requestId, long arrivalNanos) {
        return new RequestTimer(requestId, arrivalNanos);
    }

    /**
     * One request's timeline as its stream shows it. Not thread-safe: driven by the one thread (or serialized
     * callbacks) that handles the request's responses.
     */
    public final class RequestTimer {
        private final String requestId;
        private final long arrivalNanos;
        private long firstTokenNanos = -1;
        private long lastTokenNanos = -1;
        private double queuedSeconds = Double.NaN;
        private double engineFirstTokenSeconds = Double.NaN;
        private boolean finished;

        private RequestTimer(String requestId, long arrivalNanos) {
            this.requestId = requestId;
            this.arrivalNanos = arrivalNanos;
        }

        /**
         * One engine response: {@code newTokens} tokens arrived now; the engine's timings in seconds since it
         * received the request (GenerateResponse.queued_seconds / first_token_seconds; 0 when not yet known).
         */
        public void onResponse(int newTokens, double engineQueuedSeconds, double engineFirstTokenSeconds) {
            onResponse(newTokens, engineQueuedSeconds, engineFirstTokenSeconds, System.nanoTime());
        }

        void onResponse(int newTokens, double engineQueuedSeconds, double engineFirstTokenSeconds, long now) {
            if (engineQueuedSeconds > 0 || (engineFirstTokenSeconds > 0 && Double.isNaN(queuedSeconds)))
                this.queuedSeconds = engineQueuedSeconds;
            if (engineFirstTokenSeconds > 0) this.engineFirstTokenSeconds = engineFirstTokenSeconds;
            if (newTokens <= 0) return;
            if (firstTokenNanos < 0) {
                firstTokenNanos = now;
                timeToFirstToken.observe((now - arrivalNanos) / 1e9);
            } else {
                interTokenLatency.observe((now - lastTokenNanos) / 1e9);
            }
            lastTokenNanos = now;
        }

        /** Records the request's histograms once and returns its summary (for the per-request log line). */
        public RequestSummary finish(int promptTokenCount, int generationTokenCount, String finishReason) {
            return finish(promptTokenCount, generationTokenCount, finishReason, System.nanoTime());
        }

        RequestSummary finish(int promptTokenCount, int generationTokenCount, String finishReason, long now) {
            double e2e = (now - arrivalNanos) / 1e9;
            double ttft = firstTokenNanos < 0 ? Double.NaN : (firstTokenNanos - arrivalNanos) / 1e9;
            double decode = firstTokenNanos < 0 ? Double.NaN : (lastTokenNanos - firstTokenNanos) / 1e9;
            double prefill = Double.isNaN(engineFirstTokenSeconds) || Double.isNaN(queuedSeconds) ? Double.NaN
                    : Math.max(0, engineFirstTokenSeconds - queuedSeconds);
            RequestSummary summary = new RequestSummary(requestId, promptTokenCount, generationTokenCount, ttft, e2e,
                    queuedSeconds, prefill, decode, finishReason);
            if (finished) return summary;
            finished = true;
            e2eLatency.observe(e2e);
            promptTokens.observe(promptTokenCount);
            generationTokens.observe(generationTokenCount);
            if (!Double.isNaN(queuedSeconds)) queueTime.observe(queuedSeconds);
            if (!Double.isNaN(prefill)) prefillTime.observe(prefill);
            if (!Double.isNaN(decode)) {
                decodeTime.observe(decode);
                if (generationTokenCount > 1)
                    timePerOutputToken.observe(decode / (generationTokenCount - 1));
            }
            return summary;
        }
    }

    private void gauge(String name, String help, java.util.function.ToDoubleFunction<EngineStats> value) {
        GaugeWithCallback.builder().name(name).help(help).labelNames("model_name")
                .callback(cb -> cb.call(value.applyAsDouble(stats), modelName)).register(registry);
    }

    private void counter(String name, String help, java.util.function.ToLongFunction<EngineStats> value) {
        CounterWithCallback.builder().name(name).help(help).labelNames("model_name")
                .callback(cb -> cb.call(value.applyAsLong(stats), modelName)).register(registry);
    }

    private DistributionDataPoint histogram(String name, String help, double[] buckets) {
        Histogram h = Histogram.builder().name(name).help(help).labelNames("model_name")
                .classicOnly().classicUpperBounds(buckets).withoutExemplars().register(registry);
        return h.labelValues(modelName); // exposed (all zero) before the first request, as vLLM does
    }

    /** vllm:iteration_tokens_total: a histogram the engine keeps (EngineStats.iteration_tokens_*), reported as is. */
    private final class IterationTokens implements Collector {
        private static final String NAME = "vllm:iteration_tokens_total";
        private static final double[] BOUNDS = withInf(VllmBuckets.ITERATION_TOKENS);

        private static double[] withInf(double[] bounds) {
            double[] out = java.util.Arrays.copyOf(bounds, bounds.length + 1);
            out[bounds.length] = Double.POSITIVE_INFINITY;
            return out;
        }

        @Override
        public MetricSnapshot collect() {
            EngineStats s = stats;
            long[] counts = new long[BOUNDS.length];
            for (int i = 0; i < Math.min(counts.length, s.getIterationTokensBucketsCount()); i++)
                counts[i] = s.getIterationTokensBuckets(i);
            return HistogramSnapshot.builder().name(NAME).help("Histogram of number of tokens per engine_step.")
                    .dataPoint(HistogramSnapshot.HistogramDataPointSnapshot.builder()
                            .classicHistogramBuckets(ClassicHistogramBuckets.of(BOUNDS, counts))
                            .sum(s.getIterationTokensSum())
                            .labels(Labels.of("model_name", modelName))
                            .build())
                    .build();
        }

        @Override
        public String getPrometheusName() {
            return NAME;
        }
    }
}
