package dev.jvllm.worker.pjrt;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Test-only reference executor for the subset of generic-form StableHLO the emitter writes, following the
 * StableHLO spec's semantics for each op (gather/scatter restricted to whole rows along dim 0, as emitted). f32 values
 * are rounded to float after each op and bf16 conversions round to nearest even, so results track a real device
 * closely enough to test the program's math without one.
 */
final class StableHloInterpreter {

    /** A dense row-major tensor; integers are held exactly in the doubles. */
    record Tensor(long[] shape, String elem, double[] data) {
        long size() { return data.length; }

        static Tensor zeros(String elem, long... shape) {
            long n = 1;
            for (long d : shape) n *= d;
            return new Tensor(shape, elem, new double[(int) n]);
        }
    }

    private static final Pattern TYPE = Pattern.compile("tensor<([0-9x]*?)x?([a-z]+[0-9]+)>");
    private static final Pattern ARG = Pattern.compile("^\\s+(%[A-Za-z0-9_.$-]+): (tensor<[^>]*>)");
    private static final Pattern OP = Pattern.compile("^\\s*(%[0-9]+) = \"stablehlo\\.([a-z_]+)\"\\(([^)]*)\\)(.*)$");
    private static final Pattern RET = Pattern.compile("^\\s*\"func\\.return\"\\(([^)]*)\\)");

    final Map<String, Tensor> env = new HashMap<>();

    /** Runs @main on the given arguments (in parameter order); returns the results. */
    List<Tensor> run(String mlir, List<Tensor> args) {
        String[] lines = mlir.split("\n");
        int argIdx = 0;
        int i = 0;
        for (; i < lines.length; i++) {
            Matcher m = ARG.matcher(lines[i]);
            if (m.find()) {
                Tensor a = args.get(argIdx++);
                if (!Arrays.equals(a.shape(), parseType(m.group(2)).shape())) throw new IllegalArgumentException("arg " + m.group(1) + " shape");
                env.put(m.group(1), a);
            }
            if (lines[i].strip().startsWith("-> (")) break;
        }
        if (argIdx != args.size()) throw new IllegalArgumentException("expected " + argIdx + " args");
        for (i++; i < lines.length; i++) {
            String line = lines[i];
            Matcher m = OP.matcher(line);
            if (m.find()) {
                String result = m.group(1), op = m.group(2), rest = m.group(4);
                List<Tensor> in = new ArrayList<>();
                for (String o : m.group(3).split(",")) if (!o.isBlank()) in.add(env.get(o.strip()));
                String regionOp = null;
                if (rest.equals(" ({")) { // region: find the combiner and the closing line
                    StringBuilder region = new StringBuilder();
                    while (!lines[++i].strip().startsWith("})")) region.append(lines[i]).append('\n');
                    Matcher rm = Pattern.compile("\"stablehlo\\.([a-z_]+)\"\\(").matcher(region);
                    regionOp = rm.find() ? rm.group(1) : "return";
                    if (region.toString().contains("\"stablehlo.compare\"")) regionOp = "compare " + direction(region.toString());
                    rest = lines[i].strip().substring(2);
                }
                Tensor resultType = parseType(rest.substring(rest.lastIndexOf("-> ") + 3));
                env.put(result, eval(op, rest, in, resultType, regionOp));
                continue;
            }
            Matcher r = RET.matcher(line);
            if (r.find()) {
                List<Tensor> out = new ArrayList<>();
                for (String o : r.group(1).split(",")) out.add(env.get(o.strip()));
                return out;
            }
        }
        throw new IllegalStateException("no func.return");
    }

    static Tensor parseType(String t) {
        Matcher m = TYPE.matcher(t.strip());
        if (!m.find()) throw new IllegalArgumentException("type " + t);
        long[] shape = m.group(1).isEmpty() ? new long[0] : Arrays.stream(m.group(1).split("x")).mapToLong(Long::parseLong).toArray();
        return Tensor.zeros(m.group(2), shape);
    }

    private static String direction(String s) {
        Matcher m = Pattern.compile("comparison_direction ([A-Z]+)>").matcher(s);
        if (!m.find()) throw new IllegalArgumentException("no direction");
        return m.group(1);
    }

