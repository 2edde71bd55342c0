package dev.jvllm.tokenizer.jinja;

import dev.jvllm.tokenizer.jinja.Values.Callable;
import dev.jvllm.tokenizer.jinja.Values.Namespace;
import dev.jvllm.tokenizer.jinja.Values.Undefined;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Template syntax tree: expressions evaluate to values, statements append to the output. */
final class Nodes {
    private Nodes() {}

    interface Expr {
        Object eval(Scope s);
    }

    interface Stmt {
        void render(Scope s, StringBuilder out);
    }

    // ---------------------------------------------------------------- expressions

    record Literal(Object value) implements Expr {
        public Object eval(Scope s) {
            return value;
        }
    }

    record Name(String name) implements Expr {
        public Object eval(Scope s) {
            return s.lookup(name);
        }
    }

    record ListLit(List<Expr> items, boolean tuple) implements Expr {
        ListLit(List<Expr> items) {
            this(items, false);
        }

        public Object eval(Scope s) {
            List<Object> out = tuple ? new Values.Tuple() : new ArrayList<>(items.size());
            for (Expr e : items) {
                out.add(e.eval(s));
            }
            return out;
        }
    }

    record DictLit(List<Expr> keys, List<Expr> values) implements Expr {
        public Object eval(Scope s) {
            Map<Object, Object> out = new LinkedHashMap<>();
            for (int i = 0; i < keys.size(); i++) {
                out.put(keys.get(i).eval(s), values.get(i).eval(s));
            }
            return out;
        }
    }

    record GetAttr(Expr target, String name) implements Expr {
        public Object eval(Scope s) {
            return Runtime.getAttr(target.eval(s), name);
        }
    }

    record GetItem(Expr target, Expr key) implements Expr {
        public Object eval(Scope s) {
            return Runtime.getItem(target.eval(s), key.eval(s));
        }
    }

    record Slice(Expr target, Expr start, Expr stop, Expr step) implements Expr {
        public Object eval(Scope s) {
            return Runtime.slice(target.eval(s), start == null ? null : start.eval(s),
                    stop == null ? null : stop.eval(s), step == null ? null : step.eval(s));
        }
    }

    record Call(Expr callee, List<Expr> args, Map<String, Expr> kwargs) implements Expr {
        public Object eval(Scope s) {
            Object fn = callee.eval(s);
            if (fn instanceof Undefined u) {
                throw new TemplateException("'" + u.name() + "' is undefined");
            }
            if (!(fn instanceof Callable c)) {
                throw new TemplateException("'" + Py.typeName(fn) + "' object is not callable");
            }
            return c.call(evalAll(args, s), evalAll(kwargs, s));
        }
    }

    record Filter(Expr target, String name, List<Expr> args, Map<String, Expr> kwargs) implements Expr {
        public Object eval(Scope s) {
            return Runtime.filter(name, target.eval(s), evalAll(args, s), evalAll(kwargs, s), s);
        }
    }

    record Test(Expr target, String name, List<Expr> args, boolean negated) implements Expr {
        public Object eval(Scope s) {
            return negated != Runtime.test(name, target.eval(s), evalAll(args, s), s);
        }
    }

    record Not(Expr operand) implements Expr {
        public Object eval(Scope s) {
            return !Py.truthy(operand.eval(s));
        }
    }

    record Neg(Expr operand) implements Expr {
        public Object eval(Scope s) {
            Object v = Py.checkDefined(operand.eval(s));
            if (v instanceof Double d) {
                return -d;
            }
            if (Py.isInt(v)) {
                return -Py.toLong(v);
            }
            throw new TemplateException("bad operand type for unary -: '" + Py.typeName(v) + "'");
        }
    }

    record And(Expr left, Expr right) implements Expr {
        public Object eval(Scope s) {
            Object l = left.eval(s);
            return Py.truthy(l) ? right.eval(s) : l;
        }
    }

    record Or(Expr left, Expr right) implements Expr {
        public Object eval(Scope s) {
            Object l = left.eval(s);
            return Py.truthy(l) ? l : right.eval(s);
        }
    }

    record BinOp(String op, Expr left, Expr right) implements Expr {
        public Object eval(Scope s) {
            return Py.arith(op, left.eval(s), right.eval(s));
        }
    }

    /** {@code ~}: string concatenation of any values. */
    record Concat(List<Expr> parts) implements Expr {
        public Object eval(Scope s) {
            StringBuilder sb = new StringBuilder();
            for (Expr e : parts) {
                sb.append(Py.str(e.eval(s)));
            }
            return sb.toString();
        }
    }

