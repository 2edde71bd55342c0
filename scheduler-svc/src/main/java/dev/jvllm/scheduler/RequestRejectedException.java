package dev.jvllm.scheduler;

/** Admission refused. The shell maps {@link Reason} to the gRPC status of the same name. */
public final class RequestRejectedException extends Exception {
    public enum Reason { INVALID_ARGUMENT, ALREADY_EXISTS, RESOURCE_EXHAUSTED }

    private final Reason reason;

    public RequestRejectedException(Reason reason, String message) {
        super(message, null, false, false);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
