package dev.jvllm.tokenizer.jinja;

import dev.jvllm.tokenizer.jinja.Values.Undefined;

import java.util.HashMap;
import java.util.Map;

/** Variable frame: the template's top level, a for-loop iteration, or a macro call. */
final class Scope {
    private Map<String, Object> vars; // allocated on first set: most loop iterations only bind the loop target
    private final Scope parent;
    final Template.Env env;

    Scope(Scope parent, Template.Env env) {
        this.parent = parent;
        this.env = env;
    }

    Scope child() {
        return new Scope(this, env);
    }

    Scope root() {
        Scope s = this;
        while (s.parent != null) {
            s = s.parent;
        }
        return s;
    }

    Object lookup(String name) {
        for (Scope s = this; s != null; s = s.parent) {
            if (s.vars != null && s.vars.containsKey(name)) {
                return s.vars.get(name);
            }
        }
        if (env.globals().containsKey(name)) {
            return env.globals().get(name);
        }
        return new Undefined(name);
    }

    void set(String name, Object value) {
        if (vars == null) {
            vars = new HashMap<>(4);
        }
        vars.put(name, value);
    }
}
