package dev.jvllm.tokenizer.jinja;

import dev.jvllm.tokenizer.jinja.Values.Callable;
import dev.jvllm.tokenizer.jinja.Values.Namespace;
import dev.jvllm.tokenizer.jinja.Values.Undefined;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/** Python semantics for template values: truthiness, str/repr, equality, ordering, arithmetic, json.dumps. */
final class Py {
    private Py() {}

    static boolean truthy(Object v) {
        if (v == null || v instanceof Undefined) {
            return false;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        if (v instanceof Long l) {
            return l != 0;
        }
        if (v instanceof Double d) {
            return d != 0.0;
        }
        if (v instanceof String s) {
            return !s.isEmpty();
        }
        if (v instanceof Collection<?> c) {
            return !c.isEmpty();
        }
        if (v instanceof Map<?, ?> m) {
            return !m.isEmpty();
        }
        return true;
    }

    static String typeName(Object v) {
        if (v == null) {
            return "NoneType";
        }
        if (v instanceof Undefined) {
            return "Undefined";
        }
        if (v instanceof String) {
            return "str";
        }
        if (v instanceof Boolean) {
            return "bool";
        }
        if (v instanceof Long) {
            return "int";
        }
        if (v instanceof Double) {
            return "float";
        }
        if (v instanceof List) {
            return "list";
        }
        if (v instanceof Map) {
            return "dict";
        }
        if (v instanceof Namespace) {
            return "Namespace";
        }
        if (v instanceof Callable) {
            return "function";
        }
        return v.getClass().getSimpleName();
    }

    /** Python {@code str(v)}; Undefined prints as empty like Jinja's default Undefined. */
    static String str(Object v) {
        if (v instanceof String s) {
            return s;
        }
        if (v instanceof Undefined) {
            return "";
        }
        return repr(v);
    }

    static String repr(Object v) {
        if (v == null) {
            return "None";
        }
        if (v instanceof Boolean b) {
            return b ? "True" : "False";
        }
        if (v instanceof Long l) {
            return l.toString();
        }
        if (v instanceof Double d) {
            return floatRepr(d);
        }
        if (v instanceof String s) {
            return stringRepr(s);
        }
        if (v instanceof Undefined) {
            return "";
        }
        if (v instanceof Values.Tuple t) {
            StringBuilder sb = new StringBuilder("(");
            for (int i = 0; i < t.size(); i++) {
                if (i > 0) {
                    sb.append(", ");
                }
                sb.append(repr(t.get(i)));
            }
            return sb.append(t.size() == 1 ? ",)" : ")").toString();
        }
        if (v instanceof List<?> list) {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < list.size(); i++) {
                if (i > 0) {
                    sb.append(", ");
                }
                sb.append(repr(list.get(i)));
            }
            return sb.append(']').toString();
        }
        if (v instanceof Map<?, ?> map) {
            StringBuilder sb = new StringBuilder("{");
            boolean first = true;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (!first) {
                    sb.append(", ");
                }
                first = false;
                sb.append(repr(e.getKey())).append(": ").append(repr(e.getValue()));
            }
            return sb.append('}').toString();
        }
        return v.toString();
    }

    private static String stringRepr(String s) {
        char q = s.contains("'") && !s.contains("\"") ? '"' : '\'';
        StringBuilder sb = new StringBuilder().append(q);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c == q) {
                        sb.append('\\').append(c);
                    } else if (c < 0x20 || c == 0x7f) {
                        sb.append(String.format("\\x%02x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append(q).toString();
    }

    /** Python's float repr: shortest round-trip digits, exponent form outside [1e-4, 1e16). */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) {
            return "nan";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        BigDecimal bd = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        String digits = bd.unscaledValue().abs().toString();
        int exp = digits.length() - 1 - bd.scale(); // decimal exponent of the first digit
        String sign = d < 0 ? "-" : "";
        if (exp < -4 || exp >= 16) {
            String mant = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            return sign + mant + "e" + (exp < 0 ? "-" : "+") + String.format("%02d", Math.abs(exp));
        }
        String plain = bd.abs().toPlainString();
        if (!plain.contains(".")) {
            plain += ".0";
        }
        return sign + plain;
    }

    static boolean eq(Object a, Object b) {
        if (a instanceof Undefined || b instanceof Undefined) {
            return a instanceof Undefined && b instanceof Undefined;
        }
        if (isNumber(a) && isNumber(b)) {
            if (a instanceof Double || b instanceof Double) {
                return toDouble(a) == toDouble(b);
            }
            return toLong(a) == toLong(b);
        }
        if (a instanceof List<?> la && b instanceof List<?> lb) {
            if (la.size() != lb.size()) {
                return false;
            }
            for (int i = 0; i < la.size(); i++) {
                if (!eq(la.get(i), lb.get(i))) {
                    return false;
                }
            }
            return true;
        }
        if (a instanceof Map<?, ?> ma && b instanceof Map<?, ?> mb) {
            if (ma.size() != mb.size()) {
                return false;
            }
            for (Map.Entry<?, ?> e : ma.entrySet()) {
                if (!mb.containsKey(e.getKey()) || !eq(e.getValue(), mb.get(e.getKey()))) {
                    return false;
                }
            }
            return true;
        }
        return Objects.equals(a, b);
    }

    static boolean isNumber(Object v) {
        return v instanceof Long || v instanceof Double || v instanceof Boolean;
    }

    static boolean isInt(Object v) {
        return v instanceof Long || v instanceof Boolean;
    }

    static long toLong(Object v) {
        if (v instanceof Boolean b) {
            return b ? 1 : 0;
        }
        return ((Number) v).longValue();
    }

    static double toDouble(Object v) {
        if (v instanceof Boolean b) {
            return b ? 1 : 0;
        }
        return ((Number) v).doubleValue();
    }

    static int compare(Object a, Object b, String op) {
        checkDefined(a);
        checkDefined(b);
        if (isNumber(a) && isNumber(b)) {
            return Double.compare(toDouble(a), toDouble(b));
        }
        if (a instanceof String sa && b instanceof String sb) {
            return Integer.signum(compareCodePoints(sa, sb));
        }
        if (a instanceof List<?> la && b instanceof List<?> lb) {
            for (int i = 0; i < Math.min(la.size(), lb.size()); i++) {
                if (!eq(la.get(i), lb.get(i))) {
                    return compare(la.get(i), lb.get(i), op);
                }
            }
            return Integer.compare(la.size(), lb.size());
        }
        throw new TemplateException("'" + op + "' not supported between instances of '" + typeName(a) + "' and '"
                + typeName(b) + "'");
    }

    private static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    static Object checkDefined(Object v) {
        if (v instanceof Undefined u) {
            throw u.error();
        }
        return v;
    }

    /** Python {@code in}. */
    static boolean contains(Object container, Object item) {
        if (container instanceof Undefined) {
            return false;
        }
        if (container instanceof String s) {
            if (!(item instanceof String sub)) {
                throw new TemplateException("'in <string>' requires string as left operand, not " + typeName(item));
            }
            return s.contains(sub);
        }
        if (container instanceof List<?> list) {
            for (Object o : list) {
                if (eq(o, item)) {
                    return true;
                }
            }
            return false;
        }
        if (container instanceof Map<?, ?> map) {
            return map.containsKey(item) || (item instanceof Long l && map.containsKey(l));
        }
        if (container instanceof Namespace ns) {
            return ns.attrs.containsKey(item);
        }
        throw new TemplateException("argument of type '" + typeName(container) + "' is not iterable");
    }

    /** Python iteration: lists, dict keys, string characters; Undefined iterates as empty. */
    static List<Object> iterate(Object v) {
        if (v instanceof Undefined) {
            return List.of();
        }
        if (v instanceof List<?> list) {
            return new ArrayList<>(list);
        }
        if (v instanceof Map<?, ?> map) {
            return new ArrayList<>(map.keySet());
        }
        if (v instanceof String s) {
            List<Object> chars = new ArrayList<>();
            s.codePoints().forEach(cp -> chars.add(new String(Character.toChars(cp))));
            return chars;
        }
        if (v instanceof Iterable<?> it) {
            List<Object> out = new ArrayList<>();
            Iterator<?> i = it.iterator();
            while (i.hasNext()) {
                out.add(i.next());
            }
            return out;
        }
        throw new TemplateException("'" + typeName(v) + "' object is not iterable");
    }

    static long len(Object v) {
        if (v instanceof String s) {
            return s.codePointCount(0, s.length());
        }
        if (v instanceof Collection<?> c) {
            return c.size();
        }
        if (v instanceof Map<?, ?> m) {
            return m.size();
        }
        if (v instanceof Undefined) {
            return 0;
        }
        throw new TemplateException("object of type '" + typeName(v) + "' has no len()");
    }

    static Object add(Object a, Object b) {
        checkDefined(a);
        checkDefined(b);
        if (isNumber(a) && isNumber(b)) {
            if (a instanceof Double || b instanceof Double) {
                return toDouble(a) + toDouble(b);
            }
            return toLong(a) + toLong(b);
        }
        if (a instanceof String sa && b instanceof String sb) {
            return sa + sb;
        }
        if (a instanceof List<?> la && b instanceof List<?> lb) {
            List<Object> out = new ArrayList<>(la);
            out.addAll(lb);
            return out;
        }
        throw new TemplateException("unsupported operand type(s) for +: '" + typeName(a) + "' and '"
                + typeName(b) + "'" + (a instanceof String || b instanceof String
                        ? " (can only concatenate str to str)" : ""));
    }

    static Object arith(String op, Object a, Object b) {
        checkDefined(a);
        checkDefined(b);
        if (op.equals("+")) {
            return add(a, b);
        }
        if (op.equals("*") && (a instanceof String || a instanceof List || b instanceof String || b instanceof List)
                && isInt(a) != isInt(b)) {
            long times = isInt(a) ? toLong(a) : toLong(b);
            long unit = a instanceof String s ? s.length() : b instanceof String s ? s.length()
                    : a instanceof List<?> l ? l.size() : ((List<?>) b).size();
            if (times > 0 && unit * times > Template.MAX_OUTPUT) {
                throw new TemplateException("sequence repetition too large");
            }
        }
        if (op.equals("*")) {
            if (a instanceof String s && isInt(b)) {
                return s.repeat((int) Math.max(0, toLong(b)));
            }
            if (b instanceof String s && isInt(a)) {
                return s.repeat((int) Math.max(0, toLong(a)));
            }
            if (a instanceof List<?> l && isInt(b)) {
                List<Object> out = new ArrayList<>();
                for (long i = 0; i < toLong(b); i++) {
                    out.addAll(l);
                }
                return out;
            }
        }
        if (op.equals("%") && a instanceof String fmt) {
            return percentFormat(fmt, b);
        }
        if (!isNumber(a) || !isNumber(b)) {
            throw new TemplateException("unsupported operand type(s) for " + op + ": '" + typeName(a) + "' and '"
                    + typeName(b) + "'");
        }
        boolean ints = isInt(a) && isInt(b);
        switch (op) {
            case "-":
                return ints ? (Object) (toLong(a) - toLong(b)) : (Object) (toDouble(a) - toDouble(b));
            case "*":
                return ints ? (Object) (toLong(a) * toLong(b)) : (Object) (toDouble(a) * toDouble(b));
            case "/":
                if (toDouble(b) == 0) {
                    throw new TemplateException("division by zero");
                }
                return toDouble(a) / toDouble(b);
            case "//":
                if (toDouble(b) == 0) {
                    throw new TemplateException("integer division or modulo by zero");
                }
                return ints ? (Object) Math.floorDiv(toLong(a), toLong(b))
                        : (Object) Math.floor(toDouble(a) / toDouble(b));
            case "%":
                if (toDouble(b) == 0) {
                    throw new TemplateException("integer division or modulo by zero");
                }
                if (ints) {
                    return Math.floorMod(toLong(a), toLong(b));
                }
                double r = toDouble(a) % toDouble(b);
                return (r != 0 && (r < 0) != (toDouble(b) < 0)) ? r + toDouble(b) : r;
            case "**":
                if (ints && toLong(b) >= 0) {
                    long base = toLong(a);
                    long exp = toLong(b);
                    if (Math.abs(base) <= 1) {
                        return base == 0 ? (exp == 0 ? 1L : 0L) : (base == 1 || exp % 2 == 0 ? 1L : -1L);
                    }
                    try {
                        long result = 1;
                        for (long i = 0; i < exp; i++) { // |base| >= 2 overflows within 63 steps
                            result = Math.multiplyExact(result, base);
                        }
                        return result;
                    } catch (ArithmeticException overflow) {
                        throw new TemplateException("integer power too large");
                    }
                }
                return Math.pow(toDouble(a), toDouble(b));
            default:
                throw new TemplateException("unknown operator " + op);
        }
    }

    /** printf-style {@code "..." % args} for the common conversions (%s, %d, %r, %f, %%). */
    private static String percentFormat(String fmt, Object args) {
        List<?> values = args instanceof List<?> l ? l : List.of(args == null ? "None" : args);
        if (args == null) {
            values = new ArrayList<>(java.util.Collections.singletonList(null));
        }
        StringBuilder sb = new StringBuilder();
        int k = 0;
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c != '%' || i + 1 >= fmt.length()) {
                sb.append(c);
                continue;
            }
            char conv = fmt.charAt(++i);
            if (conv == '%') {
                sb.append('%');
                continue;
            }
            if (k >= values.size()) {
                throw new TemplateException("not enough arguments for format string");
            }
            Object v = values.get(k++);
            switch (conv) {
                case 's' -> sb.append(str(v));
                case 'r' -> sb.append(repr(v));
                case 'd', 'i' -> sb.append(toLong(v));
                case 'f' -> sb.append(String.format("%f", toDouble(v)));
                default -> throw new TemplateException("unsupported format character '" + conv + "'");
            }
        }
        return sb.toString();
    }

    /**
     * Hugging Face's {@code tojson}: {@code json.dumps(x, ensure_ascii=False, indent=indent)} with Python's
     * default separators: ", " and ": " on one line, "," and ": " with an indent.
     */
    static String toJson(Object v, Integer indent, boolean sortKeys) {
        return toJson(v, indent, sortKeys, false, null, null);
    }

    static String toJson(Object v, Integer indent, boolean sortKeys, boolean ensureAscii, String itemSep,
                         String keySep) {
        StringBuilder sb = new StringBuilder();
        new JsonWriter(sb, indent, sortKeys, ensureAscii, itemSep != null ? itemSep : indent == null ? ", " : ",",
                keySep != null ? keySep : ": ").write(v, 0);
        return sb.toString();
    }

    private record JsonWriter(StringBuilder sb, Integer indent, boolean sortKeys, boolean ensureAscii,
                              String itemSep, String keySep) {
        void write(Object v, int level) {
            writeJson(this, v, level);
        }
    }

    private static void writeJson(JsonWriter w, Object v, int level) {
        StringBuilder sb = w.sb();
        Integer indent = w.indent();
        boolean sortKeys = w.sortKeys();
        if (v == null) {
            sb.append("null");
        } else if (v instanceof Undefined u) {
            throw new TemplateException("Object of type Undefined is not JSON serializable ('" + u.name() + "')");
        } else if (v instanceof Boolean b) {
            sb.append(b ? "true" : "false");
        } else if (v instanceof Long l) {
            sb.append(l);
        } else if (v instanceof Double d) {
            sb.append(Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity")
                    : floatRepr(d));
        } else if (v instanceof String s) {
            jsonString(sb, s, w.ensureAscii());
        } else if (v instanceof List<?> list) {
            if (list.isEmpty()) {
                sb.append("[]");
                return;
            }
            sb.append('[');
            for (int i = 0; i < list.size(); i++) {
                if (i > 0) {
                    sb.append(w.itemSep());
                }
                newline(sb, indent, level + 1);
                writeJson(w, list.get(i), level + 1);
            }
            newline(sb, indent, level);
            sb.append(']');
        } else if (v instanceof Map<?, ?> map) {
            if (map.isEmpty()) {
                sb.append("{}");
                return;
            }
            List<Map.Entry<?, ?>> entries = new ArrayList<>(map.entrySet());
            if (sortKeys) {
                entries.sort((x, y) -> compare(x.getKey(), y.getKey(), "<"));
            }
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : entries) {
                if (!first) {
                    sb.append(w.itemSep());
                }
                first = false;
                newline(sb, indent, level + 1);
                Object k = e.getKey();
                jsonString(sb, k instanceof String s ? s : k == null ? "null"
                        : k instanceof Boolean b ? (b ? "true" : "false") : str(k), w.ensureAscii());
                sb.append(w.keySep());
                writeJson(w, e.getValue(), level + 1);
            }
            newline(sb, indent, level);
            sb.append('}');
        } else if (v instanceof Namespace) {
            throw new TemplateException("Object of type Namespace is not JSON serializable");
        } else {
            throw new TemplateException("Object of type " + typeName(v) + " is not JSON serializable");
        }
    }

    private static void newline(StringBuilder sb, Integer indent, int level) {
        if (indent != null) {
            sb.append('\n').append(" ".repeat(indent * level));
        }
    }

    private static void jsonString(StringBuilder sb, String s, boolean ensureAscii) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || (ensureAscii && c > 0x7f)) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
