package dev.jvllm.tokenizer;

import dev.jvllm.tokenizer.jinja.Template;
import dev.jvllm.tokenizer.jinja.TemplateException;

import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * A chat template rendered the way transformers' {@code apply_chat_template(tokenize=False)} does, with
 * vLLM's message preprocessing: text-part lists joined into one string, tool-call arguments given as JSON
 * strings parsed into objects.
 */
final class ChatTemplate {
    private final Template template;
    private final Map<String, Object> specialTokens;
    private final Supplier<ZonedDateTime> clock;

    ChatTemplate(String source, Map<String, Object> specialTokens, Supplier<ZonedDateTime> clock) {
        this.template = Template.compile(source);
        this.specialTokens = specialTokens;
        this.clock = clock;
    }

    /** What a chat request renders from; JSON strings may be empty. */
    record Request(String messagesJson, String toolsJson, String documentsJson, boolean addGenerationPrompt,
                   boolean continueFinalMessage, String kwargsJson) {}

    /**
     * Renders the prompt. Bad JSON, misuse of the template's variables and {@code raise_exception} throw
     * {@link IllegalArgumentException} with the reason.
     */
    String render(Request r) {
        Object messages = Json.parse(r.messagesJson(), "messages");
        if (!(messages instanceof List<?> list)) {
            throw new IllegalArgumentException("messages must be a JSON array");
        }
        List<Object> normalized = new ArrayList<>();
        for (Object m : list) {
            if (!(m instanceof Map<?, ?> map)) {
                throw new IllegalArgumentException("each message must be a JSON object");
            }
            normalized.add(normalizeMessage(map));
        }
        if (r.continueFinalMessage() && r.addGenerationPrompt()) {
            throw new IllegalArgumentException(
                    "continue_final_message and add_generation_prompt are not compatible; use one of them");
        }
        Map<String, Object> vars = new LinkedHashMap<>(specialTokens);
        if (r.kwargsJson() != null && !r.kwargsJson().isBlank()) {
            Object kwargs = Json.parse(r.kwargsJson(), "chat_template_kwargs");
            if (!(kwargs instanceof Map<?, ?> kw)) {
                throw new IllegalArgumentException("chat_template_kwargs must be a JSON object");
            }
            kw.forEach((k, v) -> vars.put(String.valueOf(k), v));
        }
        vars.put("messages", normalized);
        vars.put("tools", optionalJson(r.toolsJson(), "tools"));
        vars.put("documents", optionalJson(r.documentsJson(), "documents"));
        vars.put("add_generation_prompt", r.addGenerationPrompt());
        Map<String, Function<List<Object>, Object>> functions = Map.of(
                "strftime_now", args -> strftime(args.isEmpty() ? "%Y-%m-%d" : String.valueOf(args.get(0)), clock.get()));
        String rendered;
        try {
            rendered = template.render(vars, functions);
        } catch (TemplateException e) {
            throw new IllegalArgumentException("chat template error: " + e.getMessage(), e);
        }
        if (r.continueFinalMessage()) {
            rendered = cutAfterFinalMessage(rendered, normalized);
        }
        return rendered;
    }

    private static Object optionalJson(String json, String what) {
        if (json == null || json.isBlank()) {
            return null;
        }
        Object v = Json.parse(json, what);
        return v instanceof List<?> l && l.isEmpty() ? null : v;
    }

