package dev.jvllm.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jvllm.proto.ChatInput;
import dev.jvllm.proto.EncodeRequest;
import dev.jvllm.proto.EncodeResponse;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/** POST /v1/chat/completions: the tokenizer renders the chat template; generation is shared with completions. */
final class ChatCompletionsHandler extends GenerationHandler {
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");

    private ChatInput chat;
    private boolean addSpecialTokens;

    ChatCompletionsHandler(Services services, HttpExchange exchange) {
        super(services, exchange);
    }

    @Override
    String idPrefix() { return "chatcmpl"; }

    @Override
    boolean isChat() { return true; }

    @Override
    String chunkObject() { return "chat.completion.chunk"; }

    @Override
    String inputName() { return "messages"; }

    @Override
    void parseInput(RequestParser p) {
        chat = parseChatInput(p);
        addSpecialTokens = p.bool("add_special_tokens", false);
        p.bool("echo", false); // accepted; chat echo is not implemented
        JsonNode toolChoice = p.node("tool_choice");
        if (toolChoice != null) {
            if (!toolChoice.isTextual() && !toolChoice.isObject()) {
                throw RequestParser.typeError("tool_choice", "a string or an object");
            }
            if (!toolChoice.isTextual() || !(toolChoice.textValue().equals("none") || toolChoice.textValue().equals("auto"))) {
                throw OpenAiException.badRequest("Only `tool_choice` \"none\" and \"auto\" are supported.", "tool_choice");
            }
        }
        p.bool("parallel_tool_calls", true);
    }

    /** Validates messages and template options; shared with /tokenize. */
    static ChatInput parseChatInput(RequestParser p) {
        JsonNode messages = p.node("messages");
        if (messages == null) throw OpenAiException.badRequest("`messages` is required.", "messages");
        if (!messages.isArray()) throw RequestParser.typeError("messages", "a list of messages");
        if (messages.isEmpty()) throw OpenAiException.badRequest("`messages` must contain at least one message.", "messages");
        int i = 0;
        for (JsonNode m : messages) {
            validateMessage(m, i++);
        }
        ChatInput.Builder chat = ChatInput.newBuilder().setMessagesJson(RequestParser.toJson(messages));
        JsonNode tools = p.node("tools");
        if (tools != null) {
            if (!tools.isArray()) throw RequestParser.typeError("tools", "a list of tools");
            for (JsonNode t : tools) {
                if (!t.isObject()) throw RequestParser.typeError("tools", "a list of tool objects");
            }
            if (!tools.isEmpty()) chat.setToolsJson(RequestParser.toJson(tools));
        }
        boolean addGenerationPrompt = p.bool("add_generation_prompt", true);
        boolean continueFinal = p.bool("continue_final_message", false);
        if (addGenerationPrompt && continueFinal && p.has("add_generation_prompt")) {
            throw OpenAiException.badRequest("Cannot set both `continue_final_message` and `add_generation_prompt` to True.",
                    "continue_final_message");
        }
        if (continueFinal) addGenerationPrompt = false;
        chat.setAddGenerationPrompt(addGenerationPrompt).setContinueFinalMessage(continueFinal);
        String template = p.string("chat_template", null);
        if (template != null) chat.setChatTemplate(template);
        ObjectNode kwargs = p.optObject("chat_template_kwargs");
        if (kwargs != null) chat.setChatTemplateKwargsJson(RequestParser.toJson(kwargs));
        JsonNode documents = p.node("documents");
        if (documents != null) {
            if (!documents.isArray()) throw RequestParser.typeError("documents", "a list of objects");
            for (JsonNode d : documents) {
                if (!d.isObject()) throw RequestParser.typeError("documents", "a list of objects");
            }
            chat.setDocumentsJson(RequestParser.toJson(documents));
        }
        return chat.build();
    }

