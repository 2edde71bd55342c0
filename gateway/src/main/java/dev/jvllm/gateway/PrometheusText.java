package dev.jvllm.gateway;

import dev.jvllm.proto.EngineStats;

import java.util.Map;
import java.util.TreeMap;

/** Engine stats in the Prometheus text format, under vLLM's metric names so existing dashboards work. */
final class PrometheusText {
    static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private PrometheusText() {}

    static String render(EngineStats s, ModelRegistry.Model m, GatewayMetrics metrics) {
        String label = "model_name=\"" + escape(m.primaryName()) + "\"";
        StringBuilder b = new StringBuilder(2048);
        gauge(b, "vllm:num_requests_running", "Number of requests in model execution batches.", label, s.getNumRunning());
        gauge(b, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", label, s.getNumWaiting());
        gauge(b, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", label, s.getKvCacheUsage());
        gauge(b, "vllm:num_free_kv_blocks", "Free KV-cache blocks.", label, s.getNumFreeBlocks());
        gauge(b, "vllm:num_total_kv_blocks", "Total KV-cache blocks.", label, s.getNumTotalBlocks());
        counter(b, "vllm:prefix_cache_queries", "Prefix cache queries, in tokens.", label, s.getPrefixCacheQueries());
        counter(b, "vllm:prefix_cache_hits", "Prefix cache hits, in tokens.", label, s.getPrefixCacheHits());
        counter(b, "vllm:num_preemptions", "Cumulative number of preemptions.", label, s.getNumPreemptions());
        counter(b, "vllm:prompt_tokens", "Number of prefill tokens processed.", label, s.getPromptTokensTotal());
        counter(b, "vllm:generation_tokens", "Number of generation tokens processed.", label, s.getGenerationTokensTotal());
        counter(b, "jvllm:engine_steps", "Number of engine steps.", label, s.getNumSteps());
        gauge(b, "jvllm:worker_connected", "1 when the engine has a connected worker.", label, s.getWorkerConnected() ? 1 : 0);
        gauge(b, "vllm:avg_generation_throughput_toks_per_s", "Average generation throughput in tokens/s (since the last scrape).",
                label, metrics.generationThroughput(s.getGenerationTokensTotal(), System.nanoTime()));
        metrics.render(b, label);
        b.append("# HELP vllm:request_success_total Count of successfully processed requests.\n");
        b.append("# TYPE vllm:request_success_total counter\n");
        for (Map.Entry<String, Long> e : new TreeMap<>(s.getRequestSuccessTotalMap()).entrySet()) {
            b.append("vllm:request_success_total{").append(label).append(",finished_reason=\"").append(escape(e.getKey()))
                    .append("\"} ").append(e.getValue()).append('\n');
        }
        return b.toString();
    }

    private static void gauge(StringBuilder b, String name, String help, String label, double v) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(" gauge\n");
        b.append(name).append('{').append(label).append("} ").append(v).append('\n');
    }

    private static void counter(StringBuilder b, String name, String help, String label, long v) {
        b.append("# HELP ").append(name).append("_total ").append(help).append('\n');
        b.append("# TYPE ").append(name).append("_total counter\n");
        b.append(name).append("_total{").append(label).append("} ").append(v).append('\n');
    }

    private static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
