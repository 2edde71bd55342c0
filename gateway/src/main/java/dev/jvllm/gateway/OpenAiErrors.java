package dev.jvllm.gateway;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.netty.handler.codec.http.HttpResponseStatus;

import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** The OpenAI error object, and the mapping from gRPC failures of the tokenizer/engine to HTTP. */
public final class OpenAiErrors {
    private OpenAiErrors() {}

    /** {"error": {"message", "type", "param", "code"}} as vLLM writes it (code = HTTP status). */
    public static ObjectNode body(OpenAiException e) {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ObjectNode err = root.putObject("error");
        err.put("message", e.getMessage());
        err.put("type", e.type());
        if (e.param() == null) err.putNull("param"); else err.put("param", e.param());
        err.put("code", e.status().code());
        return root;
    }

    /** Maps anything thrown while serving a request to an OpenAI error. */
    public static OpenAiException from(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof OpenAiException e) return e;
        Status status = null;
        if (t instanceof StatusRuntimeException sre) status = sre.getStatus();
        else if (t instanceof StatusException se) status = se.getStatus();
        if (status != null) return fromStatus(status);
        String msg = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        return new OpenAiException(HttpResponseStatus.INTERNAL_SERVER_ERROR, "InternalServerError", msg, null, -1);
    }

    static OpenAiException fromStatus(Status status) {
        String desc = status.getDescription();
        String msg = desc == null || desc.isEmpty() ? status.getCode().name() : desc;
        return switch (status.getCode()) {
            case INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE -> OpenAiException.badRequest(msg, null);
            case NOT_FOUND -> OpenAiException.notFound(msg, null);
            case RESOURCE_EXHAUSTED -> new OpenAiException(HttpResponseStatus.SERVICE_UNAVAILABLE,
                    "ServiceUnavailableError", "The server is overloaded: " + msg, null, 1);
            case UNAVAILABLE -> new OpenAiException(HttpResponseStatus.SERVICE_UNAVAILABLE,
                    "ServiceUnavailableError", "The engine is unavailable: " + msg, null, 5);
            case DEADLINE_EXCEEDED -> new OpenAiException(HttpResponseStatus.GATEWAY_TIMEOUT,
                    "GatewayTimeoutError", "Deadline exceeded: " + msg, null, -1);
            case UNIMPLEMENTED -> new OpenAiException(HttpResponseStatus.NOT_IMPLEMENTED,
                    "NotImplementedError", msg, null, -1);
            default -> new OpenAiException(HttpResponseStatus.INTERNAL_SERVER_ERROR,
                    "InternalServerError", msg, null, -1);
        };
    }
}
