package dev.jvllm.worker.cpu;

import java.util.List;

/**
 * What one forward step computes: for each sequence a run of tokens at consecutive positions
 * starting at {@code startPos}, with the block table covering positions [0, startPos + tokens).
 * {@code logitRows} are indices into the step's concatenated tokens whose logits are wanted.
 */
public record StepInput(List<SeqChunk> seqs, int[] logitRows) {

    public record SeqChunk(int[] tokenIds, int startPos, int[] blockTable) {}

    public int numTokens() {
        int n = 0;
        for (SeqChunk s : seqs) {
            n += s.tokenIds().length;
        }
        return n;
    }
}
