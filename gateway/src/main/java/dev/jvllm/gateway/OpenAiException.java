package dev.jvllm.gateway;

import io.netty.handler.codec.http.HttpResponseStatus;

/** A request failure with everything the OpenAI error object needs. */
public final class OpenAiException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient HttpResponseStatus status;
    private final String type;
    private final String param;
    /** Seconds for a Retry-After header, or -1. */
    private final int retryAfterSeconds;

    public OpenAiException(HttpResponseStatus status, String type, String message, String param, int retryAfterSeconds) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public static OpenAiException badRequest(String message, String param) {
        return new OpenAiException(HttpResponseStatus.BAD_REQUEST, "BadRequestError", message, param, -1);
    }

    public static OpenAiException notFound(String message, String param) {
        return new OpenAiException(HttpResponseStatus.NOT_FOUND, "NotFoundError", message, param, -1);
    }

    public HttpResponseStatus status() { return status; }
    public String type() { return type; }
    public String param() { return param; }
    public int retryAfterSeconds() { return retryAfterSeconds; }
}
