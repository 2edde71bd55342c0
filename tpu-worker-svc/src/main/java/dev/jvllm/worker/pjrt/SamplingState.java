package dev.jvllm.worker.pjrt;

import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.SeqSampling;

import java.util.ArrayList;
import java.util.List;

/**
 * What the on-device sampler needs of a sequence, derived once from its {@code new_seq}. Features the step program
 * does not implement yet are refused up front with one message naming all of them, so the scheduler can report
 * INVALID_ARGUMENT instead of the worker silently sampling differently.
 *
 * @param temperature 0 for greedy (vLLM treats temperature below 1e-5 as greedy)
 * @param topK        0 when disabled
 * @param seed32      the 64-bit sequence seed folded to the 32 bits the sampler hashes
 */
public record SamplingState(float temperature, int topK, float topP, int seed32) {

    public static final SamplingState GREEDY = new SamplingState(0f, 0, 1f, 0);

    /** @param fallbackSeed used when the request has no seed (drawn from the worker's --seed generator) */
    public static SamplingState from(SeqSampling s, long fallbackSeed) {
        SamplingParams p = s.getParams();
        List<String> unsupported = new ArrayList<>();
        if (p.getMinP() != 0f) unsupported.add("min_p");
        if (p.getPresencePenalty() != 0f) unsupported.add("presence_penalty");
        if (p.getFrequencyPenalty() != 0f) unsupported.add("frequency_penalty");
        if (p.hasRepetitionPenalty() && p.getRepetitionPenalty() != 1f) unsupported.add("repetition_penalty");
        if (p.getLogitBiasCount() > 0) unsupported.add("logit_bias");
        if (p.getAllowedTokenIdsCount() > 0) unsupported.add("allowed_token_ids");
        if (p.getBadWordsIdsCount() > 0) unsupported.add("bad_words");
        if (p.getMinTokens() > 0) unsupported.add("min_tokens");
        if (p.hasLogprobs()) unsupported.add("logprobs");
        if (p.hasPromptLogprobs()) unsupported.add("prompt_logprobs");
        if (!unsupported.isEmpty()) {
            throw new IllegalArgumentException("the pjrt backend does not support " + String.join(", ", unsupported) + " yet");
        }
        float temperature = p.hasTemperature() ? p.getTemperature() : 1f;
        if (temperature < 0 || Float.isNaN(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        float topP = p.hasTopP() ? p.getTopP() : 1f;
        if (!(topP > 0f && topP <= 1f)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        long seed = s.hasSeed() ? s.getSeed() : fallbackSeed;
        return new SamplingState(temperature < 1e-5f ? 0f : temperature, Math.max(0, p.getTopK()), topP, (int) (seed ^ (seed >>> 32)));
    }
}
