package dev.jvllm.tokenizer.jinja;

import dev.jvllm.tokenizer.jinja.Nodes.Stmt;
import dev.jvllm.tokenizer.jinja.Values.Callable;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * A compiled Jinja2 template, rendered with the semantics Hugging Face's chat templates rely on:
 * trim_blocks and lstrip_blocks, loop controls, {@code namespace}, Python methods on str/list/dict,
 * slicing with steps, and HF's {@code tojson}. Values are JSON-shaped Java objects (String, Long, Double,
 * Boolean, null, List, Map). Thread-safe: rendering keeps all state in its own scope.
 */
public final class Template {
    /** Loop iterations one render may run: request-supplied templates must not be able to spin forever. */
    static final long MAX_ITERATIONS = 1_000_000;
    /** Output size one render may produce (chars). */
    static final int MAX_OUTPUT = 64 << 20;

    record Env(Map<String, Object> globals, long[] iterationsLeft) {
        void countIteration(StringBuilder out) {
            if (--iterationsLeft[0] < 0) {
                throw new TemplateException("template exceeded " + MAX_ITERATIONS + " loop iterations");
            }
            if (out.length() > MAX_OUTPUT) {
                throw new TemplateException("template output exceeded " + MAX_OUTPUT + " characters");
            }
        }
    }

    private final Stmt root;

    private Template(Stmt root) {
        this.root = root;
    }

    /** Parses {@code source}; throws {@link TemplateException} on a syntax error. */
    public static Template compile(String source) {
        // Jinja2's default keep_trailing_newline=False drops one trailing newline of the source.
        if (source.endsWith("\r\n")) {
            source = source.substring(0, source.length() - 2);
        } else if (source.endsWith("\n")) {
            source = source.substring(0, source.length() - 1);
        }
        return new Template(Parser.parse(source));
    }

    /**
     * Renders with {@code variables} as the template context. {@code functions} are extra global callables
     * (e.g. {@code strftime_now}); each receives its positional arguments.
     */
    public String render(Map<String, ?> variables, Map<String, Function<List<Object>, Object>> functions) {
        Map<String, Object> globals = new HashMap<>(Runtime.builtinGlobals());
        functions.forEach((name, fn) -> globals.put(name, (Callable) (args, kw) -> fn.apply(args)));
        Scope scope = new Scope(null, new Env(globals, new long[] {MAX_ITERATIONS}));
        variables.forEach(scope::set);
        StringBuilder out = new StringBuilder();
        try {
            root.render(scope, out);
        } catch (Nodes.BreakSignal | Nodes.ContinueSignal e) {
            throw new TemplateException("break/continue outside of a loop");
        } catch (StackOverflowError e) {
            throw new TemplateException("template recursion too deep");
        } catch (TemplateException e) {
            throw e;
        } catch (RuntimeException e) {
            // a value of the wrong type reached an operation (Python would raise TypeError)
            throw new TemplateException("template error: " + e);
        }
        return out.toString();
    }

    public String render(Map<String, ?> variables) {
        return render(variables, Map.of());
    }
}
