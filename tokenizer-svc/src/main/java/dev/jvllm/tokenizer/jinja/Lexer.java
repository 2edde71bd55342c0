package dev.jvllm.tokenizer.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits a template into text and tag tokens the way Jinja2's lexer does with
 * {@code trim_blocks=True, lstrip_blocks=True} (the settings Hugging Face uses): {@code -} strips all
 * whitespace on that side, {@code +} opts out of lstrip/trim, a block tag eats the newline after it and
 * the indentation before it when nothing else is on its line.
 */
final class Lexer {
    enum Kind { TEXT, VAR_BEGIN, VAR_END, BLOCK_BEGIN, BLOCK_END, NAME, STRING, INT, FLOAT, OP, EOF }

    record Token(Kind kind, String text, Object value, int pos) {
        boolean is(Kind k, String t) {
            return kind == k && text.equals(t);
        }

        boolean isOp(String t) {
            return kind == Kind.OP && text.equals(t);
        }

        boolean isName(String t) {
            return kind == Kind.NAME && text.equals(t);
        }
    }

    private static final Pattern RAW_BEGIN = Pattern.compile("\\{%[-+]?\\s*raw\\s*[-+]?%}");
    private static final Pattern RAW_END = Pattern.compile("\\{%([-+]?)\\s*endraw\\s*([-+]?)%}");
    private static final String[] OPS = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
            "=", ".", ",", ":", "|", "(", ")", "[", "]", "{", "}"};

    private final String src;
    private final List<Token> out = new ArrayList<>();
    private int pos;

    private Lexer(String src) {
        this.src = src;
    }

    static List<Token> tokenize(String src) {
        Lexer l = new Lexer(src);
        l.run();
        return l.out;
    }

    private void run() {
        boolean stripNextLeading = false;   // previous tag ended with '-'
        boolean trimNextNewline = false;    // previous block/comment tag, trim_blocks
        while (pos < src.length()) {
            int tag = findTagStart(pos);
            int textEnd = tag < 0 ? src.length() : tag;
            String text = src.substring(pos, textEnd);
            int textStart = pos;
            if (stripNextLeading) {
                text = stripLeading(text);
            } else if (trimNextNewline) {
                if (text.startsWith("\n")) {
                    text = text.substring(1);
                    textStart++;
                } else if (text.startsWith("\r\n")) {
                    text = text.substring(2);
                    textStart += 2;
                }
            }
            stripNextLeading = false;
            trimNextNewline = false;
            if (tag < 0) {
                emitText(text);
                break;
            }
            char type = src.charAt(tag + 1);
            char modifier = tag + 2 < src.length() ? src.charAt(tag + 2) : 0;
            if (modifier == '-') {
                text = stripTrailing(text);
            } else if (modifier != '+' && (type == '%' || type == '#')) {
                text = lstripBlock(text, textStart);
            }
            // raw block: literal text until endraw
            if (type == '%') {
                Matcher raw = RAW_BEGIN.matcher(src).region(tag, src.length());
                if (raw.lookingAt()) {
                    emitText(text);
                    Matcher end = RAW_END.matcher(src);
                    if (!end.find(raw.end())) {
                        throw error(tag, "missing endraw");
                    }
                    String body = src.substring(raw.end(), end.start());
                    if (raw.group().endsWith("-%}")) {
                        body = stripLeading(body);
                    }
                    if (end.group(1).equals("-")) {
                        body = stripTrailing(body);
                    }
                    emitText(body);
                    pos = end.end();
                    stripNextLeading = end.group(2).equals("-");
                    trimNextNewline = !stripNextLeading && !end.group(2).equals("+");
                    continue;
                }
            }
            emitText(text);
            pos = tag + 2 + (modifier == '-' || modifier == '+' ? 1 : 0);
            if (type == '#') {
                int end = src.indexOf("#}", pos);
                if (end < 0) {
                    throw error(tag, "unclosed comment");
                }
                char before = src.charAt(end - 1);
                pos = end + 2;
                stripNextLeading = before == '-' && end - 1 >= tag + 2;
                trimNextNewline = !stripNextLeading && before != '+';
                continue;
            }
            boolean block = type == '%';
            out.add(new Token(block ? Kind.BLOCK_BEGIN : Kind.VAR_BEGIN, block ? "{%" : "{{", null, tag));
            char endMod = lexExpression(block ? '%' : '}');
            out.add(new Token(block ? Kind.BLOCK_END : Kind.VAR_END, block ? "%}" : "}}", null, pos));
            stripNextLeading = endMod == '-';
            trimNextNewline = block && endMod == 0;
        }
        out.add(new Token(Kind.EOF, "", null, src.length()));
    }

    private void emitText(String text) {
        if (!text.isEmpty()) {
            out.add(new Token(Kind.TEXT, text, text, pos));
        }
    }

    private int findTagStart(int from) {
        for (int i = src.indexOf('{', from); i >= 0 && i + 1 < src.length(); i = src.indexOf('{', i + 1)) {
            char c = src.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') {
                return i;
            }
        }
        return -1;
    }

    /** lstrip_blocks: drop spaces/tabs between the line start and a block tag. */
    private String lstripBlock(String text, int textStart) {
        int nl = text.lastIndexOf('\n');
        int lineStart = nl + 1;
        if (nl < 0 && !(textStart == 0 || src.charAt(textStart - 1) == '\n')) {
            return text;
        }
        for (int i = lineStart; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c != ' ' && c != '\t') {
                return text;
            }
        }
        return text.substring(0, lineStart);
    }

    private static String stripLeading(String s) {
        int i = 0;
        while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
            i++;
        }
        return s.substring(i);
    }

    private static String stripTrailing(String s) {
        int i = s.length();
        while (i > 0 && Character.isWhitespace(s.charAt(i - 1))) {
            i--;
        }
        return s.substring(0, i);
    }

    /** Lexes expression tokens up to the closing delimiter; returns the modifier before it ('-', '+' or 0). */
    private char lexExpression(char closer) {
        int depth = 0;
        while (true) {
            while (pos < src.length() && Character.isWhitespace(src.charAt(pos))) {
                pos++;
            }
            if (pos >= src.length()) {
                throw error(pos, "unexpected end of template, expected '" + closer + "}'");
            }
            if (depth == 0) {
                for (char mod : new char[] {'-', '+', 0}) {
                    String end = (mod == 0 ? "" : String.valueOf(mod)) + closer + "}";
                    if (src.startsWith(end, pos) && !(mod == '+' && closer == '}')) {
                        pos += end.length();
                        return mod;
                    }
                }
            }
            char c = src.charAt(pos);
            int start = pos;
            if (Character.isLetter(c) || c == '_') {
                while (pos < src.length() && (Character.isLetterOrDigit(src.charAt(pos)) || src.charAt(pos) == '_')) {
                    pos++;
                }
                out.add(new Token(Kind.NAME, src.substring(start, pos), null, start));
            } else if (Character.isDigit(c)) {
                lexNumber();
            } else if (c == '\'' || c == '"') {
                lexString(c);
            } else {
                String op = null;
                for (String o : OPS) {
                    if (src.startsWith(o, pos)) {
                        op = o;
                        break;
                    }
                }
                if (op == null) {
                    throw error(pos, "unexpected character '" + c + "'");
                }
                if (op.equals("(") || op.equals("[") || op.equals("{")) {
                    depth++;
                } else if (op.equals(")") || op.equals("]") || op.equals("}")) {
                    depth--;
                }
                pos += op.length();
                out.add(new Token(Kind.OP, op, null, start));
            }
        }
    }

    private void lexNumber() {
        int start = pos;
        boolean isFloat = false;
        while (pos < src.length() && (Character.isDigit(src.charAt(pos)) || src.charAt(pos) == '_')) {
            pos++;
        }
        if (pos + 1 < src.length() && src.charAt(pos) == '.' && Character.isDigit(src.charAt(pos + 1))) {
            isFloat = true;
            pos++;
            while (pos < src.length() && (Character.isDigit(src.charAt(pos)) || src.charAt(pos) == '_')) {
                pos++;
            }
        }
        if (pos < src.length() && (src.charAt(pos) == 'e' || src.charAt(pos) == 'E')) {
            int save = pos;
            pos++;
            if (pos < src.length() && (src.charAt(pos) == '+' || src.charAt(pos) == '-')) {
                pos++;
            }
            if (pos < src.length() && Character.isDigit(src.charAt(pos))) {
                isFloat = true;
                while (pos < src.length() && Character.isDigit(src.charAt(pos))) {
                    pos++;
                }
            } else {
                pos = save;
            }
        }
        String text = src.substring(start, pos).replace("_", "");
        out.add(isFloat ? new Token(Kind.FLOAT, text, Double.parseDouble(text), start)
                : new Token(Kind.INT, text, Long.parseLong(text), start));
    }

    private void lexString(char quote) {
        int start = pos++;
        StringBuilder sb = new StringBuilder();
        while (true) {
            if (pos >= src.length()) {
                throw error(start, "unterminated string");
            }
            char c = src.charAt(pos++);
            if (c == quote) {
                break;
            }
            if (c != '\\') {
                sb.append(c);
                continue;
            }
            char e = src.charAt(pos++);
            switch (e) {
                case 'n' -> sb.append('\n');
                case 't' -> sb.append('\t');
                case 'r' -> sb.append('\r');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'v' -> sb.append('\u000b');
                case 'a' -> sb.append('\u0007');
                case '0' -> sb.append('\0');
                case '\\', '\'', '"' -> sb.append(e);
                case '\n' -> { }
                case 'x' -> {
                    sb.append((char) Integer.parseInt(src.substring(pos, pos + 2), 16));
                    pos += 2;
                }
                case 'u' -> {
                    sb.append((char) Integer.parseInt(src.substring(pos, pos + 4), 16));
                    pos += 4;
                }
                case 'U' -> {
                    sb.appendCodePoint(Integer.parseInt(src.substring(pos, pos + 8), 16));
                    pos += 8;
                }
                default -> sb.append('\\').append(e);
            }
        }
        out.add(new Token(Kind.STRING, src.substring(start, pos), sb.toString(), start));
    }

    private TemplateException error(int at, String msg) {
        int line = 1;
        for (int i = 0; i < at && i < src.length(); i++) {
            if (src.charAt(i) == '\n') {
                line++;
            }
        }
        return new TemplateException("template syntax error at line " + line + ": " + msg);
    }
}
