package dev.jvllm.worker.sampling;

import dev.jvllm.proto.TokenLogprobs;
import dev.jvllm.proto.TopLogprob;

/** Log-probabilities of a token under a row of logits: its value, its rank and the top-N alternatives. */
public final class Logprobs {
    private Logprobs() {}

    /** log(sum(exp(logits))) over [off, off + n), computed in double. */
    public static double logSumExp(float[] logits, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, logits[off + i]);
        }
        if (max == Float.NEGATIVE_INFINITY) {
            return Double.NEGATIVE_INFINITY;
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Math.exp(logits[off + i] - max);
        }
        return max + Math.log(sum);
    }

    /**
     * Logprob of {@code tokenId}, its 1-based rank (1 + tokens with a strictly larger logit) and the
     * {@code topN} most likely tokens (ties: lower id first).
     */
    public static TokenLogprobs of(float[] logits, int off, int n, int tokenId, int topN) {
        double lse = logSumExp(logits, off, n);
        float chosen = logits[off + tokenId];
        int rank = 1;
        for (int i = 0; i < n; i++) {
            if (logits[off + i] > chosen) {
                rank++;
            }
        }
        TokenLogprobs.Builder b = TokenLogprobs.newBuilder()
                .setTokenId(tokenId).setLogprob((float) (chosen - lse)).setRank(rank);
        int k = Math.min(topN, n);
        if (k > 0) {
            int[] best = new int[k];
            int filled = 0;
            for (int i = 0; i < n; i++) {
                float li = logits[off + i];
                if (filled == k && li <= logits[off + best[k - 1]]) {
                    continue;
                }
                int pos = filled < k ? filled++ : k - 1;
                while (pos > 0 && logits[off + best[pos - 1]] < li) {
                    best[pos] = best[pos - 1];
                    pos--;
                }
                best[pos] = i;
            }
            for (int r = 0; r < filled; r++) {
                b.addTop(TopLogprob.newBuilder().setTokenId(best[r])
                        .setLogprob((float) (logits[off + best[r]] - lse)).setRank(r + 1));
            }
        }
        return b.build();
    }
}
