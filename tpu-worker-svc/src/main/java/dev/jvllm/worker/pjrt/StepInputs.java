package dev.jvllm.worker.pjrt;

import dev.jvllm.proto.ScheduledSeq;

import java.util.List;
import java.util.Map;

/**
 * The host arrays of one step, padded to its bucket, named as the step program's STEP_INPUT parameters.
 * Tokens are laid out sequence after sequence in request order; row {@code i} of the per-sequence arrays is
 * {@code seqs.get(i)}. Padding tokens write to slot {@code numSlots} (out of range: the cache scatter drops them) and
 * padding sequences have no context, so neither disturbs real sequences.
 */
public record StepInputs(BucketPlanner.Bucket bucket, int numRealSeqs,
                         int[] tokenIds, int[] positions, int[] tokenSeq, int[] slotMapping,
                         int[] blockTables, int[] contextLens, int[] logitsIndices,
                         float[] temperature, int[] topK, float[] topP, int[] seeds) {

    /**
     * @param sampling per sequence, in {@code seqs} order (its state from {@code new_seq}); ignored where
     *                 {@code do_sample} is false
     * @throws IllegalArgumentException for a request the worker must answer with INVALID_ARGUMENT
     */
    public static StepInputs build(List<ScheduledSeq> seqs, List<SamplingState> sampling, BucketPlanner planner,
                                   int blockSize, int numBlocks) {
        if (seqs.isEmpty()) throw new IllegalArgumentException("a step needs at least one sequence");
        if (sampling.size() != seqs.size()) throw new IllegalArgumentException("one sampling state per sequence");
        int total = 0;
        for (ScheduledSeq s : seqs) {
            if (s.getTokenIdsCount() == 0) throw new IllegalArgumentException("sequence " + s.getSeqId() + " feeds no tokens");
            total += s.getTokenIdsCount();
        }
        BucketPlanner.Bucket b = planner.bucketFor(total, seqs.size());
        int T = b.numTokens(), S = b.numSeqs(), B = b.maxBlocksPerSeq();
        int numSlots = blockSize * numBlocks;
        int[] tokenIds = new int[T], positions = new int[T], tokenSeq = new int[T], slotMapping = new int[T];
        int[] blockTables = new int[S * B], contextLens = new int[S], logitsIndices = new int[S], topK = new int[S], seeds = new int[S];
        float[] temperature = new float[S], topP = new float[S];
        java.util.Arrays.fill(slotMapping, numSlots);
        java.util.Arrays.fill(topP, 1f);
        int row = 0;
        for (int i = 0; i < seqs.size(); i++) {
            ScheduledSeq s = seqs.get(i);
            int start = s.getStartPos(), end = start + s.getTokenIdsCount();
            if (start < 0) throw new IllegalArgumentException("sequence " + s.getSeqId() + " has negative start_pos");
            int blocksNeeded = Math.ceilDiv(end, blockSize);
            if (s.getBlockTableCount() < blocksNeeded) {
                throw new IllegalArgumentException("sequence " + s.getSeqId() + " covers " + end + " positions but its block table has "
                        + s.getBlockTableCount() + " blocks of " + blockSize);
            }
            if (s.getBlockTableCount() > B) {
                throw new IllegalArgumentException("sequence " + s.getSeqId() + " has " + s.getBlockTableCount()
                        + " blocks, more than max_model_len allows (" + B + ")");
            }
            for (int j = 0; j < s.getBlockTableCount(); j++) {
                int block = s.getBlockTable(j);
                if (block < 0 || block >= numBlocks) throw new IllegalArgumentException("sequence " + s.getSeqId() + ": block " + block + " out of range [0, " + numBlocks + ")");
                blockTables[i * B + j] = block;
            }
            for (int j = 0; j < s.getTokenIdsCount(); j++, row++) {
                int pos = start + j;
                tokenIds[row] = s.getTokenIds(j);
                positions[row] = pos;
                tokenSeq[row] = i;
                slotMapping[row] = s.getBlockTable(pos / blockSize) * blockSize + pos % blockSize;
            }
            contextLens[i] = end;
            logitsIndices[i] = row - 1;
            SamplingState st = s.getDoSample() ? sampling.get(i) : SamplingState.GREEDY;
            temperature[i] = st.temperature();
            topK[i] = st.topK();
            topP[i] = st.topP();
            seeds[i] = st.seed32();
        }
        return new StepInputs(b, seqs.size(), tokenIds, positions, tokenSeq, slotMapping, blockTables, contextLens, logitsIndices,
                temperature, topK, topP, seeds);
    }

    /** Arrays keyed by the program's parameter names (int[] or float[]; {@code seeds} holds ui32 bit patterns). */
    public Map<String, Object> byParamName() {
        return Map.ofEntries(Map.entry("token_ids", tokenIds), Map.entry("positions", positions), Map.entry("token_seq", tokenSeq),
                Map.entry("slot_mapping", slotMapping), Map.entry("block_tables", blockTables), Map.entry("context_lens", contextLens),
                Map.entry("logits_indices", logitsIndices), Map.entry("temperature", temperature), Map.entry("top_k", topK),
                Map.entry("top_p", topP), Map.entry("seeds", seeds));
    }
}