    private static long[] ints(String attrs, String name) {
        Matcher m = Pattern.compile(name + " = (?:array<i64(?:: ([-0-9, ]*))?>|\\[([-0-9, ]*)\\])").matcher(attrs);
        if (!m.find()) return new long[0];
        String body = m.group(1) != null ? m.group(1) : m.group(2);
        if (body == null || body.isBlank()) return new long[0];
        return Arrays.stream(body.split(",")).map(String::strip).mapToLong(Long::parseLong).toArray();
    }

    private static long scalarAttr(String attrs, String name) {
        Matcher m = Pattern.compile(name + " = (-?[0-9]+) : i64").matcher(attrs);
        if (!m.find()) throw new IllegalArgumentException("no " + name);
        return Long.parseLong(m.group(1));
    }

    private Tensor eval(String op, String attrs, List<Tensor> in, Tensor out, String regionOp) {
        switch (op) {
            case "constant" -> {
                Matcher m = Pattern.compile("dense<(\\[?[^>]*?\\]?)>").matcher(attrs);
                if (!m.find()) throw new IllegalArgumentException(attrs);
                String body = m.group(1);
                if (body.startsWith("[")) {
                    String[] parts = body.substring(1, body.length() - 1).split(",");
                    for (int i = 0; i < parts.length; i++) out.data()[i] = parseNumber(parts[i].strip());
                } else {
                    Arrays.fill(out.data(), parseNumber(body));
                }
                return round(out);
            }
            case "convert" -> {
                for (int i = 0; i < out.size(); i++) out.data()[i] = in.get(0).data()[i];
                return round(out);
            }
            case "reshape" -> {
                System.arraycopy(in.get(0).data(), 0, out.data(), 0, (int) out.size());
                return out;
            }
            case "broadcast_in_dim" -> {
                long[] dims = ints(attrs, "broadcast_dimensions");
                Tensor a = in.get(0);
                forEachIndex(out.shape(), (idx, flat) -> {
                    long[] src = new long[a.shape().length];
                    for (int k = 0; k < dims.length; k++) src[k] = a.shape()[k] == 1 ? 0 : idx[(int) dims[k]];
                    out.data()[flat] = a.data()[(int) flatten(a.shape(), src)];
                });
                return out;
            }
            case "iota" -> {
                int dim = (int) scalarAttr(attrs, "iota_dimension");
                forEachIndex(out.shape(), (idx, flat) -> out.data()[flat] = idx[dim]);
                return out;
            }
            case "slice" -> {
                long[] start = ints(attrs, "start_indices");
                Tensor a = in.get(0);
                forEachIndex(out.shape(), (idx, flat) -> {
                    long[] src = idx.clone();
                    for (int k = 0; k < src.length; k++) src[k] += start[k];
                    out.data()[flat] = a.data()[(int) flatten(a.shape(), src)];
                });
                return out;
            }
            case "concatenate" -> {
                int dim = (int) scalarAttr(attrs, "dimension");
                Tensor a = in.get(0), b = in.get(1);
                forEachIndex(out.shape(), (idx, flat) -> {
                    long[] src = idx.clone();
                    Tensor from = a;
                    if (idx[dim] >= a.shape()[dim]) {
                        src[dim] -= a.shape()[dim];
                        from = b;
                    }
                    out.data()[flat] = from.data()[(int) flatten(from.shape(), src)];
                });
                return out;
            }
            case "pad" -> {
                long[] low = ints(attrs, "edge_padding_low");
                Tensor a = in.get(0);
                double pad = in.get(1).data()[0];
                forEachIndex(out.shape(), (idx, flat) -> {
                    long[] src = idx.clone();
                    boolean inside = true;
                    for (int k = 0; k < src.length; k++) {
                        src[k] -= low[k];
                        if (src[k] < 0 || src[k] >= a.shape()[k]) inside = false;
                    }
                    out.data()[flat] = inside ? a.data()[(int) flatten(a.shape(), src)] : pad;
                });
                return out;
            }
            case "dot_general" -> {
                return dot(attrs, in.get(0), in.get(1), out);
            }
            case "reduce" -> {
                int dim = (int) ints(attrs, "dimensions")[0];
                Tensor a = in.get(0);
                Arrays.fill(out.data(), in.get(1).data()[0]);
                forEachIndex(a.shape(), (idx, flat) -> {
                    long[] dst = new long[idx.length - 1];
                    for (int k = 0, j = 0; k < idx.length; k++) if (k != dim) dst[j++] = idx[k];
                    int o = (int) flatten(out.shape(), dst);
                    out.data()[o] = binary(regionOp, out.data()[o], a.data()[flat], out.elem());
                });
                return round(out);
            }
            case "gather" -> { // whole rows along dim 0; indices [..., 1]; out-of-range starts clamp, as the spec says
                Tensor table = in.get(0), idx = in.get(1);
                long rowSize = table.size() / table.shape()[0];
                for (int r = 0; r < idx.size(); r++) {
                    long row = Math.max(0, Math.min(table.shape()[0] - 1, (long) idx.data()[r]));
                    System.arraycopy(table.data(), (int) (row * rowSize), out.data(), (int) (r * rowSize), (int) rowSize);
                }
                return out;
            }
            case "scatter" -> { // overwrite whole rows along dim 0; out-of-range rows are skipped
                Tensor table = in.get(0), idx = in.get(1), upd = in.get(2);
                System.arraycopy(table.data(), 0, out.data(), 0, (int) table.size());
                long rowSize = table.size() / table.shape()[0];
                for (int r = 0; r < idx.size(); r++) {
                    long row = (long) idx.data()[r];
                    if (row < 0 || row >= table.shape()[0]) continue;
                    System.arraycopy(upd.data(), (int) (r * rowSize), out.data(), (int) (row * rowSize), (int) rowSize);
                }
                return out;
            }
            case "sort" -> { // 2-D along dim 1 with a GT comparator: descending
                if (!regionOp.equals("compare GT") || scalarAttr(attrs, "dimension") != 1) throw new UnsupportedOperationException(regionOp);
                Tensor a = in.get(0);
                int rows = (int) a.shape()[0], cols = (int) a.shape()[1];
                for (int r = 0; r < rows; r++) {
                    double[] row = Arrays.copyOfRange(a.data(), r * cols, (r + 1) * cols);
                    Arrays.sort(row);
                    for (int c = 0; c < cols; c++) out.data()[r * cols + c] = row[cols - 1 - c];
                }
                return out;
            }
            case "compare" -> {
                String dir = direction(attrs);
                for (int i = 0; i < out.size(); i++) {
                    double x = in.get(0).data()[i], y = in.get(1).data()[i];
                    boolean v = switch (dir) {
                        case "EQ" -> x == y;
                        case "LT" -> x < y;
                        case "LE" -> x <= y;
                        case "GT" -> x > y;
                        case "GE" -> x >= y;
                        default -> throw new UnsupportedOperationException(dir);
                    };
                    out.data()[i] = v ? 1 : 0;
                }
                return out;
            }
            case "select" -> {
                for (int i = 0; i < out.size(); i++) out.data()[i] = in.get(0).data()[i] != 0 ? in.get(1).data()[i] : in.get(2).data()[i];
                return out;
            }
            case "exponential", "log", "negate", "rsqrt", "logistic", "cosine", "sine" -> {
                for (int i = 0; i < out.size(); i++) {
                    double x = in.get(0).data()[i];
                    out.data()[i] = switch (op) {
                        case "exponential" -> Math.exp(x);
                        case "log" -> Math.log(x);
                        case "negate" -> -x;
                        case "rsqrt" -> 1 / Math.sqrt(x);
                        case "logistic" -> 1 / (1 + Math.exp(-x));
                        case "cosine" -> Math.cos(x);
                        default -> Math.sin(x);
                    };
                }
                return round(out);
            }
            default -> {
                for (int i = 0; i < out.size(); i++) out.data()[i] = binary(op, in.get(0).data()[i], in.get(1).data()[i], out.elem());
                return round(out);
            }
        }
    }

