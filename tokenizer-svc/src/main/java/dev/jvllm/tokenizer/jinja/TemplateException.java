package dev.jvllm.tokenizer.jinja;

/** A template that cannot be parsed or that fails while rendering (including {@code raise_exception}). */
public final class TemplateException extends RuntimeException {
    public TemplateException(String message) {
        super(message);
    }
}
