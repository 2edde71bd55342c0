package dev.jvllm.scheduler;

import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.proto.SeqOutput;
import dev.jvllm.proto.SeqSampling;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.proto.TokenLogprobs;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A deterministic stand-in for the model executor, strict about the step contract. It keeps a paged
 * "KV cache" of (token, position) slots and reads every sequence's history back through its block table,
 * exactly like attention would: if the scheduler hands out a wrong or recycled block, or claims cached
 * positions that were never computed, the history (and so every later token) changes or the check fails.
 * The next token is a hash of the history, the derived seed and the output index, masked like the real
 * worker while fewer than min_tokens outputs exist.
 */
final class FakeModel {
    private final int vocabSize;
    private final int blockSize;
    private final int[][] kvToken;
    private final int[][] kvPos;
    private final Map<Long, SeqState> seqs = new HashMap<>();
    long stepsRun;
    long tokensFed;

    private static final class SeqState {
        final SeqSampling sampling;
        final List<Integer> history = new ArrayList<>();

        SeqState(SeqSampling sampling) {
            this.sampling = sampling;
        }
    }

    FakeModel(int vocabSize, int blockSize, int numBlocks) {
        this.vocabSize = vocabSize;
        this.blockSize = blockSize;
        this.kvToken = new int[numBlocks][blockSize];
        this.kvPos = new int[numBlocks][blockSize];
        for (int[] b : kvToken) Arrays.fill(b, -1);
        for (int[] b : kvPos) Arrays.fill(b, -1);
    }

    int numLiveSeqs() {
        return seqs.size();
    }

    StepResponse step(StepRequest req) {
        stepsRun++;
        for (long id : req.getFinishedSeqIdsList()) seqs.remove(id);
        StepResponse.Builder resp = StepResponse.newBuilder().setStepId(req.getStepId());
        Set<Long> seen = new HashSet<>();
        for (ScheduledSeq ss : req.getSeqsList()) {
            if (!seen.add(ss.getSeqId())) throw new AssertionError("seq " + ss.getSeqId() + " scheduled twice in one step");
            if (ss.getTokenIdsCount() == 0) throw new AssertionError("seq " + ss.getSeqId() + " scheduled with no tokens");
            int start = ss.getStartPos();
            int end = start + ss.getTokenIdsCount();
            if ((long) ss.getBlockTableCount() * blockSize < end)
                throw new AssertionError("block table of seq " + ss.getSeqId() + " covers " + ss.getBlockTableCount() * blockSize + " < " + end + " positions");
            Set<Integer> distinct = new HashSet<>(ss.getBlockTableList());
            if (distinct.size() != ss.getBlockTableCount()) throw new AssertionError("block table repeats a block: " + ss.getBlockTableList());
            SeqState st;
            if (ss.hasNewSeq()) {
                if (seqs.containsKey(ss.getSeqId()))
                    throw new AssertionError("new_seq for live seq " + ss.getSeqId() + " (not in finished_seq_ids)");
                st = new SeqState(ss.getNewSeq());
                for (int p = 0; p < start; p++) st.history.add(readSlot(ss, p, "prefix-cached"));
                if (!ss.getNewSeq().getPrefixTokenIdsList().equals(st.history))
                    throw new AssertionError("new_seq.prefix_token_ids of seq " + ss.getSeqId() + " must be the "
                            + start + " tokens before start_pos, as in the KV cache");
                seqs.put(ss.getSeqId(), st);
            } else {
                st = seqs.get(ss.getSeqId());
                if (st == null) throw new AssertionError("step for unknown seq " + ss.getSeqId() + " without new_seq");
                if (start != st.history.size())
                    throw new AssertionError("seq " + ss.getSeqId() + " fed from " + start + " but " + st.history.size() + " positions are computed");
                for (int p = 0; p < start; p++) {
                    int t = readSlot(ss, p, "computed");
                    if (t != st.history.get(p))
                        throw new AssertionError("KV of seq " + ss.getSeqId() + " at position " + p + " was overwritten");
                }
            }
            for (int i = 0; i < ss.getTokenIdsCount(); i++) {
                int p = start + i;
                int blk = ss.getBlockTable(p / blockSize);
                kvToken[blk][p % blockSize] = ss.getTokenIds(i);
                kvPos[blk][p % blockSize] = p;
                st.history.add(ss.getTokenIds(i));
            }
            tokensFed += ss.getTokenIdsCount();
            SeqOutput.Builder out = SeqOutput.newBuilder().setSeqId(ss.getSeqId()).setTokenId(-1);
            if (ss.getWantPromptLogprobs()) {
                for (int i = start == 0 ? 1 : 0; i < ss.getTokenIdsCount(); i++) {
                    int p = start + i;
                    out.addPromptLogprobs(TokenLogprobs.newBuilder().setTokenId(ss.getTokenIds(i))
                            .setLogprob(-(hash(st.history.subList(0, p + 1), 0, p) % 1000) / 100f).setRank(1));
                }
            }
            if (ss.getDoSample()) {
                int t = nextToken(st);
                out.setTokenId(t);
                if (st.sampling.getParams().hasLogprobs())
                    out.setLogprobs(TokenLogprobs.newBuilder().setTokenId(t).setLogprob(-0.5f).setRank(1));
            }
            resp.addOutputs(out);
        }
        return resp.build();
    }

    private int readSlot(ScheduledSeq ss, int p, String what) {
        int blk = ss.getBlockTable(p / blockSize);
        int t = kvToken[blk][p % blockSize];
        if (t < 0 || kvPos[blk][p % blockSize] != p)
            throw new AssertionError(what + " position " + p + " of seq " + ss.getSeqId() + " is not in block " + blk);
        return t;
    }

    private int nextToken(SeqState st) {
        SeqSampling s = st.sampling;
        int outputIndex = st.history.size() - s.getNumPromptTokens();
        long seed = s.hasSeed() ? s.getSeed() : 0;
        int t = (int) (hash(st.history, seed, outputIndex) % vocabSize);
        if (outputIndex < s.getParams().getMinTokens()) {
            while (s.getStopIdsList().contains(t)) t = (t + 1) % vocabSize;
        }
        return t;
    }

    static long hash(List<Integer> tokens, long seed, int salt) {
        long h = 0x9E3779B97F4A7C15L ^ seed * 0xBF58476D1CE4E5B9L ^ salt;
        for (int t : tokens) {
            h ^= t + 0x632BE59BD9B4E019L;
            h *= 0x94D049BB133111EBL;
            h ^= h >>> 29;
        }
        h ^= h >>> 32;
        return h & Long.MAX_VALUE;
    }
}