    private static double binary(String op, double x, double y, String elem) {
        boolean unsigned = elem.startsWith("ui");
        return switch (op) {
            case "add" -> x + y;
            case "subtract" -> x - y;
            case "multiply" -> unsigned ? (double) (((long) x * (long) y) & 0xFFFFFFFFL) : x * y;
            case "divide" -> x / y;
            case "maximum" -> Math.max(x, y);
            case "minimum" -> Math.min(x, y);
            case "and" -> (x != 0 && y != 0) ? 1 : 0;
            case "xor" -> (double) (((long) x ^ (long) y) & 0xFFFFFFFFL);
            case "shift_right_logical" -> (double) ((((long) x) & 0xFFFFFFFFL) >>> (long) y);
            default -> throw new UnsupportedOperationException(op);
        };
    }

    /** Applies the element type's precision: f32 and bf16 rounding, 32-bit integer wrap-around. */
    private static Tensor round(Tensor t) {
        double[] d = t.data();
        switch (t.elem()) {
            case "f32" -> { for (int i = 0; i < d.length; i++) d[i] = (float) d[i]; }
            case "bf16" -> { for (int i = 0; i < d.length; i++) d[i] = bf16((float) d[i]); }
            case "i32" -> { for (int i = 0; i < d.length; i++) d[i] = (int) (long) d[i]; }
            case "ui32" -> { for (int i = 0; i < d.length; i++) d[i] = ((long) d[i]) & 0xFFFFFFFFL; }
            case "i1" -> { for (int i = 0; i < d.length; i++) d[i] = d[i] != 0 ? 1 : 0; }
            default -> throw new UnsupportedOperationException(t.elem());
        }
        return t;
    }

