package dev.jvllm.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jvllm.proto.DecodeRequest;
import dev.jvllm.proto.DecodeResponse;
import dev.jvllm.proto.EncodeRequest;
import dev.jvllm.proto.EncodeResponse;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/** POST /v1/completions. Batched prompts give choices indexed prompt-major, then n. */
final class CompletionsHandler extends GenerationHandler {
    /** Each prompt is either text or token ids. */
    private record PromptInput(String text, List<Integer> ids) {}

    private List<PromptInput> inputs;
    private boolean addSpecialTokens;

    CompletionsHandler(Services services, HttpExchange exchange) {
        super(services, exchange);
    }

    @Override
    String idPrefix() { return "cmpl"; }

    @Override
    boolean isChat() { return false; }

    @Override
    String chunkObject() { return "text_completion"; }

    @Override
    String inputName() { return "prompt"; }

    @Override
    void parseInput(RequestParser p) {
        if (p.has("prompt_embeds")) throw OpenAiException.badRequest("prompt_embeds is not supported.", "prompt_embeds");
        JsonNode prompt = p.node("prompt");
        if (prompt == null) throw OpenAiException.badRequest("`prompt` is required.", "prompt");
        inputs = parsePrompt(prompt);
        addSpecialTokens = p.bool("add_special_tokens", true);
    }

    static List<PromptInput> parsePrompt(JsonNode prompt) {
        String shape = "`prompt` must be a string, a list of strings, a list of token ids or a list of lists of token ids.";
        if (prompt.isTextual()) return List.of(new PromptInput(prompt.textValue(), null));
        if (!prompt.isArray()) throw OpenAiException.badRequest(shape, "prompt");
        if (prompt.isEmpty()) throw OpenAiException.badRequest("`prompt` must not be an empty list.", "prompt");
        JsonNode first = prompt.get(0);
        List<PromptInput> out = new ArrayList<>();
        if (first.isTextual()) {
            for (JsonNode e : prompt) {
                if (!e.isTextual()) throw OpenAiException.badRequest(shape, "prompt");
                out.add(new PromptInput(e.textValue(), null));
            }
        } else if (first.isNumber()) {
            out.add(new PromptInput(null, tokenIds(prompt, shape)));
        } else if (first.isArray()) {
            for (JsonNode e : prompt) {
                if (!e.isArray()) throw OpenAiException.badRequest(shape, "prompt");
                if (e.isEmpty()) throw OpenAiException.badRequest("The prompt cannot be empty.", "prompt");
                out.add(new PromptInput(null, tokenIds(e, shape)));
            }
        } else {
            throw OpenAiException.badRequest(shape, "prompt");
        }
        return out;
    }

    private static List<Integer> tokenIds(JsonNode arr, String shape) {
        List<Integer> ids = new ArrayList<>(arr.size());
        for (JsonNode e : arr) {
            if (!e.isIntegralNumber() || !e.canConvertToInt()) throw OpenAiException.badRequest(shape, "prompt");
            if (e.intValue() < 0) throw OpenAiException.badRequest("Token id " + e.intValue() + " is out of vocabulary.", "prompt");
            ids.add(e.intValue());
        }
        return ids;
    }

