package dev.jvllm.worker.pjrt;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A small independent reader of the generic-form MLIR the emitter writes: it re-parses the text and checks what
 * an MLIR parser would reject first — balanced brackets, each SSA value defined exactly once and before use, operand
 * lists matching their declared types, known StableHLO op names, and the return matching the signature. It is not
 * the StableHLO verifier (shape rules per op are checked by MlirBuilder as it emits).
 */
final class MlirTextChecker {

    static final Set<String> KNOWN_OPS = Set.of("add", "subtract", "multiply", "divide", "maximum", "minimum", "and", "xor",
            "shift_right_logical", "compare", "select", "convert", "constant", "broadcast_in_dim", "reshape", "iota", "slice",
            "concatenate", "pad", "dot_general", "reduce", "gather", "scatter", "sort", "exponential", "log", "negate", "rsqrt",
            "logistic", "cosine", "sine", "return");

    private static final Pattern SIGNATURE_ARG = Pattern.compile("^\\s+(%[A-Za-z0-9_.$-]+): (tensor<[^>]*>)");
    private static final Pattern RESULTS = Pattern.compile("^\\s+-> \\((.*)\\) \\{$");
    private static final Pattern OP = Pattern.compile("^\\s*(%[0-9]+) = \"stablehlo\\.([a-z_]+)\"\\(([^)]*)\\)(.*)$");
    private static final Pattern BLOCK = Pattern.compile("^\\s*\\^bb0\\((.*)\\):$");
    private static final Pattern TYPE_TAIL = Pattern.compile(" : \\(([^)]*)\\) -> (tensor<[^>]*>)$");
    private static final Pattern RETURN = Pattern.compile("^\\s*\"(stablehlo|func)\\.return\"\\(([^)]*)\\) : \\(([^)]*)\\) -> \\(\\)$");

    record Report(int ops, int values, List<String> argTypes, List<String> resultTypes) {}

    private final Map<String, String> types = new HashMap<>();

    static Report check(String text) {
        return new MlirTextChecker().run(text);
    }

    private Report run(String text) {
        checkBalanced(text);
        List<String> argTypes = new ArrayList<>();
        List<String> resultTypes = null;
        Deque<String[]> openRegions = new ArrayDeque<>(); // {result, opName, operands}
        int ops = 0;
        boolean sawReturn = false;
        for (String raw : text.split("\n")) {
            String line = raw.stripTrailing();
            if (line.isBlank() || line.strip().startsWith("//")) continue;
            Matcher m;
            if (resultTypes == null) {
                if ((m = SIGNATURE_ARG.matcher(line)).find()) {
                    define(m.group(1), m.group(2));
                    argTypes.add(m.group(2));
                } else if ((m = RESULTS.matcher(line)).find()) {
                    resultTypes = splitTypes(m.group(1));
                }
                continue;
            }
            if ((m = OP.matcher(line)).find()) {
                String result = m.group(1), name = m.group(2), operands = m.group(3), rest = m.group(4);
                if (!KNOWN_OPS.contains(name)) throw new AssertionError("unknown op stablehlo." + name + ": " + line);
                List<String> used = splitOperands(operands);
                for (String u : used) requireDefined(u, line);
                ops++;
                if (rest.equals(" ({")) {
                    openRegions.push(new String[] {result, name, operands});
                } else {
                    finishOp(result, used, rest, line);
                }
            } else if ((m = BLOCK.matcher(line)).find()) {
                for (String arg : m.group(1).split(", ")) {
                    String[] nt = arg.split(": ");
                    define(nt[0], nt[1]);
                }
            } else if (line.strip().startsWith("})")) {
                if (openRegions.isEmpty()) throw new AssertionError("region closed without an op: " + line);
                String[] open = openRegions.pop();
                finishOp(open[0], splitOperands(open[2]), line.strip().substring(2), line);
            } else if ((m = RETURN.matcher(line)).find()) {
                List<String> vals = splitOperands(m.group(2));
                List<String> tys = splitTypes(m.group(3));
                if (vals.size() != tys.size()) throw new AssertionError("return arity: " + line);
                for (int i = 0; i < vals.size(); i++) {
                    requireDefined(vals.get(i), line);
                    if (!types.get(vals.get(i)).equals(tys.get(i))) throw new AssertionError("return type of " + vals.get(i) + ": " + line);
                }
                if (m.group(1).equals("func")) {
                    if (!tys.equals(resultTypes)) throw new AssertionError("func.return " + tys + " vs signature " + resultTypes);
                    sawReturn = true;
                }
            } else if (!line.strip().equals("}") && !line.startsWith("module ") && !line.strip().startsWith("func.func")) {
                throw new AssertionError("unrecognized line: " + line);
            }
        }
        if (!openRegions.isEmpty()) throw new AssertionError("unclosed region");
        if (!sawReturn) throw new AssertionError("no func.return");
        return new Report(ops, types.size(), argTypes, resultTypes);
    }

    private void finishOp(String result, List<String> used, String rest, String line) {
        Matcher t = TYPE_TAIL.matcher(rest);
        if (!t.find()) throw new AssertionError("no type signature: " + line);
        List<String> operandTypes = splitTypes(t.group(1));
        if (operandTypes.size() != used.size()) throw new AssertionError("operand count vs types: " + line);
        for (int i = 0; i < used.size(); i++) {
            if (!types.get(used.get(i)).equals(operandTypes.get(i))) {
                throw new AssertionError(used.get(i) + " is " + types.get(used.get(i)) + " but used as " + operandTypes.get(i) + ": " + line);
            }
        }
        define(result, t.group(2));
    }

    private void define(String name, String type) {
        if (types.put(name, type) != null) throw new AssertionError("SSA value defined twice: " + name);
    }

    private void requireDefined(String name, String line) {
        if (!types.containsKey(name)) throw new AssertionError("use of undefined " + name + ": " + line);
    }

    private static List<String> splitOperands(String s) {
        List<String> out = new ArrayList<>();
        for (String p : s.split(",")) if (!p.isBlank()) out.add(p.strip());
        return out;
    }

    /** Splits "tensor<2x3xf32>, tensor<f32>" at top-level commas. */
    static List<String> splitTypes(String s) {
        List<String> out = new ArrayList<>();
        int depth = 0, start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '<') depth++;
            else if (c == '>') depth--;
            else if (c == ',' && depth == 0) {
                out.add(s.substring(start, i).strip());
                start = i + 1;
            }
        }
        if (!s.isBlank()) out.add(s.substring(start).strip());
        return out;
    }

    static void checkBalanced(String text) {
        Deque<Character> stack = new ArrayDeque<>();
        String t = text.replace("->", "  ");
        int lineNo = 1;
        for (int i = 0; i < t.length(); i++) {
            char c = t.charAt(i);
            if (c == '\n') lineNo++;
            if (c == '/' && i + 1 < t.length() && t.charAt(i + 1) == '/') { // skip comments
                while (i < t.length() && t.charAt(i) != '\n') i++;
                lineNo++;
                continue;
            }
            switch (c) {
                case '(', '{', '[', '<' -> stack.push(c);
                case ')', '}', ']', '>' -> {
                    char open = c == ')' ? '(' : c == '}' ? '{' : c == ']' ? '[' : '<';
                    if (stack.isEmpty() || stack.pop() != open) throw new AssertionError("unbalanced '" + c + "' at line " + lineNo);
                }
                default -> { }
            }
        }
        if (!stack.isEmpty()) throw new AssertionError("unclosed '" + stack.peek() + "'");
    }
}
