package dev.jvllm.tokenizer.jinja;

import dev.jvllm.tokenizer.jinja.Lexer.Kind;
import dev.jvllm.tokenizer.jinja.Lexer.Token;
import dev.jvllm.tokenizer.jinja.Nodes.Expr;
import dev.jvllm.tokenizer.jinja.Nodes.Stmt;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Recursive-descent parser following Jinja2's grammar and operator precedence. */
final class Parser {
    private final List<Token> tokens;
    private int i;

    private Parser(List<Token> tokens) {
        this.tokens = tokens;
    }

    static Stmt parse(String source) {
        Parser p = new Parser(Lexer.tokenize(source));
        List<Stmt> body = p.parseBody(Set.of());
        if (p.peek().kind() != Kind.EOF) {
            throw p.error("unexpected '" + p.peekAfterBlockBegin() + "'");
        }
        return new Nodes.Body(body);
    }

    // ---------------------------------------------------------------- statements

    /** Parses until a block tag whose name is in {@code endTags} (left unconsumed, positioned at its name). */
    private List<Stmt> parseBody(Set<String> endTags) {
        List<Stmt> out = new ArrayList<>();
        while (true) {
            Token t = peek();
            switch (t.kind()) {
                case EOF -> {
                    if (!endTags.isEmpty()) {
                        throw error("unexpected end of template, expected one of " + endTags);
                    }
                    return out;
                }
                case TEXT -> {
                    next();
                    out.add(new Nodes.Text((String) t.value()));
                }
                case VAR_BEGIN -> {
                    next();
                    out.add(new Nodes.Output(parseTuple(true)));
                    expect(Kind.VAR_END);
                }
                case BLOCK_BEGIN -> {
                    Token name = tokens.get(i + 1);
                    if (name.kind() == Kind.NAME && endTags.contains(name.text())) {
                        next();
                        return out;
                    }
                    if (name.kind() == Kind.NAME && isClosingTag(name.text())) {
                        throw error("unexpected '" + name.text() + "'"
                                + (endTags.isEmpty() ? "" : ", expected one of " + endTags));
                    }
                    next();
                    out.add(parseStatement());
                }
                default -> throw error("unexpected token '" + t.text() + "'");
            }
        }
    }

    private static boolean isClosingTag(String name) {
        return name.startsWith("end") || name.equals("elif") || name.equals("else");
    }

    private Stmt parseStatement() {
        Token name = expect(Kind.NAME);
        switch (name.text()) {
            case "if":
                return parseIf();
            case "for":
                return parseFor();
            case "set":
                return parseSet();
            case "macro":
                return parseMacro();
            case "call":
                return parseCallBlock();
            case "filter": {
                String filter = expect(Kind.NAME).text();
                List<Expr> args = new ArrayList<>();
                if (peek().isOp("(")) {
                    next();
                    parseArgs(args, new LinkedHashMap<>());
                }
                expect(Kind.BLOCK_END);
                Stmt body = new Nodes.Body(parseBody(Set.of("endfilter")));
                endTag("endfilter");
                return new Nodes.FilterBlock(filter, args, body);
            }
            case "with": {
                List<Stmt> assigns = new ArrayList<>();
                while (!peek().is(Kind.BLOCK_END, "%}")) {
                    String target = expect(Kind.NAME).text();
                    expectOp("=");
                    assigns.add(new Nodes.Set(List.of(target), parseExpression(true)));
                    if (peek().isOp(",")) {
                        next();
                    }
                }
                expect(Kind.BLOCK_END);
                List<Stmt> body = parseBody(Set.of("endwith"));
                endTag("endwith");
                List<Stmt> all = new ArrayList<>(assigns);
                all.addAll(body);
                Nodes.Body inner = new Nodes.Body(all);
                return (s, out) -> inner.render(s.child(), out);
            }
            case "generation": {
                // transformers' AssistantTracker extension: renders its body unchanged.
                expect(Kind.BLOCK_END);
                List<Stmt> body = parseBody(Set.of("endgeneration"));
                endTag("endgeneration");
                return new Nodes.Body(body);
            }
            case "break":
                expect(Kind.BLOCK_END);
                return new Nodes.Break();
            case "continue":
                expect(Kind.BLOCK_END);
                return new Nodes.Continue();
            default:
                throw error("unknown tag '" + name.text() + "'");
        }
    }

