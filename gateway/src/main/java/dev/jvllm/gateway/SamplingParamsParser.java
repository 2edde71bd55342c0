package dev.jvllm.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jvllm.proto.SamplingParams;

import java.util.Iterator;
import java.util.List;
import java.util.Map;

/** Validates the sampling and output fields shared by /v1/completions and /v1/chat/completions. */
final class SamplingParamsParser {
    private SamplingParamsParser() {}

    static GenerationSpec parse(RequestParser p, GatewayOptions options, boolean chat) {
        SamplingParams.Builder sp = SamplingParams.newBuilder();

        boolean stream = p.bool("stream", false);
        boolean includeUsage = false, continuousUsage = false;
        ObjectNode streamOptions = p.optObject("stream_options");
        if (streamOptions != null) {
            if (!stream) {
                throw OpenAiException.badRequest("Stream options can only be defined when `stream=True`.", "stream_options");
            }
            for (Iterator<String> it = streamOptions.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!f.equals("include_usage") && !f.equals("continuous_usage_stats")) {
                    throw OpenAiException.badRequest("Unknown stream option `" + f + "`.", "stream_options");
                }
            }
            includeUsage = optBool(streamOptions, "include_usage", "stream_options.include_usage");
            continuousUsage = optBool(streamOptions, "continuous_usage_stats", "stream_options.continuous_usage_stats");
        }

        int n = nonNull(p.optInt("n", 1, options.maxN()), 1);
        sp.setN(n);
        Integer bestOf = p.optInt("best_of", 1, Integer.MAX_VALUE);
        if (bestOf != null && bestOf != n) {
            throw OpenAiException.badRequest("best_of must equal n (beam search and best_of > n are not supported), got best_of="
                    + bestOf + ", n=" + n + ".", "best_of");
        }
        if (p.bool("use_beam_search", false)) {
            throw OpenAiException.badRequest("Beam search is not supported.", "use_beam_search");
        }

        Integer maxTokens = null;
        if (chat && p.has("max_completion_tokens")) {
            maxTokens = p.optInt("max_completion_tokens", Integer.MIN_VALUE, Integer.MAX_VALUE);
            if (maxTokens < 1) {
                throw OpenAiException.badRequest("max_completion_tokens must be at least 1, got " + maxTokens + ".", "max_completion_tokens");
            }
        } else if (p.has("max_tokens")) {
            maxTokens = p.optInt("max_tokens", Integer.MIN_VALUE, Integer.MAX_VALUE);
            if (maxTokens < 1) throw OpenAiException.badRequest("max_tokens must be at least 1, got " + maxTokens + ".", "max_tokens");
        }
        if (maxTokens != null) sp.setMaxTokens(maxTokens);

        Integer minTokens = p.optInt("min_tokens", 0, Integer.MAX_VALUE);
        if (minTokens != null) {
            if (maxTokens != null && minTokens > maxTokens) {
                throw OpenAiException.badRequest("min_tokens must be less than or equal to max_tokens=" + maxTokens
                        + ", got " + minTokens + ".", "min_tokens");
            }
            sp.setMinTokens(minTokens);
        }

        Double temperature = p.optNumber("temperature");
        if (temperature != null) {
            if (temperature < 0) throw OpenAiException.badRequest("temperature must be non-negative, got " + temperature + ".", "temperature");
            sp.setTemperature(temperature.floatValue());
        }
        Double topP = p.optNumber("top_p");
        if (topP != null) {
            if (!(topP > 0 && topP <= 1)) throw OpenAiException.badRequest("top_p must be in (0, 1], got " + topP + ".", "top_p");
            sp.setTopP(topP.floatValue());
        }
        Integer topK = p.optInt("top_k", Integer.MIN_VALUE, Integer.MAX_VALUE);
        if (topK != null) {
            if (topK < -1) throw OpenAiException.badRequest("top_k must be 0 or -1 (disable), or at least 1, got " + topK + ".", "top_k");
            sp.setTopK(topK <= 0 ? 0 : topK);
        }
        Double minP = p.optNumber("min_p", 0, 1);
        if (minP != null) sp.setMinP(minP.floatValue());
        Double presence = p.optNumber("presence_penalty", -2, 2);
        if (presence != null) sp.setPresencePenalty(presence.floatValue());
        Double frequency = p.optNumber("frequency_penalty", -2, 2);
        if (frequency != null) sp.setFrequencyPenalty(frequency.floatValue());
        Double repetition = p.optNumber("repetition_penalty");
        if (repetition != null) {
            if (repetition <= 0) throw OpenAiException.badRequest("repetition_penalty must be greater than zero, got " + repetition + ".", "repetition_penalty");
            sp.setRepetitionPenalty(repetition.floatValue());
        }
        Long seed = p.optLong("seed");
        if (seed != null) sp.setSeed(seed);

        List<Integer> stopTokenIds = p.optIntList("stop_token_ids", 0, Integer.MAX_VALUE);
        if (stopTokenIds == null) stopTokenIds = List.of();
        sp.addAllStopTokenIds(stopTokenIds);
        boolean ignoreEos = p.bool("ignore_eos", false);
        sp.setIgnoreEos(ignoreEos);