    /**
     * vLLM's "string" content format: text parts joined with newlines (other parts dropped), missing content
     * as "", tool-call arguments given as JSON strings parsed into objects.
     */
    private static Map<Object, Object> normalizeMessage(Map<?, ?> message) {
        Map<Object, Object> out = new LinkedHashMap<>(message);
        if (out.get("content") == null) {
            out.put("content", ""); // vLLM: no content (e.g. beside tool_calls) is the empty string
        } else if (out.get("content") instanceof List<?> parts) {
            List<String> texts = new ArrayList<>();
            for (Object part : parts) {
                if (part instanceof String s) {
                    texts.add(s);
                } else if (part instanceof Map<?, ?> p && p.get("text") instanceof String text
                        && (p.get("type") == null || "text".equals(p.get("type")) || "input_text".equals(p.get("type")))) {
                    texts.add(text);
                }
            }
            out.put("content", String.join("\n", texts));
        }
        if (out.get("tool_calls") instanceof List<?> calls) {
            List<Object> parsed = new ArrayList<>();
            for (Object call : calls) {
                if (call instanceof Map<?, ?> c && c.get("function") instanceof Map<?, ?> fn
                        && fn.get("arguments") instanceof String args) {
                    Map<Object, Object> fnCopy = new LinkedHashMap<>(fn);
                    try {
                        Object value = Json.parse(args, "tool call arguments");
                        if (value instanceof Map) {
                            fnCopy.put("arguments", value);
                        }
                    } catch (IllegalArgumentException notJson) {
                        // keep the string as given
                    }
                    Map<Object, Object> callCopy = new LinkedHashMap<>(c);
                    callCopy.put("function", fnCopy);
                    parsed.add(callCopy);
                } else {
                    parsed.add(call);
                }
            }
            out.put("tool_calls", parsed);
        }
        return out;
    }

    /** transformers: keep the render up to the end of the final message's content, dropping end-of-turn text. */
    private static String cutAfterFinalMessage(String rendered, List<Object> messages) {
        if (messages.isEmpty()) {
            throw new IllegalArgumentException("continue_final_message needs at least one message");
        }
        Object content = ((Map<?, ?>) messages.get(messages.size() - 1)).get("content");
        if (!(content instanceof String finalMessage)) {
            throw new IllegalArgumentException("continue_final_message is set but the final message has no text");
        }
        String stripped = finalMessage.strip();
        int at = rendered.lastIndexOf(stripped);
        if (at < 0) {
            throw new IllegalArgumentException("continue_final_message is set but the final message does not appear "
                    + "in the chat after applying the chat template");
        }
        return rendered.substring(0, at + stripped.length());
    }

    /** Python's strftime for the directives chat templates use (e.g. Llama 3.1's "%d %b %Y"). */
    static String strftime(String fmt, ZonedDateTime t) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c != '%' || i + 1 >= fmt.length()) {
                sb.append(c);
                continue;
            }
            char d = fmt.charAt(++i);
            boolean noPad = false;
            if (d == '-' && i + 1 < fmt.length()) {
                noPad = true;
                d = fmt.charAt(++i);
            }
            String two = noPad ? "%d" : "%02d";
            switch (d) {
                case 'Y' -> sb.append(t.getYear());
                case 'y' -> sb.append(String.format("%02d", t.getYear() % 100));
                case 'm' -> sb.append(String.format(two, t.getMonthValue()));
                case 'd' -> sb.append(String.format(two, t.getDayOfMonth()));
                case 'e' -> sb.append(String.format("%2d", t.getDayOfMonth()));
                case 'H' -> sb.append(String.format(two, t.getHour()));
                case 'I' -> sb.append(String.format(two, (t.getHour() + 11) % 12 + 1));
                case 'M' -> sb.append(String.format(two, t.getMinute()));
                case 'S' -> sb.append(String.format(two, t.getSecond()));
                case 'p' -> sb.append(t.getHour() < 12 ? "AM" : "PM");
                case 'j' -> sb.append(String.format(noPad ? "%d" : "%03d", t.getDayOfYear()));
                case 'B' -> sb.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'b', 'h' -> sb.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'A' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'a' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'w' -> sb.append(t.getDayOfWeek().getValue() % 7);
                case 'Z' -> sb.append(t.getZone().getId());
                case '%' -> sb.append('%');
                default -> sb.append('%').append(d);
            }
        }
        return sb.toString();
    }
}