    /** Chained comparison {@code a < b <= c}, also {@code in} / {@code not in}. */
    record Compare(Expr first, List<String> ops, List<Expr> rest) implements Expr {
        public Object eval(Scope s) {
            Object left = first.eval(s);
            for (int i = 0; i < ops.size(); i++) {
                Object right = rest.get(i).eval(s);
                boolean ok = switch (ops.get(i)) {
                    case "==" -> Py.eq(left, right);
                    case "!=" -> !Py.eq(left, right);
                    case "<" -> Py.compare(left, right, "<") < 0;
                    case "<=" -> Py.compare(left, right, "<=") <= 0;
                    case ">" -> Py.compare(left, right, ">") > 0;
                    case ">=" -> Py.compare(left, right, ">=") >= 0;
                    case "in" -> Py.contains(right, left);
                    case "notin" -> !Py.contains(right, left);
                    default -> throw new TemplateException("unknown comparison " + ops.get(i));
                };
                if (!ok) {
                    return false;
                }
                left = right;
            }
            return true;
        }
    }

    record CondExpr(Expr cond, Expr then, Expr otherwise) implements Expr {
        public Object eval(Scope s) {
            if (Py.truthy(cond.eval(s))) {
                return then.eval(s);
            }
            return otherwise == null ? new Undefined("inline if") : otherwise.eval(s);
        }
    }

    static List<Object> evalAll(List<Expr> exprs, Scope s) {
        List<Object> out = new ArrayList<>(exprs.size());
        for (Expr e : exprs) {
            out.add(e.eval(s));
        }
        return out;
    }

    static Map<String, Object> evalAll(Map<String, Expr> exprs, Scope s) {
        if (exprs.isEmpty()) {
            return Map.of();
        }
        Map<String, Object> out = new LinkedHashMap<>();
        exprs.forEach((k, e) -> out.put(k, e.eval(s)));
        return out;
    }

    // ---------------------------------------------------------------- statements

    record Text(String text) implements Stmt {
        public void render(Scope s, StringBuilder out) {
            out.append(text);
        }
    }

    record Output(Expr expr) implements Stmt {
        public void render(Scope s, StringBuilder out) {
            out.append(Py.str(expr.eval(s)));
        }
    }

    record Body(List<Stmt> stmts) implements Stmt {
        public void render(Scope s, StringBuilder out) {
            for (Stmt st : stmts) {
                st.render(s, out);
            }
        }
    }

    record If(List<Expr> conds, List<Stmt> bodies, Stmt otherwise) implements Stmt {
        public void render(Scope s, StringBuilder out) {
            for (int i = 0; i < conds.size(); i++) {
                if (Py.truthy(conds.get(i).eval(s))) {
                    bodies.get(i).render(s, out);
                    return;
                }
            }
            if (otherwise != null) {
                otherwise.render(s, out);
            }
        }
    }

    static final class BreakSignal extends RuntimeException {
        static final BreakSignal INSTANCE = new BreakSignal();

        private BreakSignal() {
            super(null, null, false, false);
        }
    }

    static final class ContinueSignal extends RuntimeException {
        static final ContinueSignal INSTANCE = new ContinueSignal();

        private ContinueSignal() {
            super(null, null, false, false);
        }
    }

    record Break() implements Stmt {
        public void render(Scope s, StringBuilder out) {
            throw BreakSignal.INSTANCE;
        }
    }

    record Continue() implements Stmt {
        public void render(Scope s, StringBuilder out) {
            throw ContinueSignal.INSTANCE;
        }
    }

    record For(List<String> targets, Expr iter, Expr filter, Stmt body, Stmt otherwise) implements Stmt {
        public void render(Scope s, StringBuilder out) {
            List<Object> items = Py.iterate(iter.eval(s));
            if (filter != null) {
                List<Object> kept = new ArrayList<>();
                for (Object item : items) {
                    Scope probe = s.child();
                    bind(probe, item);
                    if (Py.truthy(filter.eval(probe))) {
                        kept.add(item);
                    }
                }
                items = kept;
            }
            if (items.isEmpty()) {
                if (otherwise != null) {
                    otherwise.render(s, out);
                }
                return;
            }
            int n = items.size();
            for (int i = 0; i < n; i++) {
                // Jinja2: a `set` in the body lasts for this iteration only (hence namespace()).
                s.env.countIteration(out);
                Scope iteration = s.child();
                bind(iteration, items.get(i));
                iteration.set("loop", loopInfo(items, i));
                try {
                    body.render(iteration, out);
                } catch (ContinueSignal c) {
                    // next iteration
                } catch (BreakSignal b) {
                    break;
                }
            }
        }