    private void endTag(String name) {
        Token t = expect(Kind.NAME);
        if (!t.text().equals(name)) {
            throw error("expected '" + name + "', got '" + t.text() + "'");
        }
        expect(Kind.BLOCK_END);
    }

    private Stmt parseIf() {
        List<Expr> conds = new ArrayList<>();
        List<Stmt> bodies = new ArrayList<>();
        conds.add(parseTuple(true));
        expect(Kind.BLOCK_END);
        Stmt otherwise = null;
        while (true) {
            bodies.add(new Nodes.Body(parseBody(Set.of("elif", "else", "endif"))));
            String tag = expect(Kind.NAME).text();
            if (tag.equals("elif")) {
                conds.add(parseTuple(true));
                expect(Kind.BLOCK_END);
            } else if (tag.equals("else")) {
                expect(Kind.BLOCK_END);
                otherwise = new Nodes.Body(parseBody(Set.of("endif")));
                endTag("endif");
                break;
            } else {
                expect(Kind.BLOCK_END);
                break;
            }
        }
        return new Nodes.If(conds, bodies, otherwise);
    }

    private Stmt parseFor() {
        List<String> targets = parseTargets();
        Token in = expect(Kind.NAME);
        if (!in.text().equals("in")) {
            throw error("expected 'in' in for loop");
        }
        Expr iter = parseTuple(false);
        Expr filter = null;
        if (peek().isName("if")) {
            next();
            filter = parseTuple(true);
        }
        if (peek().isName("recursive")) {
            throw error("recursive loops are not supported");
        }
        expect(Kind.BLOCK_END);
        Stmt body = new Nodes.Body(parseBody(Set.of("else", "endfor")));
        Stmt otherwise = null;
        if (expect(Kind.NAME).text().equals("else")) {
            expect(Kind.BLOCK_END);
            otherwise = new Nodes.Body(parseBody(Set.of("endfor")));
            endTag("endfor");
        } else {
            expect(Kind.BLOCK_END);
        }
        return new Nodes.For(targets, iter, filter, body, otherwise);
    }

    private List<String> parseTargets() {
        List<String> targets = new ArrayList<>();
        boolean paren = peek().isOp("(");
        if (paren) {
            next();
        }
        targets.add(expect(Kind.NAME).text());
        while (peek().isOp(",")) {
            next();
            if (peek().kind() != Kind.NAME) {
                break;
            }
            targets.add(expect(Kind.NAME).text());
        }
        if (paren) {
            expectOp(")");
        }
        return targets;
    }

    private Stmt parseSet() {
        String first = expect(Kind.NAME).text();
        if (peek().isOp(".")) {
            next();
            String attr = expect(Kind.NAME).text();
            expectOp("=");
            Expr value = parseTuple(true);
            expect(Kind.BLOCK_END);
            return new Nodes.SetAttr(first, attr, value);
        }
        List<String> targets = new ArrayList<>(List.of(first));
        while (peek().isOp(",")) {
            next();
            targets.add(expect(Kind.NAME).text());
        }
        if (peek().isOp("=")) {
            next();
            Expr value = parseTuple(true);
            expect(Kind.BLOCK_END);
            return new Nodes.Set(targets, value);
        }
        if (targets.size() != 1) {
            throw error("block set takes a single name");
        }
        List<String[]> filters = new ArrayList<>();
        while (peek().isOp("|")) {
            next();
            filters.add(new String[] {expect(Kind.NAME).text()});
        }
        expect(Kind.BLOCK_END);
        Stmt body = new Nodes.Body(parseBody(Set.of("endset")));
        endTag("endset");
        if (filters.isEmpty()) {
            return new Nodes.SetBlock(first, body);
        }
        return (s, out) -> {
            StringBuilder sb = new StringBuilder();
            body.render(s, sb);
            Object v = sb.toString();
            for (String[] f : filters) {
                v = Runtime.filter(f[0], v, List.of(), Map.of(), s);
            }
            s.set(first, v);
        };
    }