    @Override
    CompletableFuture<List<Prompt>> tokenize() {
        List<CompletableFuture<Prompt>> futures = new ArrayList<>(inputs.size());
        for (PromptInput in : inputs) {
            if (in.ids() != null) {
                for (int id : in.ids()) {
                    if (model.vocabSize() > 0 && id >= model.vocabSize()) {
                        throw OpenAiException.badRequest("Token id " + id + " is out of vocabulary (vocab size "
                                + model.vocabSize() + ").", "prompt");
                    }
                }
                if (spec.echo()) {
                    DecodeRequest req = DecodeRequest.newBuilder().addAllIds(in.ids()).setSkipSpecialTokens(false).build();
                    futures.add(GrpcCalls.<DecodeResponse>unary(o -> tokenizer.decode(req, o))
                            .thenApply(r -> new Prompt(in.ids(), r.getText())));
                } else {
                    futures.add(CompletableFuture.completedFuture(new Prompt(in.ids(), null)));
                }
            } else {
                EncodeRequest req = EncodeRequest.newBuilder().setText(in.text()).setAddSpecialTokens(addSpecialTokens).build();
                futures.add(GrpcCalls.<EncodeResponse>unary(o -> tokenizer.encode(req, o))
                        .thenApply(r -> new Prompt(r.getIdsList(), in.text())));
            }
        }
        return CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).thenApply(v -> {
            List<Prompt> out = new ArrayList<>(futures.size());
            for (CompletableFuture<Prompt> f : futures) out.add(f.join());
            return out;
        });
    }

    @Override
    ObjectNode streamChoice(int index, GenerationStream.Choice c, String delta, List<LogprobEntry> logprobs, boolean finished) {
        ObjectNode choice = JSON.objectNode();
        choice.put("index", index);
        choice.put("text", delta);
        if (spec.logprobs() == null) choice.putNull("logprobs");
        else choice.set("logprobs", logprobsJson(logprobs));
        if (finished) {
            choice.put("finish_reason", c.finishReason);
            putStopReason(choice, c.stopReason);
        } else {
            choice.putNull("finish_reason");
            choice.putNull("stop_reason");
        }
        return choice;
    }

    @Override
    ObjectNode response(List<GenerationStream> streams) {
        ObjectNode r = responseHeader("text_completion");
        ArrayNode choices = r.putArray("choices");
        for (GenerationStream s : streams) {
            List<Map<Integer, LogprobEntry.Top>> promptLps = s.promptLogprobsById();
            for (GenerationStream.Choice c : s.choices()) {
                ObjectNode choice = choices.addObject();
                choice.put("index", choices.size() - 1);
                choice.put("text", c.text());
                if (spec.logprobs() == null) choice.putNull("logprobs");
                else choice.set("logprobs", logprobsJson(c.logprobs));
                choice.put("finish_reason", c.finishReason);
                putStopReason(choice, c.stopReason);
                if (promptLps != null) choice.set("prompt_logprobs", promptLogprobsJson(s, promptLps));
            }
        }
        r.set("usage", usage());
        return r;
    }

    /** Completions logprobs: parallel arrays; top_logprobs maps token text to logprob and includes the sampled token. */
    private ObjectNode logprobsJson(List<LogprobEntry> entries) {
        ObjectNode lp = JSON.objectNode();
        ArrayNode tokens = lp.putArray("tokens");
        ArrayNode tokenLogprobs = lp.putArray("token_logprobs");
        ArrayNode top = lp.putArray("top_logprobs");
        ArrayNode offsets = lp.putArray("text_offset");
        for (LogprobEntry e : entries) {
            tokens.add(e.token());
            offsets.add(e.textOffset());
            if (e.logprob() == null) {
                tokenLogprobs.addNull();
                top.addNull();
                continue;
            }
            tokenLogprobs.add(safeLogprob(e.logprob()));
            ObjectNode t = top.addObject();
            for (LogprobEntry.Top alt : e.top()) {
                if (t.size() >= spec.logprobs()) break;
                if (!t.has(alt.token())) t.put(alt.token(), safeLogprob(alt.logprob()));
            }
            if (!t.has(e.token())) t.put(e.token(), safeLogprob(e.logprob()));
        }
        return lp;
    }

    static ArrayNode promptLogprobsJson(GenerationStream s, List<Map<Integer, LogprobEntry.Top>> promptLps) {
        ArrayNode arr = JSON.arrayNode();
        for (int i = 0; i < promptLps.size(); i++) {
            Map<Integer, LogprobEntry.Top> m = promptLps.get(i);
            if (m == null) {
                arr.addNull();
                continue;
            }
            ObjectNode pos = arr.addObject();
            for (LogprobEntry.Top t : m.values()) {
                ObjectNode o = pos.putObject(Integer.toString(t.tokenId()));
                o.put("logprob", safeLogprob(t.logprob()));
                o.put("rank", s.promptRank(i, t.tokenId()));
                o.put("decoded_token", t.token());
            }
        }
        return arr;
    }
}
