package dev.jvllm.worker.pjrt;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The fallback profiler for plugins without PJRT's profiler extension: step-level spans (build inputs, execute,
 * read back) recorded between {@code delay} and {@code delay + duration} after start
 * ({@code VLLM_TPU_PROFILE_DELAY_MS} / {@code VLLM_TPU_PROFILE_DURATION_MS}) and written to
 * {@code <profile-dir>/jvllm-steps.trace.json} in the Chrome trace event format, which Perfetto and chrome://tracing open.
 */
public final class StepTraceWriter {

    private record Span(String name, long startNanos, long durationNanos, long stepId, String bucket) {}

    private final Path dir;
    private final long windowStart;
    private final long windowEnd;
    private final List<Span> spans = new ArrayList<>();
    private boolean written;

    /** @param startNanos when the worker started, on the {@link System#nanoTime()} clock */
    public StepTraceWriter(Path dir, long startNanos, long delayMillis, long durationMillis) {
        this.dir = dir;
        this.windowStart = startNanos + delayMillis * 1_000_000;
        this.windowEnd = windowStart + durationMillis * 1_000_000;
    }

    /** Records a span if it starts inside the window; writes the file once the window has passed. */
    public synchronized void span(String name, long startNanos, long endNanos, long stepId, BucketPlanner.Bucket bucket) {
        if (startNanos >= windowStart && startNanos < windowEnd) {
            spans.add(new Span(name, startNanos, endNanos - startNanos, stepId, bucket.id()));
        }
        if (endNanos >= windowEnd && !written) writeNow();
    }

    public synchronized boolean written() { return written; }

    /** Writes what was recorded so far (also called at shutdown). */
    public synchronized Path writeNow() {
        StringBuilder json = new StringBuilder("{\"traceEvents\":[\n");
        for (int i = 0; i < spans.size(); i++) {
            Span s = spans.get(i);
            json.append(String.format(Locale.ROOT,
                    "{\"name\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":1,\"tid\":1,\"args\":{\"step\":%d,\"bucket\":\"%s\"}}%s%n",
                    s.name(), (s.startNanos() - windowStart) / 1e3, s.durationNanos() / 1e3, s.stepId(), s.bucket(), i + 1 < spans.size() ? "," : ""));
        }
        json.append("],\"displayTimeUnit\":\"ms\"}\n");
        try {
            Files.createDirectories(dir);
            Path target = dir.resolve("jvllm-steps.trace.json");
            Path tmp = Files.createTempFile(dir, "jvllm-steps", ".tmp");
            Files.writeString(tmp, json, StandardCharsets.UTF_8);
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            written = true;
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write profile to " + dir, e);
        }
    }
}