    private Stmt parseMacro() {
        String name = expect(Kind.NAME).text();
        List<String> params = new ArrayList<>();
        List<Expr> defaults = new ArrayList<>();
        parseParams(params, defaults);
        expect(Kind.BLOCK_END);
        Stmt body = new Nodes.Body(parseBody(Set.of("endmacro")));
        endTag("endmacro");
        return new Nodes.Macro(name, params, defaults, body);
    }

    private void parseParams(List<String> params, List<Expr> defaults) {
        expectOp("(");
        while (!peek().isOp(")")) {
            params.add(expect(Kind.NAME).text());
            if (peek().isOp("=")) {
                next();
                defaults.add(parseExpression(true));
            } else {
                defaults.add(null);
            }
            if (!peek().isOp(")")) {
                expectOp(",");
            }
        }
        next();
    }

    private Stmt parseCallBlock() {
        if (peek().isOp("(")) {
            parseParams(new ArrayList<>(), new ArrayList<>()); // caller parameters: not supported beyond parsing
        }
        Expr call = parseExpression(true);
        if (!(call instanceof Nodes.Call c)) {
            throw error("expected a call in call block");
        }
        expect(Kind.BLOCK_END);
        Stmt body = new Nodes.Body(parseBody(Set.of("endcall")));
        endTag("endcall");
        return new Nodes.CallBlock(c, body);
    }

    // ---------------------------------------------------------------- expressions

    /** An expression, or a tuple of them separated by commas (a list at runtime). */
    private Expr parseTuple(boolean withCond) {
        Expr first = parseExpression(withCond);
        if (!peek().isOp(",")) {
            return first;
        }
        List<Expr> items = new ArrayList<>(List.of(first));
        while (peek().isOp(",")) {
            next();
            if (atExpressionEnd()) {
                break;
            }
            items.add(parseExpression(withCond));
        }
        return new Nodes.ListLit(items, true);
    }

    private boolean atExpressionEnd() {
        Token t = peek();
        return t.kind() == Kind.VAR_END || t.kind() == Kind.BLOCK_END || t.isOp(")") || t.isOp("]")
                || t.isOp("}") || t.isName("in") || t.isName("if");
    }

    private Expr parseExpression(boolean withCond) {
        Expr e = parseOr();
        if (withCond) {
            while (peek().isName("if")) {
                next();
                Expr cond = parseOr();
                Expr otherwise = null;
                if (peek().isName("else")) {
                    next();
                    otherwise = parseExpression(true);
                }
                e = new Nodes.CondExpr(cond, e, otherwise);
            }
        }
        return e;
    }

    private Expr parseOr() {
        Expr e = parseAnd();
        while (peek().isName("or")) {
            next();
            e = new Nodes.Or(e, parseAnd());
        }
        return e;
    }

    private Expr parseAnd() {
        Expr e = parseNot();
        while (peek().isName("and")) {
            next();
            e = new Nodes.And(e, parseNot());
        }
        return e;
    }

    private Expr parseNot() {
        if (peek().isName("not")) {
            next();
            return new Nodes.Not(parseNot());
        }
        return parseCompare();
    }

    private static final Set<String> COMPARE_OPS = Set.of("==", "!=", "<", "<=", ">", ">=");

    private Expr parseCompare() {
        Expr first = parseMath1();
        List<String> ops = new ArrayList<>();
        List<Expr> rest = new ArrayList<>();
        while (true) {
            Token t = peek();
            if (t.kind() == Kind.OP && COMPARE_OPS.contains(t.text())) {
                next();
                ops.add(t.text());
            } else if (t.isName("in")) {
                next();
                ops.add("in");
            } else if (t.isName("not") && tokens.get(i + 1).isName("in")) {
                next();
                next();
                ops.add("notin");
            } else {
                break;
            }
            rest.add(parseMath1());
        }
        return ops.isEmpty() ? first : new Nodes.Compare(first, ops, rest);
    }

    private Expr parseMath1() {
        Expr e = parseConcat();
        while (peek().isOp("+") || peek().isOp("-")) {
            String op = next().text();
            e = new Nodes.BinOp(op, e, parseConcat());
        }
        return e;
    }

