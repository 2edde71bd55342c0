package dev.jvllm.tokenizer.jinja;

import dev.jvllm.tokenizer.jinja.Values.Callable;
import dev.jvllm.tokenizer.jinja.Values.Namespace;
import dev.jvllm.tokenizer.jinja.Values.Undefined;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Attribute/item access, Python string/list/dict methods, and Jinja's filters and tests. */
final class Runtime {
    private Runtime() {}

    static final Set<String> FILTERS = Set.of("tojson", "trim", "length", "count", "upper", "lower", "capitalize",
            "title", "replace", "join", "default", "d", "list", "first", "last", "items", "string", "int", "float",
            "safe", "e", "escape", "abs", "round", "reverse", "sort", "unique", "dictsort", "selectattr",
            "rejectattr", "select", "reject", "map", "indent", "wordcount", "max", "min", "sum", "pprint", "format",
            "batch", "center", "truncate", "attr", "bool", "striptags");
    static final Set<String> TESTS = Set.of("defined", "undefined", "none", "boolean", "false", "true", "integer",
            "float", "number", "string", "mapping", "iterable", "sequence", "callable", "sameas", "equalto", "eq",
            "==", "ne", "!=", "lt", "<", "le", "<=", "gt", ">", "ge", ">=", "in", "odd", "even", "divisibleby",
            "lower", "upper", "escaped", "filter", "test");

    // ---------------------------------------------------------------- access

    private static final Set<String> MUTATING_DICT_METHODS =
            Set.of("update", "pop", "popitem", "setdefault", "clear", "fromkeys");

    static Object getAttr(Object obj, String name) {
        if (obj instanceof Undefined u) {
            throw u.error();
        }
        if (obj instanceof Map<?, ?> map) {
            // Jinja tries the Python attribute first: d.items is the method even when d has an "items" key;
            // the sandbox hides mutating methods (as undefined) rather than falling back to the key.
            Object m = dictMethod(map, name);
            if (m != null) {
                return m;
            }
            if (MUTATING_DICT_METHODS.contains(name)) {
                return new Undefined(name);
            }
            return map.containsKey(name) ? map.get(name) : new Undefined(name);
        }
        if (obj instanceof Namespace ns) {
            return ns.attrs.containsKey(name) ? ns.attrs.get(name) : new Undefined(name);
        }
        if (obj instanceof Values.Loop loop) {
            return loop.attr(name);
        }
        if (obj instanceof String s) {
            Object m = stringMethod(s, name);
            return m != null ? m : new Undefined(name);
        }
        if (obj instanceof List<?> list) {
            Object m = listMethod(list, name);
            return m != null ? m : new Undefined(name);
        }
        return new Undefined(name);
    }

    static Object getItem(Object obj, Object key) {
        if (obj instanceof Undefined u) {
            throw u.error();
        }
        if (obj instanceof Map<?, ?> map) {
            if (map.containsKey(key)) {
                return map.get(key);
            }
            if (Py.isInt(key) && !(key instanceof Long) && map.containsKey(Py.toLong(key))) {
                return map.get(Py.toLong(key));
            }
            return key instanceof String s ? getAttr(obj, s) : new Undefined(Py.str(key));
        }
        if (obj instanceof List<?> list && Py.isInt(key)) {
            long i = Py.toLong(key);
            if (i < 0) {
                i += list.size();
            }
            return i >= 0 && i < list.size() ? list.get((int) i) : new Undefined("[" + key + "]");
        }
        if (obj instanceof String s && Py.isInt(key)) {
            int[] cps = s.codePoints().toArray();
            long i = Py.toLong(key);
            if (i < 0) {
                i += cps.length;
            }
            return i >= 0 && i < cps.length ? new String(Character.toChars(cps[(int) i])) : new Undefined("[" + key + "]");
        }
        if (key instanceof String s) {
            return getAttr(obj, s);
        }
        return new Undefined(Py.str(key));
    }