        ObjectNode logitBias = p.optObject("logit_bias");
        if (logitBias != null) {
            for (Iterator<Map.Entry<String, JsonNode>> it = logitBias.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                int id;
                try {
                    id = Integer.parseInt(e.getKey().trim());
                } catch (NumberFormatException ex) {
                    throw OpenAiException.badRequest("logit_bias keys must be token ids, got `" + e.getKey() + "`.", "logit_bias");
                }
                if (id < 0) throw OpenAiException.badRequest("logit_bias key " + id + " is not a valid token id.", "logit_bias");
                if (!e.getValue().isNumber()) throw OpenAiException.badRequest("logit_bias values must be numbers.", "logit_bias");
                double bias = e.getValue().doubleValue();
                if (bias < -100 || bias > 100) {
                    throw OpenAiException.badRequest("logit_bias values must be in [-100, 100], got " + bias + ".", "logit_bias");
                }
                sp.putLogitBias(id, (float) bias);
            }
        }
        List<Integer> allowed = p.optIntList("allowed_token_ids", 0, Integer.MAX_VALUE);
        if (allowed != null) {
            if (allowed.isEmpty()) throw OpenAiException.badRequest("allowed_token_ids must not be empty.", "allowed_token_ids");
            sp.addAllAllowedTokenIds(allowed);
        }
        List<String> badWords = p.optStringList("bad_words");
        if (badWords == null) badWords = List.of();

        List<String> stop = p.optStringOrList("stop");
        if (stop == null) stop = List.of();
        if (stop.size() > options.maxStopStrings()) {
            throw OpenAiException.badRequest("At most " + options.maxStopStrings() + " stop strings are allowed, got "
                    + stop.size() + ".", "stop");
        }
        for (String s : stop) {
            if (s.isEmpty()) throw OpenAiException.badRequest("stop strings must not be empty.", "stop");
        }
        boolean includeStop = p.bool("include_stop_str_in_output", false);
        boolean skipSpecial = p.bool("skip_special_tokens", true);
        Boolean spacesBetween = p.optBool("spaces_between_special_tokens");
        boolean tokensAsIds = p.bool("return_tokens_as_token_ids", false);

        int maxLp = options.maxLogprobs();
        Integer logprobs;
        if (chat) {
            boolean want = p.bool("logprobs", false);
            Integer top = p.optInt("top_logprobs", 0, maxLp);
            if (top != null && top > 0 && !want) {
                throw OpenAiException.badRequest("when using `top_logprobs`, `logprobs` must be set to true.", "top_logprobs");
            }
            logprobs = want ? (top == null ? 0 : top) : null;
        } else {
            JsonNode lp = p.node("logprobs");
            if (lp != null && lp.isBoolean()) throw RequestParser.typeError("logprobs", "an integer");
            logprobs = p.optInt("logprobs", 0, maxLp);
        }
        if (logprobs != null) sp.setLogprobs(logprobs);

        boolean echo = !chat && p.bool("echo", false);
        Integer promptLogprobs = p.optInt("prompt_logprobs", 0, maxLp);
        if (promptLogprobs != null && stream) {
            throw OpenAiException.badRequest("`prompt_logprobs` are not available when `stream=True`.", "prompt_logprobs");
        }
        Integer enginePromptLogprobs = promptLogprobs;
        if (echo && logprobs != null) {
            enginePromptLogprobs = Math.max(logprobs, promptLogprobs == null ? 0 : promptLogprobs);
        }
        if (enginePromptLogprobs != null) sp.setPromptLogprobs(enginePromptLogprobs);

        if (!chat && p.has("suffix")) {
            p.string("suffix", null);
            throw OpenAiException.badRequest("suffix is not currently supported.", "suffix");
        }
        ObjectNode responseFormat = p.optObject("response_format");
        if (responseFormat != null) {
            JsonNode type = responseFormat.get("type");
            if (type == null || !type.isTextual()) throw OpenAiException.badRequest("response_format.type must be a string.", "response_format");
            if (!type.textValue().equals("text")) {
                throw OpenAiException.badRequest("response_format type `" + type.textValue() + "` is not supported.", "response_format");
            }
        }
        int priority = nonNull(p.optInt("priority", Integer.MIN_VALUE, Integer.MAX_VALUE), 0);
        String cacheSalt = p.string("cache_salt", "");
        if (p.has("cache_salt") && cacheSalt.isEmpty()) {
            throw OpenAiException.badRequest("cache_salt must be a non-empty string.", "cache_salt");
        }
        p.string("user", null); // accepted for compatibility, ignored

        return new GenerationSpec(sp.build(), badWords, n, maxTokens, List.copyOf(stop), includeStop, skipSpecial,
                spacesBetween, logprobs, promptLogprobs, tokensAsIds, echo, priority, cacheSalt, stream,
                includeUsage, continuousUsage, ignoreEos, List.copyOf(stopTokenIds));
    }

    private static boolean optBool(ObjectNode o, String field, String param) {
        JsonNode n = o.get(field);
        if (n == null || n.isNull()) return false;
        if (!n.isBoolean()) throw OpenAiException.badRequest("`" + param + "` must be a boolean.", "stream_options");
        return n.booleanValue();
    }

    private static int nonNull(Integer v, int dflt) {
        return v == null ? dflt : v;
    }
}