    private Expr parseConcat() {
        Expr e = parseMath2();
        if (!peek().isOp("~")) {
            return e;
        }
        List<Expr> parts = new ArrayList<>(List.of(e));
        while (peek().isOp("~")) {
            next();
            parts.add(parseMath2());
        }
        return new Nodes.Concat(parts);
    }

    private Expr parseMath2() {
        Expr e = parsePow();
        while (peek().isOp("*") || peek().isOp("/") || peek().isOp("//") || peek().isOp("%")) {
            String op = next().text();
            e = new Nodes.BinOp(op, e, parsePow());
        }
        return e;
    }

    private Expr parsePow() {
        Expr e = parseUnary(true);
        while (peek().isOp("**")) {
            next();
            e = new Nodes.BinOp("**", e, parseUnary(true));
        }
        return e;
    }

    private Expr parseUnary(boolean withFilter) {
        Expr e;
        if (peek().isOp("-")) {
            next();
            e = new Nodes.Neg(parseUnary(false));
        } else if (peek().isOp("+")) {
            next();
            e = parseUnary(false);
        } else {
            e = parsePostfix(parsePrimary());
        }
        return withFilter ? parseFilterExpr(e) : e;
    }

    private Expr parsePrimary() {
        Token t = next();
        switch (t.kind()) {
            case NAME:
                return switch (t.text()) {
                    case "true", "True" -> new Nodes.Literal(true);
                    case "false", "False" -> new Nodes.Literal(false);
                    case "none", "None" -> new Nodes.Literal(null);
                    default -> new Nodes.Name(t.text());
                };
            case STRING: {
                StringBuilder sb = new StringBuilder((String) t.value());
                while (peek().kind() == Kind.STRING) {
                    sb.append((String) next().value());
                }
                return new Nodes.Literal(sb.toString());
            }
            case INT:
            case FLOAT:
                return new Nodes.Literal(t.value());
            case OP:
                switch (t.text()) {
                    case "(": {
                        if (peek().isOp(")")) {
                            next();
                            return new Nodes.ListLit(List.of(), true);
                        }
                        Expr e = parseTuple(true);
                        expectOp(")");
                        return e;
                    }
                    case "[": {
                        List<Expr> items = new ArrayList<>();
                        while (!peek().isOp("]")) {
                            items.add(parseExpression(true));
                            if (!peek().isOp("]")) {
                                expectOp(",");
                            }
                        }
                        next();
                        return new Nodes.ListLit(items);
                    }
                    case "{": {
                        List<Expr> keys = new ArrayList<>();
                        List<Expr> values = new ArrayList<>();
                        while (!peek().isOp("}")) {
                            keys.add(parseExpression(true));
                            expectOp(":");
                            values.add(parseExpression(true));
                            if (!peek().isOp("}")) {
                                expectOp(",");
                            }
                        }
                        next();
                        return new Nodes.DictLit(keys, values);
                    }
                    default:
                        break;
                }
                break;
            default:
                break;
        }
        throw error("unexpected '" + t.text() + "'");
    }

    private Expr parsePostfix(Expr e) {
        while (true) {
            Token t = peek();
            if (t.isOp(".")) {
                next();
                Token attr = next();
                if (attr.kind() == Kind.NAME) {
                    e = new Nodes.GetAttr(e, attr.text());
                } else if (attr.kind() == Kind.INT) {
                    e = new Nodes.GetItem(e, new Nodes.Literal(attr.value()));
                } else {
                    throw error("expected attribute name");
                }
            } else if (t.isOp("[")) {
                next();
                e = parseSubscript(e);
            } else if (t.isOp("(")) {
                next();
                List<Expr> args = new ArrayList<>();
                Map<String, Expr> kwargs = new LinkedHashMap<>();
                parseArgs(args, kwargs);
                e = new Nodes.Call(e, args, kwargs);
            } else {
                return e;
            }
        }
    }