    static Object slice(Object obj, Object start, Object stop, Object step) {
        Py.checkDefined(obj);
        long st = step == null ? 1 : Py.toLong(step);
        if (st == 0) {
            throw new TemplateException("slice step cannot be zero");
        }
        List<Object> items;
        boolean isString = obj instanceof String;
        if (obj instanceof String s) {
            items = Py.iterate(s);
        } else if (obj instanceof List<?> l) {
            items = new ArrayList<>(l);
        } else {
            throw new TemplateException("'" + Py.typeName(obj) + "' object is not subscriptable");
        }
        int n = items.size();
        long lo;
        long hi;
        if (st > 0) {
            lo = start == null ? 0 : clampIndex(Py.toLong(start), n, 0, n);
            hi = stop == null ? n : clampIndex(Py.toLong(stop), n, 0, n);
        } else {
            lo = start == null ? n - 1 : clampIndex(Py.toLong(start), n, -1, n - 1);
            hi = stop == null ? -1 : clampIndex(Py.toLong(stop), n, -1, n - 1);
        }
        List<Object> out = new ArrayList<>();
        for (long i = lo; st > 0 ? i < hi : i > hi; i += st) {
            out.add(items.get((int) i));
        }
        if (isString) {
            StringBuilder sb = new StringBuilder();
            out.forEach(sb::append);
            return sb.toString();
        }
        return out;
    }

    private static long clampIndex(long i, int n, long min, long max) {
        if (i < 0) {
            i += n;
        }
        return Math.max(min, Math.min(max, i));
    }

    // ---------------------------------------------------------------- Python methods

    private static Object dictMethod(Map<?, ?> map, String name) {
        return switch (name) {
            case "get" -> (Callable) (a, kw) -> {
                Object k = arg(a, kw, 0, "key", null);
                return map.containsKey(k) ? map.get(k) : arg(a, kw, 1, "default", null);
            };
            case "items" -> (Callable) (a, kw) -> {
                List<Object> out = new ArrayList<>();
                map.forEach((k, v) -> {
                    Values.Tuple pair = new Values.Tuple();
                    pair.add(k);
                    pair.add(v);
                    out.add(pair);
                });
                return out;
            };
            case "keys" -> (Callable) (a, kw) -> new ArrayList<Object>(map.keySet());
            case "values" -> (Callable) (a, kw) -> new ArrayList<Object>(map.values());
            case "copy" -> (Callable) (a, kw) -> new LinkedHashMap<Object, Object>(map);
            default -> null;
        };
    }


    private static Object listMethod(List<?> list, String name) {
        return switch (name) {
            case "index" -> (Callable) (a, kw) -> {
                for (int i = 0; i < list.size(); i++) {
                    if (Py.eq(list.get(i), a.get(0))) {
                        return (long) i;
                    }
                }
                throw new TemplateException(Py.repr(a.get(0)) + " is not in list");
            };
            case "count" -> (Callable) (a, kw) -> list.stream().filter(x -> Py.eq(x, a.get(0))).count();
            case "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse" -> (Callable) (a, kw) -> {
                throw new TemplateException("access to attribute '" + name + "' of 'list' object is unsafe");
            };
            default -> null;
        };
    }

