package dev.jvllm.worker.cpu;

import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.WeightType;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static dev.jvllm.worker.model.LlamaWeights.F32;

/**
 * The small numeric kernels of the forward pass.
 *
 * <p>Every dot product, whichever kernel computes it, is summed the same way: one vector
 * accumulator over the chunks of L lanes in order, a fixed tree over the lanes, then the scalar
 * tail. So a (weight row, token) result never depends on how many rows or tokens were tiled with it,
 * i.e. on the rest of the batch, nor on whether the JIT has compiled the kernel yet.
 */
final class VectorKernels {
    private VectorKernels() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** L bf16 values: the same lane count as S, half the bits. */
    private static final VectorSpecies<Short> HALF = VectorSpecies.of(short.class, VectorShape.forBitSize(S.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> INTS = VectorSpecies.of(int.class, S.vectorShape());
    /**
     * L int8 values (GGUF quants, fp8 cache entries), or 8 where L = 4 (the smallest byte vector is 64 bits):
     * there each load also reads the 4 bytes after the ones it uses, which is why quantized matrices and the
     * KV cache keep {@link LlamaWeights.Matrix#READ_PAST} readable bytes after their data.
     */
    private static final VectorSpecies<Byte> BYTES = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, S.vectorBitSize() / 4)));

    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    /*
     * Half (and e5m2, the top byte of a half) to float in three vector ops, exact for finite values: the
     * sign-extended half shifted so its exponent and mantissa land in the float's low exponent bits, the
     * copies of the sign that the shift pushed into the exponent's top 3 bits cleared, then a rescale by
     * 2^(127 - 15), which also turns half subnormals into float normals. The sign survives the multiply.
     */
    private static final int F16_SIGN_EXP_MANT = 0x8FFF_E000, E5M2_SIGN_EXP_MANT = 0x8FE0_0000;
    /** Rotations by L/2, L/4, ..., 1 lanes: the fixed reduction tree of {@link #sumLanes}. */
    private static final VectorShuffle<Float>[] HALVING = halvingShuffles();

    @SuppressWarnings("unchecked")
    private static VectorShuffle<Float>[] halvingShuffles() {
        int steps = Integer.numberOfTrailingZeros(L);
        VectorShuffle<Float>[] s = new VectorShuffle[steps];
        for (int i = 0, step = L / 2; i < steps; i++, step /= 2) {
            s[i] = VectorShuffle.iota(S, step, 1, true);
        }
        return s;
    }

    /**
     * Sum of the lanes by a fixed tree. (reduceLanes(ADD) may associate differently once
     * JIT-compiled than when interpreted, which would make logits depend on JVM warm-up.)
     */
    static float sumLanes(FloatVector v) {
        for (VectorShuffle<Float> s : HALVING) {
            v = v.add(v.rearrange(s));
        }
        return v.lane(0);
    }

    /**
     * The same sum as {@link #sumLanes} for lanes stored at a[off, off + L): identical additions in
     * identical order. Kernels with many accumulators store them and sum here, because a vector
     * passed to a method C2 did not inline is boxed on the heap (and big kernels hit its inlining limits).
     */
    static float treeSum(float[] a, int off) {
        for (int step = L / 2; step >= 1; step /= 2) {
            for (int i = 0; i < step; i++) {
                a[off + i] += a[off + i + step];
            }
        }
        return a[off];
    }

    // Summing many accumulators at once (L = 16 only): combining A and B at step s puts A's lanes
    // i + (i + s) where A's lane i was and B's where B's lane i + s... i.e. one halving step of both
    // trees in one add. Four levels reduce 16 accumulators to one vector holding all 16 totals, with
    // exactly the additions of sumLanes/treeSum (so bits match the single-accumulator paths).
    private static final boolean COMBINED_REDUCTION = L == 16;
    /** Lanes whose index divided by L/2, L/4, ... is odd. */
    private static final VectorMask<Float>[] LANES = oddBlocks();
    /**
     * Lane i from lane i ^ (L/2), i ^ (L/4), ...: neighbouring blocks of L/2, L/4, ... lanes swapped. One level
     * of two trees is then two blends, one shuffle and an add ({@link #combine}): {@code a.blend(b, LANESk)}
     * holds each lane's own element and {@code b.blend(a, LANESk).rearrange(SWAPk)} its partner. (Rotating
     * both took a second shuffle per level, in a reduction that was ~15% of a 4x4 tile's time at K = 576.)
     */
    private static final VectorShuffle<Float>[] SWAP = swaps();
    // The same shuffles and masks as constants of their own: C2 folds a static final vector operand
    // into the instruction, while an array element is reloaded and type-checked at every use.
    // (Used only where COMBINED_REDUCTION holds, i.e. L = 16: four levels; null otherwise.)
    private static final VectorShuffle<Float> SWAP0 = level(SWAP, 0), SWAP1 = level(SWAP, 1), SWAP2 = level(SWAP, 2), SWAP3 = level(SWAP, 3);
    private static final VectorMask<Float> LANES0 = level(LANES, 0), LANES1 = level(LANES, 1), LANES2 = level(LANES, 2), LANES3 = level(LANES, 3);

    private static <T> T level(T[] levels, int k) {
        return COMBINED_REDUCTION ? levels[k] : null;
    }
    /** Lane of the combined result holding accumulator j's total, for 16 and for 4 accumulators. */
    private static final int[] LANE_OF_16 = COMBINED_REDUCTION ? laneMap(16) : null, LANE_OF_4 = COMBINED_REDUCTION ? laneMap(4) : null;

    private static final VectorSpecies<Float> QUARTER = FloatVector.SPECIES_128;
    /** Moves accumulator (row j, token k)'s total of a 4 x 4 tile to lane 4k + j. */
    private static final VectorShuffle<Float> TOKEN_MAJOR_16 = COMBINED_REDUCTION ? tokenMajor() : null;

    /** Moves total j of a four-vector reduction (sumsOfFour) to lane j. */
    private static final VectorShuffle<Float> FIRST_FOUR = COMBINED_REDUCTION ? firstFour() : null;

    private static VectorShuffle<Float> firstFour() {
        int[] from = new int[16];
        for (int j = 0; j < 4; j++) {
            from[j] = LANE_OF_4[j];
        }
        return VectorShuffle.fromArray(S, from, 0);
    }

    private static VectorShuffle<Float> tokenMajor() {
        int[] from = new int[16];
        for (int j = 0; j < 4; j++) {
            for (int k = 0; k < 4; k++) {
                from[4 * k + j] = LANE_OF_16[4 * j + k];
            }
        }
        return VectorShuffle.fromArray(S, from, 0);
    }

    @SuppressWarnings("unchecked")
    private static VectorShuffle<Float>[] swaps() {
        int steps = Integer.numberOfTrailingZeros(L);
        VectorShuffle<Float>[] s = new VectorShuffle[steps];
        for (int i = 0, step = L / 2; i < steps; i++, step /= 2) {
            int blockSize = step;
            s[i] = VectorShuffle.fromOp(S, lane -> lane ^ blockSize);
        }
        return s;
    }

    @SuppressWarnings("unchecked")
    private static VectorMask<Float>[] oddBlocks() {
        int steps = Integer.numberOfTrailingZeros(L);
        VectorMask<Float>[] m = new VectorMask[steps];
        for (int i = 0, step = L / 2; i < steps; i++, step /= 2) {
            boolean[] bits = new boolean[L];
            for (int lane = 0; lane < L; lane++) {
                bits[lane] = (lane / step) % 2 == 1;
            }
            m[i] = VectorMask.fromArray(S, bits, 0);
        }
        return m;
    }

    private static FloatVector combine(FloatVector a, FloatVector b, int k) {
        return a.blend(b, LANES[k]).add(b.blend(a, LANES[k]).rearrange(SWAP[k]));
    }

    /** Runs the combined reduction on marker accumulators (all lanes = j + 1) to see where each total lands. */
    private static int[] laneMap(int n) {
        FloatVector[] v = new FloatVector[n];
        for (int j = 0; j < n; j++) {
            v[j] = FloatVector.broadcast(S, j + 1);
        }
        FloatVector r;
        if (n == 16) {
            FloatVector[] u = new FloatVector[8];
            for (int j = 0; j < 8; j++) {
                u[j] = combine(v[2 * j], v[2 * j + 1], 0);
            }
            FloatVector[] w = new FloatVector[4];
            for (int j = 0; j < 4; j++) {
                w[j] = combine(u[2 * j], u[2 * j + 1], 1);
            }
            r = combine(combine(w[0], w[1], 2), combine(w[2], w[3], 2), 3);
        } else {
            FloatVector zero = FloatVector.zero(S);
            r = combine(combine(combine(combine(v[0], v[1], 0), combine(v[2], v[3], 0), 1), zero, 2), zero, 3);
        }
        float[] lanes = r.toArray();
        int[] map = new int[n];
        java.util.Arrays.fill(map, -1);
        for (int lane = 0; lane < L; lane++) {
            int j = Math.round(lanes[lane] / L) - 1;
            if (j >= 0 && lanes[lane] == (j + 1) * L) {
                map[j] = lane;
            }
        }
        for (int j = 0; j < n; j++) {
            if (map[j] < 0) {
                throw new IllegalStateException("combined reduction lost accumulator " + j);
            }
        }
        return map;
    }

    /** Floats of scratch a 4 x 4 tile needs for its accumulators (dotRows needs 6 L). */
    static final int ACC_SCRATCH = 16 * L + 4;

    /**
     * Element i of a row of a plain float type: the tails of the vector loops and single embedding rows.
     * Block-quantized rows are whole blocks and always go through {@link #widenRows}.
     */
    private static float scalar(MemorySegment w, WeightType type, long rowOff, int i) {
        return switch (type) {
            case F32 -> w.get(F32, rowOff + 4L * i);
            case BF16 -> Float.intBitsToFloat((w.get(BF16, rowOff + 2L * i) & 0xFFFF) << 16);
            case F16 -> Float.float16ToFloat(w.get(BF16, rowOff + 2L * i));
            default -> throw new IllegalArgumentException(type + " rows are dequantized whole by widenRows");
        };
    }

    /**
     * The scalar tail of a dot product: elements [from, n), summed in order. Callers skip the call when
     * there is no tail (the big tile kernels exceed C2's inlining budget, so even an empty call costs).
     */
    private static float tail(float[] w, int wOff, float[] x, int xOff, int from, int n) {
        float s = 0f;
        for (int i = from; i < n; i++) {
            s += w[wOff + i] * x[xOff + i];
        }
        return s;
    }

    /** w[wOff, wOff + n) . x[xOff, xOff + n). */
    static float dot(float[] w, int wOff, float[] x, int xOff, int n) {
        int upper = S.loopBound(n);
        FloatVector a = FloatVector.zero(S);
        for (int i = 0; i < upper; i += L) {
            a = FloatVector.fromArray(S, w, wOff + i).fma(FloatVector.fromArray(S, x, xOff + i), a);
        }
        return sumLanes(a) + (upper == n ? 0f : tail(w, wOff, x, xOff, upper, n));
    }

    /**
     * scores[j] = (K[j] . q) * scale for every slot j of one block and kv head of the transposed key
     * cache ({@code [dim][slot]} floats from byte {@code off}): L slots at once, summed over the head
     * dimension in order. Slots beyond the sequence hold stale (finite) keys; callers ignore them.
     */
    static void blockScores(MemorySegment keys, long off, int blockSize, float[] q, int qOff, int headDim, float scale,
                            float[] scores, KvCacheDtype dtype) {
        if (dtype != KvCacheDtype.F32) {
            blockScoresNarrow(keys, off, blockSize, q, qOff, headDim, scale, scores, dtype);
            return;
        }
        int upper = S.loopBound(blockSize);
        long dimStride = 4L * blockSize;
        int d4 = headDim & ~3;
        for (int s0 = 0; s0 < upper; s0 += L) {
            // Four partial sums over the head dimension (d mod 4), so four FMA chains run in parallel.
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            long base = off + 4L * s0;
            int d = 0;
            for (; d < d4; d += 4) {
                a0 = FloatVector.fromMemorySegment(S, keys, base + d * dimStride, LE).fma(FloatVector.broadcast(S, q[qOff + d]), a0);
                a1 = FloatVector.fromMemorySegment(S, keys, base + (d + 1) * dimStride, LE)
                        .fma(FloatVector.broadcast(S, q[qOff + d + 1]), a1);
                a2 = FloatVector.fromMemorySegment(S, keys, base + (d + 2) * dimStride, LE)
                        .fma(FloatVector.broadcast(S, q[qOff + d + 2]), a2);
                a3 = FloatVector.fromMemorySegment(S, keys, base + (d + 3) * dimStride, LE)
                        .fma(FloatVector.broadcast(S, q[qOff + d + 3]), a3);
            }
            for (; d < headDim; d++) {
                a0 = FloatVector.fromMemorySegment(S, keys, base + d * dimStride, LE).fma(FloatVector.broadcast(S, q[qOff + d]), a0);
            }
            a0.add(a1).add(a2.add(a3)).mul(scale).intoArray(scores, s0);
        }
        for (int s0 = upper; s0 < blockSize; s0++) {
            float acc = 0f;
            for (int d = 0; d < headDim; d++) {
                acc = Math.fma(keys.get(F32, off + 4L * s0 + d * dimStride), q[qOff + d], acc);
            }
            scores[s0] = acc * scale;
        }
    }

    /**
     * {@link #blockScores} of four query rows (q at q0..q3; scores of row r at {@code scores[r * blockSize]})
     * against one block: each key vector is loaded (and widened) once for the four rows. Every row's sum runs
     * exactly as in the one-row kernel, so its scores have the same bits whatever rows share the call.
     */
    static void blockScores4(MemorySegment keys, long off, int blockSize, float[] q, int q0, int q1, int q2, int q3,
                             int headDim, float scale, float[] scores, KvCacheDtype dtype) {
        if (dtype != KvCacheDtype.F32) {
            blockScores4Narrow(keys, off, blockSize, q, q0, q1, q2, q3, headDim, scale, scores, dtype);
            return;
        }
        int upper = S.loopBound(blockSize);
        long dimStride = 4L * blockSize;
        int d4 = headDim & ~3;
        for (int s0 = 0; s0 < upper; s0 += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            FloatVector e0 = a0, e1 = a0, e2 = a0, e3 = a0;
            long base = off + 4L * s0;
            int d = 0;
            for (; d < d4; d += 4) {
                FloatVector k = FloatVector.fromMemorySegment(S, keys, base + d * dimStride, LE);
                a0 = k.fma(FloatVector.broadcast(S, q[q0 + d]), a0);
                b0 = k.fma(FloatVector.broadcast(S, q[q1 + d]), b0);
                c0 = k.fma(FloatVector.broadcast(S, q[q2 + d]), c0);
                e0 = k.fma(FloatVector.broadcast(S, q[q3 + d]), e0);
                k = FloatVector.fromMemorySegment(S, keys, base + (d + 1) * dimStride, LE);
                a1 = k.fma(FloatVector.broadcast(S, q[q0 + d + 1]), a1);
                b1 = k.fma(FloatVector.broadcast(S, q[q1 + d + 1]), b1);
                c1 = k.fma(FloatVector.broadcast(S, q[q2 + d + 1]), c1);
                e1 = k.fma(FloatVector.broadcast(S, q[q3 + d + 1]), e1);
                k = FloatVector.fromMemorySegment(S, keys, base + (d + 2) * dimStride, LE);
                a2 = k.fma(FloatVector.broadcast(S, q[q0 + d + 2]), a2);
                b2 = k.fma(FloatVector.broadcast(S, q[q1 + d + 2]), b2);
                c2 = k.fma(FloatVector.broadcast(S, q[q2 + d + 2]), c2);
                e2 = k.fma(FloatVector.broadcast(S, q[q3 + d + 2]), e2);
                k = FloatVector.fromMemorySegment(S, keys, base + (d + 3) * dimStride, LE);
                a3 = k.fma(FloatVector.broadcast(S, q[q0 + d + 3]), a3);
                b3 = k.fma(FloatVector.broadcast(S, q[q1 + d + 3]), b3);
                c3 = k.fma(FloatVector.broadcast(S, q[q2 + d + 3]), c3);
                e3 = k.fma(FloatVector.broadcast(S, q[q3 + d + 3]), e3);
            }
            for (; d < headDim; d++) {
                FloatVector k = FloatVector.fromMemorySegment(S, keys, base + d * dimStride, LE);
                a0 = k.fma(FloatVector.broadcast(S, q[q0 + d]), a0);
                b0 = k.fma(FloatVector.broadcast(S, q[q1 + d]), b0);
                c0 = k.fma(FloatVector.broadcast(S, q[q2 + d]), c0);
                e0 = k.fma(FloatVector.broadcast(S, q[q3 + d]), e0);
            }
            a0.add(a1).add(a2.add(a3)).mul(scale).intoArray(scores, s0);
            b0.add(b1).add(b2.add(b3)).mul(scale).intoArray(scores, blockSize + s0);
            c0.add(c1).add(c2.add(c3)).mul(scale).intoArray(scores, 2 * blockSize + s0);
            e0.add(e1).add(e2.add(e3)).mul(scale).intoArray(scores, 3 * blockSize + s0);
        }
        for (int s0 = upper; s0 < blockSize; s0++) {
            for (int r = 0; r < 4; r++) {
                int qr = r == 0 ? q0 : r == 1 ? q1 : r == 2 ? q2 : q3;
                float acc = 0f;
                for (int d = 0; d < headDim; d++) {
                    acc = Math.fma(keys.get(F32, off + 4L * s0 + d * dimStride), q[qr + d], acc);
                }
                scores[r * blockSize + s0] = acc * scale;
            }
        }
    }

    /**
     * {@link #accumulateValues} of four rows (out at o0..o3, weights at p0..p3) over one block: each
     * value vector is loaded (and widened) once for the four rows. A row's weights outside its own slots must be 0,
     * which leaves its sums as the one-row kernel leaves them.
     */
    static void accumulateValues4(float[] out, int o0, int o1, int o2, int o3, int n, float[] p, int p0, int p1, int p2,
                                  int p3, int first, int last, MemorySegment v, long vOff, long vStride, KvCacheDtype dtype) {
        if (dtype != KvCacheDtype.F32) {
            accumulateValues4Narrow(out, o0, o1, o2, o3, n, p, p0, p1, p2, p3, first, last, v, vOff, vStride, dtype);
            return;
        }
        int upper = S.loopBound(n);
        int i = 0;
        for (; i + 4 * L <= upper; i += 4 * L) {
            FloatVector a0 = FloatVector.fromArray(S, out, o0 + i), a1 = FloatVector.fromArray(S, out, o0 + i + L);
            FloatVector a2 = FloatVector.fromArray(S, out, o0 + i + 2 * L), a3 = FloatVector.fromArray(S, out, o0 + i + 3 * L);
            FloatVector b0 = FloatVector.fromArray(S, out, o1 + i), b1 = FloatVector.fromArray(S, out, o1 + i + L);
            FloatVector b2 = FloatVector.fromArray(S, out, o1 + i + 2 * L), b3 = FloatVector.fromArray(S, out, o1 + i + 3 * L);
            FloatVector c0 = FloatVector.fromArray(S, out, o2 + i), c1 = FloatVector.fromArray(S, out, o2 + i + L);
            FloatVector c2 = FloatVector.fromArray(S, out, o2 + i + 2 * L), c3 = FloatVector.fromArray(S, out, o2 + i + 3 * L);
            FloatVector e0 = FloatVector.fromArray(S, out, o3 + i), e1 = FloatVector.fromArray(S, out, o3 + i + L);
            FloatVector e2 = FloatVector.fromArray(S, out, o3 + i + 2 * L), e3 = FloatVector.fromArray(S, out, o3 + i + 3 * L);
            for (int j = first; j <= last; j++) {
                long row = vOff + j * vStride + 4L * i;
                FloatVector v0 = FloatVector.fromMemorySegment(S, v, row, LE), v1 = FloatVector.fromMemorySegment(S, v, row + 4L * L, LE);
                FloatVector v2 = FloatVector.fromMemorySegment(S, v, row + 8L * L, LE), v3 = FloatVector.fromMemorySegment(S, v, row + 12L * L, LE);
                FloatVector pj = FloatVector.broadcast(S, p[p0 + j]);
                a0 = v0.fma(pj, a0);
                a1 = v1.fma(pj, a1);
                a2 = v2.fma(pj, a2);
                a3 = v3.fma(pj, a3);
                pj = FloatVector.broadcast(S, p[p1 + j]);
                b0 = v0.fma(pj, b0);
                b1 = v1.fma(pj, b1);
                b2 = v2.fma(pj, b2);
                b3 = v3.fma(pj, b3);
                pj = FloatVector.broadcast(S, p[p2 + j]);
                c0 = v0.fma(pj, c0);
                c1 = v1.fma(pj, c1);
                c2 = v2.fma(pj, c2);
                c3 = v3.fma(pj, c3);
                pj = FloatVector.broadcast(S, p[p3 + j]);
                e0 = v0.fma(pj, e0);
                e1 = v1.fma(pj, e1);
                e2 = v2.fma(pj, e2);
                e3 = v3.fma(pj, e3);
            }
            a0.intoArray(out, o0 + i);
            a1.intoArray(out, o0 + i + L);
            a2.intoArray(out, o0 + i + 2 * L);
            a3.intoArray(out, o0 + i + 3 * L);
            b0.intoArray(out, o1 + i);
            b1.intoArray(out, o1 + i + L);
            b2.intoArray(out, o1 + i + 2 * L);
            b3.intoArray(out, o1 + i + 3 * L);
            c0.intoArray(out, o2 + i);
            c1.intoArray(out, o2 + i + L);
            c2.intoArray(out, o2 + i + 2 * L);
            c3.intoArray(out, o2 + i + 3 * L);
            e0.intoArray(out, o3 + i);
            e1.intoArray(out, o3 + i + L);
            e2.intoArray(out, o3 + i + 2 * L);
            e3.intoArray(out, o3 + i + 3 * L);
        }
        for (; i < upper; i += L) {
            FloatVector a = FloatVector.fromArray(S, out, o0 + i), b = FloatVector.fromArray(S, out, o1 + i);
            FloatVector c = FloatVector.fromArray(S, out, o2 + i), e = FloatVector.fromArray(S, out, o3 + i);
            for (int j = first; j <= last; j++) {
                FloatVector vj = FloatVector.fromMemorySegment(S, v, vOff + j * vStride + 4L * i, LE);
                a = vj.fma(FloatVector.broadcast(S, p[p0 + j]), a);
                b = vj.fma(FloatVector.broadcast(S, p[p1 + j]), b);
                c = vj.fma(FloatVector.broadcast(S, p[p2 + j]), c);
                e = vj.fma(FloatVector.broadcast(S, p[p3 + j]), e);
            }
            a.intoArray(out, o0 + i);
            b.intoArray(out, o1 + i);
            c.intoArray(out, o2 + i);
            e.intoArray(out, o3 + i);
        }
        for (; i < n; i++) {
            // All four loaded before any is stored, as above: rows may repeat (a group of fewer than 4).
            float a = out[o0 + i], b = out[o1 + i], c = out[o2 + i], e = out[o3 + i];
            for (int j = first; j <= last; j++) {
                float vj = v.get(F32, vOff + j * vStride + 4L * i);
                a = Math.fma(vj, p[p0 + j], a);
                b = Math.fma(vj, p[p1 + j], b);
                c = Math.fma(vj, p[p2 + j], c);
                e = Math.fma(vj, p[p3 + j], e);
            }
            out[o0 + i] = a;
            out[o1 + i] = b;
            out[o2 + i] = c;
            out[o3 + i] = e;
        }
    }

    /** out[off, off + n) += sum over j in [first, last] of p[j] * V[j], V[j] at byte {@code vOff + j * vStride}. */
    static void accumulateValues(float[] out, int off, int n, float[] p, int first, int last, MemorySegment v, long vOff,
                                 long vStride, KvCacheDtype dtype) {
        if (dtype != KvCacheDtype.F32) {
            accumulateValuesNarrow(out, off, n, p, first, last, v, vOff, vStride, dtype);
            return;
        }
        int upper = S.loopBound(n);
        int i = 0;
        // Four chunks of the head at once: four independent FMA chains over the positions.
        for (; i + 4 * L <= upper; i += 4 * L) {
            FloatVector c0 = FloatVector.fromArray(S, out, off + i), c1 = FloatVector.fromArray(S, out, off + i + L);
            FloatVector c2 = FloatVector.fromArray(S, out, off + i + 2 * L), c3 = FloatVector.fromArray(S, out, off + i + 3 * L);
            for (int j = first; j <= last; j++) {
                FloatVector pj = FloatVector.broadcast(S, p[j]);
                long row = vOff + j * vStride + 4L * i;
                c0 = FloatVector.fromMemorySegment(S, v, row, LE).fma(pj, c0);
                c1 = FloatVector.fromMemorySegment(S, v, row + 4L * L, LE).fma(pj, c1);
                c2 = FloatVector.fromMemorySegment(S, v, row + 8L * L, LE).fma(pj, c2);
                c3 = FloatVector.fromMemorySegment(S, v, row + 12L * L, LE).fma(pj, c3);
            }
            c0.intoArray(out, off + i);
            c1.intoArray(out, off + i + L);
            c2.intoArray(out, off + i + 2 * L);
            c3.intoArray(out, off + i + 3 * L);
        }
        for (; i < upper; i += L) {
            FloatVector acc = FloatVector.fromArray(S, out, off + i);
            for (int j = first; j <= last; j++) {
                acc = FloatVector.fromMemorySegment(S, v, vOff + j * vStride + 4L * i, LE).fma(FloatVector.broadcast(S, p[j]), acc);
            }
            acc.intoArray(out, off + i);
        }
        for (; i < n; i++) {
            float acc = out[off + i];
            for (int j = first; j <= last; j++) {
                acc = Math.fma(v.get(F32, vOff + j * vStride + 4L * i), p[j], acc);
            }
            out[off + i] = acc;
        }
    }

    /**
     * dst (f32, from byte dstOff) = n consecutive elements of a narrow cache from byte off, widened as the attention
     * kernels widen them in registers: the f32 kernels then give the narrow kernels' bits on the copy.
     */
    static void widenKv(MemorySegment src, long off, int n, KvCacheDtype dtype, MemorySegment dst, long dstOff) {
        int upper = S.loopBound(n);
        switch (dtype) {
            case BF16 -> {
                for (int i = 0; i < upper; i += L) {
                    ((IntVector) ShortVector.fromMemorySegment(HALF, src, off + 2L * i, LE).convertShape(VectorOperators.S2I, INTS, 0))
                            .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoMemorySegment(dst, dstOff + 4L * i, LE);
                }
            }
            case F16 -> {
                for (int i = 0; i < upper; i += L) {
                    ((IntVector) ShortVector.fromMemorySegment(HALF, src, off + 2L * i, LE).convertShape(VectorOperators.S2I, INTS, 0))
                            .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f)
                            .intoMemorySegment(dst, dstOff + 4L * i, LE);
                }
            }
            case FP8_E5M2 -> {
                for (int i = 0; i < upper; i += L) {
                    ((IntVector) ByteVector.fromMemorySegment(BYTES, src, off + i, LE).convertShape(VectorOperators.B2I, INTS, 0))
                            .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f)
                            .intoMemorySegment(dst, dstOff + 4L * i, LE);
                }
            }
            case F32 -> throw new IllegalArgumentException("an f32 cache needs no widening");
        }
        for (int i = upper; i < n; i++) {
            dst.set(F32, dstOff + 4L * i, kvScalar(src, off + (long) dtype.bytesPerElement() * i, dtype));
        }
    }

    private static float kvScalar(MemorySegment m, long off, KvCacheDtype dtype) {
        return switch (dtype) {
            case BF16 -> KvCacheDtype.fromBf16(m.get(BF16, off));
            case F16 -> Float.float16ToFloat(m.get(BF16, off));
            default -> KvCacheDtype.fromE5m2(m.get(ValueLayout.JAVA_BYTE, off));
        };
    }

    /*
     * The narrow-cache kernels: one method per storage type. A method holding both widenings exceeds
     * C2's inlining budget once inlined into the attention loop, and its vector ops then run through
     * the Java fallbacks (measured: 5% of a decode step spent there).
     */

    /**
     * {@link #blockScores} over a bf16, f16 or fp8 e5m2 cache: keys widened in registers and summed exactly as the
     * f32 kernel sums them (four chains over the head dimension), so the f32 kernels give these bits on keys widened
     * beforehand (what prefill attention does, see CpuModelRunner).
     */
    private static void blockScoresNarrow(MemorySegment keys, long off, int blockSize, float[] q, int qOff, int headDim,
                                          float scale, float[] scores, KvCacheDtype dtype) {
        int eb = dtype.bytesPerElement();
        int upper = S.loopBound(blockSize);
        long dimStride = (long) eb * blockSize;
        if (dtype == KvCacheDtype.BF16) {
            blockScoresBf16(keys, off, upper, dimStride, q, qOff, headDim, scale, scores);
        } else if (dtype == KvCacheDtype.F16) {
            blockScoresF16(keys, off, upper, dimStride, q, qOff, headDim, scale, scores);
        } else {
            blockScoresE5m2(keys, off, upper, dimStride, q, qOff, headDim, scale, scores);
        }
        for (int s0 = upper; s0 < blockSize; s0++) {
            scores[s0] = narrowKeyDot(keys, off + (long) eb * s0, dimStride, q, qOff, headDim, dtype) * scale;
        }
    }

    private static void blockScoresBf16(MemorySegment keys, long off, int upper, long dimStride, float[] q, int qOff, int headDim,
                                        float scale, float[] scores) {
        int d4 = headDim & ~3;
        for (int s0 = 0; s0 < upper; s0 += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            long base = off + 2L * s0;
            int d = 0;
            for (; d < d4; d += 4) {
                FloatVector k0 = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + d * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                a0 = k0.fma(FloatVector.broadcast(S, q[qOff + d]), a0);
                FloatVector k1 = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + (d + 1) * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                a1 = k1.fma(FloatVector.broadcast(S, q[qOff + d + 1]), a1);
                FloatVector k2 = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + (d + 2) * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                a2 = k2.fma(FloatVector.broadcast(S, q[qOff + d + 2]), a2);
                FloatVector k3 = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + (d + 3) * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                a3 = k3.fma(FloatVector.broadcast(S, q[qOff + d + 3]), a3);
            }
            for (; d < headDim; d++) {
                FloatVector k = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + d * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                a0 = k.fma(FloatVector.broadcast(S, q[qOff + d]), a0);
            }
            a0.add(a1).add(a2.add(a3)).mul(scale).intoArray(scores, s0);
        }
    }

    private static void blockScoresF16(MemorySegment keys, long off, int upper, long dimStride, float[] q, int qOff, int headDim,
                                        float scale, float[] scores) {
        int d4 = headDim & ~3;
        for (int s0 = 0; s0 < upper; s0 += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            long base = off + 2L * s0;
            int d = 0;
            for (; d < d4; d += 4) {
                FloatVector k0 = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + d * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a0 = k0.fma(FloatVector.broadcast(S, q[qOff + d]), a0);
                FloatVector k1 = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + (d + 1) * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a1 = k1.fma(FloatVector.broadcast(S, q[qOff + d + 1]), a1);
                FloatVector k2 = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + (d + 2) * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a2 = k2.fma(FloatVector.broadcast(S, q[qOff + d + 2]), a2);
                FloatVector k3 = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + (d + 3) * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a3 = k3.fma(FloatVector.broadcast(S, q[qOff + d + 3]), a3);
            }
            for (; d < headDim; d++) {
                FloatVector k = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + d * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a0 = k.fma(FloatVector.broadcast(S, q[qOff + d]), a0);
            }
            a0.add(a1).add(a2.add(a3)).mul(scale).intoArray(scores, s0);
        }
    }

    private static void blockScoresE5m2(MemorySegment keys, long off, int upper, long dimStride, float[] q, int qOff, int headDim,
                                        float scale, float[] scores) {
        int d4 = headDim & ~3;
        for (int s0 = 0; s0 < upper; s0 += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            long base = off + s0;
            int d = 0;
            for (; d < d4; d += 4) {
                FloatVector k0 = ((IntVector) ByteVector.fromMemorySegment(BYTES, keys, base + d * dimStride, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a0 = k0.fma(FloatVector.broadcast(S, q[qOff + d]), a0);
                FloatVector k1 = ((IntVector) ByteVector.fromMemorySegment(BYTES, keys, base + (d + 1) * dimStride, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a1 = k1.fma(FloatVector.broadcast(S, q[qOff + d + 1]), a1);
                FloatVector k2 = ((IntVector) ByteVector.fromMemorySegment(BYTES, keys, base + (d + 2) * dimStride, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a2 = k2.fma(FloatVector.broadcast(S, q[qOff + d + 2]), a2);
                FloatVector k3 = ((IntVector) ByteVector.fromMemorySegment(BYTES, keys, base + (d + 3) * dimStride, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a3 = k3.fma(FloatVector.broadcast(S, q[qOff + d + 3]), a3);
            }
            for (; d < headDim; d++) {
                FloatVector k = ((IntVector) ByteVector.fromMemorySegment(BYTES, keys, base + d * dimStride, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a0 = k.fma(FloatVector.broadcast(S, q[qOff + d]), a0);
            }
            a0.add(a1).add(a2.add(a3)).mul(scale).intoArray(scores, s0);
        }
    }

    /** {@link #accumulateValues} over a bf16, f16 or fp8 e5m2 cache. */
    private static void accumulateValuesNarrow(float[] out, int off, int n, float[] p, int first, int last, MemorySegment v,
                                               long vOff, long vStride, KvCacheDtype dtype) {
        int eb = dtype.bytesPerElement();
        int upper = S.loopBound(n);
        if (dtype == KvCacheDtype.BF16) {
            accumulateValuesBf16(out, off, upper, p, first, last, v, vOff, vStride);
        } else if (dtype == KvCacheDtype.F16) {
            accumulateValuesF16(out, off, upper, p, first, last, v, vOff, vStride);
        } else {
            accumulateValuesE5m2(out, off, upper, p, first, last, v, vOff, vStride);
        }
        for (int i = upper; i < n; i++) {
            float acc = out[off + i];
            for (int j = first; j <= last; j++) {
                acc = Math.fma(kvScalar(v, vOff + j * vStride + (long) eb * i, dtype), p[j], acc);
            }
            out[off + i] = acc;
        }
    }

    private static void accumulateValuesBf16(float[] out, int off, int upper, float[] p, int first, int last, MemorySegment v,
                                             long vOff, long vStride) {
        for (int i = 0; i < upper; i += L) {
            FloatVector acc = FloatVector.fromArray(S, out, off + i);
            for (int j = first; j <= last; j++) {
                FloatVector x = ((IntVector) ShortVector.fromMemorySegment(HALF, v, vOff + j * vStride + 2L * i, LE)
                        .convertShape(VectorOperators.S2I, INTS, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                acc = x.fma(FloatVector.broadcast(S, p[j]), acc);
            }
            acc.intoArray(out, off + i);
        }
    }

    private static void accumulateValuesF16(float[] out, int off, int upper, float[] p, int first, int last, MemorySegment v,
                                             long vOff, long vStride) {
        for (int i = 0; i < upper; i += L) {
            FloatVector acc = FloatVector.fromArray(S, out, off + i);
            for (int j = first; j <= last; j++) {
                FloatVector x = ((IntVector) ShortVector.fromMemorySegment(HALF, v, vOff + j * vStride + 2L * i, LE)
                        .convertShape(VectorOperators.S2I, INTS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT)
                        .reinterpretAsFloats().mul(0x1p112f);
                acc = x.fma(FloatVector.broadcast(S, p[j]), acc);
            }
            acc.intoArray(out, off + i);
        }
    }

    private static void accumulateValuesE5m2(float[] out, int off, int upper, float[] p, int first, int last, MemorySegment v,
                                             long vOff, long vStride) {
        for (int i = 0; i < upper; i += L) {
            FloatVector acc = FloatVector.fromArray(S, out, off + i);
            for (int j = first; j <= last; j++) {
                FloatVector x = ((IntVector) ByteVector.fromMemorySegment(BYTES, v, vOff + j * vStride + i, LE)
                        .convertShape(VectorOperators.B2I, INTS, 0)).lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT)
                        .reinterpretAsFloats().mul(0x1p112f);
                acc = x.fma(FloatVector.broadcast(S, p[j]), acc);
            }
            acc.intoArray(out, off + i);
        }
    }

    /** {@link #blockScores4} over a bf16, f16 or fp8 e5m2 cache: each row's sum runs as in {@link #blockScoresNarrow}. */
    private static void blockScores4Narrow(MemorySegment keys, long off, int blockSize, float[] q, int q0, int q1, int q2, int q3,
                                           int headDim, float scale, float[] scores, KvCacheDtype dtype) {
        int eb = dtype.bytesPerElement();
        int upper = S.loopBound(blockSize);
        long dimStride = (long) eb * blockSize;
        if (dtype == KvCacheDtype.BF16) {
            blockScores4Bf16(keys, off, upper, dimStride, q, q0, q1, q2, q3, headDim, scale, scores, blockSize);
        } else if (dtype == KvCacheDtype.F16) {
            blockScores4F16(keys, off, upper, dimStride, q, q0, q1, q2, q3, headDim, scale, scores, blockSize);
        } else {
            blockScores4E5m2(keys, off, upper, dimStride, q, q0, q1, q2, q3, headDim, scale, scores, blockSize);
        }
        for (int s0 = upper; s0 < blockSize; s0++) {
            long slot = off + (long) eb * s0;
            scores[s0] = narrowKeyDot(keys, slot, dimStride, q, q0, headDim, dtype) * scale;
            scores[blockSize + s0] = narrowKeyDot(keys, slot, dimStride, q, q1, headDim, dtype) * scale;
            scores[2 * blockSize + s0] = narrowKeyDot(keys, slot, dimStride, q, q2, headDim, dtype) * scale;
            scores[3 * blockSize + s0] = narrowKeyDot(keys, slot, dimStride, q, q3, headDim, dtype) * scale;
        }
    }

    /** One slot's key . q over a narrow cache, scalar: the slots past the last full vector of a block. */
    private static float narrowKeyDot(MemorySegment keys, long slot, long dimStride, float[] q, int qOff, int headDim, KvCacheDtype dtype) {
        float acc = 0f;
        for (int d = 0; d < headDim; d++) {
            acc = Math.fma(kvScalar(keys, slot + d * dimStride, dtype), q[qOff + d], acc);
        }
        return acc;
    }

    private static void blockScores4Bf16(MemorySegment keys, long off, int upper, long dimStride, float[] q, int q0, int q1, int q2,
                                         int q3, int headDim, float scale, float[] scores, int blockSize) {
        int d4 = headDim & ~3;
        for (int s0 = 0; s0 < upper; s0 += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            FloatVector e0 = a0, e1 = a0, e2 = a0, e3 = a0;
            long base = off + 2L * s0;
            int d = 0;
            for (; d < d4; d += 4) {
                FloatVector k = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + d * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                a0 = k.fma(FloatVector.broadcast(S, q[q0 + d]), a0);
                b0 = k.fma(FloatVector.broadcast(S, q[q1 + d]), b0);
                c0 = k.fma(FloatVector.broadcast(S, q[q2 + d]), c0);
                e0 = k.fma(FloatVector.broadcast(S, q[q3 + d]), e0);
                k = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + (d + 1) * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                a1 = k.fma(FloatVector.broadcast(S, q[q0 + d + 1]), a1);
                b1 = k.fma(FloatVector.broadcast(S, q[q1 + d + 1]), b1);
                c1 = k.fma(FloatVector.broadcast(S, q[q2 + d + 1]), c1);
                e1 = k.fma(FloatVector.broadcast(S, q[q3 + d + 1]), e1);
                k = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + (d + 2) * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                a2 = k.fma(FloatVector.broadcast(S, q[q0 + d + 2]), a2);
                b2 = k.fma(FloatVector.broadcast(S, q[q1 + d + 2]), b2);
                c2 = k.fma(FloatVector.broadcast(S, q[q2 + d + 2]), c2);
                e2 = k.fma(FloatVector.broadcast(S, q[q3 + d + 2]), e2);
                k = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + (d + 3) * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                a3 = k.fma(FloatVector.broadcast(S, q[q0 + d + 3]), a3);
                b3 = k.fma(FloatVector.broadcast(S, q[q1 + d + 3]), b3);
                c3 = k.fma(FloatVector.broadcast(S, q[q2 + d + 3]), c3);
                e3 = k.fma(FloatVector.broadcast(S, q[q3 + d + 3]), e3);
            }
            for (; d < headDim; d++) {
                FloatVector k = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + d * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                a0 = k.fma(FloatVector.broadcast(S, q[q0 + d]), a0);
                b0 = k.fma(FloatVector.broadcast(S, q[q1 + d]), b0);
                c0 = k.fma(FloatVector.broadcast(S, q[q2 + d]), c0);
                e0 = k.fma(FloatVector.broadcast(S, q[q3 + d]), e0);
            }
            a0.add(a1).add(a2.add(a3)).mul(scale).intoArray(scores, s0);
            b0.add(b1).add(b2.add(b3)).mul(scale).intoArray(scores, blockSize + s0);
            c0.add(c1).add(c2.add(c3)).mul(scale).intoArray(scores, 2 * blockSize + s0);
            e0.add(e1).add(e2.add(e3)).mul(scale).intoArray(scores, 3 * blockSize + s0);
        }
    }

    private static void blockScores4F16(MemorySegment keys, long off, int upper, long dimStride, float[] q, int q0, int q1, int q2,
                                         int q3, int headDim, float scale, float[] scores, int blockSize) {
        int d4 = headDim & ~3;
        for (int s0 = 0; s0 < upper; s0 += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            FloatVector e0 = a0, e1 = a0, e2 = a0, e3 = a0;
            long base = off + 2L * s0;
            int d = 0;
            for (; d < d4; d += 4) {
                FloatVector k = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + d * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a0 = k.fma(FloatVector.broadcast(S, q[q0 + d]), a0);
                b0 = k.fma(FloatVector.broadcast(S, q[q1 + d]), b0);
                c0 = k.fma(FloatVector.broadcast(S, q[q2 + d]), c0);
                e0 = k.fma(FloatVector.broadcast(S, q[q3 + d]), e0);
                k = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + (d + 1) * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a1 = k.fma(FloatVector.broadcast(S, q[q0 + d + 1]), a1);
                b1 = k.fma(FloatVector.broadcast(S, q[q1 + d + 1]), b1);
                c1 = k.fma(FloatVector.broadcast(S, q[q2 + d + 1]), c1);
                e1 = k.fma(FloatVector.broadcast(S, q[q3 + d + 1]), e1);
                k = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + (d + 2) * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a2 = k.fma(FloatVector.broadcast(S, q[q0 + d + 2]), a2);
                b2 = k.fma(FloatVector.broadcast(S, q[q1 + d + 2]), b2);
                c2 = k.fma(FloatVector.broadcast(S, q[q2 + d + 2]), c2);
                e2 = k.fma(FloatVector.broadcast(S, q[q3 + d + 2]), e2);
                k = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + (d + 3) * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a3 = k.fma(FloatVector.broadcast(S, q[q0 + d + 3]), a3);
                b3 = k.fma(FloatVector.broadcast(S, q[q1 + d + 3]), b3);
                c3 = k.fma(FloatVector.broadcast(S, q[q2 + d + 3]), c3);
                e3 = k.fma(FloatVector.broadcast(S, q[q3 + d + 3]), e3);
            }
            for (; d < headDim; d++) {
                FloatVector k = ((IntVector) ShortVector.fromMemorySegment(HALF, keys, base + d * dimStride, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a0 = k.fma(FloatVector.broadcast(S, q[q0 + d]), a0);
                b0 = k.fma(FloatVector.broadcast(S, q[q1 + d]), b0);
                c0 = k.fma(FloatVector.broadcast(S, q[q2 + d]), c0);
                e0 = k.fma(FloatVector.broadcast(S, q[q3 + d]), e0);
            }
            a0.add(a1).add(a2.add(a3)).mul(scale).intoArray(scores, s0);
            b0.add(b1).add(b2.add(b3)).mul(scale).intoArray(scores, blockSize + s0);
            c0.add(c1).add(c2.add(c3)).mul(scale).intoArray(scores, 2 * blockSize + s0);
            e0.add(e1).add(e2.add(e3)).mul(scale).intoArray(scores, 3 * blockSize + s0);
        }
    }

    private static void blockScores4E5m2(MemorySegment keys, long off, int upper, long dimStride, float[] q, int q0, int q1, int q2,
                                         int q3, int headDim, float scale, float[] scores, int blockSize) {
        int d4 = headDim & ~3;
        for (int s0 = 0; s0 < upper; s0 += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            FloatVector e0 = a0, e1 = a0, e2 = a0, e3 = a0;
            long base = off + s0;
            int d = 0;
            for (; d < d4; d += 4) {
                FloatVector k = ((IntVector) ByteVector.fromMemorySegment(BYTES, keys, base + d * dimStride, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a0 = k.fma(FloatVector.broadcast(S, q[q0 + d]), a0);
                b0 = k.fma(FloatVector.broadcast(S, q[q1 + d]), b0);
                c0 = k.fma(FloatVector.broadcast(S, q[q2 + d]), c0);
                e0 = k.fma(FloatVector.broadcast(S, q[q3 + d]), e0);
                k = ((IntVector) ByteVector.fromMemorySegment(BYTES, keys, base + (d + 1) * dimStride, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a1 = k.fma(FloatVector.broadcast(S, q[q0 + d + 1]), a1);
                b1 = k.fma(FloatVector.broadcast(S, q[q1 + d + 1]), b1);
                c1 = k.fma(FloatVector.broadcast(S, q[q2 + d + 1]), c1);
                e1 = k.fma(FloatVector.broadcast(S, q[q3 + d + 1]), e1);
                k = ((IntVector) ByteVector.fromMemorySegment(BYTES, keys, base + (d + 2) * dimStride, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a2 = k.fma(FloatVector.broadcast(S, q[q0 + d + 2]), a2);
                b2 = k.fma(FloatVector.broadcast(S, q[q1 + d + 2]), b2);
                c2 = k.fma(FloatVector.broadcast(S, q[q2 + d + 2]), c2);
                e2 = k.fma(FloatVector.broadcast(S, q[q3 + d + 2]), e2);
                k = ((IntVector) ByteVector.fromMemorySegment(BYTES, keys, base + (d + 3) * dimStride, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a3 = k.fma(FloatVector.broadcast(S, q[q0 + d + 3]), a3);
                b3 = k.fma(FloatVector.broadcast(S, q[q1 + d + 3]), b3);
                c3 = k.fma(FloatVector.broadcast(S, q[q2 + d + 3]), c3);
                e3 = k.fma(FloatVector.broadcast(S, q[q3 + d + 3]), e3);
            }
            for (; d < headDim; d++) {
                FloatVector k = ((IntVector) ByteVector.fromMemorySegment(BYTES, keys, base + d * dimStride, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                a0 = k.fma(FloatVector.broadcast(S, q[q0 + d]), a0);
                b0 = k.fma(FloatVector.broadcast(S, q[q1 + d]), b0);
                c0 = k.fma(FloatVector.broadcast(S, q[q2 + d]), c0);
                e0 = k.fma(FloatVector.broadcast(S, q[q3 + d]), e0);
            }
            a0.add(a1).add(a2.add(a3)).mul(scale).intoArray(scores, s0);
            b0.add(b1).add(b2.add(b3)).mul(scale).intoArray(scores, blockSize + s0);
            c0.add(c1).add(c2.add(c3)).mul(scale).intoArray(scores, 2 * blockSize + s0);
            e0.add(e1).add(e2.add(e3)).mul(scale).intoArray(scores, 3 * blockSize + s0);
        }
    }

    /**
     * {@link #accumulateValues4} over a bf16, f16 or fp8 e5m2 cache: each row's sums run as in {@link #accumulateValuesNarrow}.
     * As the f32 kernel, four vectors of the head at a time, so each broadcast weight feeds four FMAs: one vector at a
     * time, the f16 kernel took 1.4x as long (one block of a 64-wide head, in L1).
     */
    private static void accumulateValues4Narrow(float[] out, int o0, int o1, int o2, int o3, int n, float[] p, int p0, int p1, int p2,
                                                int p3, int first, int last, MemorySegment v, long vOff, long vStride, KvCacheDtype dtype) {
        int eb = dtype.bytesPerElement();
        int upper = S.loopBound(n);
        if (dtype == KvCacheDtype.BF16) {
            accumulateValues4Bf16(out, o0, o1, o2, o3, upper, p, p0, p1, p2, p3, first, last, v, vOff, vStride);
        } else if (dtype == KvCacheDtype.F16) {
            accumulateValues4F16(out, o0, o1, o2, o3, upper, p, p0, p1, p2, p3, first, last, v, vOff, vStride);
        } else {
            accumulateValues4E5m2(out, o0, o1, o2, o3, upper, p, p0, p1, p2, p3, first, last, v, vOff, vStride);
        }
        for (int i = upper; i < n; i++) {
            // All four loaded before any is stored: rows may repeat (a group of fewer than 4).
            float a = out[o0 + i], b = out[o1 + i], c = out[o2 + i], e = out[o3 + i];
            for (int j = first; j <= last; j++) {
                float vj = kvScalar(v, vOff + j * vStride + (long) eb * i, dtype);
                a = Math.fma(vj, p[p0 + j], a);
                b = Math.fma(vj, p[p1 + j], b);
                c = Math.fma(vj, p[p2 + j], c);
                e = Math.fma(vj, p[p3 + j], e);
            }
            out[o0 + i] = a;
            out[o1 + i] = b;
            out[o2 + i] = c;
            out[o3 + i] = e;
        }
    }

    private static void accumulateValues4Bf16(float[] out, int o0, int o1, int o2, int o3, int upper, float[] p, int p0, int p1,
                                              int p2, int p3, int first, int last, MemorySegment v, long vOff, long vStride) {
        int i = 0;
        for (; i + 4 * L <= upper; i += 4 * L) {
            FloatVector a0 = FloatVector.fromArray(S, out, o0 + i), a1 = FloatVector.fromArray(S, out, o0 + i + L);
            FloatVector a2 = FloatVector.fromArray(S, out, o0 + i + 2 * L), a3 = FloatVector.fromArray(S, out, o0 + i + 3 * L);
            FloatVector b0 = FloatVector.fromArray(S, out, o1 + i), b1 = FloatVector.fromArray(S, out, o1 + i + L);
            FloatVector b2 = FloatVector.fromArray(S, out, o1 + i + 2 * L), b3 = FloatVector.fromArray(S, out, o1 + i + 3 * L);
            FloatVector c0 = FloatVector.fromArray(S, out, o2 + i), c1 = FloatVector.fromArray(S, out, o2 + i + L);
            FloatVector c2 = FloatVector.fromArray(S, out, o2 + i + 2 * L), c3 = FloatVector.fromArray(S, out, o2 + i + 3 * L);
            FloatVector e0 = FloatVector.fromArray(S, out, o3 + i), e1 = FloatVector.fromArray(S, out, o3 + i + L);
            FloatVector e2 = FloatVector.fromArray(S, out, o3 + i + 2 * L), e3 = FloatVector.fromArray(S, out, o3 + i + 3 * L);
            for (int j = first; j <= last; j++) {
                long row = vOff + j * vStride + 2L * i;
                FloatVector v0 = ((IntVector) ShortVector.fromMemorySegment(HALF, v, row, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                FloatVector v1 = ((IntVector) ShortVector.fromMemorySegment(HALF, v, row + 2L * L, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                FloatVector v2 = ((IntVector) ShortVector.fromMemorySegment(HALF, v, row + 4L * L, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                FloatVector v3 = ((IntVector) ShortVector.fromMemorySegment(HALF, v, row + 6L * L, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                FloatVector pj = FloatVector.broadcast(S, p[p0 + j]);
                a0 = v0.fma(pj, a0);
                a1 = v1.fma(pj, a1);
                a2 = v2.fma(pj, a2);
                a3 = v3.fma(pj, a3);
                pj = FloatVector.broadcast(S, p[p1 + j]);
                b0 = v0.fma(pj, b0);
                b1 = v1.fma(pj, b1);
                b2 = v2.fma(pj, b2);
                b3 = v3.fma(pj, b3);
                pj = FloatVector.broadcast(S, p[p2 + j]);
                c0 = v0.fma(pj, c0);
                c1 = v1.fma(pj, c1);
                c2 = v2.fma(pj, c2);
                c3 = v3.fma(pj, c3);
                pj = FloatVector.broadcast(S, p[p3 + j]);
                e0 = v0.fma(pj, e0);
                e1 = v1.fma(pj, e1);
                e2 = v2.fma(pj, e2);
                e3 = v3.fma(pj, e3);
            }
            a0.intoArray(out, o0 + i);
            a1.intoArray(out, o0 + i + L);
            a2.intoArray(out, o0 + i + 2 * L);
            a3.intoArray(out, o0 + i + 3 * L);
            b0.intoArray(out, o1 + i);
            b1.intoArray(out, o1 + i + L);
            b2.intoArray(out, o1 + i + 2 * L);
            b3.intoArray(out, o1 + i + 3 * L);
            c0.intoArray(out, o2 + i);
            c1.intoArray(out, o2 + i + L);
            c2.intoArray(out, o2 + i + 2 * L);
            c3.intoArray(out, o2 + i + 3 * L);
            e0.intoArray(out, o3 + i);
            e1.intoArray(out, o3 + i + L);
            e2.intoArray(out, o3 + i + 2 * L);
            e3.intoArray(out, o3 + i + 3 * L);
        }
        for (; i < upper; i += L) {
            FloatVector a = FloatVector.fromArray(S, out, o0 + i), b = FloatVector.fromArray(S, out, o1 + i);
            FloatVector c = FloatVector.fromArray(S, out, o2 + i), e = FloatVector.fromArray(S, out, o3 + i);
            for (int j = first; j <= last; j++) {
                FloatVector x = ((IntVector) ShortVector.fromMemorySegment(HALF, v, vOff + j * vStride + 2L * i, LE)
                        .convertShape(VectorOperators.S2I, INTS, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                a = x.fma(FloatVector.broadcast(S, p[p0 + j]), a);
                b = x.fma(FloatVector.broadcast(S, p[p1 + j]), b);
                c = x.fma(FloatVector.broadcast(S, p[p2 + j]), c);
                e = x.fma(FloatVector.broadcast(S, p[p3 + j]), e);
            }
            a.intoArray(out, o0 + i);
            b.intoArray(out, o1 + i);
            c.intoArray(out, o2 + i);
            e.intoArray(out, o3 + i);
        }
    }

    private static void accumulateValues4F16(float[] out, int o0, int o1, int o2, int o3, int upper, float[] p, int p0, int p1,
                                              int p2, int p3, int first, int last, MemorySegment v, long vOff, long vStride) {
        int i = 0;
        for (; i + 4 * L <= upper; i += 4 * L) {
            FloatVector a0 = FloatVector.fromArray(S, out, o0 + i), a1 = FloatVector.fromArray(S, out, o0 + i + L);
            FloatVector a2 = FloatVector.fromArray(S, out, o0 + i + 2 * L), a3 = FloatVector.fromArray(S, out, o0 + i + 3 * L);
            FloatVector b0 = FloatVector.fromArray(S, out, o1 + i), b1 = FloatVector.fromArray(S, out, o1 + i + L);
            FloatVector b2 = FloatVector.fromArray(S, out, o1 + i + 2 * L), b3 = FloatVector.fromArray(S, out, o1 + i + 3 * L);
            FloatVector c0 = FloatVector.fromArray(S, out, o2 + i), c1 = FloatVector.fromArray(S, out, o2 + i + L);
            FloatVector c2 = FloatVector.fromArray(S, out, o2 + i + 2 * L), c3 = FloatVector.fromArray(S, out, o2 + i + 3 * L);
            FloatVector e0 = FloatVector.fromArray(S, out, o3 + i), e1 = FloatVector.fromArray(S, out, o3 + i + L);
            FloatVector e2 = FloatVector.fromArray(S, out, o3 + i + 2 * L), e3 = FloatVector.fromArray(S, out, o3 + i + 3 * L);
            for (int j = first; j <= last; j++) {
                long row = vOff + j * vStride + 2L * i;
                FloatVector v0 = ((IntVector) ShortVector.fromMemorySegment(HALF, v, row, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                FloatVector v1 = ((IntVector) ShortVector.fromMemorySegment(HALF, v, row + 2L * L, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                FloatVector v2 = ((IntVector) ShortVector.fromMemorySegment(HALF, v, row + 4L * L, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                FloatVector v3 = ((IntVector) ShortVector.fromMemorySegment(HALF, v, row + 6L * L, LE).convertShape(VectorOperators.S2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                FloatVector pj = FloatVector.broadcast(S, p[p0 + j]);
                a0 = v0.fma(pj, a0);
                a1 = v1.fma(pj, a1);
                a2 = v2.fma(pj, a2);
                a3 = v3.fma(pj, a3);
                pj = FloatVector.broadcast(S, p[p1 + j]);
                b0 = v0.fma(pj, b0);
                b1 = v1.fma(pj, b1);
                b2 = v2.fma(pj, b2);
                b3 = v3.fma(pj, b3);
                pj = FloatVector.broadcast(S, p[p2 + j]);
                c0 = v0.fma(pj, c0);
                c1 = v1.fma(pj, c1);
                c2 = v2.fma(pj, c2);
                c3 = v3.fma(pj, c3);
                pj = FloatVector.broadcast(S, p[p3 + j]);
                e0 = v0.fma(pj, e0);
                e1 = v1.fma(pj, e1);
                e2 = v2.fma(pj, e2);
                e3 = v3.fma(pj, e3);
            }
            a0.intoArray(out, o0 + i);
            a1.intoArray(out, o0 + i + L);
            a2.intoArray(out, o0 + i + 2 * L);
            a3.intoArray(out, o0 + i + 3 * L);
            b0.intoArray(out, o1 + i);
            b1.intoArray(out, o1 + i + L);
            b2.intoArray(out, o1 + i + 2 * L);
            b3.intoArray(out, o1 + i + 3 * L);
            c0.intoArray(out, o2 + i);
            c1.intoArray(out, o2 + i + L);
            c2.intoArray(out, o2 + i + 2 * L);
            c3.intoArray(out, o2 + i + 3 * L);
            e0.intoArray(out, o3 + i);
            e1.intoArray(out, o3 + i + L);
            e2.intoArray(out, o3 + i + 2 * L);
            e3.intoArray(out, o3 + i + 3 * L);
        }
        for (; i < upper; i += L) {
            FloatVector a = FloatVector.fromArray(S, out, o0 + i), b = FloatVector.fromArray(S, out, o1 + i);
            FloatVector c = FloatVector.fromArray(S, out, o2 + i), e = FloatVector.fromArray(S, out, o3 + i);
            for (int j = first; j <= last; j++) {
                FloatVector x = ((IntVector) ShortVector.fromMemorySegment(HALF, v, vOff + j * vStride + 2L * i, LE)
                        .convertShape(VectorOperators.S2I, INTS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT)
                        .reinterpretAsFloats().mul(0x1p112f);
                a = x.fma(FloatVector.broadcast(S, p[p0 + j]), a);
                b = x.fma(FloatVector.broadcast(S, p[p1 + j]), b);
                c = x.fma(FloatVector.broadcast(S, p[p2 + j]), c);
                e = x.fma(FloatVector.broadcast(S, p[p3 + j]), e);
            }
            a.intoArray(out, o0 + i);
            b.intoArray(out, o1 + i);
            c.intoArray(out, o2 + i);
            e.intoArray(out, o3 + i);
        }
    }

    private static void accumulateValues4E5m2(float[] out, int o0, int o1, int o2, int o3, int upper, float[] p, int p0, int p1,
                                              int p2, int p3, int first, int last, MemorySegment v, long vOff, long vStride) {
        int i = 0;
        for (; i + 4 * L <= upper; i += 4 * L) {
            FloatVector a0 = FloatVector.fromArray(S, out, o0 + i), a1 = FloatVector.fromArray(S, out, o0 + i + L);
            FloatVector a2 = FloatVector.fromArray(S, out, o0 + i + 2 * L), a3 = FloatVector.fromArray(S, out, o0 + i + 3 * L);
            FloatVector b0 = FloatVector.fromArray(S, out, o1 + i), b1 = FloatVector.fromArray(S, out, o1 + i + L);
            FloatVector b2 = FloatVector.fromArray(S, out, o1 + i + 2 * L), b3 = FloatVector.fromArray(S, out, o1 + i + 3 * L);
            FloatVector c0 = FloatVector.fromArray(S, out, o2 + i), c1 = FloatVector.fromArray(S, out, o2 + i + L);
            FloatVector c2 = FloatVector.fromArray(S, out, o2 + i + 2 * L), c3 = FloatVector.fromArray(S, out, o2 + i + 3 * L);
            FloatVector e0 = FloatVector.fromArray(S, out, o3 + i), e1 = FloatVector.fromArray(S, out, o3 + i + L);
            FloatVector e2 = FloatVector.fromArray(S, out, o3 + i + 2 * L), e3 = FloatVector.fromArray(S, out, o3 + i + 3 * L);
            for (int j = first; j <= last; j++) {
                long row = vOff + j * vStride + 1L * i;
                FloatVector v0 = ((IntVector) ByteVector.fromMemorySegment(BYTES, v, row, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                FloatVector v1 = ((IntVector) ByteVector.fromMemorySegment(BYTES, v, row + L, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                FloatVector v2 = ((IntVector) ByteVector.fromMemorySegment(BYTES, v, row + 2L * L, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                FloatVector v3 = ((IntVector) ByteVector.fromMemorySegment(BYTES, v, row + 3L * L, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
                FloatVector pj = FloatVector.broadcast(S, p[p0 + j]);
                a0 = v0.fma(pj, a0);
                a1 = v1.fma(pj, a1);
                a2 = v2.fma(pj, a2);
                a3 = v3.fma(pj, a3);
                pj = FloatVector.broadcast(S, p[p1 + j]);
                b0 = v0.fma(pj, b0);
                b1 = v1.fma(pj, b1);
                b2 = v2.fma(pj, b2);
                b3 = v3.fma(pj, b3);
                pj = FloatVector.broadcast(S, p[p2 + j]);
                c0 = v0.fma(pj, c0);
                c1 = v1.fma(pj, c1);
                c2 = v2.fma(pj, c2);
                c3 = v3.fma(pj, c3);
                pj = FloatVector.broadcast(S, p[p3 + j]);
                e0 = v0.fma(pj, e0);
                e1 = v1.fma(pj, e1);
                e2 = v2.fma(pj, e2);
                e3 = v3.fma(pj, e3);
            }
            a0.intoArray(out, o0 + i);
            a1.intoArray(out, o0 + i + L);
            a2.intoArray(out, o0 + i + 2 * L);
            a3.intoArray(out, o0 + i + 3 * L);
            b0.intoArray(out, o1 + i);
            b1.intoArray(out, o1 + i + L);
            b2.intoArray(out, o1 + i + 2 * L);
            b3.intoArray(out, o1 + i + 3 * L);
            c0.intoArray(out, o2 + i);
            c1.intoArray(out, o2 + i + L);
            c2.intoArray(out, o2 + i + 2 * L);
            c3.intoArray(out, o2 + i + 3 * L);
            e0.intoArray(out, o3 + i);
            e1.intoArray(out, o3 + i + L);
            e2.intoArray(out, o3 + i + 2 * L);
            e3.intoArray(out, o3 + i + 3 * L);
        }
        for (; i < upper; i += L) {
            FloatVector a = FloatVector.fromArray(S, out, o0 + i), b = FloatVector.fromArray(S, out, o1 + i);
            FloatVector c = FloatVector.fromArray(S, out, o2 + i), e = FloatVector.fromArray(S, out, o3 + i);
            for (int j = first; j <= last; j++) {
                FloatVector x = ((IntVector) ByteVector.fromMemorySegment(BYTES, v, vOff + j * vStride + i, LE)
                        .convertShape(VectorOperators.B2I, INTS, 0)).lanewise(VectorOperators.LSHL, 21).and(E5M2_SIGN_EXP_MANT)
                        .reinterpretAsFloats().mul(0x1p112f);
                a = x.fma(FloatVector.broadcast(S, p[p0 + j]), a);
                b = x.fma(FloatVector.broadcast(S, p[p1 + j]), b);
                c = x.fma(FloatVector.broadcast(S, p[p2 + j]), c);
                e = x.fma(FloatVector.broadcast(S, p[p3 + j]), e);
            }
            a.intoArray(out, o0 + i);
            b.intoArray(out, o1 + i);
            c.intoArray(out, o2 + i);
            e.intoArray(out, o3 + i);
        }
    }

    /**
     * dst[0, n * cols) = rows [r0, r0 + n) of the matrix widened to f32. Every matmul goes through
     * this 4-row staging buffer (it stays in L1): the weights are read from memory once per step,
     * and the dot-product kernels see one storage type only.
     */
    static void widenRows(LlamaWeights.Matrix m, int r0, int n, float[] dst) {
        widenRows(m, r0, n, dst, 0);
    }

    /** As {@link #widenRows(LlamaWeights.Matrix, int, int, float[])}, into dst from {@code dstOff}. */
    static void widenRows(LlamaWeights.Matrix m, int r0, int n, float[] dst, int dstOff) {
        MemorySegment w = m.data();
        int cols = m.cols();
        int upper = S.loopBound(cols);
        for (int r = 0; r < n; r++) {
            long rowOff = (r0 + r) * m.rowBytes();
            int d = dstOff + r * cols;
            // Vector code is written out in each loop rather than in helpers: a helper that C2 does not
            // inline (its size limits are easily hit by Vector API code) boxes every vector it returns.
            switch (m.type()) {
                case F32 -> {
                    for (int i = 0; i < upper; i += L) {
                        FloatVector.fromMemorySegment(S, w, rowOff + 4L * i, LE).intoArray(dst, d + i);
                    }
                }
                case BF16 -> {
                    for (int i = 0; i < upper; i += L) {
                        ((IntVector) ShortVector.fromMemorySegment(HALF, w, rowOff + 2L * i, LE)
                                .convertShape(VectorOperators.S2I, INTS, 0))
                                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, d + i);
                    }
                }
                case Q8_0 -> {
                    // scale * int8, as ggml's dequantize_row_q8_0 computes it (one float multiply).
                    if (L == 16) {
                        // Blocks written out two at a time: C2 then emits far fewer instructions per block.
                        int blocks = cols / 32, b = 0;
                        for (; b + 1 < blocks; b += 2) {
                            long block = rowOff + b * 34L;
                            int o = d + b * 32;
                            FloatVector scale = FloatVector.broadcast(S, Float.float16ToFloat(w.get(BF16, block)));
                            ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, block + 2, LE).convertShape(VectorOperators.B2F, S, 0))
                                    .mul(scale).intoArray(dst, o);
                            ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, block + 18, LE).convertShape(VectorOperators.B2F, S, 0))
                                    .mul(scale).intoArray(dst, o + 16);
                            FloatVector next = FloatVector.broadcast(S, Float.float16ToFloat(w.get(BF16, block + 34)));
                            ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, block + 36, LE).convertShape(VectorOperators.B2F, S, 0))
                                    .mul(next).intoArray(dst, o + 32);
                            ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, block + 52, LE).convertShape(VectorOperators.B2F, S, 0))
                                    .mul(next).intoArray(dst, o + 48);
                        }
                        if (b < blocks) {
                            long block = rowOff + b * 34L;
                            FloatVector scale = FloatVector.broadcast(S, Float.float16ToFloat(w.get(BF16, block)));
                            ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, block + 2, LE).convertShape(VectorOperators.B2F, S, 0))
                                    .mul(scale).intoArray(dst, d + b * 32);
                            ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, block + 18, LE).convertShape(VectorOperators.B2F, S, 0))
                                    .mul(scale).intoArray(dst, d + b * 32 + 16);
                        }
                        continue;
                    }
                    for (int b = 0; b < cols / 32; b++) {
                        long block = rowOff + b * 34L;
                        float scale = Float.float16ToFloat(w.get(BF16, block));
                        for (int j = 0; j < 32; j += L) {
                            ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, block + 2 + j, LE)
                                    .convertShape(VectorOperators.B2F, S, 0)).mul(scale).intoArray(dst, d + b * 32 + j);
                        }
                    }
                }
                // One small method per type: this body stays within C2's inlining budget.
                case Q4_1 -> widenQ4_1(w, rowOff, cols / 32, dst, d);
                case Q5_0 -> widenQ5_0(w, rowOff, cols / 32, dst, d);
                case Q5_1 -> widenQ5_1(w, rowOff, cols / 32, dst, d);
                case Q5_K -> widenQ5_K(w, rowOff, cols / 256, dst, d);
                case Q4_K, Q6_K -> {
                    long blockBytes = m.type() == WeightType.Q4_K ? 144 : 210;
                    for (int b = 0; b < cols / 256; b++) {
                        dequantizeSuperBlock(w, m.type(), rowOff + b * blockBytes, dst, d + b * 256);
                    }
                }
                case Q4_0 -> {
                    // (q - 8) * scale, as ggml's dequantize_row_q4_0: byte j holds element j (low nibble)
                    // and element j + 16 (high nibble).
                    for (int b = 0; b < cols / 32; b++) {
                        long block = rowOff + b * 18L;
                        float scale = Float.float16ToFloat(w.get(BF16, block));
                        for (int j = 0; j < 16; j += L) {
                            ByteVector packed = ByteVector.fromMemorySegment(BYTES, w, block + 2 + j, LE);
                            ((FloatVector) packed.and((byte) 0x0F).sub((byte) 8).convertShape(VectorOperators.B2F, S, 0))
                                    .mul(scale).intoArray(dst, d + b * 32 + j);
                            ((FloatVector) packed.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F).sub((byte) 8)
                                    .convertShape(VectorOperators.B2F, S, 0)).mul(scale).intoArray(dst, d + b * 32 + 16 + j);
                        }
                    }
                }
                case F16 -> {
                    // A plain loop: C2 vectorizes it into the CPU's half-to-float conversion (vcvtph2ps),
                    // which the Vector API does not expose; measured ~1.7x faster than the bit arithmetic.
                    for (int i = 0; i < cols; i++) {
                        dst[d + i] = Float.float16ToFloat(w.get(BF16, rowOff + 2L * i));
                    }
                    continue;
                }
            }
            if (m.type().blockQuantized()) {
                continue;   // rows are whole blocks of 32, a multiple of L
            }
            for (int i = upper; i < cols; i++) {
                dst[d + i] = scalar(w, m.type(), rowOff, i);
            }
        }
    }

    /**
     * One 256-weight super-block of Q4_K or Q6_K into dst[off, off + 256), by the formulas of ggml's
     * dequantize_row_q4_K / dequantize_row_q6_K, L weights at a time: the quants are unpacked in byte
     * lanes, widened to floats, then scaled with the same float operations, in the same order, as ggml's
     * scalar code (so the results are bit for bit its own). Assumes L divides 16, as the Q4_0 case does.
     */
    static void dequantizeSuperBlock(MemorySegment w, WeightType type, long block, float[] dst, int off) {
        if (type == WeightType.Q4_K) {
            float d = Float.float16ToFloat(w.get(BF16, block)), min = Float.float16ToFloat(w.get(BF16, block + 2));
            long lo = w.get(K_SCALES_LO, block + 4);
            int hi = w.get(K_SCALES_HI, block + 12);
            long scales = q4kScales(lo, hi), mins = q4kMins(lo, hi);
            long qs = block + 16;
            for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
                float d1 = d * group(scales, is), m1 = min * group(mins, is);
                float d2 = d * group(scales, is + 1), m2 = min * group(mins, is + 1);
                long q = qs + j / 2;
                // Byte l holds element j + l (low nibble) and element j + 32 + l (high nibble).
                for (int l = 0; l < 32; l += L) {
                    ByteVector packed = ByteVector.fromMemorySegment(BYTES, w, q + l, LE);
                    ((FloatVector) packed.and((byte) 0x0F).convertShape(VectorOperators.B2F, S, 0))
                            .mul(d1).sub(m1).intoArray(dst, off + j + l);
                    ((FloatVector) packed.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F).convertShape(VectorOperators.B2F, S, 0))
                            .mul(d2).sub(m2).intoArray(dst, off + j + 32 + l);
                }
            }
        } else {
            long ql = block, qh = block + 128, sc = block + 192;
            float d = Float.float16ToFloat(w.get(BF16, block + 208));
            for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8) {
                // Elements n + l + 32k (k = 0..3) take the low or high nibble of ql[l] or ql[l + 32] and
                // bits 2k, 2k + 1 of qh[l]; a 6-bit quant minus 32 fits a signed byte lane.
                for (int l = 0; l < 32; l += L) {
                    int is = l / 16;
                    ByteVector low0 = ByteVector.fromMemorySegment(BYTES, w, ql + l, LE);
                    ByteVector low32 = ByteVector.fromMemorySegment(BYTES, w, ql + l + 32, LE);
                    ByteVector high = ByteVector.fromMemorySegment(BYTES, w, qh + l, LE);
                    ByteVector q1 = low0.and((byte) 0x0F).or(high.and((byte) 3).lanewise(VectorOperators.LSHL, 4)).sub((byte) 32);
                    ByteVector q2 = low32.and((byte) 0x0F)
                            .or(high.lanewise(VectorOperators.LSHR, 2).and((byte) 3).lanewise(VectorOperators.LSHL, 4)).sub((byte) 32);
                    ByteVector q3 = low0.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F)
                            .or(high.lanewise(VectorOperators.LSHR, 4).and((byte) 3).lanewise(VectorOperators.LSHL, 4)).sub((byte) 32);
                    ByteVector q4 = low32.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F)
                            .or(high.lanewise(VectorOperators.LSHR, 6).and((byte) 3).lanewise(VectorOperators.LSHL, 4)).sub((byte) 32);
                    // ggml: d * sc * q, i.e. (d * sc) * q in float.
                    float d1 = d * w.get(ValueLayout.JAVA_BYTE, sc + is), d2 = d * w.get(ValueLayout.JAVA_BYTE, sc + is + 2);
                    float d3 = d * w.get(ValueLayout.JAVA_BYTE, sc + is + 4), d4 = d * w.get(ValueLayout.JAVA_BYTE, sc + is + 6);
                    ((FloatVector) q1.convertShape(VectorOperators.B2F, S, 0)).mul(d1).intoArray(dst, off + n + l);
                    ((FloatVector) q2.convertShape(VectorOperators.B2F, S, 0)).mul(d2).intoArray(dst, off + n + l + 32);
                    ((FloatVector) q3.convertShape(VectorOperators.B2F, S, 0)).mul(d3).intoArray(dst, off + n + l + 64);
                    ((FloatVector) q4.convertShape(VectorOperators.B2F, S, 0)).mul(d4).intoArray(dst, off + n + l + 96);
                }
            }
        }
    }

    /** The 12 packed bytes of Q4_K's 6-bit scales and mins: bytes 0-7, then 8-11. */
    private static final ValueLayout.OfLong K_SCALES_LO = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfInt K_SCALES_HI = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LE);

    /**
     * ggml's get_scale_min_k4 for all eight groups at once: byte g of the result is group g's 6-bit scale
     * (q4kMins: its min), from the 12 packed bytes read as a little-endian long (bytes 0-7) and int (8-11).
     * Groups 0-3 keep the low 6 bits of bytes 0-3 (mins: 4-7); groups 4-7 take the low (mins: high) nibble of
     * bytes 8-11 and the top 2 bits of bytes 0-3 (mins: 4-7) above it. Masks drop the bits a shift moves
     * across byte boundaries.
     */
    private static long q4kScales(long lo, int hi) {
        int a = (int) lo;
        return (a & 0x3F3F3F3FL) | (long) ((hi & 0x0F0F0F0F) | ((a >>> 2) & 0x30303030)) << 32;
    }

    /** The eight 6-bit mins, as {@link #q4kScales}. */
    private static long q4kMins(long lo, int hi) {
        int b = (int) (lo >>> 32);
        return (b & 0x3F3F3F3FL) | (long) (((hi >>> 4) & 0x0F0F0F0F) | ((b >>> 2) & 0x30303030)) << 32;
    }

    /** Byte g of a {@link #q4kScales} / {@link #q4kMins} result. */
    private static int group(long packed, int g) {
        return (int) (packed >>> (8 * g)) & 0xFF;
    }

    /*
     * The 32-element types besides Q8_0/Q4_0 (llama.cpp's fallbacks for rows that are not whole 256-element
     * super-blocks, e.g. Qwen2.5-0.5B's 896) and Q5_K: one method per type, by the formulas of ggml's
     * dequantize_row_q4_1 / _q5_0 / _q5_1 / _q5_K with the same float operations in the same order. Byte j of
     * the 16 nibble bytes holds element j (low nibble) and element j + 16 (high nibble); the 5th bits of
     * Q5_0/Q5_1 are bit j of a little-endian u32, taken per lane in int lanes. Assumes L divides 16.
     * q * d (and Q5_K's d * scale * q) is exact in float, at most 22 significant bits, so a C compiler
     * contracting ggml's q * d + m into an FMA gives these bits too.
     */
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LE);

    /** {@code blocks} Q4_1 blocks from byte {@code at} into dst from {@code off}: q * d + m. */
    static void widenQ4_1(MemorySegment w, long at, int blocks, float[] dst, int off) {
        for (int b = 0; b < blocks; b++) {
            long block = at + b * 20L;
            float d = Float.float16ToFloat(w.get(BF16, block)), m = Float.float16ToFloat(w.get(BF16, block + 2));
            for (int j = 0; j < 16; j += L) {
                ByteVector packed = ByteVector.fromMemorySegment(BYTES, w, block + 4 + j, LE);
                ((FloatVector) packed.and((byte) 0x0F).convertShape(VectorOperators.B2F, S, 0))
                        .mul(d).add(m).intoArray(dst, off + b * 32 + j);
                ((FloatVector) packed.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F).convertShape(VectorOperators.B2F, S, 0))
                        .mul(d).add(m).intoArray(dst, off + b * 32 + 16 + j);
            }
        }
    }

    /** {@code blocks} Q5_0 blocks: (q - 16) * d. */
    static void widenQ5_0(MemorySegment w, long at, int blocks, float[] dst, int off) {
        IntVector lane = IntVector.zero(INTS).addIndex(1);
        for (int b = 0; b < blocks; b++) {
            long block = at + b * 22L;
            float d = Float.float16ToFloat(w.get(BF16, block));
            int qh = w.get(U32, block + 2);
            for (int j = 0; j < 16; j += L) {
                IntVector packed = (IntVector) ByteVector.fromMemorySegment(BYTES, w, block + 6 + j, LE)
                        .convertShape(VectorOperators.B2I, INTS, 0);
                IntVector h0 = IntVector.broadcast(INTS, qh >>> j).lanewise(VectorOperators.LSHR, lane).and(1)
                        .lanewise(VectorOperators.LSHL, 4);
                IntVector h1 = IntVector.broadcast(INTS, qh >>> (j + 16)).lanewise(VectorOperators.LSHR, lane).and(1)
                        .lanewise(VectorOperators.LSHL, 4);
                ((FloatVector) packed.and(0x0F).or(h0).sub(16).convert(VectorOperators.I2F, 0))
                        .mul(d).intoArray(dst, off + b * 32 + j);
                ((FloatVector) packed.lanewise(VectorOperators.LSHR, 4).and(0x0F).or(h1).sub(16).convert(VectorOperators.I2F, 0))
                        .mul(d).intoArray(dst, off + b * 32 + 16 + j);
            }
        }
    }

    /** {@code blocks} Q5_1 blocks: q * d + m. */
    static void widenQ5_1(MemorySegment w, long at, int blocks, float[] dst, int off) {
        IntVector lane = IntVector.zero(INTS).addIndex(1);
        for (int b = 0; b < blocks; b++) {
            long block = at + b * 24L;
            float d = Float.float16ToFloat(w.get(BF16, block)), m = Float.float16ToFloat(w.get(BF16, block + 2));
            int qh = w.get(U32, block + 4);
            for (int j = 0; j < 16; j += L) {
                IntVector packed = (IntVector) ByteVector.fromMemorySegment(BYTES, w, block + 8 + j, LE)
                        .convertShape(VectorOperators.B2I, INTS, 0);
                IntVector h0 = IntVector.broadcast(INTS, qh >>> j).lanewise(VectorOperators.LSHR, lane).and(1)
                        .lanewise(VectorOperators.LSHL, 4);
                IntVector h1 = IntVector.broadcast(INTS, qh >>> (j + 16)).lanewise(VectorOperators.LSHR, lane).and(1)
                        .lanewise(VectorOperators.LSHL, 4);
                ((FloatVector) packed.and(0x0F).or(h0).convert(VectorOperators.I2F, 0))
                        .mul(d).add(m).intoArray(dst, off + b * 32 + j);
                ((FloatVector) packed.lanewise(VectorOperators.LSHR, 4).and(0x0F).or(h1).convert(VectorOperators.I2F, 0))
                        .mul(d).add(m).intoArray(dst, off + b * 32 + 16 + j);
            }
        }
    }

    /**
     * {@code blocks} Q5_K super-blocks: d1 * q - m1 as Q4_K, the quant's 5th bit from qh[l] (bit 2c of
     * chunk c's low nibbles, bit 2c + 1 of its high nibbles).
     */
    static void widenQ5_K(MemorySegment w, long at, int blocks, float[] dst, int off) {
        for (int b = 0; b < blocks; b++) {
            long block = at + b * 176L;
            int o = off + b * 256;
            float d = Float.float16ToFloat(w.get(BF16, block)), min = Float.float16ToFloat(w.get(BF16, block + 2));
            long lo = w.get(K_SCALES_LO, block + 4);
            int hi = w.get(K_SCALES_HI, block + 12);
            long scales = q4kScales(lo, hi), mins = q4kMins(lo, hi);
            long qh = block + 16, qs = block + 48;
            for (int c = 0; c < 4; c++) {
                int is = 2 * c;
                float d1 = d * group(scales, is), m1 = min * group(mins, is);
                float d2 = d * group(scales, is + 1), m2 = min * group(mins, is + 1);
                long q = qs + 32L * c;
                for (int l = 0; l < 32; l += L) {
                    ByteVector packed = ByteVector.fromMemorySegment(BYTES, w, q + l, LE);
                    ByteVector high = ByteVector.fromMemorySegment(BYTES, w, qh + l, LE);
                    ByteVector q1 = packed.and((byte) 0x0F)
                            .or(high.lanewise(VectorOperators.LSHR, 2 * c).and((byte) 1).lanewise(VectorOperators.LSHL, 4));
                    ByteVector q2 = packed.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F)
                            .or(high.lanewise(VectorOperators.LSHR, 2 * c + 1).and((byte) 1).lanewise(VectorOperators.LSHL, 4));
                    ((FloatVector) q1.convertShape(VectorOperators.B2F, S, 0)).mul(d1).sub(m1).intoArray(dst, o + 64 * c + l);
                    ((FloatVector) q2.convertShape(VectorOperators.B2F, S, 0)).mul(d2).sub(m2).intoArray(dst, o + 64 * c + 32 + l);
                }
            }
        }
    }

    /**
     * out[t][r0 + j] = wf[j] . in[t] for the 4 widened rows j at wf[wOff + j cols] and the 4 tokens t0..t0+3:
     * a 4 x 4 register tile, so each loaded chunk feeds four FMAs. Same per-(row, token) summation as
     * {@link #dot4x1}.
     */
    static void dot4x4(float[] wf, int wOff, int cols, int r0, int rows, float[] in, int t0, float[] out, float[] acc) {
        int w0 = wOff, w1 = wOff + cols, w2 = w1 + cols, w3 = w2 + cols;
        int x0 = t0 * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int upper = S.loopBound(cols);
        for (int i = 0; i < upper; i += L) {
            FloatVector v0 = FloatVector.fromArray(S, in, x0 + i);
            FloatVector v1 = FloatVector.fromArray(S, in, x1 + i);
            FloatVector v2 = FloatVector.fromArray(S, in, x2 + i);
            FloatVector v3 = FloatVector.fromArray(S, in, x3 + i);
            FloatVector w = FloatVector.fromArray(S, wf, w0 + i);
            a00 = w.fma(v0, a00);
            a01 = w.fma(v1, a01);
            a02 = w.fma(v2, a02);
            a03 = w.fma(v3, a03);
            w = FloatVector.fromArray(S, wf, w1 + i);
            a10 = w.fma(v0, a10);
            a11 = w.fma(v1, a11);
            a12 = w.fma(v2, a12);
            a13 = w.fma(v3, a13);
            w = FloatVector.fromArray(S, wf, w2 + i);
            a20 = w.fma(v0, a20);
            a21 = w.fma(v1, a21);
            a22 = w.fma(v2, a22);
            a23 = w.fma(v3, a23);
            w = FloatVector.fromArray(S, wf, w3 + i);
            a30 = w.fma(v0, a30);
            a31 = w.fma(v1, a31);
            a32 = w.fma(v2, a32);
            a33 = w.fma(v3, a33);
        }
        if (COMBINED_REDUCTION) {
            FloatVector u0 = a00.blend(a01, LANES0).add(a01.blend(a00, LANES0).rearrange(SWAP0));
            FloatVector u1 = a02.blend(a03, LANES0).add(a03.blend(a02, LANES0).rearrange(SWAP0));
            FloatVector u2 = a10.blend(a11, LANES0).add(a11.blend(a10, LANES0).rearrange(SWAP0));
            FloatVector u3 = a12.blend(a13, LANES0).add(a13.blend(a12, LANES0).rearrange(SWAP0));
            FloatVector u4 = a20.blend(a21, LANES0).add(a21.blend(a20, LANES0).rearrange(SWAP0));
            FloatVector u5 = a22.blend(a23, LANES0).add(a23.blend(a22, LANES0).rearrange(SWAP0));
            FloatVector u6 = a30.blend(a31, LANES0).add(a31.blend(a30, LANES0).rearrange(SWAP0));
            FloatVector u7 = a32.blend(a33, LANES0).add(a33.blend(a32, LANES0).rearrange(SWAP0));
            FloatVector v0 = u0.blend(u1, LANES1).add(u1.blend(u0, LANES1).rearrange(SWAP1));
            FloatVector v1 = u2.blend(u3, LANES1).add(u3.blend(u2, LANES1).rearrange(SWAP1));
            FloatVector v2 = u4.blend(u5, LANES1).add(u5.blend(u4, LANES1).rearrange(SWAP1));
            FloatVector v3 = u6.blend(u7, LANES1).add(u7.blend(u6, LANES1).rearrange(SWAP1));
            FloatVector h0 = v0.blend(v1, LANES2).add(v1.blend(v0, LANES2).rearrange(SWAP2));
            FloatVector h1 = v2.blend(v3, LANES2).add(v3.blend(v2, LANES2).rearrange(SWAP2));
            FloatVector r = h0.blend(h1, LANES3).add(h1.blend(h0, LANES3).rearrange(SWAP3));
            if (upper == cols) {
                // Token k's four row totals to lanes 4k..4k+3, then one 4-float store per token.
                FloatVector byToken = r.rearrange(TOKEN_MAJOR_16);
                ((FloatVector) byToken.reinterpretShape(QUARTER, 0)).intoArray(out, t0 * rows + r0);
                ((FloatVector) byToken.reinterpretShape(QUARTER, 1)).intoArray(out, (t0 + 1) * rows + r0);
                ((FloatVector) byToken.reinterpretShape(QUARTER, 2)).intoArray(out, (t0 + 2) * rows + r0);
                ((FloatVector) byToken.reinterpretShape(QUARTER, 3)).intoArray(out, (t0 + 3) * rows + r0);
                return;
            }
            r.intoArray(acc, 0);
            for (int j = 0; j < 4; j++) {
                for (int k = 0; k < 4; k++) {
                    int t = t0 + k;
                    out[t * rows + r0 + j] = acc[LANE_OF_16[4 * j + k]] + tail(wf, wOff + j * cols, in, t * cols, upper, cols);
                }
            }
            return;
        }
        a00.intoArray(acc, 0);
        a01.intoArray(acc, L);
        a02.intoArray(acc, 2 * L);
        a03.intoArray(acc, 3 * L);
        a10.intoArray(acc, 4 * L);
        a11.intoArray(acc, 5 * L);
        a12.intoArray(acc, 6 * L);
        a13.intoArray(acc, 7 * L);
        a20.intoArray(acc, 8 * L);
        a21.intoArray(acc, 9 * L);
        a22.intoArray(acc, 10 * L);
        a23.intoArray(acc, 11 * L);
        a30.intoArray(acc, 12 * L);
        a31.intoArray(acc, 13 * L);
        a32.intoArray(acc, 14 * L);
        a33.intoArray(acc, 15 * L);
        finishTile(wf, wOff, cols, r0, rows, in, t0, out, acc, upper);
    }

    private static void finishTile(float[] wf, int wOff, int cols, int r0, int rows, float[] in, int t0, float[] out, float[] acc, int upper) {
        for (int j = 0; j < 4; j++) {
            for (int k = 0; k < 4; k++) {
                int t = t0 + k;
                out[t * rows + r0 + j] = treeSum(acc, (4 * j + k) * L) + (upper == cols ? 0f : tail(wf, wOff + j * cols, in, t * cols, upper, cols));
            }
        }
    }

    /**
     * Steps of at most this many tokens read the weights straight from memory ({@link #dotRows}); larger ones
     * widen them once for 4 x 4 register tiles. End to end (SmolLM2-135M f16, alternating runs): 2 tokens
     * 129-135 tok/s against 100-119 for one token at a time, 3 tokens 150-185 against 81-115, 4 tokens 187-220
     * against 170-195 for the tiles; at 6 and 8 tokens the tiles were as fast or faster.
     */
    static final int DIRECT_MAX_TOKENS = 4;

    /** Whether {@link #dotRows} reads this type's rows straight from memory (else they are staged by widenRows). */
    static boolean readsRowsDirectly(WeightType type) {
        return switch (type) {
            case F32, BF16, F16, Q8_0, Q4_0, Q4_K, Q6_K -> true;
            case Q5_K -> L == 16;
            default -> false;
        };
    }

    /**
     * out[t][r] = W[r] . in[t] for rows [rFrom, rTo) and tokens [0, T), each row read straight from memory:
     * the decode path (up to {@link #DIRECT_MAX_TOKENS} tokens per step), for the types of {@link #readsRowsDirectly}.
     * Rows go two at a time, from two sequential streams half the range apart: two FMA chains per thread, and
     * two streams the hardware prefetcher follows in parallel (one thread reads Q8_0 at 15 instead of 12 GB/s
     * from DRAM). The distance matters: neighbouring rows read together ran at half speed, as did staging
     * rows through a buffer (a store and a reload per weight). Rows left without a partner are read with
     * themselves, the second sums dropped. With several tokens each weight vector is loaded and converted once
     * for 4 tokens (a missing token repeats the last one; its sums are dropped).
     * Each product is the one {@link #dot4x1} computes on the widened row (same conversion, same FMA order,
     * same reduction tree), so a sequence's logits do not depend on how many tokens share its step.
     * {@code acc} is {@link #ACC_SCRATCH} floats of scratch.
     */
    static void dotRows(LlamaWeights.Matrix m, int rFrom, int rTo, float[] in, int T, float[] out, float[] acc) {
        int half = (rTo - rFrom) / 8 * 4;
        for (int i = 0; i < half; i += 4) {
            rowGroupPair(m, rFrom + i, rFrom + half + i, 4, in, T, out, acc, true);
        }
        for (int r0 = rFrom + 2 * half; r0 < rTo; r0 += 4) {
            rowGroupPair(m, r0, r0, Math.min(4, rTo - r0), in, T, out, acc, false);
        }
    }

    /**
     * Row groups p and p + pairs of m, for p in [pFrom, pTo), read together as {@link #dotRows} reads its two
     * halves: a caller can hand out pairs in small chunks and keep each thread's two streams far apart.
     */
    static void dotRowGroupPairs(LlamaWeights.Matrix m, int pFrom, int pTo, int pairs, float[] in, int T, float[] out, float[] acc) {
        for (int p = pFrom; p < pTo; p++) {
            rowGroupPair(m, 4 * p, 4 * (p + pairs), 4, in, T, out, acc, true);
        }
    }

    /** Rows a0.. and b0.. (n of each, n <= 4) for all T tokens, read together; b's sums are kept when {@code keepB}. */
    private static void rowGroupPair(LlamaWeights.Matrix m, int a0, int b0, int n, float[] in, int T, float[] out, float[] acc,
                                     boolean keepB) {
        int rows = m.rows(), cols = m.cols();
        if (T == 1) {
            for (int j = 0; j < n; j++) {
                rowPairAccumulators(m, a0 + j, b0 + j, in, acc, j);
            }
            reduceFour(acc, 0, n, out, a0, 1);
            if (keepB) {
                reduceFour(acc, 8 * L, n, out, b0, 1);
            }
            return;
        }
        for (int j = 0; j < n; j++) {
            for (int t0 = 0; t0 < T; t0 += 4) {
                int nt = Math.min(4, T - t0);
                int x0 = t0 * cols, x1 = (t0 + Math.min(1, nt - 1)) * cols, x2 = (t0 + Math.min(2, nt - 1)) * cols,
                        x3 = (t0 + Math.min(3, nt - 1)) * cols;
                rowPairAccumulators4(m, a0 + j, b0 + j, in, x0, x1, x2, x3, acc);
                reduceFour(acc, 0, nt, out, t0 * rows + a0 + j, rows);
                if (keepB) {
                    reduceFour(acc, 8 * L, nt, out, t0 * rows + b0 + j, rows);
                }
            }
        }
    }

    /**
     * Rows a and b before their final reductions, read together: row a's accumulator to acc[j L] and tail to
     * acc[4 L + j], row b's to acc[8 L + j L] and acc[12 L + j]. Each row's FMAs are those {@link #dot4x1} does
     * on the widened row, in the same order.
     */
    private static void rowPairAccumulators(LlamaWeights.Matrix m, int a, int b, float[] x, float[] acc, int j) {
        MemorySegment w = m.data();
        long rowA = a * m.rowBytes(), rowB = b * m.rowBytes();
        int cols = m.cols();
        switch (m.type()) {
            case F32 -> pairF32(w, rowA, rowB, cols, x, acc, j);
            case BF16 -> pairBf16(w, rowA, rowB, cols, x, acc, j);
            case F16 -> pairF16(w, rowA, rowB, cols, x, acc, j);
            case Q8_0 -> pairQ8_0(w, rowA, rowB, cols, x, acc, j);
            case Q4_0 -> pairQ4_0(w, rowA, rowB, cols, x, acc, j);
            case Q4_K -> pairQ4_K(w, rowA, rowB, cols, x, acc, j);
            case Q5_K -> pairQ5_K(w, rowA, rowB, cols, x, acc, j);
            case Q6_K -> pairQ6_K(w, rowA, rowB, cols, x, acc, j);
            default -> throw new IllegalArgumentException(m.type() + " rows are not read in pairs");
        }
    }

    private static void pairF32(MemorySegment w, long rowA, long rowB, int cols, float[] x, float[] acc, int j) {
        int upper = S.loopBound(cols);
        FloatVector a = FloatVector.zero(S), b = a;
        for (int i = 0; i < upper; i += L) {
            FloatVector xv = FloatVector.fromArray(S, x, i);
            a = FloatVector.fromMemorySegment(S, w, rowA + 4L * i, LE).fma(xv, a);
            b = FloatVector.fromMemorySegment(S, w, rowB + 4L * i, LE).fma(xv, b);
        }
        storePair(a, b, acc, j, upper == cols ? 0f : rowTail(w, WeightType.F32, rowA, x, 0, upper, cols),
                upper == cols ? 0f : rowTail(w, WeightType.F32, rowB, x, 0, upper, cols));
    }

    private static void pairBf16(MemorySegment w, long rowA, long rowB, int cols, float[] x, float[] acc, int j) {
        int upper = S.loopBound(cols);
        FloatVector a = FloatVector.zero(S), b = a;
        for (int i = 0; i < upper; i += L) {
            FloatVector xv = FloatVector.fromArray(S, x, i);
            a = ((IntVector) ShortVector.fromMemorySegment(HALF, w, rowA + 2L * i, LE).convertShape(VectorOperators.S2I, INTS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xv, a);
            b = ((IntVector) ShortVector.fromMemorySegment(HALF, w, rowB + 2L * i, LE).convertShape(VectorOperators.S2I, INTS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xv, b);
        }
        storePair(a, b, acc, j, upper == cols ? 0f : rowTail(w, WeightType.BF16, rowA, x, 0, upper, cols),
                upper == cols ? 0f : rowTail(w, WeightType.BF16, rowB, x, 0, upper, cols));
    }

    /**
     * f16 widened by the three-op conversion of the KV cache kernels: equal to {@code Float.float16ToFloat}
     * (which widenRows uses) for every finite half; only infinities and NaNs, which no usable weight
     * holds, come out as other values.
     */
    private static void pairF16(MemorySegment w, long rowA, long rowB, int cols, float[] x, float[] acc, int j) {
        int upper = S.loopBound(cols);
        FloatVector a = FloatVector.zero(S), b = a;
        for (int i = 0; i < upper; i += L) {
            FloatVector xv = FloatVector.fromArray(S, x, i);
            a = ((IntVector) ShortVector.fromMemorySegment(HALF, w, rowA + 2L * i, LE).convertShape(VectorOperators.S2I, INTS, 0))
                    .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f).fma(xv, a);
            b = ((IntVector) ShortVector.fromMemorySegment(HALF, w, rowB + 2L * i, LE).convertShape(VectorOperators.S2I, INTS, 0))
                    .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f).fma(xv, b);
        }
        storePair(a, b, acc, j, upper == cols ? 0f : rowTail(w, WeightType.F16, rowA, x, 0, upper, cols),
                upper == cols ? 0f : rowTail(w, WeightType.F16, rowB, x, 0, upper, cols));
    }

    /**
     * scale * int8 per weight, as widenRows: a block's first half, then its second. With 16 lanes a block is
     * two vectors, written out (C2 emits about a fifth fewer instructions per block than for the inner loop).
     */
    private static void pairQ8_0(MemorySegment w, long rowA, long rowB, int cols, float[] x, float[] acc, int j) {
        FloatVector a = FloatVector.zero(S), b = a;
        for (int k = 0; k < cols / 32; k++) {
            long blockA = rowA + k * 34L, blockB = rowB + k * 34L;
            FloatVector scaleA = FloatVector.broadcast(S, Float.float16ToFloat(w.get(BF16, blockA)));
            FloatVector scaleB = FloatVector.broadcast(S, Float.float16ToFloat(w.get(BF16, blockB)));
            if (L == 16) {
                FloatVector x0 = FloatVector.fromArray(S, x, k * 32), x1 = FloatVector.fromArray(S, x, k * 32 + 16);
                a = ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, blockA + 2, LE).convertShape(VectorOperators.B2F, S, 0))
                        .mul(scaleA).fma(x0, a);
                a = ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, blockA + 18, LE).convertShape(VectorOperators.B2F, S, 0))
                        .mul(scaleA).fma(x1, a);
                b = ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, blockB + 2, LE).convertShape(VectorOperators.B2F, S, 0))
                        .mul(scaleB).fma(x0, b);
                b = ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, blockB + 18, LE).convertShape(VectorOperators.B2F, S, 0))
                        .mul(scaleB).fma(x1, b);
                continue;
            }
            for (int h = 0; h < 32; h += L) {
                FloatVector xv = FloatVector.fromArray(S, x, k * 32 + h);
                a = ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, blockA + 2 + h, LE).convertShape(VectorOperators.B2F, S, 0))
                        .mul(scaleA).fma(xv, a);
                b = ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, blockB + 2 + h, LE).convertShape(VectorOperators.B2F, S, 0))
                        .mul(scaleB).fma(xv, b);
            }
        }
        storePair(a, b, acc, j, 0f, 0f);   // rows are whole blocks of 32
    }

    /**
     * Rows a and b times four token rows of x (offsets x0..x3), read together: row a's four accumulators to
     * acc[0, 4 L) and their tails to acc[4 L, 4 L + 4), row b's 8 L further. Each (row, token) sum runs as
     * {@link #dot4x1}'s on the widened row.
     */
    private static void rowPairAccumulators4(LlamaWeights.Matrix m, int a, int b, float[] x, int x0, int x1, int x2, int x3,
                                             float[] acc) {
        MemorySegment w = m.data();
        long rowA = a * m.rowBytes(), rowB = b * m.rowBytes();
        int cols = m.cols();
        switch (m.type()) {
            case F32 -> pairs4F32(w, rowA, rowB, cols, x, x0, x1, x2, x3, acc);
            case BF16 -> pairs4Bf16(w, rowA, rowB, cols, x, x0, x1, x2, x3, acc);
            case F16 -> pairs4F16(w, rowA, rowB, cols, x, x0, x1, x2, x3, acc);
            case Q8_0 -> pairs4Q8_0(w, rowA, rowB, cols, x, x0, x1, x2, x3, acc);
            case Q4_0 -> pairs4Q4_0(w, rowA, rowB, cols, x, x0, x1, x2, x3, acc);
            case Q4_K -> pairs4Q4_K(w, rowA, rowB, cols, x, x0, x1, x2, x3, acc);
            case Q5_K -> pairs4Q5_K(w, rowA, rowB, cols, x, x0, x1, x2, x3, acc);
            case Q6_K -> pairs4Q6_K(w, rowA, rowB, cols, x, x0, x1, x2, x3, acc);
            default -> throw new IllegalArgumentException(m.type() + " rows are not read in pairs");
        }
        int upper = S.loopBound(cols);
        if (m.type().blockQuantized() || upper == cols) {
            java.util.Arrays.fill(acc, 4 * L, 4 * L + 4, 0f);
            java.util.Arrays.fill(acc, 12 * L, 12 * L + 4, 0f);
            return;
        }
        for (int k = 0; k < 4; k++) {
            int xk = k == 0 ? x0 : k == 1 ? x1 : k == 2 ? x2 : x3;   // no array per call: this runs per row and step
            acc[4 * L + k] = rowTail(w, m.type(), rowA, x, xk, upper, cols);
            acc[12 * L + k] = rowTail(w, m.type(), rowB, x, xk, upper, cols);
        }
    }

    private static void pairs4F32(MemorySegment w, long rowA, long rowB, int cols, float[] x, int x0, int x1, int x2, int x3,
                                  float[] acc) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int i = 0; i < S.loopBound(cols); i += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, w, rowA + 4L * i, LE), u = FloatVector.fromMemorySegment(S, w, rowB + 4L * i, LE);
            FloatVector y0 = FloatVector.fromArray(S, x, x0 + i), y1 = FloatVector.fromArray(S, x, x1 + i);
            FloatVector y2 = FloatVector.fromArray(S, x, x2 + i), y3 = FloatVector.fromArray(S, x, x3 + i);
            a0 = v.fma(y0, a0);
            a1 = v.fma(y1, a1);
            a2 = v.fma(y2, a2);
            a3 = v.fma(y3, a3);
            b0 = u.fma(y0, b0);
            b1 = u.fma(y1, b1);
            b2 = u.fma(y2, b2);
            b3 = u.fma(y3, b3);
        }
        // Stored here rather than by a helper taking the vectors: one C2 did not inline would box all eight.
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        b0.intoArray(acc, 8 * L);
        b1.intoArray(acc, 9 * L);
        b2.intoArray(acc, 10 * L);
        b3.intoArray(acc, 11 * L);
    }

    private static void pairs4Bf16(MemorySegment w, long rowA, long rowB, int cols, float[] x, int x0, int x1, int x2, int x3,
                                   float[] acc) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int i = 0; i < S.loopBound(cols); i += L) {
            FloatVector v = ((IntVector) ShortVector.fromMemorySegment(HALF, w, rowA + 2L * i, LE).convertShape(VectorOperators.S2I, INTS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector u = ((IntVector) ShortVector.fromMemorySegment(HALF, w, rowB + 2L * i, LE).convertShape(VectorOperators.S2I, INTS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector y0 = FloatVector.fromArray(S, x, x0 + i), y1 = FloatVector.fromArray(S, x, x1 + i);
            FloatVector y2 = FloatVector.fromArray(S, x, x2 + i), y3 = FloatVector.fromArray(S, x, x3 + i);
            a0 = v.fma(y0, a0);
            a1 = v.fma(y1, a1);
            a2 = v.fma(y2, a2);
            a3 = v.fma(y3, a3);
            b0 = u.fma(y0, b0);
            b1 = u.fma(y1, b1);
            b2 = u.fma(y2, b2);
            b3 = u.fma(y3, b3);
        }
        // Stored here rather than by a helper taking the vectors: one C2 did not inline would box all eight.
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        b0.intoArray(acc, 8 * L);
        b1.intoArray(acc, 9 * L);
        b2.intoArray(acc, 10 * L);
        b3.intoArray(acc, 11 * L);
    }

    private static void pairs4F16(MemorySegment w, long rowA, long rowB, int cols, float[] x, int x0, int x1, int x2, int x3,
                                  float[] acc) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int i = 0; i < S.loopBound(cols); i += L) {
            FloatVector v = ((IntVector) ShortVector.fromMemorySegment(HALF, w, rowA + 2L * i, LE).convertShape(VectorOperators.S2I, INTS, 0))
                    .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
            FloatVector u = ((IntVector) ShortVector.fromMemorySegment(HALF, w, rowB + 2L * i, LE).convertShape(VectorOperators.S2I, INTS, 0))
                    .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT).reinterpretAsFloats().mul(0x1p112f);
            FloatVector y0 = FloatVector.fromArray(S, x, x0 + i), y1 = FloatVector.fromArray(S, x, x1 + i);
            FloatVector y2 = FloatVector.fromArray(S, x, x2 + i), y3 = FloatVector.fromArray(S, x, x3 + i);
            a0 = v.fma(y0, a0);
            a1 = v.fma(y1, a1);
            a2 = v.fma(y2, a2);
            a3 = v.fma(y3, a3);
            b0 = u.fma(y0, b0);
            b1 = u.fma(y1, b1);
            b2 = u.fma(y2, b2);
            b3 = u.fma(y3, b3);
        }
        // Stored here rather than by a helper taking the vectors: one C2 did not inline would box all eight.
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        b0.intoArray(acc, 8 * L);
        b1.intoArray(acc, 9 * L);
        b2.intoArray(acc, 10 * L);
        b3.intoArray(acc, 11 * L);
    }

    /** As {@link #pairQ8_0}, for four tokens: per block the first half's FMAs, then the second's. */
    private static void pairs4Q8_0(MemorySegment w, long rowA, long rowB, int cols, float[] x, int x0, int x1, int x2, int x3,
                                   float[] acc) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int k = 0; k < cols / 32; k++) {
            long blockA = rowA + k * 34L, blockB = rowB + k * 34L;
            FloatVector scaleA = FloatVector.broadcast(S, Float.float16ToFloat(w.get(BF16, blockA)));
            FloatVector scaleB = FloatVector.broadcast(S, Float.float16ToFloat(w.get(BF16, blockB)));
            for (int h = 0; h < 32; h += L) {
                FloatVector v = ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, blockA + 2 + h, LE).convertShape(VectorOperators.B2F, S, 0))
                        .mul(scaleA);
                FloatVector u = ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, blockB + 2 + h, LE).convertShape(VectorOperators.B2F, S, 0))
                        .mul(scaleB);
                int i = k * 32 + h;
                FloatVector y0 = FloatVector.fromArray(S, x, x0 + i), y1 = FloatVector.fromArray(S, x, x1 + i);
                FloatVector y2 = FloatVector.fromArray(S, x, x2 + i), y3 = FloatVector.fromArray(S, x, x3 + i);
                a0 = v.fma(y0, a0);
                a1 = v.fma(y1, a1);
                a2 = v.fma(y2, a2);
                a3 = v.fma(y3, a3);
                b0 = u.fma(y0, b0);
                b1 = u.fma(y1, b1);
                b2 = u.fma(y2, b2);
                b3 = u.fma(y3, b3);
            }
        }
        // Stored here rather than by a helper taking the vectors: one C2 did not inline would box all eight.
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        b0.intoArray(acc, 8 * L);
        b1.intoArray(acc, 9 * L);
        b2.intoArray(acc, 10 * L);
        b3.intoArray(acc, 11 * L);
    }

    /** (q - 8) * scale per weight, as widenRows: a block's low nibbles (elements 0-15), then its high nibbles. */
    private static void pairQ4_0(MemorySegment w, long rowA, long rowB, int cols, float[] x, float[] acc, int j) {
        FloatVector a = FloatVector.zero(S), b = a;
        for (int k = 0; k < cols / 32; k++) {
            long blockA = rowA + k * 18L, blockB = rowB + k * 18L;
            float scaleA = Float.float16ToFloat(w.get(BF16, blockA)), scaleB = Float.float16ToFloat(w.get(BF16, blockB));
            for (int shift = 0; shift <= 4; shift += 4) {
                for (int h = 0; h < 16; h += L) {
                    FloatVector xv = FloatVector.fromArray(S, x, k * 32 + 4 * shift + h);
                    a = ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, blockA + 2 + h, LE).lanewise(VectorOperators.LSHR, shift)
                            .and((byte) 0x0F).sub((byte) 8).convertShape(VectorOperators.B2F, S, 0)).mul(scaleA).fma(xv, a);
                    b = ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, blockB + 2 + h, LE).lanewise(VectorOperators.LSHR, shift)
                            .and((byte) 0x0F).sub((byte) 8).convertShape(VectorOperators.B2F, S, 0)).mul(scaleB).fma(xv, b);
                }
            }
        }
        storePair(a, b, acc, j, 0f, 0f);   // rows are whole blocks of 32
    }

    /** As {@link #pairQ4_0}, for four tokens: per block the low nibbles' FMAs, then the high nibbles'. */
    private static void pairs4Q4_0(MemorySegment w, long rowA, long rowB, int cols, float[] x, int x0, int x1, int x2, int x3,
                                   float[] acc) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int k = 0; k < cols / 32; k++) {
            long blockA = rowA + k * 18L, blockB = rowB + k * 18L;
            FloatVector scaleA = FloatVector.broadcast(S, Float.float16ToFloat(w.get(BF16, blockA)));
            FloatVector scaleB = FloatVector.broadcast(S, Float.float16ToFloat(w.get(BF16, blockB)));
            for (int shift = 0; shift <= 4; shift += 4) {
                for (int h = 0; h < 16; h += L) {
                    FloatVector v = ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, blockA + 2 + h, LE).lanewise(VectorOperators.LSHR, shift)
                            .and((byte) 0x0F).sub((byte) 8).convertShape(VectorOperators.B2F, S, 0)).mul(scaleA);
                    FloatVector u = ((FloatVector) ByteVector.fromMemorySegment(BYTES, w, blockB + 2 + h, LE).lanewise(VectorOperators.LSHR, shift)
                            .and((byte) 0x0F).sub((byte) 8).convertShape(VectorOperators.B2F, S, 0)).mul(scaleB);
                    int i = k * 32 + 4 * shift + h;
                    FloatVector y0 = FloatVector.fromArray(S, x, x0 + i), y1 = FloatVector.fromArray(S, x, x1 + i);
                    FloatVector y2 = FloatVector.fromArray(S, x, x2 + i), y3 = FloatVector.fromArray(S, x, x3 + i);
                    a0 = v.fma(y0, a0);
                    a1 = v.fma(y1, a1);
                    a2 = v.fma(y2, a2);
                    a3 = v.fma(y3, a3);
                    b0 = u.fma(y0, b0);
                    b1 = u.fma(y1, b1);
                    b2 = u.fma(y2, b2);
                    b3 = u.fma(y3, b3);
                }
            }
        }
        // Stored here rather than by a helper taking the vectors: one C2 did not inline would box all eight.
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        b0.intoArray(acc, 8 * L);
        b1.intoArray(acc, 9 * L);
        b2.intoArray(acc, 10 * L);
        b3.intoArray(acc, 11 * L);
    }

    /*
     * Q4_K, Q5_K and Q6_K rows read directly: each 256-weight super-block's weights are the floats
     * dequantizeSuperBlock (widenQ5_K) writes (the same scale products, the same float operations), made in
     * registers, group of 32 after group of 32 in element order, so each lane sums its elements in the tiles' order.
     * The quants are widened to int lanes first: shifts and masks on int lanes are single instructions,
     * while x86 has no byte shift. (Q6_K's elements n + l + 32 k come from bytes l of its ql/qh arrays,
     * see dequantizeSuperBlock.)
     */

    /** Row a's and b's Q4_K super-blocks: d * scale_g * q - dmin * min_g per weight of group g. */
    private static void pairQ4_K(MemorySegment w, long rowA, long rowB, int cols, float[] x, float[] acc, int j) {
        FloatVector a = FloatVector.zero(S), b = a;
        for (int sb = 0; sb < cols / 256; sb++) {
            long blockA = rowA + sb * 144L, blockB = rowB + sb * 144L;
            float dA = Float.float16ToFloat(w.get(BF16, blockA)), minA = Float.float16ToFloat(w.get(BF16, blockA + 2));
            float dB = Float.float16ToFloat(w.get(BF16, blockB)), minB = Float.float16ToFloat(w.get(BF16, blockB + 2));
            long loA = w.get(K_SCALES_LO, blockA + 4), loB = w.get(K_SCALES_LO, blockB + 4);
            int hiA = w.get(K_SCALES_HI, blockA + 12), hiB = w.get(K_SCALES_HI, blockB + 12);
            long scA = q4kScales(loA, hiA), mnA = q4kMins(loA, hiA), scB = q4kScales(loB, hiB), mnB = q4kMins(loB, hiB);
            for (int g = 0; g < 8; g++) {
                // Group g: the low (g even) or high (g odd) nibbles of bytes [32 (g / 2), 32 (g / 2) + 32).
                float dgA = dA * group(scA, g), mgA = minA * group(mnA, g);
                float dgB = dB * group(scB, g), mgB = minB * group(mnB, g);
                int shift = 4 * (g & 1);
                long qA = blockA + 16 + 32 * (g >> 1), qB = blockB + 16 + 32 * (g >> 1);
                int xi = sb * 256 + 32 * g;
                for (int l = 0; l < 32; l += L) {
                    FloatVector xv = FloatVector.fromArray(S, x, xi + l);
                    a = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, qA + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                            .lanewise(VectorOperators.ASHR, shift).and(0x0F).convert(VectorOperators.I2F, 0)).mul(dgA).sub(mgA).fma(xv, a);
                    b = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, qB + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                            .lanewise(VectorOperators.ASHR, shift).and(0x0F).convert(VectorOperators.I2F, 0)).mul(dgB).sub(mgB).fma(xv, b);
                }
            }
        }
        storePair(a, b, acc, j, 0f, 0f);   // rows are whole super-blocks
    }

    /** As {@link #pairQ4_K}, for four tokens. */
    private static void pairs4Q4_K(MemorySegment w, long rowA, long rowB, int cols, float[] x, int x0, int x1, int x2, int x3,
                                   float[] acc) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int sb = 0; sb < cols / 256; sb++) {
            long blockA = rowA + sb * 144L, blockB = rowB + sb * 144L;
            float dA = Float.float16ToFloat(w.get(BF16, blockA)), minA = Float.float16ToFloat(w.get(BF16, blockA + 2));
            float dB = Float.float16ToFloat(w.get(BF16, blockB)), minB = Float.float16ToFloat(w.get(BF16, blockB + 2));
            long loA = w.get(K_SCALES_LO, blockA + 4), loB = w.get(K_SCALES_LO, blockB + 4);
            int hiA = w.get(K_SCALES_HI, blockA + 12), hiB = w.get(K_SCALES_HI, blockB + 12);
            long scA = q4kScales(loA, hiA), mnA = q4kMins(loA, hiA), scB = q4kScales(loB, hiB), mnB = q4kMins(loB, hiB);
            for (int g = 0; g < 8; g++) {
                float dgA = dA * group(scA, g), mgA = minA * group(mnA, g);
                float dgB = dB * group(scB, g), mgB = minB * group(mnB, g);
                int shift = 4 * (g & 1);
                long qA = blockA + 16 + 32 * (g >> 1), qB = blockB + 16 + 32 * (g >> 1);
                for (int l = 0; l < 32; l += L) {
                    FloatVector v = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, qA + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                            .lanewise(VectorOperators.ASHR, shift).and(0x0F).convert(VectorOperators.I2F, 0)).mul(dgA).sub(mgA);
                    FloatVector u = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, qB + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                            .lanewise(VectorOperators.ASHR, shift).and(0x0F).convert(VectorOperators.I2F, 0)).mul(dgB).sub(mgB);
                    int i = sb * 256 + 32 * g + l;
                    FloatVector y0 = FloatVector.fromArray(S, x, x0 + i), y1 = FloatVector.fromArray(S, x, x1 + i);
                    FloatVector y2 = FloatVector.fromArray(S, x, x2 + i), y3 = FloatVector.fromArray(S, x, x3 + i);
                    a0 = v.fma(y0, a0);
                    a1 = v.fma(y1, a1);
                    a2 = v.fma(y2, a2);
                    a3 = v.fma(y3, a3);
                    b0 = u.fma(y0, b0);
                    b1 = u.fma(y1, b1);
                    b2 = u.fma(y2, b2);
                    b3 = u.fma(y3, b3);
                }
            }
        }
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        b0.intoArray(acc, 8 * L);
        b1.intoArray(acc, 9 * L);
        b2.intoArray(acc, 10 * L);
        b3.intoArray(acc, 11 * L);
    }

    /**
     * Row a's and b's Q5_K super-blocks: as {@link #pairQ4_K}, group g's quants with their 5th bit from bit g of
     * qh[l] (the nibbles at byte 48 of the 176-byte block, qh at byte 16). Written for 16-float vectors (the
     * type reads rows directly only then): qh's two vectors are widened once per super-block, not once per group
     * (2.3-3.2 against 5.5 G weights/s in L2, one thread; staged: 3.5).
     */
    private static void pairQ5_K(MemorySegment w, long rowA, long rowB, int cols, float[] x, float[] acc, int j) {
        if (L != 16) {
            throw new IllegalStateException("Q5_K rows are read directly with 16-float vectors only");
        }
        FloatVector a = FloatVector.zero(S), b = a;
        for (int sb = 0; sb < cols / 256; sb++) {
            long blockA = rowA + sb * 176L, blockB = rowB + sb * 176L;
            float dA = Float.float16ToFloat(w.get(BF16, blockA)), minA = Float.float16ToFloat(w.get(BF16, blockA + 2));
            float dB = Float.float16ToFloat(w.get(BF16, blockB)), minB = Float.float16ToFloat(w.get(BF16, blockB + 2));
            long loA = w.get(K_SCALES_LO, blockA + 4), loB = w.get(K_SCALES_LO, blockB + 4);
            int hiA = w.get(K_SCALES_HI, blockA + 12), hiB = w.get(K_SCALES_HI, blockB + 12);
            long scA = q4kScales(loA, hiA), mnA = q4kMins(loA, hiA), scB = q4kScales(loB, hiB), mnB = q4kMins(loB, hiB);
            // qh widened once per super-block, moved up by 4: bit g of qh[l] lands on bit 4 after a shift right by g.
            IntVector hA0 = ((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockA + 16, LE).convertShape(VectorOperators.B2I, INTS, 0)).lanewise(VectorOperators.LSHL, 4);
            IntVector hB0 = ((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockB + 16, LE).convertShape(VectorOperators.B2I, INTS, 0)).lanewise(VectorOperators.LSHL, 4);
            IntVector hA1 = ((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockA + 32, LE).convertShape(VectorOperators.B2I, INTS, 0)).lanewise(VectorOperators.LSHL, 4);
            IntVector hB1 = ((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockB + 32, LE).convertShape(VectorOperators.B2I, INTS, 0)).lanewise(VectorOperators.LSHL, 4);
            for (int g = 0; g < 8; g++) {
                float dgA = dA * group(scA, g), mgA = minA * group(mnA, g);
                float dgB = dB * group(scB, g), mgB = minB * group(mnB, g);
                int shift = 4 * (g & 1);
                long qA = blockA + 48 + 32 * (g >> 1), qB = blockB + 48 + 32 * (g >> 1);
                int xi = sb * 256 + 32 * g;
                FloatVector xv = FloatVector.fromArray(S, x, xi);
                a = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, qA, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.ASHR, shift).and(0x0F).or(hA0.lanewise(VectorOperators.ASHR, g).and(0x10))
                        .convert(VectorOperators.I2F, 0)).mul(dgA).sub(mgA).fma(xv, a);
                b = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, qB, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.ASHR, shift).and(0x0F).or(hB0.lanewise(VectorOperators.ASHR, g).and(0x10))
                        .convert(VectorOperators.I2F, 0)).mul(dgB).sub(mgB).fma(xv, b);
                xv = FloatVector.fromArray(S, x, xi + 16);
                a = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, qA + 16, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.ASHR, shift).and(0x0F).or(hA1.lanewise(VectorOperators.ASHR, g).and(0x10))
                        .convert(VectorOperators.I2F, 0)).mul(dgA).sub(mgA).fma(xv, a);
                b = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, qB + 16, LE).convertShape(VectorOperators.B2I, INTS, 0))
                        .lanewise(VectorOperators.ASHR, shift).and(0x0F).or(hB1.lanewise(VectorOperators.ASHR, g).and(0x10))
                        .convert(VectorOperators.I2F, 0)).mul(dgB).sub(mgB).fma(xv, b);
            }
        }
        storePair(a, b, acc, j, 0f, 0f);   // rows are whole super-blocks
    }

    /** As {@link #pairQ5_K}, for four tokens; qh widened per group here, its cost shared by the four. */
    private static void pairs4Q5_K(MemorySegment w, long rowA, long rowB, int cols, float[] x, int x0, int x1, int x2, int x3,
                                   float[] acc) {
        if (L != 16) {
            throw new IllegalStateException("Q5_K rows are read directly with 16-float vectors only");
        }
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int sb = 0; sb < cols / 256; sb++) {
            long blockA = rowA + sb * 176L, blockB = rowB + sb * 176L;
            float dA = Float.float16ToFloat(w.get(BF16, blockA)), minA = Float.float16ToFloat(w.get(BF16, blockA + 2));
            float dB = Float.float16ToFloat(w.get(BF16, blockB)), minB = Float.float16ToFloat(w.get(BF16, blockB + 2));
            long loA = w.get(K_SCALES_LO, blockA + 4), loB = w.get(K_SCALES_LO, blockB + 4);
            int hiA = w.get(K_SCALES_HI, blockA + 12), hiB = w.get(K_SCALES_HI, blockB + 12);
            long scA = q4kScales(loA, hiA), mnA = q4kMins(loA, hiA), scB = q4kScales(loB, hiB), mnB = q4kMins(loB, hiB);
            for (int g = 0; g < 8; g++) {
                float dgA = dA * group(scA, g), mgA = minA * group(mnA, g);
                float dgB = dB * group(scB, g), mgB = minB * group(mnB, g);
                int shift = 4 * (g & 1);
                long qA = blockA + 48 + 32 * (g >> 1), qB = blockB + 48 + 32 * (g >> 1);
                for (int l = 0; l < 32; l += 16) {
                    IntVector hA = ((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockA + 16 + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                            .lanewise(VectorOperators.LSHL, 4);
                    IntVector hB = ((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockB + 16 + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                            .lanewise(VectorOperators.LSHL, 4);
                    FloatVector v = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, qA + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                            .lanewise(VectorOperators.ASHR, shift).and(0x0F).or(hA.lanewise(VectorOperators.ASHR, g).and(0x10))
                            .convert(VectorOperators.I2F, 0)).mul(dgA).sub(mgA);
                    FloatVector u = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, qB + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                            .lanewise(VectorOperators.ASHR, shift).and(0x0F).or(hB.lanewise(VectorOperators.ASHR, g).and(0x10))
                            .convert(VectorOperators.I2F, 0)).mul(dgB).sub(mgB);
                    int i = sb * 256 + 32 * g + l;
                    FloatVector y0 = FloatVector.fromArray(S, x, x0 + i), y1 = FloatVector.fromArray(S, x, x1 + i);
                    FloatVector y2 = FloatVector.fromArray(S, x, x2 + i), y3 = FloatVector.fromArray(S, x, x3 + i);
                    a0 = v.fma(y0, a0);
                    a1 = v.fma(y1, a1);
                    a2 = v.fma(y2, a2);
                    a3 = v.fma(y3, a3);
                    b0 = u.fma(y0, b0);
                    b1 = u.fma(y1, b1);
                    b2 = u.fma(y2, b2);
                    b3 = u.fma(y3, b3);
                }
            }
        }
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        b0.intoArray(acc, 8 * L);
        b1.intoArray(acc, 9 * L);
        b2.intoArray(acc, 10 * L);
        b3.intoArray(acc, 11 * L);
    }

    /**
     * Row a's and b's Q6_K super-blocks: (d * scale) * (q - 32) per weight. Group k (k = 0..3) of each half takes
     * the low (k < 2) or high nibbles of ql[32 (k % 2) + l] and bits 2k, 2k + 1 of qh[l].
     */
    private static void pairQ6_K(MemorySegment w, long rowA, long rowB, int cols, float[] x, float[] acc, int j) {
        FloatVector a = FloatVector.zero(S), b = a;
        for (int sb = 0; sb < cols / 256; sb++) {
            long blockA = rowA + sb * 210L, blockB = rowB + sb * 210L;
            float dA = Float.float16ToFloat(w.get(BF16, blockA + 208)), dB = Float.float16ToFloat(w.get(BF16, blockB + 208));
            if (L == 16) {
                // Each half's 6 byte vectors (ql[0..64), qh[0..32)) loaded and widened to ints once for its 8 weight
                // vectors; row a's half, then row b's (fewer live registers than both at once).
                for (int n = 0; n < 2; n++) {
                    int xi = sb * 256 + 128 * n;
                    for (int r = 0; r < 2; r++) {
                        long block = r == 0 ? blockA : blockB;
                        float d = r == 0 ? dA : dB;
                        long ql = block + 64 * n, qh = block + 128 + 32 * n, sc = block + 192 + 8 * n;
                        IntVector l0 = (IntVector) ByteVector.fromMemorySegment(BYTES, w, ql, LE).convertShape(VectorOperators.B2I, INTS, 0);
                        IntVector l1 = (IntVector) ByteVector.fromMemorySegment(BYTES, w, ql + 16, LE).convertShape(VectorOperators.B2I, INTS, 0);
                        IntVector l2 = (IntVector) ByteVector.fromMemorySegment(BYTES, w, ql + 32, LE).convertShape(VectorOperators.B2I, INTS, 0);
                        IntVector l3 = (IntVector) ByteVector.fromMemorySegment(BYTES, w, ql + 48, LE).convertShape(VectorOperators.B2I, INTS, 0);
                        IntVector h0 = (IntVector) ByteVector.fromMemorySegment(BYTES, w, qh, LE).convertShape(VectorOperators.B2I, INTS, 0);
                        IntVector h1 = (IntVector) ByteVector.fromMemorySegment(BYTES, w, qh + 16, LE).convertShape(VectorOperators.B2I, INTS, 0);
                        FloatVector acc0 = r == 0 ? a : b;
                        // Element 128 n + 32 k + l: the low (k < 2) or high nibble of ql[32 (k % 2) + l], bits 2k, 2k + 1 of qh[l].
                        acc0 = ((FloatVector) l0.and(0x0F).or(h0.and(3).lanewise(VectorOperators.LSHL, 4)).sub(32).convert(VectorOperators.I2F, 0))
                                .mul(d * w.get(ValueLayout.JAVA_BYTE, sc)).fma(FloatVector.fromArray(S, x, xi), acc0);
                        acc0 = ((FloatVector) l1.and(0x0F).or(h1.and(3).lanewise(VectorOperators.LSHL, 4)).sub(32).convert(VectorOperators.I2F, 0))
                                .mul(d * w.get(ValueLayout.JAVA_BYTE, sc + 1)).fma(FloatVector.fromArray(S, x, xi + 16), acc0);
                        acc0 = ((FloatVector) l2.and(0x0F).or(h0.lanewise(VectorOperators.LSHL, 2).and(0x30)).sub(32).convert(VectorOperators.I2F, 0))
                                .mul(d * w.get(ValueLayout.JAVA_BYTE, sc + 2)).fma(FloatVector.fromArray(S, x, xi + 32), acc0);
                        acc0 = ((FloatVector) l3.and(0x0F).or(h1.lanewise(VectorOperators.LSHL, 2).and(0x30)).sub(32).convert(VectorOperators.I2F, 0))
                                .mul(d * w.get(ValueLayout.JAVA_BYTE, sc + 3)).fma(FloatVector.fromArray(S, x, xi + 48), acc0);
                        acc0 = ((FloatVector) l0.lanewise(VectorOperators.ASHR, 4).and(0x0F).or(h0.and(0x30)).sub(32).convert(VectorOperators.I2F, 0))
                                .mul(d * w.get(ValueLayout.JAVA_BYTE, sc + 4)).fma(FloatVector.fromArray(S, x, xi + 64), acc0);
                        acc0 = ((FloatVector) l1.lanewise(VectorOperators.ASHR, 4).and(0x0F).or(h1.and(0x30)).sub(32).convert(VectorOperators.I2F, 0))
                                .mul(d * w.get(ValueLayout.JAVA_BYTE, sc + 5)).fma(FloatVector.fromArray(S, x, xi + 80), acc0);
                        acc0 = ((FloatVector) l2.lanewise(VectorOperators.ASHR, 4).and(0x0F).or(h0.lanewise(VectorOperators.ASHR, 2).and(0x30)).sub(32)
                                .convert(VectorOperators.I2F, 0)).mul(d * w.get(ValueLayout.JAVA_BYTE, sc + 6)).fma(FloatVector.fromArray(S, x, xi + 96), acc0);
                        acc0 = ((FloatVector) l3.lanewise(VectorOperators.ASHR, 4).and(0x0F).or(h1.lanewise(VectorOperators.ASHR, 2).and(0x30)).sub(32)
                                .convert(VectorOperators.I2F, 0)).mul(d * w.get(ValueLayout.JAVA_BYTE, sc + 7)).fma(FloatVector.fromArray(S, x, xi + 112), acc0);
                        if (r == 0) {
                            a = acc0;
                        } else {
                            b = acc0;
                        }
                    }
                }
                continue;
            }
            for (int n = 0; n < 2; n++) {
                for (int k = 0; k < 4; k++) {
                    int lowShift = 4 * (k >> 1), highShift = 2 * k;
                    long lowOff = 64 * n + 32 * (k & 1), highOff = 128 + 32 * n, scOff = 192 + 8 * n + 2 * k;
                    int xi = sb * 256 + 128 * n + 32 * k;
                    for (int l = 0; l < 32; l += L) {
                        FloatVector xv = FloatVector.fromArray(S, x, xi + l);
                        float dgA = dA * w.get(ValueLayout.JAVA_BYTE, blockA + scOff + l / 16);
                        float dgB = dB * w.get(ValueLayout.JAVA_BYTE, blockB + scOff + l / 16);
                        a = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockA + lowOff + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                                .lanewise(VectorOperators.ASHR, lowShift).and(0x0F)
                                .or(((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockA + highOff + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                                        .lanewise(VectorOperators.ASHR, highShift).and(3).lanewise(VectorOperators.LSHL, 4))
                                .sub(32).convert(VectorOperators.I2F, 0)).mul(dgA).fma(xv, a);
                        b = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockB + lowOff + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                                .lanewise(VectorOperators.ASHR, lowShift).and(0x0F)
                                .or(((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockB + highOff + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                                        .lanewise(VectorOperators.ASHR, highShift).and(3).lanewise(VectorOperators.LSHL, 4))
                                .sub(32).convert(VectorOperators.I2F, 0)).mul(dgB).fma(xv, b);
                    }
                }
            }
        }
        storePair(a, b, acc, j, 0f, 0f);   // rows are whole super-blocks
    }

    /** As {@link #pairQ6_K}, for four tokens. */
    private static void pairs4Q6_K(MemorySegment w, long rowA, long rowB, int cols, float[] x, int x0, int x1, int x2, int x3,
                                   float[] acc) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int sb = 0; sb < cols / 256; sb++) {
            long blockA = rowA + sb * 210L, blockB = rowB + sb * 210L;
            float dA = Float.float16ToFloat(w.get(BF16, blockA + 208)), dB = Float.float16ToFloat(w.get(BF16, blockB + 208));
            for (int n = 0; n < 2; n++) {
                for (int k = 0; k < 4; k++) {
                    int lowShift = 4 * (k >> 1), highShift = 2 * k;
                    long lowOff = 64 * n + 32 * (k & 1), highOff = 128 + 32 * n, scOff = 192 + 8 * n + 2 * k;
                    for (int l = 0; l < 32; l += L) {
                        float dgA = dA * w.get(ValueLayout.JAVA_BYTE, blockA + scOff + l / 16);
                        float dgB = dB * w.get(ValueLayout.JAVA_BYTE, blockB + scOff + l / 16);
                        FloatVector v = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockA + lowOff + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                                .lanewise(VectorOperators.ASHR, lowShift).and(0x0F)
                                .or(((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockA + highOff + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                                        .lanewise(VectorOperators.ASHR, highShift).and(3).lanewise(VectorOperators.LSHL, 4))
                                .sub(32).convert(VectorOperators.I2F, 0)).mul(dgA);
                        FloatVector u = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockB + lowOff + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                                .lanewise(VectorOperators.ASHR, lowShift).and(0x0F)
                                .or(((IntVector) ByteVector.fromMemorySegment(BYTES, w, blockB + highOff + l, LE).convertShape(VectorOperators.B2I, INTS, 0))
                                        .lanewise(VectorOperators.ASHR, highShift).and(3).lanewise(VectorOperators.LSHL, 4))
                                .sub(32).convert(VectorOperators.I2F, 0)).mul(dgB);
                        int i = sb * 256 + 128 * n + 32 * k + l;
                        FloatVector y0 = FloatVector.fromArray(S, x, x0 + i), y1 = FloatVector.fromArray(S, x, x1 + i);
                        FloatVector y2 = FloatVector.fromArray(S, x, x2 + i), y3 = FloatVector.fromArray(S, x, x3 + i);
                        a0 = v.fma(y0, a0);
                        a1 = v.fma(y1, a1);
                        a2 = v.fma(y2, a2);
                        a3 = v.fma(y3, a3);
                        b0 = u.fma(y0, b0);
                        b1 = u.fma(y1, b1);
                        b2 = u.fma(y2, b2);
                        b3 = u.fma(y3, b3);
                    }
                }
            }
        }
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        b0.intoArray(acc, 8 * L);
        b1.intoArray(acc, 9 * L);
        b2.intoArray(acc, 10 * L);
        b3.intoArray(acc, 11 * L);
    }

    private static void storePair(FloatVector a, FloatVector b, float[] acc, int j, float tailA, float tailB) {
        a.intoArray(acc, j * L);
        b.intoArray(acc, 8 * L + j * L);
        acc[4 * L + j] = tailA;
        acc[12 * L + j] = tailB;
    }

    /**
     * The lane totals of the n (at most 4) vectors at a[off + j L], j < n, the others counting as 0: one combined
     * reduction (L = 16), the additions of sumLanes. Total j lands at dst[dstOff + LANE_OF_4[j]] (L floats written).
     */
    private static void sumsOfFour(float[] a, int off, int n, float[] dst, int dstOff) {
        FloatVector zero = FloatVector.zero(S);
        FloatVector a0 = FloatVector.fromArray(S, a, off);
        FloatVector a1 = n > 1 ? FloatVector.fromArray(S, a, off + L) : zero;
        FloatVector a2 = n > 2 ? FloatVector.fromArray(S, a, off + 2 * L) : zero;
        FloatVector a3 = n > 3 ? FloatVector.fromArray(S, a, off + 3 * L) : zero;
        FloatVector u0 = a0.blend(a1, LANES0).add(a1.blend(a0, LANES0).rearrange(SWAP0));
        FloatVector u1 = a2.blend(a3, LANES0).add(a3.blend(a2, LANES0).rearrange(SWAP0));
        FloatVector v = u0.blend(u1, LANES1).add(u1.blend(u0, LANES1).rearrange(SWAP1));
        FloatVector h = v.blend(zero, LANES2).add(zero.blend(v, LANES2).rearrange(SWAP2));
        h.blend(zero, LANES3).add(zero.blend(h, LANES3).rearrange(SWAP3)).intoArray(dst, dstOff);
    }

    /**
     * out[outOff + j * outStride] = total of accumulator j (acc[j * L, (j + 1) * L)) + its tail acc[4 * L + j], for j < n:
     * the reduction of {@link #dot4x1}, so the bits are the same.
     */
    private static void reduceFour(float[] acc, int n, float[] out, int outOff, int outStride) {
        reduceFour(acc, 0, n, out, outOff, outStride);
    }

    /** As above for the accumulators at acc[base + j L] and their tails at acc[base + 4 L + j] (6 L floats used). */
    private static void reduceFour(float[] acc, int base, int n, float[] out, int outOff, int outStride) {
        if (COMBINED_REDUCTION && n == 4 && outStride == 1) {
            // Four consecutive outputs: the totals go to lanes 0-3 and out in one 4-float store (scalar reads
            // of a just-stored vector wait for the store to complete instead of being forwarded).
            FloatVector a0 = FloatVector.fromArray(S, acc, base), a1 = FloatVector.fromArray(S, acc, base + L);
            FloatVector a2 = FloatVector.fromArray(S, acc, base + 2 * L), a3 = FloatVector.fromArray(S, acc, base + 3 * L);
            FloatVector zero = FloatVector.zero(S);
            FloatVector u0 = a0.blend(a1, LANES0).add(a1.blend(a0, LANES0).rearrange(SWAP0));
            FloatVector u1 = a2.blend(a3, LANES0).add(a3.blend(a2, LANES0).rearrange(SWAP0));
            FloatVector v = u0.blend(u1, LANES1).add(u1.blend(u0, LANES1).rearrange(SWAP1));
            FloatVector h = v.blend(zero, LANES2).add(zero.blend(v, LANES2).rearrange(SWAP2));
            FloatVector totals = h.blend(zero, LANES3).add(zero.blend(h, LANES3).rearrange(SWAP3));
            ((FloatVector) totals.rearrange(FIRST_FOUR).reinterpretShape(QUARTER, 0))
                    .add(FloatVector.fromArray(QUARTER, acc, base + 4 * L)).intoArray(out, outOff);
            return;
        }
        if (COMBINED_REDUCTION) {
            sumsOfFour(acc, base, n, acc, base + 5 * L);
            for (int j = 0; j < n; j++) {
                out[outOff + j * outStride] = acc[base + 5 * L + LANE_OF_4[j]] + acc[base + 4 * L + j];
            }
            return;
        }
        for (int j = 0; j < n; j++) {
            out[outOff + j * outStride] = treeSum(acc, base + j * L) + acc[base + 4 * L + j];
        }
    }

    /** The scalar tail of a float-type row read from memory: as {@link #tail} on the widened row. */
    private static float rowTail(MemorySegment w, WeightType type, long rowOff, float[] x, int xOff, int from, int n) {
        float s = 0f;
        for (int i = from; i < n; i++) {
            s += scalar(w, type, rowOff, i) * x[xOff + i];
        }
        return s;
    }

    /** As {@link #dot4x4}, for one token (the tokens left over by 4 x 4 tiles). */
    static void dot4x1(float[] wf, int wOff, int cols, int r0, int rows, float[] in, int t, float[] out, float[] acc) {
        int x0 = t * cols;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int upper = S.loopBound(cols);
        for (int i = 0; i < upper; i += L) {
            FloatVector v = FloatVector.fromArray(S, in, x0 + i);
            a0 = FloatVector.fromArray(S, wf, wOff + i).fma(v, a0);
            a1 = FloatVector.fromArray(S, wf, wOff + cols + i).fma(v, a1);
            a2 = FloatVector.fromArray(S, wf, wOff + 2 * cols + i).fma(v, a2);
            a3 = FloatVector.fromArray(S, wf, wOff + 3 * cols + i).fma(v, a3);
        }
        if (COMBINED_REDUCTION) {
            FloatVector u0 = a0.blend(a1, LANES0).add(a1.blend(a0, LANES0).rearrange(SWAP0));
            FloatVector u1 = a2.blend(a3, LANES0).add(a3.blend(a2, LANES0).rearrange(SWAP0));
            FloatVector v = u0.blend(u1, LANES1).add(u1.blend(u0, LANES1).rearrange(SWAP1));
            FloatVector zero = FloatVector.zero(S);
            FloatVector w = v.blend(zero, LANES2).add(zero.blend(v, LANES2).rearrange(SWAP2));
            FloatVector r = w.blend(zero, LANES3).add(zero.blend(w, LANES3).rearrange(SWAP3));
            r.intoArray(acc, 0);
            for (int j = 0; j < 4; j++) {
                out[t * rows + r0 + j] = acc[LANE_OF_4[j]] + (upper == cols ? 0f : tail(wf, wOff + j * cols, in, x0, upper, cols));
            }
            return;
        }
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        for (int j = 0; j < 4; j++) {
            out[t * rows + r0 + j] = treeSum(acc, j * L) + (upper == cols ? 0f : tail(wf, wOff + j * cols, in, x0, upper, cols));
        }
    }

    /** dst[off, off + cols) = row {@code row} of the matrix, as f32. */
    static void copyRow(LlamaWeights.Matrix m, int row, float[] dst, int off) {
        if (m.type().blockQuantized()) {
            widenRows(m, row, 1, dst, off);
            return;
        }
        int cols = m.cols();
        long rowOff = (long) row * m.rowBytes();
        for (int i = 0; i < cols; i++) {
            dst[off + i] = scalar(m.data(), m.type(), rowOff, i);
        }
    }

    /** y[yOff + i] = x[xOff + i] * b + y[yOff + i] * a (one rounding for the sum: an FMA), for i < n. */
    static void scaleAndAdd(float[] y, int yOff, float a, float[] x, int xOff, float b, int n) {
        int i = 0;
        int upper = S.loopBound(n);
        for (; i < upper; i += L) {
            FloatVector.fromArray(S, x, xOff + i).fma(FloatVector.broadcast(S, b), FloatVector.fromArray(S, y, yOff + i).mul(a)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] = Math.fma(x[xOff + i], b, y[yOff + i] * a);
        }
    }

    static void scale(float[] y, int off, int n, float s) {
        int i = 0;
        int upper = S.loopBound(n);
        for (; i < upper; i += L) {
            FloatVector.fromArray(S, y, off + i).mul(s).intoArray(y, off + i);
        }
        for (; i < n; i++) {
            y[off + i] *= s;
        }
    }

    static float sumOfSquares(float[] x, int off, int n) {
        int i = 0;
        FloatVector a = FloatVector.zero(S);
        int upper = S.loopBound(n);
        for (; i < upper; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, off + i);
            a = v.fma(v, a);
        }
        float sum = sumLanes(a);
        for (; i < n; i++) {
            sum += x[off + i] * x[off + i];
        }
        return sum;
    }

    /** out = x / rms(x) * weight, over n elements. */
    static void rmsNorm(float[] out, int outOff, float[] x, int xOff, MemorySegment weight, int n, float eps) {
        float inv = (float) (1.0 / Math.sqrt(sumOfSquares(x, xOff, n) / n + eps));
        int i = 0;
        int upper = S.loopBound(n);
        for (; i < upper; i += L) {
            FloatVector.fromArray(S, x, xOff + i).mul(inv).mul(FloatVector.fromMemorySegment(S, weight, (long) i * 4, LE))
                    .intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            out[outOff + i] = x[xOff + i] * inv * weight.get(F32, (long) i * 4);
        }
    }

    /** y[i] += x[i]. */
    static void add(float[] y, float[] x, int n) {
        int i = 0;
        int upper = S.loopBound(n);
        for (; i < upper; i += L) {
            FloatVector.fromArray(S, y, i).add(FloatVector.fromArray(S, x, i)).intoArray(y, i);
        }
        for (; i < n; i++) {
            y[i] += x[i];
        }
    }

    /**
     * Runs the matmul kernels on the first rows of the given matrices (one per storage type of the model)
     * until the JIT has compiled them: interpreted Vector API code is orders of magnitude slower, which
     * would make a first long prefill take many seconds. Only the model's own types are exercised: a
     * type-switching kernel profiled with every type inlines every branch, and past C2's inlining budget
     * its vector operations fall back to (boxed) Java code.
     */
    static void warmUpMatmuls(java.util.Collection<LlamaWeights.Matrix> matrices, MemorySegment normWeight, int hidden) {
        // On the model's own matrices (their first rows): the profile the JIT compiles from then holds the
        // segments the steps will pass. Warmed up on other memory (a confined scratch segment), the hoisted
        // checks of the row kernels failed on the model's mapped weights: ~100 deoptimizations and
        // recompilations of the hottest kernel before the JIT gave up speculating.
        int maxCols = Math.max(hidden, matrices.stream().mapToInt(LlamaWeights.Matrix::cols).max().orElse(1));
        int maxRows = Math.max(hidden, matrices.stream().mapToInt(LlamaWeights.Matrix::rows).max().orElse(1));
        float[] in = new float[4 * maxCols], wf = new float[4 * maxCols], e = new float[maxCols], out = new float[4 * maxRows];
        float[] acc = new float[ACC_SCRATCH];
        LlamaWeights.Matrix[] ms = matrices.toArray(LlamaWeights.Matrix[]::new);
        for (int i = 0; i < 12_000; i++) {
            LlamaWeights.Matrix m = ms[i % ms.length];
            int rows = Math.min(4, m.rows()), cols = m.cols();
            widenRows(m, 0, rows, wf);
            dot(wf, 0, in, i & 1, cols);
            if (rows == 4) {
                dot4x4(wf, 0, cols, 0, m.rows(), in, 0, out, acc);
                dot4x1(wf, 0, cols, 0, m.rows(), in, i & 3, out, acc);
            }
            if (readsRowsDirectly(m.type())) {
                dotRows(m, 0, rows, in, 1 + (i & 1), out, acc);
            }
            java.util.Arrays.fill(e, -0.5f);
            siluTimes(e, in, 0, maxCols, wf);
            rmsNorm(out, 0, in, 0, normWeight, hidden, 1e-5f);
            scale(in, 0, maxCols, 0.5f);
            add(out, in, hidden);
        }
    }

    /** As {@link #warmUpMatmuls}, for the attention kernels over a cache of one storage type. */
    static void warmUpAttention(KvCacheDtype kv) {
        int n = 4 * L + 3;
        // A shared arena, as PagedKvCache's: the JIT's profile then holds the kind of segment the steps pass.
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            MemorySegment seg = arena.allocate(8L * n * 4, 64);
            float[] in = new float[4 * n], e = new float[n], scores4 = new float[4 * 16];
            for (int i = 0; i < 12_000; i++) {
                java.util.Arrays.fill(e, -0.5f);
                expInPlace(e, 0, n);
                expShiftedSum(e, i & 3, n - 3, maxOf(e, i & 3, n - 3));
                blockScores(seg, 0, 16, in, 0, n / 2, 0.5f, e, kv);
                accumulateValues(in, 0, n, e, 0, 3, seg, 0, 4L * n, kv);
                blockScores4(seg, 0, 16, in, 0, 1, 2, 3, n / 2, 0.5f, scores4, kv);
                accumulateValues4(in, 0, n, 2 * n, 3 * n, n, e, 0, 1, 2, 3, 0, 3, seg, 0, 4L * n, kv);
                scaleAndAdd(in, 0, 0.5f, e, 0, 0.25f, n);   // merging a row's attention segments (CpuModelRunner)
                if (kv != KvCacheDtype.F32) {
                    widenKv(seg, 0, n, kv, seg, 4L * n * 4);   // a prefill's copy of a narrow cache (CpuModelRunner)
                }
            }
        }
    }

    // exp(x) as Cephes' expf: x = n ln2 + r, a degree-7 polynomial for e^r, times 2^n. Plain IEEE
    // mul/add/fma in a fixed order, so the vector lanes and the scalar version give identical bits
    // (lanewise(EXP) would not: its intrinsic and its fallback differ in the last bits).
    private static final float EXP_HI = 88.3762626647949f, EXP_LO = -87.3365447504019f;
    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float P0 = 1.9875691500E-4f, P1 = 1.3981999507E-3f, P2 = 8.3334519073E-3f,
            P3 = 4.1665795894E-2f, P4 = 1.6666665459E-1f, P5 = 5.0000001201E-1f;
    /** 1.5 * 2^23: adding and subtracting it rounds a float to the nearest integer. */
    private static final float ROUNDER = 12582912f;

    /** Bit for bit the same as one lane of the vector loop in {@link #expShiftedSum} (shift 0). */
    static float exp(float x) {
        x = Math.min(Math.max(x, EXP_LO), EXP_HI);
        float n = (x * LOG2E + ROUNDER) - ROUNDER;
        float r = (x - n * LN2_HI) - n * LN2_LO;
        float p = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(r, P0, P1), r, P2), r, P3), r, P4), r, P5);
        p = Math.fma(p, r * r, r) + 1f;
        return p * Float.intBitsToFloat(((int) n + 127) << 23);
    }

    /** x[off + i] = exp(x[off + i]) for i < n. */
    static void expInPlace(float[] x, int off, int n) {
        expShiftedSum(x, off, n, 0f);   // x - 0 is x exactly, -0 included
    }

    /** The largest of x[off, off + n) (n > 0, no NaNs). */
    static float maxOf(float[] x, int off, int n) {
        int i = 0, upper = S.loopBound(n);
        float max = Float.NEGATIVE_INFINITY;
        if (upper > 0) {
            FloatVector m = FloatVector.fromArray(S, x, off);
            for (i = L; i < upper; i += L) {
                m = m.max(FloatVector.fromArray(S, x, off + i));
            }
            max = m.reduceLanes(VectorOperators.MAX);   // exact in any order
        }
        for (; i < n; i++) {
            max = Math.max(max, x[off + i]);
        }
        return max;
    }

    /**
     * x[off + i] = exp(x[off + i] - shift) for i < n, returning their sum: one pass for a block of attention
     * scores (lanes summed by the fixed tree of {@link #sumLanes}, then the tail in order).
     */
    static float expShiftedSum(float[] x, int off, int n, float shift) {
        int i = 0, upper = S.loopBound(n);
        FloatVector sum = FloatVector.zero(S);
        for (; i < upper; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, off + i).sub(shift).max(EXP_LO).min(EXP_HI);
            FloatVector k = v.mul(LOG2E).add(ROUNDER).sub(ROUNDER);
            FloatVector r = v.sub(k.mul(LN2_HI)).sub(k.mul(LN2_LO));
            FloatVector p = r.fma(P0, P1);
            p = p.fma(r, FloatVector.broadcast(S, P2));
            p = p.fma(r, FloatVector.broadcast(S, P3));
            p = p.fma(r, FloatVector.broadcast(S, P4));
            p = p.fma(r, FloatVector.broadcast(S, P5));
            p = p.fma(r.mul(r), r).add(1f);
            IntVector pow2 = ((IntVector) k.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
            FloatVector e = p.mul(pow2.reinterpretAsFloats());
            e.intoArray(x, off + i);
            sum = sum.add(e);
        }
        for (VectorShuffle<Float> s : HALVING) {
            sum = sum.add(sum.rearrange(s));
        }
        float total = sum.lane(0);
        for (; i < n; i++) {
            x[off + i] = exp(x[off + i] - shift);
            total += x[off + i];
        }
        return total;
    }

    /** Whether {@link #softmaxFullBlock4} applies: blocks of exactly one vector of 16 scores. */
    static boolean softmaxFullBlock4Fits(int blockSize) {
        return COMBINED_REDUCTION && blockSize == L;
    }

    /**
     * One online-softmax step of four attention rows over a block whose 16 slots they all see (scores of row r
     * at scores[16 r]): max[r] and sum[r] are updated and the scores replaced by their weights, exactly as
     * {@link #maxOf}, {@link #exp(float)} and {@link #expShiftedSum} do it row by row (the four sums by the
     * combined reduction, i.e. the same additions). correction[r] is the factor for row r's output so far
     * (1 when its max did not grow); {@code work} holds L + 4 floats.
     */
    static void softmaxFullBlock4(float[] scores, float[] max, float[] sum, float[] correction, float[] work) {
        // Row by row, the vector code of maxOf and expShiftedSum written out once (a helper returning a vector
        // boxes it wherever C2 does not inline it); the exp polynomial's lanes match exp(float).
        for (int row = 0; row < 4; row++) {
            FloatVector s = FloatVector.fromArray(S, scores, row * L);
            float newMax = Math.max(max[row], s.reduceLanes(VectorOperators.MAX));
            work[L + row] = newMax;
            FloatVector v = s.sub(newMax).max(EXP_LO).min(EXP_HI);
            FloatVector k = v.mul(LOG2E).add(ROUNDER).sub(ROUNDER);
            FloatVector r = v.sub(k.mul(LN2_HI)).sub(k.mul(LN2_LO));
            FloatVector p = r.fma(P0, P1);
            p = p.fma(r, FloatVector.broadcast(S, P2));
            p = p.fma(r, FloatVector.broadcast(S, P3));
            p = p.fma(r, FloatVector.broadcast(S, P4));
            p = p.fma(r, FloatVector.broadcast(S, P5));
            p = p.fma(r.mul(r), r).add(1f);
            IntVector pow2 = ((IntVector) k.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
            p.mul(pow2.reinterpretAsFloats()).intoArray(scores, row * L);
        }
        sumsOfFour(scores, 0, 4, work, 0);
        for (int r = 0; r < 4; r++) {
            float newMax = work[L + r], c = 1f;
            if (newMax > max[r] && sum[r] > 0f) {
                c = exp(max[r] - newMax);
                sum[r] *= c;
            }
            correction[r] = c;
            max[r] = newMax;
            sum[r] += work[LANE_OF_4[r]];
        }
    }

    /**
     * gate[off + i] = silu(gate[off + i]) * up[off + i] for i < n: one token's row, with
     * {@code scratch} (n floats) for exp(-gate).
     */
    static void siluTimes(float[] gate, float[] up, int off, int n, float[] scratch) {
        int upper = S.loopBound(n);
        for (int i = 0; i < upper; i += L) {
            FloatVector.fromArray(S, gate, off + i).neg().intoArray(scratch, i);
        }
        for (int i = upper; i < n; i++) {
            scratch[i] = -gate[off + i];
        }
        expInPlace(scratch, 0, n);
        for (int i = 0; i < upper; i += L) {
            FloatVector g = FloatVector.fromArray(S, gate, off + i);
            g.div(FloatVector.fromArray(S, scratch, i).add(1f)).mul(FloatVector.fromArray(S, up, off + i))
                    .intoArray(gate, off + i);
        }
        for (int i = upper; i < n; i++) {
            gate[off + i] = gate[off + i] / (scratch[i] + 1f) * up[off + i];
        }
    }
}
