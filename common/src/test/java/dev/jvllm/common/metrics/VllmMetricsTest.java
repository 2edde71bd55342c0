package dev.jvllm.common.metrics;

import dev.jvllm.common.telemetry.Telemetry;
import dev.jvllm.proto.EngineStats;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VllmMetricsTest {
    private static Map<String, PrometheusTextParser.Family> scrape(VllmMetrics m, Telemetry t) {
        return PrometheusTextParser.parse(new String(PrometheusText.toBytes(m.registry(), t.registry()), StandardCharsets.UTF_8));
    }

    @Test
    void exposesEveryVllmFamilyWithItsTypeLabelsAndBuckets() {
        VllmMetrics m = new VllmMetrics("llama \"tiny\"", 512);
        try (Telemetry t = Telemetry.noTracing("test")) {
            VllmMetricNames.assertConforms(scrape(m, t), "llama \"tiny\"", 512); // before any traffic, too

            m.update(EngineStats.newBuilder().setNumRunning(3).setNumWaiting(2).setKvCacheUsage(0.25)
                    .setPromptTokensTotal(100).setGenerationTokensTotal(40).setNumPreemptions(1)
                    .setPrefixCacheQueries(64).setPrefixCacheHits(16).putRequestSuccessTotal("stop", 4)
                    .addIterationTokensBuckets(1).addIterationTokensBuckets(5).setIterationTokensSum(37).build(), 0);
            VllmMetrics.RequestTimer r = m.startRequest("req-1");
            r.onResponse(0, 0.05, 0, System.nanoTime());
            r.onResponse(1, 0.05, 0.08, System.nanoTime());
            r.onResponse(2, 0.05, 0.08, System.nanoTime());
            RequestSummary s = r.finish(7, 3, "stop");

            Map<String, PrometheusTextParser.Family> f = scrape(m, t);
            VllmMetricNames.assertConforms(f, "llama \"tiny\"", 512);
            Map<String, String> label = Map.of("model_name", "llama \"tiny\"");
            assertEquals(2, f.get("vllm:num_requests_waiting").value(label));
            assertEquals(0.25, f.get("vllm:gpu_cache_usage_perc").value(label));
            assertEquals(0.25, f.get("vllm:kv_cache_usage_perc").value(label));
            assertEquals(40, f.get("vllm:generation_tokens_total").value(label));
            assertEquals(4, f.get("vllm:request_success_total").value(Map.of("model_name", "llama \"tiny\"", "finished_reason", "stop")));
            assertEquals(6, f.get("vllm:iteration_tokens_total").series("_count", label).getFirst().value());
            assertEquals(1, f.get("vllm:e2e_request_latency_seconds").series("_count", label).getFirst().value());
            assertEquals(1, f.get("vllm:time_to_first_token_seconds").series("_count", label).getFirst().value());
            assertEquals(1, f.get("vllm:inter_token_latency_seconds").series("_count", label).getFirst().value());
            assertEquals(7, f.get("vllm:request_prompt_tokens").series("_sum", label).getFirst().value());
            assertEquals(0.05, f.get("vllm:request_queue_time_seconds").series("_sum", label).getFirst().value(), 1e-9);
            assertEquals(0.03, f.get("vllm:request_prefill_time_seconds").series("_sum", label).getFirst().value(), 1e-9);
            assertTrue(s.toLogLine().contains("prompt_tokens=7 generation_tokens=3"), s.toLogLine());
            assertTrue(s.toLogLine().contains("finish_reason=stop"), s.toLogLine());
            // The process's own metrics come from the same writer.
            assertEquals("gauge", f.get("jvm_memory_used_bytes").type());
        }
    }

    @Test
    void throughputIsARateOverTheWindowAndFallsToZeroWhenIdle() {
        VllmMetrics m = new VllmMetrics("m", 64);
        long s = 1_000_000_000L;
        m.update(stats(0, 0), 0);
        m.update(stats(100, 50), 2 * s);
        Map<String, String> label = Map.of("model_name", "m");
        try (Telemetry t = Telemetry.noTracing("test")) {
            assertEquals(25, scrape(m, t).get("vllm:avg_generation_throughput_toks_per_s").value(label), 1e-9);
            assertEquals(50, scrape(m, t).get("vllm:avg_prompt_throughput_toks_per_s").value(label), 1e-9);
            m.update(stats(100, 50), 30 * s); // idle for longer than the window
            m.update(stats(100, 50), 31 * s);
            assertEquals(0, scrape(m, t).get("vllm:avg_generation_throughput_toks_per_s").value(label));
        }
    }

    @Test
    void parserRejectsMalformedExpositions() {
        assertThrows(IllegalArgumentException.class, () -> PrometheusTextParser.parse("x 1\n")); // no TYPE
        assertThrows(IllegalArgumentException.class, () -> PrometheusTextParser.parse(
                "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"));
        assertThrows(IllegalArgumentException.class, () -> PrometheusTextParser.parse("# TYPE g gauge\ng{a=\"x} 1\n"));
    }

    @Test
    void oneTwoFiveBucketsStopAtMaxModelLen() {
        assertEquals(java.util.List.of(1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0),
                java.util.Arrays.stream(VllmBuckets.oneTwoFive(100)).boxed().toList());
    }

    private static EngineStats stats(long prompt, long generation) {
        return EngineStats.newBuilder().setPromptTokensTotal(prompt).setGenerationTokensTotal(generation).build();
    }
}