    private static Object stringMethod(String s, String name) {
        return switch (name) {
            case "startswith" -> (Callable) (a, kw) -> affix(s, a.get(0), true);
            case "endswith" -> (Callable) (a, kw) -> affix(s, a.get(0), false);
            case "strip" -> (Callable) (a, kw) -> strip(s, optString(a, 0), true, true);
            case "lstrip" -> (Callable) (a, kw) -> strip(s, optString(a, 0), true, false);
            case "rstrip" -> (Callable) (a, kw) -> strip(s, optString(a, 0), false, true);
            case "split" -> (Callable) (a, kw) -> split(s, optString(a, 0),
                    a.size() > 1 ? Py.toLong(a.get(1)) : kw.containsKey("maxsplit") ? Py.toLong(kw.get("maxsplit")) : -1);
            case "rsplit" -> (Callable) (a, kw) -> rsplit(s, optString(a, 0),
                    a.size() > 1 ? Py.toLong(a.get(1)) : kw.containsKey("maxsplit") ? Py.toLong(kw.get("maxsplit")) : -1);
            case "splitlines" -> (Callable) (a, kw) -> splitlines(s);
            case "upper" -> (Callable) (a, kw) -> s.toUpperCase(java.util.Locale.ROOT);
            case "lower" -> (Callable) (a, kw) -> s.toLowerCase(java.util.Locale.ROOT);
            case "title" -> (Callable) (a, kw) -> title(s);
            case "capitalize" -> (Callable) (a, kw) -> capitalize(s);
            case "replace" -> (Callable) (a, kw) -> replace(s, Py.str(a.get(0)), Py.str(a.get(1)),
                    a.size() > 2 ? Py.toLong(a.get(2)) : -1);
            case "find" -> (Callable) (a, kw) -> (long) cpIndex(s, s.indexOf(Py.str(a.get(0))));
            case "rfind" -> (Callable) (a, kw) -> (long) cpIndex(s, s.lastIndexOf(Py.str(a.get(0))));
            case "index" -> (Callable) (a, kw) -> {
                int i = s.indexOf(Py.str(a.get(0)));
                if (i < 0) {
                    throw new TemplateException("substring not found");
                }
                return (long) cpIndex(s, i);
            };
            case "count" -> (Callable) (a, kw) -> {
                String sub = Py.str(a.get(0));
                if (sub.isEmpty()) {
                    return Py.len(s) + 1;
                }
                long c = 0;
                for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) {
                    c++;
                }
                return c;
            };
            case "join" -> (Callable) (a, kw) -> {
                StringBuilder sb = new StringBuilder();
                List<Object> items = Py.iterate(a.get(0));
                for (int i = 0; i < items.size(); i++) {
                    if (i > 0) {
                        sb.append(s);
                    }
                    sb.append(Py.str(items.get(i)));
                }
                return sb.toString();
            };
            case "isdigit" -> (Callable) (a, kw) -> !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            case "isalpha" -> (Callable) (a, kw) -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
            case "isalnum" -> (Callable) (a, kw) -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit);
            case "isspace" -> (Callable) (a, kw) -> !s.isEmpty() && s.codePoints().allMatch(Runtime::isSpace);
            case "isupper" -> (Callable) (a, kw) -> s.codePoints().anyMatch(Character::isUpperCase)
                    && s.codePoints().noneMatch(Character::isLowerCase);
            case "islower" -> (Callable) (a, kw) -> s.codePoints().anyMatch(Character::isLowerCase)
                    && s.codePoints().noneMatch(Character::isUpperCase);
            case "format" -> (Callable) (a, kw) -> format(s, a, kw);
            default -> null;
        };
    }

    private static List<Object> splitlines(String s) {
        List<Object> lines = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\n' || c == '\r') {
                lines.add(s.substring(start, i));
                if (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') {
                    i++;
                }
                start = i + 1;
            }
        }
        if (start < s.length()) {
            lines.add(s.substring(start));
        }
        return lines;
    }

    private static int cpIndex(String s, int charIndex) {
        return charIndex < 0 ? -1 : s.codePointCount(0, charIndex);
    }

    private static boolean affix(String s, Object arg, boolean prefix) {
        if (arg instanceof List<?> options) {
            for (Object o : options) {
                if (affix(s, o, prefix)) {
                    return true;
                }
            }
            return false;
        }
        if (!(arg instanceof String a)) {
            throw new TemplateException((prefix ? "startswith" : "endswith")
                    + " first arg must be str or a tuple of str, not " + Py.typeName(arg));
        }
        return prefix ? s.startsWith(a) : s.endsWith(a);
    }

    private static String optString(List<Object> a, int i) {
        return a.size() > i && a.get(i) != null ? Py.str(a.get(i)) : null;
    }

    static boolean isSpace(int cp) {
        return Character.isWhitespace(cp) || Character.isSpaceChar(cp) || cp == 0x85;
    }

    /** Python str.strip/lstrip/rstrip: whitespace, or any of {@code chars}. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end) {
            int cp = s.codePointAt(start);
            if (chars == null ? !isSpace(cp) : chars.indexOf(cp) < 0) {
                break;
            }
            start += Character.charCount(cp);
        }
        while (right && end > start) {
            int cp = s.codePointBefore(end);
            if (chars == null ? !isSpace(cp) : chars.indexOf(cp) < 0) {
                break;
            }
            end -= Character.charCount(cp);
        }
        return s.substring(start, end);
    }

    static List<Object> split(String s, String sep, long maxsplit) {
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isSpace(s.charAt(i))) {
                    i++;
                }
                if (i >= n) {
                    break;
                }
                if (maxsplit >= 0 && out.size() >= maxsplit) {
                    out.add(strip(s.substring(i), null, false, true));
                    break;
                }
                int j = i;
                while (j < n && !isSpace(s.charAt(j))) {
                    j++;
                }
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new TemplateException("empty separator");
        }
        int from = 0;
        while (maxsplit < 0 || out.size() < maxsplit) {
            int at = s.indexOf(sep, from);
            if (at < 0) {
                break;
            }
            out.add(s.substring(from, at));
            from = at + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    static List<Object> rsplit(String s, String sep, long maxsplit) {
        if (maxsplit < 0 || sep == null) {
            return split(s, sep, maxsplit);
        }
        if (sep.isEmpty()) {
            throw new TemplateException("empty separator");
        }
        List<Object> out = new ArrayList<>();
        int end = s.length();
        while (out.size() < maxsplit) {
            int at = s.lastIndexOf(sep, end - sep.length());
            if (at < 0) {
                break;
            }
            out.add(s.substring(at + sep.length(), end));
            end = at;
        }
        out.add(s.substring(0, end));
        Collections.reverse(out);
        return out;
    }

    private static String replace(String s, String old, String repl, long count) {
        if (count < 0) {
            return s.replace(old, repl);
        }
        StringBuilder sb = new StringBuilder();
        int from = 0;
        for (long done = 0; done < count; done++) {
            int at = s.indexOf(old, from);
            if (at < 0) {
                break;
            }
            sb.append(s, from, at).append(repl);
            from = at + old.length();
            if (old.isEmpty()) {
                if (from < s.length()) {
                    sb.append(s.charAt(from));
                }
                from++;
                if (from > s.length()) {
                    return sb.toString();
                }
            }
        }
        return sb.append(s.substring(Math.min(from, s.length()))).toString();
    }

    private static String title(String s) {
        StringBuilder sb = new StringBuilder();
        boolean prevCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            boolean cased = Character.isLetter(cp);
            sb.appendCodePoint(cased ? (prevCased ? Character.toLowerCase(cp) : Character.toTitleCase(cp)) : cp);
            prevCased = cased;
            i += Character.charCount(cp);
        }
        return sb.toString();
    }

    private static String capitalize(String s) {
        if (s.isEmpty()) {
            return s;
        }
        int first = s.codePointAt(0);
        return new String(Character.toChars(Character.toTitleCase(first)))
                + s.substring(Character.charCount(first)).toLowerCase(java.util.Locale.ROOT);
    }

    /** str.format with {}, {0}, {name} fields (no format specs beyond plain conversion). */
    private static String format(String fmt, List<Object> args, Map<String, Object> kw) {
        StringBuilder sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c == '{' && i + 1 < fmt.length() && fmt.charAt(i + 1) == '{') {
                sb.append('{');
                i++;
            } else if (c == '}' && i + 1 < fmt.length() && fmt.charAt(i + 1) == '}') {
                sb.append('}');
                i++;
            } else if (c == '{') {
                int end = fmt.indexOf('}', i);
                if (end < 0) {
                    throw new TemplateException("Single '{' encountered in format string");
                }
                String field = fmt.substring(i + 1, end);
                int colon = field.indexOf(':');
                if (colon >= 0) {
                    field = field.substring(0, colon);
                }
                Object v;
                if (field.isEmpty()) {
                    v = args.get(auto++);
                } else if (field.chars().allMatch(Character::isDigit)) {
                    v = args.get(Integer.parseInt(field));
                } else {
                    v = kw.containsKey(field) ? kw.get(field) : new Undefined(field);
                }
                sb.append(Py.str(v));
                i = end;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    static Object arg(List<Object> args, Map<String, Object> kw, int i, String name, Object dflt) {
        if (args.size() > i) {
            return args.get(i);
        }
        return kw.containsKey(name) ? kw.get(name) : dflt;
    }

    // ---------------------------------------------------------------- filters

    static Object filter(String name, Object v, List<Object> a, Map<String, Object> kw, Scope scope) {
        switch (name) {
            case "tojson": {
                // HF's tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
                Object ensureAscii = arg(a, kw, 0, "ensure_ascii", false);
                Object indent = arg(a, kw, 1, "indent", null);
                Object separators = arg(a, kw, 2, "separators", null);
                boolean sortKeys = Py.truthy(arg(a, kw, 3, "sort_keys", false));
                String itemSep = null;
                String keySep = null;
                if (separators instanceof List<?> seps && seps.size() == 2) {
                    itemSep = Py.str(seps.get(0));
                    keySep = Py.str(seps.get(1));
                }
                return Py.toJson(v, indent == null ? null : (int) Py.toLong(indent), sortKeys,
                        Py.truthy(ensureAscii), itemSep, keySep);
            }
            case "trim":
                return strip(Py.str(Py.checkDefined(v)), optString(a, 0), true, true);
            case "length", "count":
                return Py.len(v);
            case "upper":
                return Py.str(v).toUpperCase(java.util.Locale.ROOT);
            case "lower":
                return Py.str(v).toLowerCase(java.util.Locale.ROOT);
            case "capitalize":
                return capitalize(Py.str(v));
            case "title":
                return title(Py.str(v));
            case "replace":
                return replace(Py.str(v), Py.str(a.get(0)), Py.str(a.get(1)),
                        a.size() > 2 ? Py.toLong(a.get(2)) : -1);
            case "join": {
                String sep = Py.str(arg(a, kw, 0, "d", ""));
                Object attribute = arg(a, kw, 1, "attribute", null);
                StringBuilder sb = new StringBuilder();
                List<Object> items = Py.iterate(v);
                for (int i = 0; i < items.size(); i++) {
                    if (i > 0) {
                        sb.append(sep);
                    }
                    Object item = attribute == null ? items.get(i) : attrPath(items.get(i), attribute);
                    sb.append(Py.str(item));
                }
                return sb.toString();
            }
            case "default", "d": {
                Object dflt = arg(a, kw, 0, "default_value", "");
                boolean bool = Py.truthy(arg(a, kw, 1, "boolean", false));
                return (v instanceof Undefined || (bool && !Py.truthy(v))) ? dflt : v;
            }
            case "list":
                return Py.iterate(v);
            case "first": {
                List<Object> items = Py.iterate(v);
                return items.isEmpty() ? new Undefined("first") : items.get(0);
            }
            case "last": {
                List<Object> items = Py.iterate(v);
                return items.isEmpty() ? new Undefined("last") : items.get(items.size() - 1);
            }
            case "items": {
                if (v instanceof Undefined) {
                    return List.of();
                }
                if (!(v instanceof Map<?, ?> map)) {
                    throw new TemplateException("items filter expects a mapping, got " + Py.typeName(v));
                }
                return ((Callable) dictMethod(map, "items")).call(List.of(), Map.of());
            }
            case "string", "safe", "striptags":
                return Py.str(v);
            case "e", "escape":
                return Py.str(v).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                        .replace("\"", "&#34;").replace("'", "&#39;");
            case "pprint":
                return Py.repr(v);
            case "int":
                return toInt(v, arg(a, kw, 0, "default", 0L));
            case "float":
                return toFloat(v, arg(a, kw, 0, "default", 0.0));
            case "bool":
                return Py.truthy(v);
            case "abs": {
                Py.checkDefined(v);
                return v instanceof Double d ? (Object) Math.abs(d) : (Object) Math.abs(Py.toLong(v));
            }
            case "round": {
                long precision = Py.toLong(arg(a, kw, 0, "precision", 0L));
                String method = Py.str(arg(a, kw, 1, "method", "common"));
                double scale = Math.pow(10, precision);
                double x = Py.toDouble(v) * scale;
                double r = method.equals("ceil") ? Math.ceil(x) : method.equals("floor") ? Math.floor(x)
                        : Math.signum(x) * Math.floor(Math.abs(x) + 0.5);
                return r / scale;
            }
            case "reverse": {
                if (v instanceof String s) {
                    return new StringBuilder(s).reverse().toString();
                }
                List<Object> items = Py.iterate(v);
                Collections.reverse(items);
                return items;
            }
            case "sort": {
                List<Object> items = Py.iterate(v);
                boolean reverse = Py.truthy(arg(a, kw, 0, "reverse", false));
                Object attribute = arg(a, kw, 2, "attribute", null);
                items.sort((x, y) -> {
                    Object kx = attribute == null ? x : attrPath(x, attribute);
                    Object ky = attribute == null ? y : attrPath(y, attribute);
                    return Py.compare(kx, ky, "<");
                });
                if (reverse) {
                    Collections.reverse(items);
                }
                return items;
            }
            case "unique": {
                List<Object> out = new ArrayList<>();
                for (Object x : Py.iterate(v)) {
                    if (out.stream().noneMatch(y -> Py.eq(x, y))) {
                        out.add(x);
                    }
                }
                return out;
            }
            case "dictsort": {
                if (!(v instanceof Map<?, ?> map)) {
                    throw new TemplateException("dictsort expects a mapping");
                }
                List<Object> pairs = ((List<?>) ((Callable) dictMethod(map, "items")).call(List.of(), Map.of()))
                        .stream().map(o -> (Object) o).collect(java.util.stream.Collectors.toCollection(ArrayList::new));
                pairs.sort((x, y) -> Py.compare(((List<?>) x).get(0), ((List<?>) y).get(0), "<"));
                return pairs;
            }
            case "selectattr", "rejectattr": {
                boolean keep = name.equals("selectattr");
                Object attribute = a.get(0);
                List<Object> out = new ArrayList<>();
                for (Object item : Py.iterate(v)) {
                    Object val = attrPath(item, attribute);
                    boolean pass = a.size() > 1 ? test(Py.str(a.get(1)), val, a.subList(2, a.size()), scope)
                            : Py.truthy(val);
                    if (pass == keep) {
                        out.add(item);
                    }
                }
                return out;
            }
            case "select", "reject": {
                boolean keep = name.equals("select");
                List<Object> out = new ArrayList<>();
                for (Object item : Py.iterate(v)) {
                    boolean pass = a.isEmpty() ? Py.truthy(item) : test(Py.str(a.get(0)), item, a.subList(1, a.size()), scope);
                    if (pass == keep) {
                        out.add(item);
                    }
                }
                return out;
            }
            case "map": {
                List<Object> out = new ArrayList<>();
                for (Object item : Py.iterate(v)) {
                    if (kw.containsKey("attribute")) {
                        Object val = attrPath(item, kw.get("attribute"));
                        if (val instanceof Undefined && kw.containsKey("default")) {
                            val = kw.get("default");
                        }
                        out.add(val);
                    } else {
                        out.add(filter(Py.str(a.get(0)), item, a.subList(1, a.size()), Map.of(), scope));
                    }
                }
                return out;
            }
            case "attr":
                return getAttr(v, Py.str(a.get(0)));
            case "indent": {
                int width = (int) Py.toLong(arg(a, kw, 0, "width", 4L));
                boolean first = Py.truthy(arg(a, kw, 1, "first", false));
                boolean blank = Py.truthy(arg(a, kw, 2, "blank", false));
                String pad = " ".repeat(width);
                String[] lines = Py.str(v).split("\n", -1);
                StringBuilder sb = new StringBuilder();
                for (int i = 0; i < lines.length; i++) {
                    if (i > 0) {
                        sb.append('\n');
                    }
                    boolean indentIt = (i > 0 || first) && (blank || !lines[i].isBlank());
                    sb.append(indentIt ? pad : "").append(lines[i]);
                }
                return sb.toString();
            }
            case "wordcount":
                return (long) split(Py.str(v), null, -1).size();
            case "max", "min": {
                List<Object> items = Py.iterate(v);
                if (items.isEmpty()) {
                    return new Undefined(name);
                }
                Object best = items.get(0);
                for (Object x : items) {
                    int c = Py.compare(x, best, "<");
                    if (name.equals("max") ? c > 0 : c < 0) {
                        best = x;
                    }
                }
                return best;
            }
            case "sum": {
                Object attribute = arg(a, kw, 0, "attribute", null);
                Object total = arg(a, kw, 1, "start", 0L);
                for (Object x : Py.iterate(v)) {
                    total = Py.add(total, attribute == null ? x : attrPath(x, attribute));
                }
                return total;
            }
            case "format":
                return Py.arith("%", Py.str(v), a.size() == 1 ? a.get(0) : a);
            case "batch": {
                int size = (int) Py.toLong(a.get(0));
                List<Object> out = new ArrayList<>();
                List<Object> cur = new ArrayList<>();
                for (Object x : Py.iterate(v)) {
                    cur.add(x);
                    if (cur.size() == size) {
                        out.add(cur);
                        cur = new ArrayList<>();
                    }
                }
                if (!cur.isEmpty()) {
                    if (a.size() > 1) {
                        while (cur.size() < size) {
                            cur.add(a.get(1));
                        }
                    }
                    out.add(cur);
                }
                return out;
            }
            case "center": {
                String s = Py.str(v);
                int width = (int) Py.toLong(arg(a, kw, 0, "width", 80L));
                int total = width - s.length();
                if (total <= 0) {
                    return s;
                }
                int left = total / 2 + (total & width & 1);
                return " ".repeat(left) + s + " ".repeat(total - left);
            }
            case "truncate": {
                String s = Py.str(v);
                int length = (int) Py.toLong(arg(a, kw, 0, "length", 255L));
                String end = Py.str(arg(a, kw, 2, "end", "..."));
                return s.length() <= length ? s : s.substring(0, Math.max(0, length - end.length())) + end;
            }
            default:
                throw new TemplateException("no filter named '" + name + "'");
        }
    }

    private static Object attrPath(Object item, Object attribute) {
        if (Py.isInt(attribute)) {
            return getItem(item, attribute);
        }
        Object cur = item;
        for (String part : Py.str(attribute).split("\\.")) {
            if (cur instanceof Undefined) {
                return cur;
            }
            cur = part.chars().allMatch(Character::isDigit) && cur instanceof List ? getItem(cur, Long.parseLong(part))
                    : getItem(cur, part);
        }
        return cur;
    }

    private static Object toInt(Object v, Object dflt) {
        if (v instanceof Boolean || v instanceof Long) {
            return Py.toLong(v);
        }
        if (v instanceof Double d) {
            return (long) d.doubleValue();
        }
        if (v instanceof String s) {
            try {
                return Long.parseLong(s.strip().replace("_", ""));
            } catch (NumberFormatException e) {
                try {
                    return (long) Double.parseDouble(s.strip());
                } catch (NumberFormatException e2) {
                    return dflt;
                }
            }
        }
        return dflt;
    }

    private static Object toFloat(Object v, Object dflt) {
        if (Py.isNumber(v)) {
            return Py.toDouble(v);
        }
        if (v instanceof String s) {
            try {
                return Double.parseDouble(s.strip());
            } catch (NumberFormatException e) {
                return dflt;
            }
        }
        return dflt;
    }

    // ---------------------------------------------------------------- tests

    static boolean test(String name, Object v, List<Object> a, Scope scope) {
        return switch (name) {
            case "defined" -> !(v instanceof Undefined);
            case "undefined" -> v instanceof Undefined;
            case "none" -> v == null;
            case "boolean" -> v instanceof Boolean;
            case "false" -> Boolean.FALSE.equals(v);
            case "true" -> Boolean.TRUE.equals(v);
            case "integer" -> v instanceof Long;
            case "float" -> v instanceof Double;
            case "number" -> v instanceof Long || v instanceof Double;
            case "string" -> v instanceof String;
            case "mapping" -> v instanceof Map || v instanceof Namespace;
            case "iterable" -> v instanceof List || v instanceof Map || v instanceof String || v instanceof Undefined;
            case "sequence" -> v instanceof List || v instanceof Map || v instanceof String;
            case "callable" -> v instanceof Callable;
            case "sameas" -> v == a.get(0) || (v != null && v.equals(a.get(0)) && !(v instanceof List || v instanceof Map));
            case "equalto", "eq", "==" -> Py.eq(v, a.get(0));
            case "ne", "!=" -> !Py.eq(v, a.get(0));
            case "lt", "<" -> Py.compare(v, a.get(0), "<") < 0;
            case "le", "<=" -> Py.compare(v, a.get(0), "<=") <= 0;
            case "gt", ">" -> Py.compare(v, a.get(0), ">") > 0;
            case "ge", ">=" -> Py.compare(v, a.get(0), ">=") >= 0;
            case "in" -> Py.contains(a.get(0), v);
            case "odd" -> Py.toLong(Py.checkDefined(v)) % 2 != 0;
            case "even" -> Py.toLong(Py.checkDefined(v)) % 2 == 0;
            case "divisibleby" -> Py.toLong(v) % Py.toLong(a.get(0)) == 0;
            case "lower" -> v instanceof String s && s.equals(s.toLowerCase(java.util.Locale.ROOT));
            case "upper" -> v instanceof String s && s.equals(s.toUpperCase(java.util.Locale.ROOT));
            case "escaped" -> false;
            case "filter" -> FILTERS.contains(Py.str(v));
            case "test" -> TESTS.contains(Py.str(v));
            default -> throw new TemplateException("no test named '" + name + "'");
        };
    }

    // ---------------------------------------------------------------- globals

    static Map<String, Object> builtinGlobals() {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("range", (Callable) (a, kw) -> {
            long start = a.size() > 1 ? Py.toLong(a.get(0)) : 0;
            long stop = Py.toLong(a.size() > 1 ? a.get(1) : a.get(0));
            long step = a.size() > 2 ? Py.toLong(a.get(2)) : 1;
            if (step == 0) {
                throw new TemplateException("range() arg 3 must not be zero");
            }
            List<Object> out = new ArrayList<>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
                out.add(i);
                if (out.size() > 100_000) {
                    throw new TemplateException("range too big");
                }
            }
            return out;
        });
        g.put("namespace", (Callable) (a, kw) -> {
            Namespace ns = new Namespace();
            for (Object init : a) {
                if (init instanceof Map<?, ?> m) {
                    m.forEach((k, val) -> ns.attrs.put(Py.str(k), val));
                }
            }
            ns.attrs.putAll(kw);
            return ns;
        });
        g.put("dict", (Callable) (a, kw) -> {
            Map<Object, Object> out = new LinkedHashMap<>();
            for (Object init : a) {
                if (init instanceof Map<?, ?> m) {
                    out.putAll(m);
                }
            }
            out.putAll(kw);
            return out;
        });
        g.put("raise_exception", (Callable) (a, kw) -> {
            throw new TemplateException(a.isEmpty() ? "raise_exception called" : Py.str(a.get(0)));
        });
        return g;
    }
}