        private void bind(Scope scope, Object item) {
            if (targets.size() == 1) {
                scope.set(targets.get(0), item);
                return;
            }
            List<Object> parts = Py.iterate(item);
            if (parts.size() != targets.size()) {
                throw new TemplateException("cannot unpack " + parts.size() + " values into " + targets.size());
            }
            for (int i = 0; i < targets.size(); i++) {
                scope.set(targets.get(i), parts.get(i));
            }
        }

        private static Values.Loop loopInfo(List<Object> items, int i) {
            return new Values.Loop(items, i);
        }
    }

    /** {@code set a = ...}, {@code set a, b = ...}. */
    record Set(List<String> targets, Expr value) implements Stmt {
        public void render(Scope s, StringBuilder out) {
            Object v = value.eval(s);
            if (targets.size() == 1) {
                s.set(targets.get(0), v);
                return;
            }
            List<Object> parts = Py.iterate(v);
            if (parts.size() != targets.size()) {
                throw new TemplateException("cannot unpack " + parts.size() + " values into " + targets.size());
            }
            for (int i = 0; i < targets.size(); i++) {
                s.set(targets.get(i), parts.get(i));
            }
        }
    }

    /** {@code set ns.attr = ...}: only namespace objects accept attribute assignment. */
    record SetAttr(String object, String attr, Expr value) implements Stmt {
        public void render(Scope s, StringBuilder out) {
            Object target = s.lookup(object);
            if (!(target instanceof Namespace ns)) {
                throw new TemplateException("cannot assign attribute on non-namespace object");
            }
            ns.attrs.put(attr, value.eval(s));
        }
    }

    /** {@code set name %}...{% endset}: captures rendered text. */
    record SetBlock(String target, Stmt body) implements Stmt {
        public void render(Scope s, StringBuilder out) {
            StringBuilder captured = new StringBuilder();
            body.render(s, captured);
            s.set(target, captured.toString());
        }
    }

    record Macro(String name, List<String> params, List<Expr> defaults, Stmt body) implements Stmt {
        public void render(Scope s, StringBuilder out) {
            Scope defining = s;
            s.set(name, (Callable) (args, kwargs) -> invoke(defining, args, kwargs, null));
        }

        Object invoke(Scope defining, List<Object> args, Map<String, Object> kwargs, Callable caller) {
            Scope call = defining.root().child();
            List<Object> varargs = new ArrayList<>();
            for (int i = 0; i < args.size(); i++) {
                if (i < params.size()) {
                    call.set(params.get(i), args.get(i));
                } else {
                    varargs.add(args.get(i));
                }
            }
            Map<String, Object> extraKw = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : kwargs.entrySet()) {
                if (params.contains(e.getKey()) || e.getKey().equals("caller")) {
                    call.set(e.getKey(), e.getValue());
                } else {
                    extraKw.put(e.getKey(), e.getValue());
                }
            }
            for (int i = args.size(); i < params.size(); i++) {
                String p = params.get(i);
                if (!kwargs.containsKey(p)) {
                    Expr d = defaults.get(i);
                    call.set(p, d == null ? new Undefined(p) : d.eval(call));
                }
            }
            call.set("varargs", varargs);
            call.set("kwargs", extraKw);
            if (caller != null) {
                call.set("caller", caller);
            }
            StringBuilder sb = new StringBuilder();
            body.render(call, sb);
            return sb.toString();
        }
    }

    /** {@code call macro(...)}...{% endcall}: the body becomes the macro's {@code caller()}. */
    record CallBlock(Call call, Stmt body) implements Stmt {
        public void render(Scope s, StringBuilder out) {
            Callable caller = (args, kw) -> {
                StringBuilder sb = new StringBuilder();
                body.render(s.child(), sb);
                return sb.toString();
            };
            Object fn = call.callee().eval(s);
            if (!(fn instanceof Callable c)) {
                throw new TemplateException("'" + Py.typeName(fn) + "' object is not callable");
            }
            Map<String, Object> kwargs = new LinkedHashMap<>(evalAll(call.kwargs(), s));
            kwargs.put("caller", caller);
            out.append(Py.str(c.call(evalAll(call.args(), s), kwargs)));
        }
    }

    record FilterBlock(String name, List<Expr> args, Stmt body) implements Stmt {
        public void render(Scope s, StringBuilder out) {
            StringBuilder sb = new StringBuilder();
            body.render(s, sb);
            out.append(Py.str(Runtime.filter(name, sb.toString(), evalAll(args, s), Map.of(), s)));
        }
    }
}
