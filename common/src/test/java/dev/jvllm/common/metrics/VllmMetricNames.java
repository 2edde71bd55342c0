package dev.jvllm.common.metrics;

import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** vLLM's metric families as the issue lists them, checked against a parsed exposition (shared with the launcher's tests). */
public final class VllmMetricNames {
    public record Expected(String name, String type, double[] buckets) {}

    public static final List<String> GAUGES = List.of("vllm:num_requests_running", "vllm:num_requests_waiting",
            "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "vllm:avg_prompt_throughput_toks_per_s",
            "vllm:avg_generation_throughput_toks_per_s");
    public static final List<String> COUNTERS = List.of("vllm:prompt_tokens_total", "vllm:generation_tokens_total",
            "vllm:request_success_total", "vllm:num_preemptions_total", "vllm:prefix_cache_queries_total",
            "vllm:prefix_cache_hits_total");
    /** Histograms with vLLM's bounds; the token-count ones (1-2-5 up to max model len) are checked separately. */
    public static final Map<String, double[]> HISTOGRAMS = Map.ofEntries(
            Map.entry("vllm:time_to_first_token_seconds", VllmBuckets.TIME_TO_FIRST_TOKEN),
            Map.entry("vllm:inter_token_latency_seconds", VllmBuckets.PER_TOKEN),
            Map.entry("vllm:time_per_output_token_seconds", VllmBuckets.PER_TOKEN),
            Map.entry("vllm:e2e_request_latency_seconds", VllmBuckets.REQUEST_LATENCY),
            Map.entry("vllm:request_queue_time_seconds", VllmBuckets.REQUEST_LATENCY),
            Map.entry("vllm:request_prefill_time_seconds", VllmBuckets.REQUEST_LATENCY),
            Map.entry("vllm:request_decode_time_seconds", VllmBuckets.REQUEST_LATENCY),
            Map.entry("vllm:iteration_tokens_total", VllmBuckets.ITERATION_TOKENS));
    public static final List<String> TOKEN_HISTOGRAMS = List.of("vllm:request_prompt_tokens", "vllm:request_generation_tokens");

    private VllmMetricNames() {}

    /** Every family listed above is present with its type, labelled {@code model_name=model}, with vLLM's buckets. */
    public static void assertConforms(Map<String, PrometheusTextParser.Family> families, String model, int maxModelLen) {
        Map<String, String> label = Map.of("model_name", model);
        for (String g : GAUGES) {
            PrometheusTextParser.Family f = require(families, g, "gauge");
            assertEquals(Set.of("model_name"), onlyLabelNames(f), g);
            f.value(label);
        }
        for (String c : COUNTERS) {
            PrometheusTextParser.Family f = require(families, c, "counter");
            if (c.equals("vllm:request_success_total")) {
                assertEquals(Set.of("model_name", "finished_reason"), onlyLabelNames(f), c);
                for (String reason : List.of("stop", "length", "abort"))
                    f.value(Map.of("model_name", model, "finished_reason", reason));
            } else {
                assertEquals(Set.of("model_name"), onlyLabelNames(f), c);
                f.value(label);
            }
        }
        for (var e : HISTOGRAMS.entrySet()) checkHistogram(families, e.getKey(), e.getValue(), label);
        for (String h : TOKEN_HISTOGRAMS) checkHistogram(families, h, VllmBuckets.oneTwoFive(maxModelLen), label);
    }

    private static void checkHistogram(Map<String, PrometheusTextParser.Family> families, String name, double[] bounds,
                                       Map<String, String> label) {
        PrometheusTextParser.Family f = require(families, name, "histogram");
        List<Double> actual = PrometheusTextParser.bucketBounds(f, label);
        assertEquals(bounds.length, actual.size(), name + " bucket count");
        for (int i = 0; i < bounds.length; i++) assertEquals(bounds[i], actual.get(i), name + " bucket " + i);
        for (PrometheusTextParser.Sample s : f.samples()) {
            Set<String> names = new java.util.HashSet<>(s.labels().keySet());
            names.remove("le");
            assertEquals(Set.of("model_name"), names, name);
        }
    }

    private static PrometheusTextParser.Family require(Map<String, PrometheusTextParser.Family> families, String name, String type) {
        PrometheusTextParser.Family f = families.get(name);
        assertNotNull(f, "missing metric family " + name + " (have " + families.keySet() + ")");
        assertEquals(type, f.type(), name + " type");
        assertFalse(f.samples().isEmpty(), name + " has no samples");
        assertTrue(!f.help().isEmpty(), name + " has no HELP");
        return f;
    }

    private static Set<String> onlyLabelNames(PrometheusTextParser.Family f) {
        Set<String> names = new java.util.HashSet<>();
        for (PrometheusTextParser.Sample s : f.samples()) names.addAll(s.labels().keySet());
        return names;
    }
}
