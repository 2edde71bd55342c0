package dev.jvllm.scheduler;

import dev.jvllm.proto.GenerateResponse;

/** What one request's stream should receive after a step (or an abort). */
public record RequestOutput(String requestId, GenerateResponse response, boolean finished) {}
