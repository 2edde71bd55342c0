package dev.jvllm.common.metrics;

import java.util.Locale;

/**
 * What one finished request cost, as recorded in vLLM's per-request histograms and logged once per request.
 * Times are seconds; NaN where a phase never happened (no token was generated, or the engine never scheduled it).
 */
public record RequestSummary(String requestId, int promptTokens, int generationTokens, double timeToFirstToken,
                             double e2eLatency, double queueTime, double prefillTime, double decodeTime,
                             String finishReason) {

    /** One logfmt line: {@code request_id=... prompt_tokens=... generation_tokens=... ttft_s=... e2e_s=... finish_reason=...}. */
    public String toLogLine() {
        return String.format(Locale.ROOT,
                "request_id=%s prompt_tokens=%d generation_tokens=%d ttft_s=%s e2e_s=%.4f queue_s=%s prefill_s=%s decode_s=%s finish_reason=%s",
                quote(requestId), promptTokens, generationTokens, fmt(timeToFirstToken), e2eLatency, fmt(queueTime),
                fmt(prefillTime), fmt(decodeTime), finishReason);
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "none" : String.format(Locale.ROOT, "%.4f", v);
    }

    private static String quote(String s) {
        return s.isEmpty() || s.chars().anyMatch(c -> c <= ' ' || c == '"' || c == '=')
                ? '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"' : s;
    }
}
