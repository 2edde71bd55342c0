package dev.jvllm.scheduler;

import dev.jvllm.proto.FinishReason;
import dev.jvllm.proto.TokenLogprobs;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** One of a request's n output streams: prompt + generated tokens, progress and KV blocks. */
final class Sequence {
    enum Status { WAITING, RUNNING, FINISHED }

    final long seqId;
    final EngineRequest request;
    final int index;
    final Long seed;
    private int[] tokens;
    private int numTokens;
    final int numPromptTokens;
    /** Tokens whose KV is in the cache (computed by the worker or hit in the prefix cache). */
    int numComputed;
    Status status = Status.WAITING;
    final List<KvBlock> blockTable = new ArrayList<>();
    /** Hashes of the full blocks of {@link #tokens}, computed lazily; survive preemption. */
    final List<BlockHash> blockHashes = new ArrayList<>();
    /** Leading table entries already registered in (or taken from) the prefix cache. */
    int numRegisteredBlocks;
    /** The worker has no state for this sequence: the next step must carry new_seq. */
    boolean needsNewSeq = true;

    // Delta since the last response for this sequence.
    final List<Integer> pendingTokens = new ArrayList<>();
    final List<TokenLogprobs> pendingLogprobs = new ArrayList<>();
    FinishReason finishReason = FinishReason.FINISH_REASON_UNSPECIFIED;
    Integer stopTokenId;
    boolean finishReported;

    Sequence(long seqId, EngineRequest request, int index, Long seed, int[] prompt, int capacity) {
        this.seqId = seqId;
        this.request = request;
        this.index = index;
        this.seed = seed;
        this.tokens = Arrays.copyOf(prompt, Math.max(prompt.length + 1, Math.min(capacity, prompt.length + 64)));
        this.numTokens = prompt.length;
        this.numPromptTokens = prompt.length;
    }

    int numTokens() {
        return numTokens;
    }

    int numOutputs() {
        return numTokens - numPromptTokens;
    }

    int token(int pos) {
        return tokens[pos];
    }

    int[] tokensArray() {
        return tokens; // valid up to numTokens
    }

    void append(int token) {
        if (numTokens == tokens.length) tokens = Arrays.copyOf(tokens, tokens.length * 2);
        tokens[numTokens++] = token;
    }

    boolean isFinished() {
        return status == Status.FINISHED;
    }

    @Override
    public String toString() {
        return "Seq[" + request.id + "#" + index + " id=" + seqId + " " + status + " tokens=" + numTokens
                + " computed=" + numComputed + " blocks=" + blockTable.size() + "]";
    }
}