    /** Round-to-nearest-even to bfloat16. */
    static float bf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int rounded = (bits + 0x7FFF + ((bits >>> 16) & 1)) & 0xFFFF0000;
        return Float.intBitsToFloat(rounded);
    }

    private static double parseNumber(String s) {
        if (s.equals("true")) return 1;
        if (s.equals("false")) return 0;
        return Double.parseDouble(s);
    }

    private Tensor dot(String attrs, Tensor lhs, Tensor rhs, Tensor out) {
        long[] lb = ints(attrs, "lhs_batching_dimensions"), rb = ints(attrs, "rhs_batching_dimensions");
        long[] lc = ints(attrs, "lhs_contracting_dimensions"), rc = ints(attrs, "rhs_contracting_dimensions");
        List<Integer> lFree = free(lhs.shape().length, lb, lc), rFree = free(rhs.shape().length, rb, rc);
        long[] cShape = new long[lc.length];
        for (int k = 0; k < lc.length; k++) cShape[k] = lhs.shape()[(int) lc[k]];
        forEachIndex(out.shape(), (idx, flat) -> {
            long[] li = new long[lhs.shape().length], ri = new long[rhs.shape().length];
            int p = 0;
            for (int k = 0; k < lb.length; k++, p++) {
                li[(int) lb[k]] = idx[p];
                ri[(int) rb[k]] = idx[p];
            }
            for (int f : lFree) li[f] = idx[p++];
            for (int f : rFree) ri[f] = idx[p++];
            double[] acc = {0};
            forEachIndex(cShape, (c, unused) -> {
                for (int k = 0; k < lc.length; k++) {
                    li[(int) lc[k]] = c[k];
                    ri[(int) rc[k]] = c[k];
                }
                acc[0] += lhs.data()[(int) flatten(lhs.shape(), li)] * rhs.data()[(int) flatten(rhs.shape(), ri)];
            });
            out.data()[flat] = acc[0];
        });
        return round(out);
    }

    private static List<Integer> free(int rank, long[] batch, long[] contract) {
        List<Integer> out = new ArrayList<>();
        outer:
        for (int i = 0; i < rank; i++) {
            for (long b : batch) if (b == i) continue outer;
            for (long c : contract) if (c == i) continue outer;
            out.add(i);
        }
        return out;
    }

    private interface IndexFn { void apply(long[] idx, int flat); }

    private static void forEachIndex(long[] shape, IndexFn fn) {
        long n = 1;
        for (long d : shape) n *= d;
        long[] idx = new long[shape.length];
        for (int flat = 0; flat < n; flat++) {
            fn.apply(idx, flat);
            for (int k = shape.length - 1; k >= 0; k--) {
                if (++idx[k] < shape[k]) break;
                idx[k] = 0;
            }
        }
    }

    private static long flatten(long[] shape, long[] idx) {
        long f = 0;
        for (int k = 0; k < shape.length; k++) f = f * shape[k] + idx[k];
        return f;
    }
}
