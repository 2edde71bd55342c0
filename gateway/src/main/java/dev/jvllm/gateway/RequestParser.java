package dev.jvllm.gateway;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;

/**
 * Typed, validating access to the fields of a JSON request body. Explicit {@code null} counts as absent, as
 * OpenAI clients send nulls for unset fields. Every failure names the offending field in {@code param}.
 */
final class RequestParser {
    static final ObjectMapper MAPPER = new ObjectMapper();

    private final ObjectNode body;

    private RequestParser(ObjectNode body) {
        this.body = body;
    }

    static RequestParser parse(byte[] bytes) {
        if (bytes.length == 0) throw OpenAiException.badRequest("Request body is empty; expected a JSON object.", null);
        JsonNode node;
        try {
            node = MAPPER.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw OpenAiException.badRequest("Invalid JSON in request body: " + e.getOriginalMessage(), null);
        } catch (Exception e) {
            throw OpenAiException.badRequest("Invalid JSON in request body: " + e.getMessage(), null);
        }
        if (node == null || !node.isObject()) {
            throw OpenAiException.badRequest("Request body must be a JSON object.", null);
        }
        return new RequestParser((ObjectNode) node);
    }

    ObjectNode body() { return body; }

    boolean has(String name) {
        JsonNode n = body.get(name);
        return n != null && !n.isNull();
    }

    JsonNode node(String name) {
        JsonNode n = body.get(name);
        return n == null || n.isNull() ? null : n;
    }

    static OpenAiException typeError(String name, String expected) {
        return OpenAiException.badRequest("`" + name + "` must be " + expected + ".", name);
    }

    String string(String name, String dflt) {
        JsonNode n = node(name);
        if (n == null) return dflt;
        if (!n.isTextual()) throw typeError(name, "a string");
        return n.textValue();
    }

    boolean bool(String name, boolean dflt) {
        JsonNode n = node(name);
        if (n == null) return dflt;
        if (!n.isBoolean()) throw typeError(name, "a boolean");
        return n.booleanValue();
    }

    Boolean optBool(String name) {
        return has(name) ? bool(name, false) : null;
    }

    /** An integer field in [min, max], or null when absent. */
    Integer optInt(String name, long min, long max) {
        JsonNode n = node(name);
        if (n == null) return null;
        long v = integral(name, n);
        if (v < min || v > max) throw rangeError(name, v, min, max);
        return (int) v;
    }

    Long optLong(String name) {
        JsonNode n = node(name);
        if (n == null) return null;
        return integral(name, n);
    }

    static long integral(String name, JsonNode n) {
        if (n.isIntegralNumber() && n.canConvertToLong()) return n.longValue();
        if (n.isFloatingPointNumber() && n.doubleValue() == Math.rint(n.doubleValue())
                && Math.abs(n.doubleValue()) < 9.0e18) {
            return (long) n.doubleValue();
        }
        throw typeError(name, "an integer");
    }

    private static OpenAiException rangeError(String name, Object v, Object min, Object max) {
        String range;
        if ((min instanceof Long l && l == Integer.MIN_VALUE) || (min instanceof Double d && d == -Double.MAX_VALUE)) {
            range = "at most " + max;
        } else if ((max instanceof Long l && l == Integer.MAX_VALUE) || (max instanceof Double d && d == Double.MAX_VALUE)) {
            range = "at least " + min;
        } else {
            range = "in [" + min + ", " + max + "]";
        }
        return OpenAiException.badRequest("`" + name + "` must be " + range + ", got " + v + ".", name);
    }

    Double optNumber(String name) {
        JsonNode n = node(name);
        if (n == null) return null;
        if (!n.isNumber()) throw typeError(name, "a number");
        double v = n.doubleValue();
        if (!Double.isFinite(v)) throw typeError(name, "a finite number");
        return v;
    }

    Double optNumber(String name, double min, double max) {
        Double v = optNumber(name);
        if (v != null && (v < min || v > max)) throw rangeError(name, v, min, max);
        return v;
    }

    /** A list of integers, or null when absent. */
    List<Integer> optIntList(String name, long min, long max) {
        JsonNode n = node(name);
        if (n == null) return null;
        if (!n.isArray()) throw typeError(name, "a list of integers");
        List<Integer> out = new ArrayList<>(n.size());
        for (JsonNode e : n) {
            if (e == null || !e.isNumber()) throw typeError(name, "a list of integers");
            long v = integral(name, e);
            if (v < min || v > max) {
                throw OpenAiException.badRequest("`" + name + "` contains " + v + ", outside [" + min + ", " + max + "].", name);
            }
            out.add((int) v);
        }
        return out;
    }

    /** A string or a list of strings, or null when absent. */
    List<String> optStringOrList(String name) {
        JsonNode n = node(name);
        if (n == null) return null;
        if (n.isTextual()) return List.of(n.textValue());
        if (!n.isArray()) throw typeError(name, "a string or a list of strings");
        List<String> out = new ArrayList<>(n.size());
        for (JsonNode e : n) {
            if (!e.isTextual()) throw typeError(name, "a string or a list of strings");
            out.add(e.textValue());
        }
        return out;
    }

    List<String> optStringList(String name) {
        JsonNode n = node(name);
        if (n == null) return null;
        if (!n.isArray()) throw typeError(name, "a list of strings");
        List<String> out = new ArrayList<>(n.size());
        for (JsonNode e : n) {
            if (!e.isTextual()) throw typeError(name, "a list of strings");
            out.add(e.textValue());
        }
        return out;
    }

    ObjectNode optObject(String name) {
        JsonNode n = node(name);
        if (n == null) return null;
        if (!n.isObject()) throw typeError(name, "an object");
        return (ObjectNode) n;
    }

    static String toJson(JsonNode n) {
        try {
            return MAPPER.writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
