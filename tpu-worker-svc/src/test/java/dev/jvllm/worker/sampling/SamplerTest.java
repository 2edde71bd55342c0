package dev.jvllm.worker.sampling;

import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.SeqSampling;
import dev.jvllm.proto.TokenIds;
import dev.jvllm.proto.TokenLogprobs;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {
    static final int V = 8;

    static SamplingParams.Builder greedy() {
        return SamplingParams.newBuilder().setTemperature(0f);
    }

    /** A sequence whose prompt is {@code prompt} and that has already produced {@code outputs}. */
    static SequenceState seq(SamplingParams.Builder p, int[] prompt, int[] outputs, int... stopIds) {
        SeqSampling.Builder s = SeqSampling.newBuilder().setParams(p).setNumPromptTokens(prompt.length);
        for (int id : stopIds) {
            s.addStopIds(id);
        }
        SequenceState state = new SequenceState(s.build());
        state.feed(0, prompt);
        state.feed(prompt.length, outputs);
        return state;
    }

    static int pick(Sampler sampler, float[] logits, SequenceState s) {
        return sampler.sample(logits, 0, s).tokenId();
    }

    @Test
    void greedyTakesTheLowestIdAmongTiedMaxima() {
        Sampler sampler = new Sampler(V, 0);
        float[] l = {0, 3, 1, 3, 0, 0, 0, 0};
        assertEquals(1, pick(sampler, l, seq(greedy(), new int[]{5}, new int[0])));
        assertNull(sampler.sample(l, 0, seq(greedy(), new int[]{5}, new int[0])).logprobs());
    }

    @Test
    void samplesFromAnOffsetRowWithoutChangingIt() {
        Sampler sampler = new Sampler(V, 0);
        float[] rows = new float[2 * V];
        rows[V + 6] = 5;
        float[] copy = rows.clone();
        assertEquals(6, sampler.sample(rows, V, seq(greedy(), new int[]{1}, new int[0])).tokenId());
        assertEquals(java.util.Arrays.toString(copy), java.util.Arrays.toString(rows));
    }

    @Test
    void logitBiasAndAllowedTokenIds() {
        Sampler sampler = new Sampler(V, 0);
        float[] l = {0, 3, 1, 2, 0, 0, 0, 0};
        assertEquals(2, pick(sampler, l, seq(greedy().putLogitBias(2, 2.5f), new int[]{0}, new int[0])));
        assertEquals(3, pick(sampler, l, seq(greedy().addAllowedTokenIds(3).addAllowedTokenIds(5), new int[]{0}, new int[0])));
    }

    @Test
    void badWordsBanTheLastTokenOnlyWhenTheOutputEndsWithTheRest() {
        Sampler sampler = new Sampler(V, 0);
        float[] l = {0, 0, 0, 0, 9, 8, 0, 7};
        SamplingParams.Builder p = greedy()
                .addBadWordsIds(TokenIds.newBuilder().addIds(2).addIds(3).addIds(4))
                .addBadWordsIds(TokenIds.newBuilder().addIds(7));
        assertEquals(4, pick(sampler, l, seq(p, new int[]{1}, new int[]{3, 3})));
        assertEquals(5, pick(sampler, l, seq(p, new int[]{1}, new int[]{1, 2, 3})));
        // The prefix must be in the output, not the prompt.
        assertEquals(4, pick(sampler, l, seq(p, new int[]{2, 3}, new int[0])));
        // Single-token bad words are always banned.
        float[] l2 = {0, 0, 0, 0, 0, 0, 0, 7};
        assertEquals(0, pick(sampler, l2, seq(p, new int[]{1}, new int[0])));
    }

    @Test
    void minTokensMasksStopIdsUntilEnoughOutputs() {
        Sampler sampler = new Sampler(V, 0);
        float[] l = {0, 0, 9, 0, 0, 5, 0, 0};
        SamplingParams.Builder p = greedy().setMinTokens(2);
        assertEquals(5, pick(sampler, l, seq(p, new int[]{1, 1}, new int[]{3}, 2)));
        assertEquals(2, pick(sampler, l, seq(p, new int[]{1, 1}, new int[]{3, 4}, 2)));
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens() {
        Sampler sampler = new Sampler(V, 0);
        float[] pos = {2.0f, 1.5f, 0, 0, 0, 0, 0, 0};
        assertEquals(0, pick(sampler, pos, seq(greedy(), new int[]{3}, new int[0])));
        assertEquals(1, pick(sampler, pos, seq(greedy().setRepetitionPenalty(2f), new int[]{0}, new int[0])));
        float[] neg = {-1.0f, -1.5f, -9, -9, -9, -9, -9, -9};
        assertEquals(1, pick(sampler, neg, seq(greedy().setRepetitionPenalty(2f), new int[]{3}, new int[]{0})));
        // Logprobs reflect the penalised logits: -2 vs -1.5.
        TokenLogprobs lp = sampler.sample(neg, 0, seq(greedy().setRepetitionPenalty(2f).setLogprobs(2),
                new int[]{3}, new int[]{0})).logprobs();
        assertEquals(1, lp.getTop(0).getTokenId());
        assertEquals(0, lp.getTop(1).getTokenId());
        assertEquals(-0.5f, lp.getTop(1).getLogprob() - lp.getTop(0).getLogprob(), 1e-5f);
    }

    @Test
    void presenceAndFrequencyPenaltiesCountOnlyOutputTokens() {
        Sampler sampler = new Sampler(V, 0);
        float[] l = {3.0f, 2.5f, 2.0f, 0, 0, 0, 0, 0};
        // Token 0 is in the prompt only: no penalty.
        assertEquals(0, pick(sampler, l, seq(greedy().setPresencePenalty(1f), new int[]{0, 0}, new int[0])));
        // Token 0 once in the output: 3 - 1 = 2 < 2.5.
        assertEquals(1, pick(sampler, l, seq(greedy().setPresencePenalty(1f), new int[]{4}, new int[]{0})));
        // Frequency: token 0 twice (3 - 0.8 = 2.2), token 1 once (2.5 - 0.4 = 2.1): 0 wins; presence 0.5 more on both: 2 wins.
        assertEquals(0, pick(sampler, l, seq(greedy().setFrequencyPenalty(0.4f), new int[]{4}, new int[]{0, 1, 0})));
        assertEquals(2, pick(sampler, l, seq(greedy().setFrequencyPenalty(0.4f).setPresencePenalty(0.5f),
                new int[]{4}, new int[]{0, 1, 0})));
    }

    @Test
    void topKTopPAndMinPRestrictTheCandidates() {
        Sampler sampler = new Sampler(V, 7);
        // Probabilities ~ 0.5, 0.3, 0.2 (ln values) for tokens 5, 1, 3; the rest are masked by allowed ids.
        float[] l = new float[V];
        l[5] = (float) Math.log(0.5);
        l[1] = (float) Math.log(0.3);
        l[3] = (float) Math.log(0.2);
        SamplingParams.Builder base = SamplingParams.newBuilder().setTemperature(1f)
                .addAllowedTokenIds(5).addAllowedTokenIds(1).addAllowedTokenIds(3);
        assertEquals(List.of(5), distinctDraws(sampler, l, base.clone().setTopK(1)));
        assertEquals(List.of(1, 5), distinctDraws(sampler, l, base.clone().setTopP(0.7f)));
        assertEquals(List.of(1, 5), distinctDraws(sampler, l, base.clone().setMinP(0.5f)));
        assertEquals(List.of(1, 3, 5), distinctDraws(sampler, l, base.clone()));
        assertEquals(List.of(1, 5), distinctDraws(sampler, l, base.clone().setTopK(2)));
        // min_p 0.5 keeps 0.5 and 0.3, renormalised to 0.625 / 0.375: top_p 0.6 then keeps only the first.
        assertEquals(List.of(5), distinctDraws(sampler, l, base.clone().setMinP(0.5f).setTopP(0.6f)));
    }

    @Test
    void topKSelectionKeepsExactlyTheKSmallestSortKeys() {
        java.util.SplittableRandom rng = new java.util.SplittableRandom(5);
        for (int n : new int[]{1, 2, 7, 100, 1000}) {
            for (int k : new int[]{1, 2, 3, n / 2, n - 1}) {
                if (k < 1 || k >= n) {
                    continue;
                }
                // Few distinct high bits, so the selection also sees many near-ties.
                long[] keys = rng.longs(n, 0, 16).map(v -> (v << 32) | rng.nextInt(1 << 20)).toArray();
                long[] sorted = keys.clone();
                java.util.Arrays.sort(sorted);
                Sampler.keepSmallest(keys, n, k);
                long[] kept = java.util.Arrays.copyOf(keys, k);
                java.util.Arrays.sort(kept);
                assertEquals(java.util.Arrays.toString(java.util.Arrays.copyOf(sorted, k)),
                        java.util.Arrays.toString(kept), "n=" + n + " k=" + k);
            }
        }
    }

    private static List<Integer> distinctDraws(Sampler sampler, float[] l, SamplingParams.Builder p) {
        java.util.TreeSet<Integer> seen = new java.util.TreeSet<>();
        SequenceState s = seq(p, new int[]{0}, new int[0]);
        for (int i = 0; i < 300; i++) {
            seen.add(pick(sampler, l, s));
        }
        return new ArrayList<>(seen);
    }

    @Test
    void drawsFollowTheTemperatureScaledDistribution() {
        Sampler sampler = new Sampler(2, 11);
        float[] l = {(float) Math.log(3), 0};
        SequenceState s = seq(SamplingParams.newBuilder(), new int[]{0}, new int[0]);
        int zeros = 0, n = 4000;
        for (int i = 0; i < n; i++) {
            zeros += pick(sampler, l, s) == 0 ? 1 : 0;
        }
        assertEquals(0.75, zeros / (double) n, 0.03);
        // Temperature 0.5 squares the odds: 9:1.
        SequenceState cold = seq(SamplingParams.newBuilder().setTemperature(0.5f), new int[]{0}, new int[0]);
        zeros = 0;
        for (int i = 0; i < n; i++) {
            zeros += pick(sampler, l, cold) == 0 ? 1 : 0;
        }
        assertEquals(0.9, zeros / (double) n, 0.03);
    }

    @Test
    void seededDrawsDependOnlyOnSeedAndOutputIndex() {
        float[] l = new float[V];
        for (int i = 0; i < V; i++) {
            l[i] = i * 0.1f;
        }
        SamplingParams.Builder p = SamplingParams.newBuilder().setTemperature(1f).setSeed(1234);
        List<Integer> alone = new ArrayList<>(), busy = new ArrayList<>(), otherSeed = new ArrayList<>();
        Sampler a = new Sampler(V, 1), b = new Sampler(V, 99);
        SequenceState sa = seq(p, new int[]{0}, new int[0]), sb = seq(p, new int[]{0}, new int[0]);
        SequenceState noise = seq(SamplingParams.newBuilder().setTemperature(1f), new int[]{0}, new int[0]);
        SequenceState sc = seq(p.clone().setSeed(4321), new int[]{0}, new int[0]);
        for (int k = 0; k < 40; k++) {
            int ta = pick(a, l, sa);
            alone.add(ta);
            sa.feed(sa.length(), new int[]{ta});
            pick(b, l, noise); // other, unseeded sequences in the batch draw from the worker RNG
            int tb = pick(b, l, sb);
            busy.add(tb);
            sb.feed(sb.length(), new int[]{tb});
            int tc = pick(a, l, sc);
            otherSeed.add(tc);
            sc.feed(sc.length(), new int[]{tc});
        }
        assertEquals(alone, busy);
        assertNotEquals(alone, otherSeed);
        // Recompute after preemption: a restarted state at the same output index draws the same token.
        SequenceState restarted = seq(p, new int[]{0}, alone.subList(0, 20).stream().mapToInt(Integer::intValue).toArray());
        assertEquals(alone.get(20), pick(new Sampler(V, 5), l, restarted));
    }

    @Test
    void logprobsRankAndTopAlternatives() {
        Sampler sampler = new Sampler(V, 0);
        float[] l = {1, 4, 2, 4, 0, 0, 0, 3};
        TokenLogprobs lp = sampler.sample(l, 0, seq(greedy().setLogprobs(3), new int[]{0}, new int[0])).logprobs();
        double lse = Math.log(Math.exp(1) + 2 * Math.exp(4) + Math.exp(2) + 3 * Math.exp(0) + Math.exp(3));
        assertEquals(1, lp.getTokenId());
        assertEquals(1, lp.getRank());
        assertEquals(4 - lse, lp.getLogprob(), 1e-5);
        assertEquals(List.of(1, 3, 7), lp.getTopList().stream().map(t -> t.getTokenId()).toList());
        assertEquals(List.of(1, 2, 3), lp.getTopList().stream().map(t -> t.getRank()).toList());
        TokenLogprobs of2 = Logprobs.of(l, 0, V, 2, 0);
        assertEquals(4, of2.getRank());
        assertEquals(0, of2.getTopCount());
        assertTrue(of2.getLogprob() < 0);
    }
}
