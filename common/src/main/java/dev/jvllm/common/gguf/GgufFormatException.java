package dev.jvllm.common.gguf;

/** A GGUF file that cannot be read: the message names the file and what is wrong with it. */
public class GgufFormatException extends RuntimeException {
    public GgufFormatException(String message) {
        super(message);
    }

    public GgufFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
