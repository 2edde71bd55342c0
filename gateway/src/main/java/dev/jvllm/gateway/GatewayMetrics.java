package dev.jvllm.gateway;

import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/**
 * Latencies observed per request by this gateway, as vLLM's histograms (same names and buckets): time to first token,
 * inter-token latency and end-to-end latency. Engine-wide gauges and counters come from Engine.GetStats instead.
 */
final class GatewayMetrics {
    final Histogram timeToFirstToken = new Histogram("vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
            80.0, 160.0, 640.0, 2560.0);
    final Histogram interTokenLatency = new Histogram("vllm:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds.",
            0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0);
    final Histogram e2eRequestLatency = new Histogram("vllm:e2e_request_latency_seconds",
            "Histogram of end to end request latency in seconds.",
            0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
            960.0, 1920.0, 7680.0);

    /** Last scrape's (time, generation tokens), for the throughput gauge. */
    private long lastScrapeNanos = -1;
    private long lastGenerationTokens;

    /** Generation tokens per second since the previous scrape (0 on the first). */
    synchronized double generationThroughput(long generationTokensTotal, long nowNanos) {
        double rate = 0;
        if (lastScrapeNanos >= 0 && nowNanos > lastScrapeNanos && generationTokensTotal >= lastGenerationTokens) {
            rate = (generationTokensTotal - lastGenerationTokens) / ((nowNanos - lastScrapeNanos) / 1e9);
        }
        lastScrapeNanos = nowNanos;
        lastGenerationTokens = generationTokensTotal;
        return rate;
    }

    void render(StringBuilder b, String labels) {
        timeToFirstToken.render(b, labels);
        interTokenLatency.render(b, labels);
        e2eRequestLatency.render(b, labels);
    }

    static final class Histogram {
        private final String name;
        private final String help;
        private final double[] bounds;
        private final LongAdder[] buckets; // non-cumulative; the last one is +Inf
        private final DoubleAdder sum = new DoubleAdder();
        private final LongAdder count = new LongAdder();

        Histogram(String name, String help, double... bounds) {
            this.name = name;
            this.help = help;
            this.bounds = bounds;
            this.buckets = new LongAdder[bounds.length + 1];
            for (int i = 0; i < buckets.length; i++) buckets[i] = new LongAdder();
        }

        void observe(double seconds) {
            int i = 0;
            while (i < bounds.length && seconds > bounds[i]) i++;
            buckets[i].increment();
            sum.add(seconds);
            count.increment();
        }

        long count() { return count.sum(); }

        void render(StringBuilder b, String labels) {
            b.append("# HELP ").append(name).append(' ').append(help).append('\n');
            b.append("# TYPE ").append(name).append(" histogram\n");
            long cumulative = 0;
            for (int i = 0; i <= bounds.length; i++) {
                cumulative += buckets[i].sum();
                String le = i < bounds.length ? Double.toString(bounds[i]) : "+Inf";
                b.append(name).append("_bucket{").append(labels).append(",le=\"").append(le).append("\"} ")
                        .append(cumulative).append('\n');
            }
            b.append(name).append("_sum{").append(labels).append("} ").append(sum.sum()).append('\n');
            b.append(name).append("_count{").append(labels).append("} ").append(cumulative).append('\n');
        }
    }
}
