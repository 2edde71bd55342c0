package dev.jvllm.common.metrics;

import java.util.ArrayList;
import java.util.List;

/** vLLM's histogram bucket boundaries (vllm/v1/metrics/loggers.py), so dashboards' quantiles mean the same. */
public final class VllmBuckets {
    private VllmBuckets() {}

    public static final double[] TIME_TO_FIRST_TOKEN = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
            0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
    /** Inter-token latency and time per output token. */
    public static final double[] PER_TOKEN = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
            2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
    /** End-to-end, queue, prefill and decode time of a request. */
    public static final double[] REQUEST_LATENCY = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
            40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
    /** Tokens scheduled in one engine step (vllm:iteration_tokens_total). */
    public static final double[] ITERATION_TOKENS = {1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};

    /** 1, 2, 5, 10, 20, 50, ... up to {@code max} (vLLM's build_1_2_5_buckets), for token-count histograms. */
    public static double[] oneTwoFive(int max) {
        List<Double> out = new ArrayList<>();
        int[] mantissa = {1, 2, 5};
        for (long exponent = 1; ; exponent *= 10) {
            for (int m : mantissa) {
                long v = m * exponent;
                if (v > max) return out.stream().mapToDouble(Double::doubleValue).toArray();
                out.add((double) v);
            }
        }
    }

    /** Index of the bucket {@code value} falls in: the first bound {@code >= value}, or {@code bounds.length} (+Inf). */
    public static int bucketOf(double[] bounds, double value) {
        int lo = 0, hi = bounds.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (bounds[mid] >= value) hi = mid; else lo = mid + 1;
        }
        return lo;
    }
}