    private static void validateMessage(JsonNode m, int i) {
        String where = "messages[" + i + "]";
        if (!m.isObject()) throw OpenAiException.badRequest(where + " must be an object.", "messages");
        JsonNode role = m.get("role");
        if (role == null || !role.isTextual()) {
            throw OpenAiException.badRequest(where + ".role is required and must be a string.", "messages");
        }
        if (!ROLES.contains(role.textValue())) {
            throw OpenAiException.badRequest(where + ".role `" + role.textValue()
                    + "` is not one of system, developer, user, assistant, tool.", "messages");
        }
        JsonNode content = m.get("content");
        if (content == null || content.isNull()) {
            if (!role.textValue().equals("assistant")) {
                throw OpenAiException.badRequest(where + ".content is required for role `" + role.textValue() + "`.", "messages");
            }
            return;
        }
        if (content.isTextual()) return;
        if (!content.isArray()) {
            throw OpenAiException.badRequest(where + ".content must be a string or a list of content parts.", "messages");
        }
        for (JsonNode part : content) {
            JsonNode type = part.isObject() ? part.get("type") : null;
            if (type == null || !type.isTextual()) {
                throw OpenAiException.badRequest(where + ".content parts must be objects with a `type`.", "messages");
            }
            if (!type.textValue().equals("text")) {
                throw OpenAiException.badRequest("Content part type `" + type.textValue() + "` is not supported; only text.",
                        "messages");
            }
            JsonNode text = part.get("text");
            if (text == null || !text.isTextual()) {
                throw OpenAiException.badRequest(where + ".content text parts need a string `text`.", "messages");
            }
        }
    }

    @Override
    CompletableFuture<List<Prompt>> tokenize() {
        EncodeRequest req = EncodeRequest.newBuilder().setChat(chat).setAddSpecialTokens(addSpecialTokens).build();
        return GrpcCalls.<EncodeResponse>unary(o -> tokenizer.encode(req, o))
                .thenApply(r -> List.of(new Prompt(r.getIdsList(), r.getPromptText())));
    }

    @Override
    void onStreamStart(int promptCount) {
        for (int i = 0; i < promptCount * spec.n(); i++) {
            ObjectNode chunk = chunkHeader();
            ObjectNode choice = chunk.putArray("choices").addObject();
            choice.put("index", i);
            ObjectNode delta = choice.putObject("delta");
            delta.put("role", "assistant");
            delta.put("content", "");
            choice.putNull("logprobs");
            choice.putNull("finish_reason");
            if (spec.includeUsage() && spec.continuousUsageStats()) chunk.set("usage", usage());
            exchange.sendEvent(chunk);
        }
    }

    @Override
    ObjectNode streamChoice(int index, GenerationStream.Choice c, String delta, List<LogprobEntry> logprobs, boolean finished) {
        ObjectNode choice = JSON.objectNode();
        choice.put("index", index);
        choice.putObject("delta").put("content", delta);
        if (spec.logprobs() == null) choice.putNull("logprobs");
        else choice.set("logprobs", logprobsJson(logprobs));
        if (finished) {
            choice.put("finish_reason", c.finishReason);
            putStopReason(choice, c.stopReason);
        } else {
            choice.putNull("finish_reason");
        }
        return choice;
    }

    @Override
    ObjectNode response(List<GenerationStream> streams) {
        ObjectNode r = responseHeader("chat.completion");
        ArrayNode choices = r.putArray("choices");
        for (GenerationStream s : streams) {
            List<Map<Integer, LogprobEntry.Top>> promptLps = s.promptLogprobsById();
            for (GenerationStream.Choice c : s.choices()) {
                ObjectNode choice = choices.addObject();
                choice.put("index", choices.size() - 1);
                ObjectNode message = choice.putObject("message");
                message.put("role", "assistant");
                message.put("content", c.text());
                message.putArray("tool_calls");
                if (spec.logprobs() == null) choice.putNull("logprobs");
                else choice.set("logprobs", logprobsJson(c.logprobs));
                choice.put("finish_reason", c.finishReason);
                putStopReason(choice, c.stopReason);
            }
            if (promptLps != null) r.set("prompt_logprobs", CompletionsHandler.promptLogprobsJson(s, promptLps));
        }
        r.set("usage", usage());
        return r;
    }

    /** Chat logprobs: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}. */
    private ObjectNode logprobsJson(List<LogprobEntry> entries) {
        ObjectNode lp = JSON.objectNode();
        ArrayNode content = lp.putArray("content");
        for (LogprobEntry e : entries) {
            ObjectNode o = content.addObject();
            o.put("token", e.token());
            o.put("logprob", safeLogprob(e.logprob() == null ? Float.NEGATIVE_INFINITY : e.logprob()));
            o.set("bytes", bytes(e.token()));
            ArrayNode top = o.putArray("top_logprobs");
            int k = 0;
            for (LogprobEntry.Top t : e.top()) {
                if (k++ >= spec.logprobs()) break;
                ObjectNode to = top.addObject();
                to.put("token", t.token());
                to.put("logprob", safeLogprob(t.logprob()));
                to.set("bytes", bytes(t.token()));
            }
        }
        return lp;
    }

    private static ArrayNode bytes(String token) {
        ArrayNode a = JSON.arrayNode();
        for (byte b : token.getBytes(StandardCharsets.UTF_8)) a.add(b & 0xff);
        return a;
    }
}
