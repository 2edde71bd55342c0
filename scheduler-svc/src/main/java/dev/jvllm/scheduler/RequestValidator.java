package dev.jvllm.scheduler;

import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.TokenIds;

import java.util.Map;

/** Stateless field checks of a GenerateRequest; every message names the offending field. */
public final class RequestValidator {
    /** vLLM's default --max-logprobs. */
    public static final int MAX_LOGPROBS = 20;
    public static final int MAX_REQUEST_ID_LENGTH = 256;

    private RequestValidator() {}

    /** {@link #check(GenerateRequest, int, int)} plus the prompt-length limit of {@code model}. */
    static String check(GenerateRequest req, ModelSpec model, int maxN) {
        String problem = check(req, model.vocabSize(), maxN);
        if (problem == null && req.getPromptTokenIdsCount() >= model.maxModelLen())
            problem = "prompt has " + req.getPromptTokenIdsCount() + " tokens, maximum context length is "
                    + model.maxModelLen() + " tokens (the prompt must be shorter than that to leave room for output)";
        return problem;
    }

    /** Returns null when valid, else a message naming the field. */
    public static String check(GenerateRequest req, int vocabSize, int maxN) {
        if (req.getRequestId().length() > MAX_REQUEST_ID_LENGTH)
            return "request_id is longer than " + MAX_REQUEST_ID_LENGTH + " characters";
        if (req.getPromptTokenIdsCount() == 0) return "prompt_token_ids must not be empty";
        for (int i = 0; i < req.getPromptTokenIdsCount(); i++) {
            int t = req.getPromptTokenIds(i);
            if (t < 0 || t >= vocabSize)
                return "prompt_token_ids[" + i + "] = " + t + " is outside the vocabulary [0, " + vocabSize + ")";
        }
        SamplingParams p = req.getSampling();
        if (p.getN() < 0 || p.getN() > maxN) return "sampling.n must be between 1 and " + maxN + ", got " + p.getN();
        if (p.hasTemperature() && !(p.getTemperature() >= 0f) || Float.isInfinite(p.getTemperature()))
            return "sampling.temperature must be >= 0, got " + p.getTemperature();
        if (p.hasTopP() && !(p.getTopP() > 0f && p.getTopP() <= 1f))
            return "sampling.top_p must be in (0, 1], got " + p.getTopP();
        if (p.getTopK() < -1) return "sampling.top_k must be -1, 0 (disabled) or positive, got " + p.getTopK();
        if (!(p.getMinP() >= 0f && p.getMinP() <= 1f)) return "sampling.min_p must be in [0, 1], got " + p.getMinP();
        if (!(p.getPresencePenalty() >= -2f && p.getPresencePenalty() <= 2f))
            return "sampling.presence_penalty must be in [-2, 2], got " + p.getPresencePenalty();
        if (!(p.getFrequencyPenalty() >= -2f && p.getFrequencyPenalty() <= 2f))
            return "sampling.frequency_penalty must be in [-2, 2], got " + p.getFrequencyPenalty();
        if (p.hasRepetitionPenalty() && !(p.getRepetitionPenalty() > 0f) || Float.isInfinite(p.getRepetitionPenalty()))
            return "sampling.repetition_penalty must be > 0, got " + p.getRepetitionPenalty();
        if (p.getMaxTokens() < 0) return "sampling.max_tokens must be >= 0, got " + p.getMaxTokens();
        if (p.getMinTokens() < 0) return "sampling.min_tokens must be >= 0, got " + p.getMinTokens();
        if (p.getMaxTokens() > 0 && p.getMinTokens() > p.getMaxTokens())
            return "sampling.min_tokens (" + p.getMinTokens() + ") must be <= max_tokens (" + p.getMaxTokens() + ")";
        String bad = checkIds("sampling.stop_token_ids", p.getStopTokenIdsList(), vocabSize);
        if (bad != null) return bad;
        bad = checkIds("sampling.allowed_token_ids", p.getAllowedTokenIdsList(), vocabSize);
        if (bad != null) return bad;
        for (int i = 0; i < p.getBadWordsIdsCount(); i++) {
            TokenIds w = p.getBadWordsIds(i);
            if (w.getIdsCount() == 0) return "sampling.bad_words_ids[" + i + "] is empty";
            bad = checkIds("sampling.bad_words_ids[" + i + "]", w.getIdsList(), vocabSize);
            if (bad != null) return bad;
        }
        for (Map.Entry<Integer, Float> e : p.getLogitBiasMap().entrySet()) {
            if (e.getKey() < 0 || e.getKey() >= vocabSize)
                return "sampling.logit_bias key " + e.getKey() + " is outside the vocabulary [0, " + vocabSize + ")";
            if (!Float.isFinite(e.getValue())) return "sampling.logit_bias[" + e.getKey() + "] must be finite";
        }
        if (p.hasLogprobs() && (p.getLogprobs() < 0 || p.getLogprobs() > MAX_LOGPROBS))
            return "sampling.logprobs must be in [0, " + MAX_LOGPROBS + "], got " + p.getLogprobs();
        if (p.hasPromptLogprobs() && (p.getPromptLogprobs() < 0 || p.getPromptLogprobs() > MAX_LOGPROBS))
            return "sampling.prompt_logprobs must be in [0, " + MAX_LOGPROBS + "], got " + p.getPromptLogprobs();
        return null;
    }

    private static String checkIds(String field, java.util.List<Integer> ids, int vocabSize) {
        for (int i = 0; i < ids.size(); i++) {
            int t = ids.get(i);
            if (t < 0 || t >= vocabSize)
                return field + "[" + i + "] = " + t + " is outside the vocabulary [0, " + vocabSize + ")";
        }
        return null;
    }
}
