package dev.jvllm.worker.pjrt;

import java.util.ArrayList;
import java.util.List;

/**
 * Static shapes for a dynamic batch, as vLLM's TPU runner pads them: the step's token count and sequence count are
 * each rounded up to a bucket, and one executable is compiled per (tokens, seqs) pair.
 *
 * <p>Token buckets: powers of two from {@code minTokens} until one reaches {@code maxTokens}
 * ({@code --max-num-batched-tokens}); or, with a padding gap (VLLM_TPU_BUCKET_PADDING_GAP), powers of two up to the
 * gap and then steps of the gap. The last bucket is always >= maxTokens. Sequence buckets: powers of two from
 * {@code minSeqs}, capped at {@code maxSeqs} ({@code --max-num-seqs}). The blocks-per-sequence dimension is not
 * bucketed: it is {@code ceil(max_model_len / block_size)}, like vLLM's max_num_blocks_per_req.
 */
public final class BucketPlanner {

    /** One compiled shape. */
    public record Bucket(int numTokens, int numSeqs, int maxBlocksPerSeq) {
        public String id() { return "t" + numTokens + "-s" + numSeqs + "-b" + maxBlocksPerSeq; }
    }

    private final int[] tokenBuckets;
    private final int[] seqBuckets;
    private final int maxBlocksPerSeq;

    public BucketPlanner(int[] tokenBuckets, int[] seqBuckets, int maxBlocksPerSeq) {
        this.tokenBuckets = tokenBuckets.clone();
        this.seqBuckets = seqBuckets.clone();
        this.maxBlocksPerSeq = maxBlocksPerSeq;
    }

    /**
     * @param paddingGap 0 for powers of two, else VLLM_TPU_BUCKET_PADDING_GAP
     */
    public static BucketPlanner create(int maxNumBatchedTokens, int maxNumSeqs, int maxModelLen, int blockSize, int paddingGap) {
        if (maxNumBatchedTokens <= 0 || maxNumSeqs <= 0 || maxModelLen <= 0 || blockSize <= 0 || paddingGap < 0) {
            throw new IllegalArgumentException("bucket limits must be positive");
        }
        return new BucketPlanner(tokenPaddings(16, maxNumBatchedTokens, paddingGap), seqPaddings(8, maxNumSeqs),
                Math.ceilDiv(maxModelLen, blockSize));
    }

    static int[] tokenPaddings(int min, int max, int gap) {
        List<Integer> out = new ArrayList<>();
        int n = min;
        if (gap == 0) {
            while (true) {
                out.add(n);
                if (n >= max) break;
                n *= 2;
            }
        } else {
            while (n <= gap) {
                out.add(n);
                if (n >= max) return toArray(out);
                n *= 2;
            }
            n /= 2;
            while (n < max) {
                n += gap;
                out.add(n);
            }
        }
        return toArray(out);
    }

    static int[] seqPaddings(int min, int max) {
        List<Integer> out = new ArrayList<>();
        int n = Math.min(min, max);
        while (true) {
            out.add(n);
            if (n >= max) break;
            n = Math.min(n * 2, max);
        }
        return toArray(out);
    }

    private static int[] toArray(List<Integer> l) { return l.stream().mapToInt(Integer::intValue).toArray(); }

    public int[] tokenBuckets() { return tokenBuckets.clone(); }

    public int[] seqBuckets() { return seqBuckets.clone(); }

    public int maxBlocksPerSeq() { return maxBlocksPerSeq; }

    /** The smallest bucket holding this step; throws if the step exceeds the largest. */
    public Bucket bucketFor(int numTokens, int numSeqs) {
        if (numTokens <= 0 || numSeqs <= 0) throw new IllegalArgumentException("a step needs at least one token and one sequence");
        if (numSeqs > numTokens) throw new IllegalArgumentException("more sequences (" + numSeqs + ") than tokens (" + numTokens + ")");
        return new Bucket(smallestAtLeast(tokenBuckets, numTokens, "tokens"), smallestAtLeast(seqBuckets, numSeqs, "sequences"), maxBlocksPerSeq);
    }

    private static int smallestAtLeast(int[] buckets, int n, String what) {
        for (int b : buckets) if (b >= n) return b;
        throw new IllegalArgumentException(n + " " + what + " exceed the largest bucket " + buckets[buckets.length - 1]);
    }

    /**
     * Every bucket warmup compiles. A token bucket smaller than a sequence bucket is skipped: each scheduled
     * sequence feeds at least one token, so such a pair never runs.
     */
    public List<Bucket> allBuckets() {
        List<Bucket> out = new ArrayList<>();
        for (int t : tokenBuckets) {
            for (int s : seqBuckets) {
                if (s <= t) out.add(new Bucket(t, s, maxBlocksPerSeq));
            }
        }
        return out;
    }
}
