package dev.jvllm.worker.sampling;

import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.TokenIds;
import dev.jvllm.proto.TokenLogprobs;

import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Picks a sequence's next token from its logits, in vLLM's order: logit_bias, allowed_token_ids,
 * bad_words_ids, min_tokens, repetition / presence / frequency penalties; then temperature
 * (0: greedy, ties to the lowest id), top_k, min_p, top_p and a random draw.
 *
 * <p>Logprobs are those of the processed distribution (after bias, masks and penalties) before
 * temperature and top-k/top-p/min-p filtering, so they do not depend on the sampling temperature.
 *
 * <p>A seeded sequence's k-th output draws {@code u = f(seed, k)}: the same seed gives the same
 * tokens whatever else is in the batch, and after a preemption recomputes the sequence.
 * One Sampler is used by one thread at a time (it owns scratch buffers).
 */
public final class Sampler {
    private final int vocab;
    private final SplittableRandom workerRng;
    private final float[] work;
    private final int[] seenStamp;
    private final int[] outputCount;
    private final long[] sortKeys;
    private final double[] probs;
    private int stamp;

    public record Result(int tokenId, TokenLogprobs logprobs) {}

    public Sampler(int vocab, long workerSeed) {
        this.vocab = vocab;
        this.workerRng = new SplittableRandom(workerSeed);
        this.work = new float[vocab];
        this.seenStamp = new int[vocab];
        this.outputCount = new int[vocab];
        this.sortKeys = new long[vocab];
        this.probs = new double[vocab];
    }

    /** Samples from {@code logits[off, off + vocab)} (left unchanged) for sequence {@code s}. */
    public Result sample(float[] logits, int off, SequenceState s) {
        float[] l = work;
        System.arraycopy(logits, off, l, 0, vocab);
        SamplingParams p = s.params();
        applyLogitBias(l, p);
        applyAllowedTokens(l, p);
        applyBadWords(l, p, s);
        applyMinTokens(l, p, s);
        applyPenalties(l, p, s);
        double temperature = p.hasTemperature() ? p.getTemperature() : 1.0;
        int token = temperature < 1e-5 ? argmax(l) : draw(l, p, temperature, uniform(s));
        TokenLogprobs lp = null;
        if (p.hasLogprobs()) {
            // draw() and argmax() leave l as processed, before temperature.
            lp = Logprobs.of(l, 0, vocab, token, p.getLogprobs());
        }
        return new Result(token, lp);
    }

    private double uniform(SequenceState s) {
        if (s.seed() == null) {
            return workerRng.nextDouble();
        }
        long k = s.nextOutputIndex();
        return new SplittableRandom(s.seed() * 0x9E3779B97F4A7C15L + k * 0xC2B2AE3D27D4EB4FL + k).nextDouble();
    }

    private static void applyLogitBias(float[] l, SamplingParams p) {
        for (Map.Entry<Integer, Float> e : p.getLogitBiasMap().entrySet()) {
            l[e.getKey()] += e.getValue();
        }
    }

