package dev.jvllm.worker.sampling;

import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.SeqSampling;

import java.util.Arrays;

/**
 * What the worker remembers about a running sequence: its sampling parameters and the tokens it
 * has seen at each position (prompt, then output), for penalties, bad words and min_tokens.
 * A restarted sequence's cached prefix comes from {@code prefix_token_ids}; positions the worker
 * was never told about hold -1 and are skipped by penalties.
 */
public final class SequenceState {
    private final SamplingParams params;
    private final int numPromptTokens;
    private final int[] stopIds;
    private final Long seed;
    private int[] tokens = new int[64];
    private int length;

    public SequenceState(SeqSampling s) {
        this.params = s.getParams();
        this.numPromptTokens = s.getNumPromptTokens();
        this.stopIds = s.getStopIdsList().stream().mapToInt(Integer::intValue).toArray();
        if (s.hasSeed()) {
            this.seed = s.getSeed();
        } else if (params.hasSeed()) {
            this.seed = params.getSeed();
        } else {
            this.seed = null;
        }
        if (s.getPrefixTokenIdsCount() > 0) {
            feed(0, s.getPrefixTokenIdsList().stream().mapToInt(Integer::intValue).toArray());
        }
    }

    public SamplingParams params() {
        return params;
    }

    public int numPromptTokens() {
        return numPromptTokens;
    }

    public int[] stopIds() {
        return stopIds;
    }

    /** Null when the sequence draws from the worker's shared RNG. */
    public Long seed() {
        return seed;
    }

    /** Records the tokens fed at positions [startPos, startPos + ids.length). */
    public void feed(int startPos, int[] ids) {
        int end = startPos + ids.length;
        if (tokens.length < end) {
            tokens = Arrays.copyOf(tokens, Math.max(end, tokens.length * 2));
        }
        if (startPos > length) {
            Arrays.fill(tokens, length, startPos, -1);
        }
        System.arraycopy(ids, 0, tokens, startPos, ids.length);
        length = end;
    }

    /** Number of positions seen so far; the next sampled token goes at this position. */
    public int length() {
        return length;
    }

    public int tokenAt(int position) {
        return tokens[position];
    }

    /** Index (0-based) of the next output token: also the key of its seeded random draw. */
    public int nextOutputIndex() {
        return Math.max(0, length - numPromptTokens);
    }
}
