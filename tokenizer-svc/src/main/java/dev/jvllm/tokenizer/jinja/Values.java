package dev.jvllm.tokenizer.jinja;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Runtime value kinds beyond the JSON ones (String, Long, Double, Boolean, null, List, Map). */
final class Values {
    private Values() {}

    /** Jinja's default {@code Undefined}: prints as empty, is falsy, iterates as empty, fails on use. */
    record Undefined(String name) {
        TemplateException error() {
            return new TemplateException("'" + name + "' is undefined");
        }

        @Override
        public String toString() {
            return "";
        }
    }

    /** {@code namespace(...)}: the only object whose attributes {@code set} may assign. */
    static final class Namespace {
        final Map<String, Object> attrs = new LinkedHashMap<>();

        @Override
        public String toString() {
            return "<Namespace " + attrs + ">";
        }
    }

    /** A Python tuple: a list that prints with parentheses. */
    static final class Tuple extends java.util.ArrayList<Object> {
        Tuple() {
        }

        Tuple(java.util.Collection<?> items) {
            super(items);
        }
    }

    /** The {@code loop} variable of one for-loop iteration. */
    record Loop(List<Object> items, int index0) {
        Object attr(String name) {
            int n = items.size();
            return switch (name) {
                case "index" -> (long) index0 + 1;
                case "index0" -> (long) index0;
                case "revindex" -> (long) (n - index0);
                case "revindex0" -> (long) (n - index0 - 1);
                case "first" -> index0 == 0;
                case "last" -> index0 == n - 1;
                case "length" -> (long) n;
                case "depth" -> 1L;
                case "depth0" -> 0L;
                case "previtem" -> index0 > 0 ? items.get(index0 - 1) : new Undefined("loop.previtem");
                case "nextitem" -> index0 < n - 1 ? items.get(index0 + 1) : new Undefined("loop.nextitem");
                case "cycle" -> (Callable) (args, kw) -> args.isEmpty()
                        ? new Undefined("loop.cycle") : args.get(index0 % args.size());
                default -> new Undefined("loop." + name);
            };
        }

        @Override
        public String toString() {
            return "<LoopContext " + (index0 + 1) + "/" + items.size() + ">";
        }
    }

    /** Anything callable from a template: globals, macros, bound methods. */
    @FunctionalInterface
    interface Callable {
        Object call(List<Object> args, Map<String, Object> kwargs);
    }
}
