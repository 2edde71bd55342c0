package dev.jvllm.worker.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * The common test {@link dev.jvllm.common.testing.GgufWriter} plus the engine's quantized tensor types:
 * F32/F16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q5_K tensors from floats (or any raw type id), and the values the engine reads back.
 */
final class GgufWriter {
    private final dev.jvllm.common.testing.GgufWriter file = new dev.jvllm.common.testing.GgufWriter();

    GgufWriter meta(String key, Object value) {
        file.meta(key, value);
        return this;
    }

    /** A [rows][cols] (or [n]) tensor of floats stored as F32 (0), F16 (1), Q4_0 (2), Q4_1 (3), Q5_0 (6), Q5_1 (7), Q8_0 (8) or Q5_K (13). */
    GgufWriter tensor(String name, int type, float[] values, long... rowsThenCols) {
        long[] dims = dev.jvllm.common.testing.GgufWriter.reversed(rowsThenCols);
        ByteBuffer b;
        switch (type) {
            case 0 -> {
                b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                for (float v : values) {
                    b.putFloat(v);
                }
            }
            case 1 -> {
                b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
                for (float v : values) {
                    b.putShort(Float.floatToFloat16(v));
                }
            }
            case 8 -> {
                b = ByteBuffer.allocate(values.length / 32 * 34).order(ByteOrder.LITTLE_ENDIAN);
                for (int blk = 0; blk < values.length / 32; blk++) {
                    float amax = 0;
                    for (int j = 0; j < 32; j++) {
                        amax = Math.max(amax, Math.abs(values[blk * 32 + j]));
                    }
                    float d = amax / 127, id = d != 0 ? 1 / d : 0;   // as ggml's quantize_row_q8_0_ref
                    b.putShort(Float.floatToFloat16(d));
                    for (int j = 0; j < 32; j++) {
                        b.put((byte) Math.round(values[blk * 32 + j] * id));
                    }
                }
            }
            case 2 -> {
                b = ByteBuffer.allocate(values.length / 32 * 18).order(ByteOrder.LITTLE_ENDIAN);
                for (int blk = 0; blk < values.length / 32; blk++) {
                    byte[] q = q4(values, blk);
                    b.putShort(Float.floatToFloat16(q4Scale(values, blk)));
                    for (int j = 0; j < 16; j++) {
                        b.put((byte) (q[j] | q[j + 16] << 4));
                    }
                }
            }
            case 3, 6, 7, 13 -> b = ByteBuffer.wrap(quantize(type, values));
            default -> throw new IllegalArgumentException("type " + type);
        }
        file.raw(name, type, b.array(), dims);
        return this;
    }

    /** A tensor with raw bytes and any type id (for unsupported-type tests). */
    GgufWriter raw(String name, int type, byte[] data, long... dims) {
        file.raw(name, type, data, dims);
        return this;
    }

