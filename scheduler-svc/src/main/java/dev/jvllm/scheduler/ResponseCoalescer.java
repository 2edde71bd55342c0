package dev.jvllm.scheduler;

import dev.jvllm.proto.CompletionOutput;
import dev.jvllm.proto.GenerateResponse;

/** Folds a later GenerateResponse into an unsent earlier one, so a slow client gets one message, not a backlog. */
final class ResponseCoalescer {
    private ResponseCoalescer() {}

    static void merge(GenerateResponse.Builder acc, GenerateResponse next) {
        for (CompletionOutput o : next.getOutputsList()) {
            int at = -1;
            for (int i = 0; i < acc.getOutputsCount(); i++) if (acc.getOutputs(i).getIndex() == o.getIndex()) at = i;
            if (at < 0) {
                acc.addOutputs(o);
                continue;
            }
            CompletionOutput.Builder c = acc.getOutputs(at).toBuilder()
                    .addAllTokenIds(o.getTokenIdsList())
                    .addAllLogprobs(o.getLogprobsList())
                    .setFinishReason(o.getFinishReason())
                    .setNumGeneratedTokens(o.getNumGeneratedTokens());
            if (o.hasStopTokenId()) c.setStopTokenId(o.getStopTokenId());
            acc.setOutputs(at, c);
        }
        acc.addAllPromptLogprobs(next.getPromptLogprobsList());
        if (next.hasUsage()) acc.setUsage(next.getUsage());
        if (next.getQueuedSeconds() != 0) acc.setQueuedSeconds(next.getQueuedSeconds());
        if (next.getFirstTokenSeconds() != 0) acc.setFirstTokenSeconds(next.getFirstTokenSeconds());
        acc.setFinished(acc.getFinished() || next.getFinished());
    }
}