    private void applyAllowedTokens(float[] l, SamplingParams p) {
        if (p.getAllowedTokenIdsCount() == 0) {
            return;
        }
        int mark = ++stamp;
        for (int i = 0; i < p.getAllowedTokenIdsCount(); i++) {
            seenStamp[p.getAllowedTokenIds(i)] = mark;
        }
        for (int i = 0; i < vocab; i++) {
            if (seenStamp[i] != mark) {
                l[i] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    /** Bans a bad word's last token when the output ends with the word's other tokens. */
    private static void applyBadWords(float[] l, SamplingParams p, SequenceState s) {
        int outStart = s.numPromptTokens(), outLen = Math.max(0, s.length() - outStart);
        for (TokenIds word : p.getBadWordsIdsList()) {
            int n = word.getIdsCount();
            if (n == 0) {
                continue;
            }
            int prefix = n - 1;
            boolean match = prefix <= outLen;
            for (int i = 0; match && i < prefix; i++) {
                match = s.tokenAt(s.length() - prefix + i) == word.getIds(i);
            }
            if (match) {
                l[word.getIds(n - 1)] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    private static void applyMinTokens(float[] l, SamplingParams p, SequenceState s) {
        if (s.nextOutputIndex() < p.getMinTokens()) {
            for (int id : s.stopIds()) {
                l[id] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    private void applyPenalties(float[] l, SamplingParams p, SequenceState s) {
        float rep = p.hasRepetitionPenalty() ? p.getRepetitionPenalty() : 1f;
        if (rep != 1f) {
            int mark = ++stamp;
            for (int pos = 0; pos < s.length(); pos++) {
                int id = s.tokenAt(pos);
                if (id >= 0 && seenStamp[id] != mark) {
                    seenStamp[id] = mark;
                    l[id] = l[id] > 0 ? l[id] / rep : l[id] * rep;
                }
            }
        }
        float presence = p.getPresencePenalty(), frequency = p.getFrequencyPenalty();
        if (presence != 0f || frequency != 0f) {
            int from = Math.min(s.numPromptTokens(), s.length());
            for (int pos = from; pos < s.length(); pos++) {
                int id = s.tokenAt(pos);
                if (id >= 0) {
                    outputCount[id]++;
                }
            }
            for (int pos = from; pos < s.length(); pos++) {
                int id = s.tokenAt(pos);
                if (id >= 0 && outputCount[id] > 0) {
                    l[id] -= frequency * outputCount[id] + presence;
                    outputCount[id] = 0;
                }
            }
        }
    }

    /** Highest logit; ties go to the lowest id. */
    static int argmax(float[] l) {
        int best = 0;
        for (int i = 1; i < l.length; i++) {
            if (l[i] > l[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * Moves the k smallest of {@code keys[0, n)} into {@code keys[0, k)} (in no order) with a max-heap
     * of size k: O(n log k) instead of sorting the whole vocabulary when top_k is set.
     */
    static void keepSmallest(long[] keys, int n, int k) {
        for (int i = k / 2 - 1; i >= 0; i--) {
            siftDown(keys, i, k);
        }
        for (int i = k; i < n; i++) {
            if (keys[i] < keys[0]) {
                keys[0] = keys[i];
                siftDown(keys, 0, k);
            }
        }
    }

    private static void siftDown(long[] heap, int i, int size) {
        long v = heap[i];
        while (true) {
            int c = 2 * i + 1;
            if (c >= size) {
                break;
            }
            if (c + 1 < size && heap[c + 1] > heap[c]) {
                c++;
            }
            if (heap[c] <= v) {
                break;
            }
            heap[i] = heap[c];
            i = c;
        }
        heap[i] = v;
    }

    /**
     * Draws with probability proportional to exp(l / temperature) among the tokens that survive
     * top_k, min_p and top_p. Candidates are visited from most to least likely (ties: lower id).
     */
    private int draw(float[] l, SamplingParams p, double temperature, double u) {
        int n = 0;
        for (int i = 0; i < vocab; i++) {
            if (l[i] != Float.NEGATIVE_INFINITY) {
                // Sort key: descending logit, then ascending id. Flipping the float bits makes them order as signed longs.
                int bits = Float.floatToIntBits(l[i]);
                int ordered = bits >= 0 ? bits : bits ^ 0x7FFFFFFF;
                sortKeys[n++] = ((long) ~ordered << 32) | i;
            }
        }
        if (n == 0) {
            return argmax(l);
        }
        int topK = p.getTopK() > 0 ? Math.min(p.getTopK(), n) : n;
        if (topK < n) {
            keepSmallest(sortKeys, n, topK);
        }
        Arrays.sort(sortKeys, 0, topK);
        float max = l[(int) sortKeys[0]];
        for (int r = 0; r < topK; r++) {
            probs[r] = Math.exp((l[(int) sortKeys[r]] - max) / temperature);
        }
        int kept = topK;
        // min_p compares with the most likely token, so it commutes with top_k; top_p then sees
        // the distribution renormalised over what min_p kept (vLLM's order).
        if (p.getMinP() > 0) {
            double threshold = p.getMinP() * probs[0];
            int r = 1;
            while (r < kept && probs[r] >= threshold) {
                r++;
            }
            kept = r;
        }
        double topP = p.hasTopP() ? p.getTopP() : 1.0;
        if (topP < 1.0) {
            double keptMass = 0;
            for (int r = 0; r < kept; r++) {
                keptMass += probs[r];
            }
            double cumulative = 0;
            for (int r = 0; r < kept; r++) {
                cumulative += probs[r] / keptMass;
                if (cumulative >= topP) {
                    kept = r + 1;
                    break;
                }
            }
        }
        double mass = 0;
        for (int r = 0; r < kept; r++) {
            mass += probs[r];
        }
        double target = u * mass;
        double acc = 0;
        for (int r = 0; r < kept; r++) {
            acc += probs[r];
            if (target < acc) {
                return (int) sortKeys[r];
            }
        }
        return (int) sortKeys[kept - 1];
    }
}
