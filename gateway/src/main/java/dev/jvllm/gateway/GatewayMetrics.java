package dev.jvllm.gateway;

import dev.jvllm.common.metrics.VllmMetrics;

/**
 * vLLM's metric families for the served model ({@link VllmMetrics}): engine-wide numbers from Engine.GetStats at each
 * scrape, per-request histograms observed here. Created once the engine's model facts are known (the token-count
 * buckets depend on max_model_len).
 */
final class GatewayMetrics {
    private volatile VllmMetrics vllm;

    VllmMetrics forModel(ModelRegistry.Model model) {
        VllmMetrics v = vllm;
        if (v != null) return v;
        synchronized (this) {
            if (vllm == null) vllm = new VllmMetrics(model.primaryName(), model.maxModelLen());
            return vllm;
        }
    }
}
