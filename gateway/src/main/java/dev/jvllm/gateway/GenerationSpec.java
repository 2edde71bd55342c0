package dev.jvllm.gateway;

import dev.jvllm.proto.SamplingParams;

import java.util.List;

/**
 * Everything a request asks of one generation, after validation: the engine's sampling parameters plus what the
 * gateway itself does (stop strings, detokenization options, logprob formatting, streaming options).
 *
 * @param sampling        engine sampling parameters, without bad words (resolved to ids later)
 * @param badWords        bad word strings, to be tokenized
 * @param n               number of choices per prompt
 * @param maxTokens       requested max tokens, or null (up to the model length)
 * @param stop            stop strings (never empty strings)
 * @param logprobs        null: no logprobs; else number of top logprobs per token
 * @param promptLogprobs  null: none; else top logprobs per prompt token (prompt_logprobs or echo with logprobs)
 * @param echo            completions: prepend the prompt
 */
record GenerationSpec(SamplingParams sampling, List<String> badWords, int n, Integer maxTokens,
                      List<String> stop, boolean includeStopStrInOutput, boolean skipSpecialTokens,
                      Boolean spacesBetweenSpecialTokens, Integer logprobs, Integer promptLogprobs,
                      boolean returnTokensAsTokenIds, boolean echo, int priority, String cacheSalt,
                      boolean stream, boolean includeUsage, boolean continuousUsageStats, boolean ignoreEos,
                      List<Integer> stopTokenIds) {

    int maxStopLength() {
        int m = 0;
        for (String s : stop) m = Math.max(m, s.length());
        return m;
    }
}
