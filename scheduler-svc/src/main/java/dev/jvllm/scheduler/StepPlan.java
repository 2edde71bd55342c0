package dev.jvllm.scheduler;

import dev.jvllm.proto.StepRequest;

import java.util.List;

/**
 * One step decided by {@link Scheduler#schedule()}: the request to send to the worker, plus what the
 * scheduler needs to interpret the answer in {@link Scheduler#update}.
 */
public final class StepPlan {
    /** One scheduled sequence: tokens [start, start + numNew) are fed this step. */
    record Entry(Sequence seq, int start, int numNew, boolean sample, boolean wantPromptLogprobs, boolean decode) {}

    private final StepRequest request;
    final List<Entry> entries;
    private final int numPrefillTokens;
    private final int numDecodeTokens;

    StepPlan(StepRequest request, List<Entry> entries, int numPrefillTokens, int numDecodeTokens) {
        this.request = request;
        this.entries = entries;
        this.numPrefillTokens = numPrefillTokens;
        this.numDecodeTokens = numDecodeTokens;
    }

    public StepRequest request() {
        return request;
    }

    public boolean isEmpty() {
        return entries.isEmpty();
    }

    public int numSeqs() {
        return entries.size();
    }

    public int numPrefillTokens() {
        return numPrefillTokens;
    }

    public int numDecodeTokens() {
        return numDecodeTokens;
    }

    public int numTokens() {
        return numPrefillTokens + numDecodeTokens;
    }
}