    /** ggml's quantize_row_q4_0_ref: d = (value of largest magnitude) / -8, q = min(15, (int) (x / d + 8.5)). */
    private static float q4Scale(float[] values, int blk) {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) {
            float v = values[blk * 32 + j];
            if (Math.abs(v) > amax) {
                amax = Math.abs(v);
                max = v;
            }
        }
        return max / -8;
    }

    private static byte[] q4(float[] values, int blk) {
        float d = q4Scale(values, blk), id = d != 0 ? 1 / d : 0;
        byte[] q = new byte[32];
        for (int j = 0; j < 32; j++) {
            q[j] = (byte) Math.min(15, (int) (values[blk * 32 + j] * id + 8.5f));
        }
        return q;
    }

    /** Dequantizes values exactly as the engine reads them back (Q8_0: f16 scale times int8; Q4_0: (q - 8) * scale). */
    static float[] roundTrip(int type, float[] values) {
        if (type == 3 || type == 6 || type == 7 || type == 13) {
            return dequantize(type, quantize(type, values));
        }
        float[] out = new float[values.length];
        for (int blk = 0; blk < values.length / 32 && type == 2; blk++) {
            byte[] q = q4(values, blk);
            float d = Float.float16ToFloat(Float.floatToFloat16(q4Scale(values, blk)));
            for (int j = 0; j < 32; j++) {
                out[blk * 32 + j] = d * (q[j] - 8);
            }
        }
        if (type == 2) {
            return out;
        }
        for (int blk = 0; blk < values.length / 32 && type == 8; blk++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) {
                amax = Math.max(amax, Math.abs(values[blk * 32 + j]));
            }
            float d = amax / 127, id = d != 0 ? 1 / d : 0;
            float stored = Float.float16ToFloat(Float.floatToFloat16(d));
            for (int j = 0; j < 32; j++) {
                out[blk * 32 + j] = stored * (byte) Math.round(values[blk * 32 + j] * id);
            }
        }
        for (int i = 0; i < values.length && type != 8; i++) {
            out[i] = type == 1 ? Float.float16ToFloat(Float.floatToFloat16(values[i])) : values[i];
        }
        return out;
    }

    /*
     * Q4_1 (3), Q5_0 (6), Q5_1 (7) and Q5_K (13), by ggml's quantize_row_*_ref: Q4_1 / Q5_1 from each block's min and
     * (max - min) / 15 or 31, Q5_0 from d = (value of largest magnitude) / -16. Q5_K keeps ggml's layout and its
     * rounding of the sub-block scales and mins to 6 bits, but takes each sub-block's starting scale
     * (max - min(min, 0)) / 31 without make_qkx2_quants' refinement search: the tests compare against the
     * dequantized values, so only the layout must be ggml's.
     */

    private static byte[] quantize(int type, float[] x) {
        int n = type == 13 ? 256 : 32, size = type == 3 ? 20 : type == 6 ? 22 : type == 7 ? 24 : 176;
        ByteBuffer b = ByteBuffer.allocate(x.length / n * size).order(ByteOrder.LITTLE_ENDIAN);
        for (int blk = 0; blk < x.length / n; blk++) {
            int o = blk * n;
            if (type == 13) {
                quantizeQ5K(x, o, b);
                continue;
            }
            float d, min = 0;
            int maxQ;
            if (type == 6) {
                float amax = 0, max = 0;
                for (int j = 0; j < 32; j++) {
                    if (amax < Math.abs(x[o + j])) {
                        amax = Math.abs(x[o + j]);
                        max = x[o + j];
                    }
                }
                d = max / -16;
                maxQ = 31;
            } else {
                min = Float.MAX_VALUE;
                float max = -Float.MAX_VALUE;
                for (int j = 0; j < 32; j++) {
                    min = Math.min(min, x[o + j]);
                    max = Math.max(max, x[o + j]);
                }
                maxQ = type == 3 ? 15 : 31;
                d = (max - min) / maxQ;
            }
            float id = d != 0 ? 1 / d : 0;
            b.putShort(Float.floatToFloat16(d));
            if (type != 6) {
                b.putShort(Float.floatToFloat16(min));
            }
            int[] q = new int[32];
            int qh = 0;
            for (int j = 0; j < 32; j++) {
                q[j] = type == 6 ? Math.min(31, (byte) (int) (x[o + j] * id + 16.5f)) : Math.min(maxQ, (int) ((x[o + j] - min) * id + 0.5f));
                qh |= ((q[j] & 0x10) >> 4) << j;
            }
            if (type != 3) {
                b.putInt(qh);
            }
            for (int j = 0; j < 16; j++) {
                b.put((byte) ((q[j] & 0x0F) | (q[j + 16] & 0x0F) << 4));
            }
        }
        return b.array();
    }

    /** One Q5_K super-block of x[o, o + 256) (see above). */
    private static void quantizeQ5K(float[] x, int o, ByteBuffer b) {
        float[] scales = new float[8], mins = new float[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++) {
            float lo = 0, hi = -Float.MAX_VALUE;   // ggml's mins are min(min, 0), stored negated
            for (int l = 0; l < 32; l++) {
                lo = Math.min(lo, x[o + 32 * j + l]);
                hi = Math.max(hi, x[o + 32 * j + l]);
            }
            scales[j] = (hi - lo) / 31;
            mins[j] = -lo;
            maxScale = Math.max(maxScale, scales[j]);
            maxMin = Math.max(maxMin, mins[j]);
        }
        float invScale = maxScale > 0 ? 63f / maxScale : 0, invMin = maxMin > 0 ? 63f / maxMin : 0;
        int[] packed = new int[12];
        for (int j = 0; j < 8; j++) {
            int ls = Math.min(63, (int) Math.rint(invScale * scales[j])), lm = Math.min(63, (int) Math.rint(invMin * mins[j]));
            if (j < 4) {
                packed[j] = ls;
                packed[j + 4] = lm;
            } else {
                packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
                packed[j - 4] |= (ls >> 4) << 6;
                packed[j] |= (lm >> 4) << 6;
            }
        }
        short d = Float.floatToFloat16(maxScale / 63f), dmin = Float.floatToFloat16(maxMin / 63f);
        int[] q = new int[256];
        for (int j = 0; j < 8; j++) {
            int[] sm = scaleMinK4(j, packed);
            float dd = Float.float16ToFloat(d) * sm[0];
            if (dd == 0) {
                continue;
            }
            float dm = Float.float16ToFloat(dmin) * sm[1];
            for (int l = 0; l < 32; l++) {
                q[32 * j + l] = Math.max(0, Math.min(31, (int) Math.rint((x[o + 32 * j + l] + dm) / dd)));
            }
        }
        b.putShort(d).putShort(dmin);
        for (int v : packed) {
            b.put((byte) v);
        }
        byte[] qh = new byte[32], ql = new byte[128];
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int l1 = q[64 * c + l], l2 = q[64 * c + 32 + l];
                qh[l] |= (byte) (((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1)));
                ql[32 * c + l] = (byte) ((l1 & 0xF) | (l2 & 0xF) << 4);
            }
        }
        b.put(qh).put(ql);
    }

    /** ggml's get_scale_min_k4 over the 12 unsigned scale bytes: {scale, min}. */
    private static int[] scaleMinK4(int j, int[] q) {
        return j < 4 ? new int[]{q[j] & 63, q[j + 4] & 63}
                : new int[]{(q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)};
    }

    /** ggml's dequantize_row_q4_1 / _q5_0 / _q5_1 / _q5_K, in float as ggml computes them. */
    private static float[] dequantize(int type, byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int n = type == 13 ? 256 : 32, size = type == 3 ? 20 : type == 6 ? 22 : type == 7 ? 24 : 176;
        float[] y = new float[bytes.length / size * n];
        for (int blk = 0; blk < bytes.length / size; blk++) {
            int at = blk * size, o = blk * n;
            float d = Float.float16ToFloat(b.getShort(at)), m = type == 6 ? 0 : Float.float16ToFloat(b.getShort(at + 2));
            if (type == 13) {
                int[] scales = new int[12];
                for (int k = 0; k < 12; k++) {
                    scales[k] = bytes[at + 4 + k] & 0xFF;
                }
                for (int c = 0; c < 4; c++) {
                    int[] sm1 = scaleMinK4(2 * c, scales), sm2 = scaleMinK4(2 * c + 1, scales);
                    float d1 = d * sm1[0], m1 = m * sm1[1], d2 = d * sm2[0], m2 = m * sm2[1];
                    for (int l = 0; l < 32; l++) {
                        int ql = bytes[at + 48 + 32 * c + l] & 0xFF, qh = bytes[at + 16 + l] & 0xFF;
                        y[o + 64 * c + l] = d1 * ((ql & 0xF) + ((qh >> (2 * c) & 1) != 0 ? 16 : 0)) - m1;
                        y[o + 64 * c + 32 + l] = d2 * ((ql >> 4) + ((qh >> (2 * c + 1) & 1) != 0 ? 16 : 0)) - m2;
                    }
                }
                continue;
            }
            int qs = at + (type == 3 ? 4 : type == 6 ? 6 : 8);
            int qh = type == 3 ? 0 : b.getInt(qs - 4);
            for (int j = 0; j < 16; j++) {
                int x0 = (bytes[qs + j] & 0x0F) | (((qh >>> j) << 4) & 0x10);
                int x1 = ((bytes[qs + j] & 0xFF) >> 4) | ((qh >>> (j + 12)) & 0x10);
                y[o + j] = type == 6 ? (x0 - 16) * d : x0 * d + m;
                y[o + j + 16] = type == 6 ? (x1 - 16) * d : x1 * d + m;
            }
        }
        return y;
    }

    void write(Path path) throws IOException {
        file.write(path);
    }
}
