package dev.jvllm.worker.pjrt;

/** A PJRT call failed: the plugin's message and its absl status code (PJRT_Error_Code), or a loading problem. */
public final class PjrtException extends RuntimeException {
    private final int code;

    public PjrtException(String message, int code) {
        super(message);
        this.code = code;
    }

    public PjrtException(String message) { this(message, 0); }

    /** PJRT_Error_Code (3 = INVALID_ARGUMENT, 8 = RESOURCE_EXHAUSTED, 12 = UNIMPLEMENTED, ...), 0 when not from the plugin. */
    public int code() { return code; }
}