    private Expr parseSubscript(Expr target) {
        Expr start = null;
        if (!peek().isOp(":")) {
            start = parseExpression(true);
            if (peek().isOp("]")) {
                next();
                return new Nodes.GetItem(target, start);
            }
        }
        expectOp(":");
        Expr stop = null;
        Expr step = null;
        if (!peek().isOp("]") && !peek().isOp(":")) {
            stop = parseExpression(true);
        }
        if (peek().isOp(":")) {
            next();
            if (!peek().isOp("]")) {
                step = parseExpression(true);
            }
        }
        expectOp("]");
        return new Nodes.Slice(target, start, stop, step);
    }

    /** Call arguments after '(' up to and including ')'. */
    private void parseArgs(List<Expr> args, Map<String, Expr> kwargs) {
        while (!peek().isOp(")")) {
            if (peek().kind() == Kind.NAME && tokens.get(i + 1).isOp("=")) {
                String key = next().text();
                next();
                kwargs.put(key, parseExpression(true));
            } else {
                if (!kwargs.isEmpty()) {
                    throw error("positional argument after keyword argument");
                }
                args.add(parseExpression(true));
            }
            if (!peek().isOp(")")) {
                expectOp(",");
            }
        }
        next();
    }

    private Expr parseFilterExpr(Expr e) {
        while (true) {
            if (peek().isOp("|")) {
                next();
                StringBuilder name = new StringBuilder(expect(Kind.NAME).text());
                while (peek().isOp(".")) {
                    next();
                    name.append('.').append(expect(Kind.NAME).text());
                }
                if (!Runtime.FILTERS.contains(name.toString())) {
                    throw error("no filter named '" + name + "'");
                }
                List<Expr> args = new ArrayList<>();
                Map<String, Expr> kwargs = new LinkedHashMap<>();
                if (peek().isOp("(")) {
                    next();
                    parseArgs(args, kwargs);
                }
                e = new Nodes.Filter(e, name.toString(), args, kwargs);
            } else if (peek().isName("is")) {
                next();
                boolean negated = false;
                if (peek().isName("not")) {
                    next();
                    negated = true;
                }
                Token nameTok = next();
                String name = nameTok.kind() == Kind.NAME || nameTok.kind() == Kind.OP ? nameTok.text() : null;
                if (nameTok.kind() == Kind.NAME && (name.equals("none") || name.equals("true")
                        || name.equals("false"))) {
                    name = name.toLowerCase();
                }
                if (name == null || !Runtime.TESTS.contains(name)) {
                    throw error("no test named '" + nameTok.text() + "'");
                }
                List<Expr> args = new ArrayList<>();
                if (peek().isOp("(")) {
                    next();
                    parseArgs(args, new LinkedHashMap<>());
                } else if (startsTestArgument(peek())) {
                    args.add(parsePostfix(parsePrimary()));
                }
                e = new Nodes.Test(e, name, args, negated);
            } else {
                return e;
            }
        }
    }

    private static final Set<String> NOT_ARGUMENT = Set.of("else", "or", "and", "if", "in", "is", "not");

    private static boolean startsTestArgument(Token t) {
        return switch (t.kind()) {
            case STRING, INT, FLOAT -> true;
            case NAME -> !NOT_ARGUMENT.contains(t.text());
            case OP -> t.text().equals("[") || t.text().equals("{") || t.text().equals("-");
            default -> false;
        };
    }

    // ---------------------------------------------------------------- helpers

    private Token peek() {
        return tokens.get(i);
    }

    private String peekAfterBlockBegin() {
        Token t = peek();
        return t.kind() == Kind.BLOCK_BEGIN ? tokens.get(i + 1).text() : t.text();
    }

    private Token next() {
        Token t = tokens.get(i);
        if (t.kind() != Kind.EOF) {
            i++;
        }
        return t;
    }

    private Token expect(Kind kind) {
        Token t = next();
        if (t.kind() != kind) {
            throw error("expected " + kind.name().toLowerCase().replace('_', ' ') + ", got '" + t.text() + "'");
        }
        return t;
    }

    private void expectOp(String op) {
        Token t = next();
        if (!t.isOp(op)) {
            throw error("expected '" + op + "', got '" + t.text() + "'");
        }
    }

    private TemplateException error(String msg) {
        return new TemplateException("template syntax error: " + msg + " (at token " + i + ")");
    }
}
