package dev.jvllm.common.hub;

import java.io.IOException;

/** A model could not be resolved; the message says why in plain words and never contains the token. */
public final class HubException extends IOException {
    public enum Reason {
        /** Not a local path and not a valid hub id. */
        INVALID_MODEL,
        UNAUTHORIZED,
        GATED,
        NOT_FOUND,
        /** The hub could not be reached (and the cache could not stand in). */
        NETWORK,
        /** HF_HUB_OFFLINE is set and the cache lacks the model or some of its files. */
        NOT_IN_CACHE,
        /** The repo has no weights this project loads. */
        NO_WEIGHTS,
        /** A downloaded file did not match its size or checksum. */
        CORRUPT,
        /** The hub answered something else unexpected. */
        HUB_ERROR,
        /** The local cache could not be written. */
        CACHE_IO,
        INTERRUPTED
    }

    private final Reason reason;

    public HubException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public HubException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
