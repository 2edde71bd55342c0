package dev.jvllm.worker.pjrt;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class BucketPlannerTest {

    @Test
    void powersOfTwoReachTheTokenBudget() {
        assertArrayEquals(new int[] {16, 32, 64, 128, 256, 512}, BucketPlanner.tokenPaddings(16, 512, 0));
        assertArrayEquals(new int[] {16, 32, 64, 128, 256, 512, 1024}, BucketPlanner.tokenPaddings(16, 600, 0), "last bucket >= max");
        assertArrayEquals(new int[] {16}, BucketPlanner.tokenPaddings(16, 10, 0));
    }

    @Test
    void paddingGapGoesLinearAfterTheGap() {
        // As vLLM's _get_token_paddings with VLLM_TPU_BUCKET_PADDING_GAP=64: doubling up to the gap, then +64 steps.
        assertArrayEquals(new int[] {16, 32, 64, 128, 192, 256, 320}, BucketPlanner.tokenPaddings(16, 300, 64));
        assertArrayEquals(new int[] {16, 32}, BucketPlanner.tokenPaddings(16, 20, 64));
    }

    @Test
    void sequenceBucketsAreCappedAtMaxNumSeqs() {
        assertArrayEquals(new int[] {8, 16, 32, 48}, BucketPlanner.seqPaddings(8, 48));
        assertArrayEquals(new int[] {4}, BucketPlanner.seqPaddings(8, 4));
    }

    @Test
    void picksTheSmallestBucketThatFits() {
        BucketPlanner p = BucketPlanner.create(512, 48, 2048, 16, 0);
        assertEquals(new BucketPlanner.Bucket(16, 8, 128), p.bucketFor(1, 1));
        assertEquals(new BucketPlanner.Bucket(16, 8, 128), p.bucketFor(16, 8));
        assertEquals(new BucketPlanner.Bucket(32, 16, 128), p.bucketFor(17, 9));
        assertEquals(new BucketPlanner.Bucket(512, 48, 128), p.bucketFor(512, 48));
        assertEquals(128, p.maxBlocksPerSeq(), "ceil(2048 / 16)");
        assertEquals(3, BucketPlanner.create(512, 48, 33, 16, 0).maxBlocksPerSeq(), "ceil(33 / 16)");
    }

    @Test
    void rejectsStepsBeyondTheLargestBucket() {
        BucketPlanner p = BucketPlanner.create(64, 8, 256, 16, 0);
        assertThrows(IllegalArgumentException.class, () -> p.bucketFor(65, 1));
        assertThrows(IllegalArgumentException.class, () -> p.bucketFor(10, 9));
        assertThrows(IllegalArgumentException.class, () -> p.bucketFor(0, 0));
        assertThrows(IllegalArgumentException.class, () -> p.bucketFor(4, 5), "every sequence feeds at least one token");
    }

    @Test
    void warmupCoversEveryReachableBucketOnce() {
        BucketPlanner p = BucketPlanner.create(64, 16, 256, 16, 0);
        var all = p.allBuckets();
        // tokens {16,32,64} x seqs {8,16}, all with seqs <= tokens.
        assertEquals(6, all.size());
        assertEquals(all.size(), all.stream().distinct().count());
        for (int t = 1; t <= 64; t++) {
            for (int s = 1; s <= Math.min(t, 16); s++) assertTrue(all.contains(p.bucketFor(t, s)), t + "," + s);
        }
    }
}
