package dev.jvllm.worker.pjrt;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Writes StableHLO ops in MLIR's generic form ({@code "stablehlo.add"(%a, %b) : (...) -> ...}), which every
 * StableHLO version parses the same way, checking shapes as it goes so a wrong emitter fails here rather than in the
 * plugin's compiler. SSA names are unique across the whole function, nested regions included.
 */
final class MlirBuilder {

    /** A ranked tensor type. */
    record Type(long[] shape, String elem) {
        Type {
            shape = shape.clone();
        }

        static Type of(String elem, long... shape) { return new Type(shape, elem); }

        int rank() { return shape.length; }

        long dim(int i) { return shape[i]; }

        Type withElem(String e) { return new Type(shape, e); }

        Type withShape(long... s) { return new Type(s, elem); }

        @Override
        public String toString() {
            if (shape.length == 0) return "tensor<" + elem + ">";
            return "tensor<" + Arrays.stream(shape).mapToObj(Long::toString).collect(Collectors.joining("x")) + "x" + elem + ">";
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Type t && Arrays.equals(shape, t.shape) && elem.equals(t.elem);
        }

        @Override
        public int hashCode() { return Arrays.hashCode(shape) * 31 + elem.hashCode(); }
    }

    /** An SSA value. */
    record Value(String name, Type type) {
        @Override
        public String toString() { return name; }
    }

    private final StringBuilder out;
    private final int[] counter;
    private final String indent;

    MlirBuilder(StringBuilder out, String indent) {
        this(out, new int[1], indent);
    }

    private MlirBuilder(StringBuilder out, int[] counter, String indent) {
        this.out = out;
        this.counter = counter;
        this.indent = indent;
    }

    private String fresh() { return "%" + counter[0]++; }

    void comment(String text) { out.append(indent).append("// ").append(text).append('\n'); }

    /** One op with one result. */
    Value op(String name, String attrs, Type result, Value... operands) {
        String r = fresh();
        out.append(indent).append(r).append(" = \"stablehlo.").append(name).append("\"(")
                .append(Arrays.stream(operands).map(Value::name).collect(Collectors.joining(", "))).append(')');
        if (attrs != null && !attrs.isEmpty()) out.append(" {").append(attrs).append('}');
        out.append(" : (").append(Arrays.stream(operands).map(v -> v.type().toString()).collect(Collectors.joining(", ")))
                .append(") -> ").append(result).append('\n');
        return new Value(r, result);
    }

    /** An op with one region whose block takes {@code blockArgs} scalars; {@code body} returns what the region yields. */
    Value opWithRegion(String name, String attrs, Type result, List<Type> blockArgs, Function<List<Value>, List<Value>> body, Value... operands) {
        String r = fresh();
        out.append(indent).append(r).append(" = \"stablehlo.").append(name).append("\"(")
                .append(Arrays.stream(operands).map(Value::name).collect(Collectors.joining(", "))).append(") ({\n");
        List<Value> args = new ArrayList<>();
        for (Type t : blockArgs) args.add(new Value(fresh(), t));
        out.append(indent).append("^bb0(").append(args.stream().map(a -> a.name() + ": " + a.type()).collect(Collectors.joining(", "))).append("):\n");
        MlirBuilder inner = new MlirBuilder(out, counter, indent + "  ");
        List<Value> yielded = body.apply(args);
        out.append(inner.indent).append("\"stablehlo.return\"(").append(yielded.stream().map(Value::name).collect(Collectors.joining(", ")))
                .append(") : (").append(yielded.stream().map(v -> v.type().toString()).collect(Collectors.joining(", "))).append(") -> ()\n");
        out.append(indent).append("})");
        if (attrs != null && !attrs.isEmpty()) out.append(" {").append(attrs).append('}');
        out.append(" : (").append(Arrays.stream(operands).map(v -> v.type().toString()).collect(Collectors.joining(", ")))
                .append(") -> ").append(result).append('\n');
        return new Value(r, result);
    }

    /** The builder region bodies use: same output and counter, one level deeper. */
    MlirBuilder nested() { return new MlirBuilder(out, counter, indent + "  "); }

    // ---- constants ----

    Value splat(double v, Type t) { return op("constant", "value = dense<" + literal(v, t.elem()) + "> : " + t, t); }

    Value scalar(double v, String elem) { return splat(v, Type.of(elem)); }

    Value vector(float[] values) {
        Type t = Type.of("f32", values.length);
        StringBuilder sb = new StringBuilder("value = dense<[");
        for (int i = 0; i < values.length; i++) {
            if (i > 0) sb.append(", ");
            sb.append(floatLiteral(values[i]));
        }
        return op("constant", sb.append("]> : ").append(t).toString(), t);
    }

    static String literal(double v, String elem) {
        if (elem.startsWith("f") || elem.equals("bf16")) return floatLiteral((float) v);
        if (v != Math.rint(v)) throw new IllegalArgumentException("non-integer constant " + v + " for " + elem);
        if (elem.equals("i1")) return v != 0 ? "true" : "false";
        return Long.toString((long) v);
    }

    /** Float.toString always has a '.' and uses E exponents, both of which MLIR's float literal accepts. */
    static String floatLiteral(float f) {
        if (Float.isNaN(f) || Float.isInfinite(f)) throw new IllegalArgumentException("non-finite constant");
        return Float.toString(f).toLowerCase(Locale.ROOT).replace("e", "E");
    }

    // ---- elementwise ----

    Value binary(String name, Value a, Value b) {
        if (!a.type().equals(b.type())) throw new IllegalArgumentException(name + ": " + a.type() + " vs " + b.type());
        return op(name, "", a.type(), a, b);
    }

    Value add(Value a, Value b) { return binary("add", a, b); }

    Value sub(Value a, Value b) { return binary("subtract", a, b); }

    Value mul(Value a, Value b) { return binary("multiply", a, b); }

    Value div(Value a, Value b) { return binary("divide", a, b); }

    Value max(Value a, Value b) { return binary("maximum", a, b); }

    Value and(Value a, Value b) { return binary("and", a, b); }

    Value xor(Value a, Value b) { return binary("xor", a, b); }

    Value unary(String name, Value a) { return op(name, "", a.type(), a); }

    Value convert(Value a, String elem) { return a.type().elem().equals(elem) ? a : op("convert", "", a.type().withElem(elem), a); }

    Value compare(String dir, Value a, Value b) {
        if (!a.type().equals(b.type())) throw new IllegalArgumentException("compare: " + a.type() + " vs " + b.type());
        return op("compare", "comparison_direction = #stablehlo<comparison_direction " + dir + ">", a.type().withElem("i1"), a, b);
    }

    Value select(Value pred, Value onTrue, Value onFalse) {
        if (!onTrue.type().equals(onFalse.type()) || !Arrays.equals(pred.type().shape(), onTrue.type().shape())) {
            throw new IllegalArgumentException("select: " + pred.type() + ", " + onTrue.type() + ", " + onFalse.type());
        }
        return op("select", "", onTrue.type(), pred, onTrue, onFalse);
    }

    // ---- shape ----

    Value broadcast(Value a, Type to, int... dims) {
        if (dims.length != a.type().rank()) throw new IllegalArgumentException("broadcast dims " + Arrays.toString(dims) + " for " + a.type());
        for (int i = 0; i < dims.length; i++) {
            if (a.type().dim(i) != 1 && a.type().dim(i) != to.dim(dims[i])) throw new IllegalArgumentException("broadcast " + a.type() + " -> " + to);
        }
        return op("broadcast_in_dim", "broadcast_dimensions = " + i64Array(dims), to.withElem(a.type().elem()), a);
    }

    Value reshape(Value a, long... shape) {
        long n = 1, m = 1;
        for (long d : shape) n *= d;
        for (long d : a.type().shape()) m *= d;
        if (n != m) throw new IllegalArgumentException("reshape " + a.type() + " to " + Arrays.toString(shape));
        return op("reshape", "", a.type().withShape(shape), a);
    }

    Value iota(Type t, int dim) { return op("iota", "iota_dimension = " + dim + " : i64", t); }

    Value slice(Value a, long[] start, long[] limit) {
        long[] shape = new long[start.length];
        long[] strides = new long[start.length];
        for (int i = 0; i < start.length; i++) {
            shape[i] = limit[i] - start[i];
            strides[i] = 1;
        }
        return op("slice", "start_indices = " + i64Array(start) + ", limit_indices = " + i64Array(limit) + ", strides = " + i64Array(strides),
                a.type().withShape(shape), a);
    }

    Value concatenate(int dim, Value a, Value b) {
        long[] s = a.type().shape().clone();
        s[dim] += b.type().dim(dim);
        return op("concatenate", "dimension = " + dim + " : i64", a.type().withShape(s), a, b);
    }

    /** Pads (or, with negative amounts, crops) each dimension; used for the shift steps of a prefix sum. */
    Value pad(Value a, Value padValue, long[] low, long[] high) {
        long[] s = a.type().shape().clone();
        for (int i = 0; i < s.length; i++) s[i] += low[i] + high[i];
        return op("pad", "edge_padding_low = " + i64Array(low) + ", edge_padding_high = " + i64Array(high)
                + ", interior_padding = " + i64Array(new long[low.length]), a.type().withShape(s), a, padValue);
    }

    // ---- contractions and reductions ----

    Value dot(Value lhs, Value rhs, int[] lhsBatch, int[] rhsBatch, int[] lhsContract, int[] rhsContract, String resultElem) {
        List<Long> shape = new ArrayList<>();
        for (int d : lhsBatch) shape.add(lhs.type().dim(d));
        for (int i = 0; i < lhs.type().rank(); i++) if (!contains(lhsBatch, i) && !contains(lhsContract, i)) shape.add(lhs.type().dim(i));
        for (int i = 0; i < rhs.type().rank(); i++) if (!contains(rhsBatch, i) && !contains(rhsContract, i)) shape.add(rhs.type().dim(i));
        for (int i = 0; i < lhsContract.length; i++) {
            if (lhs.type().dim(lhsContract[i]) != rhs.type().dim(rhsContract[i])) throw new IllegalArgumentException("dot: " + lhs.type() + " . " + rhs.type());
        }
        StringBuilder dn = new StringBuilder("dot_dimension_numbers = #stablehlo.dot<");
        List<String> parts = new ArrayList<>();
        if (lhsBatch.length > 0) parts.add("lhs_batching_dimensions = " + list(lhsBatch));
        if (rhsBatch.length > 0) parts.add("rhs_batching_dimensions = " + list(rhsBatch));
        parts.add("lhs_contracting_dimensions = " + list(lhsContract));
        parts.add("rhs_contracting_dimensions = " + list(rhsContract));
        dn.append(String.join(", ", parts)).append('>');
        return op("dot_general", dn.toString(), Type.of(resultElem, shape.stream().mapToLong(Long::longValue).toArray()), lhs, rhs);
    }

    /** Reduces one dimension with add, maximum or minimum. */
    Value reduce(String combiner, Value a, double init, int dim) {
        String elem = a.type().elem();
        Value initV = scalar(init, elem);
        long[] s = new long[a.type().rank() - 1];
        for (int i = 0, j = 0; i < a.type().rank(); i++) if (i != dim) s[j++] = a.type().dim(i);
        Type scalarT = Type.of(elem);
        MlirBuilder inner = nested();
        return opWithRegion("reduce", "dimensions = " + i64Array(new int[] {dim}), a.type().withShape(s), List.of(scalarT, scalarT),
                args -> List.of(inner.binary(combiner, args.get(0), args.get(1))), a, initV);
    }

    /** Rows of {@code table} [N, ...] picked by {@code indices} [M]: result [M, ...]. */
    Value gatherRows(Value table, Value indices) {
        long m = indices.type().dim(0);
        Value idx = reshape(indices, m, 1);
        long[] slice = table.type().shape().clone();
        slice[0] = 1;
        long[] out = table.type().shape().clone();
        out[0] = m;
        int[] offsetDims = new int[table.type().rank() - 1];
        for (int i = 0; i < offsetDims.length; i++) offsetDims[i] = i + 1;
        return op("gather", gatherAttrs(offsetDims, 1, slice), table.type().withShape(out), table, idx);
    }

    /** Rows of {@code table} [N, a, b] picked by a 2-D index grid [P, Q]: result [P, Q, a, b]. */
    Value gatherRowsGrid(Value table, Value grid) {
        long p = grid.type().dim(0), q = grid.type().dim(1);
        Value idx = reshape(grid, p, q, 1);
        long[] slice = table.type().shape().clone();
        slice[0] = 1;
        long[] out = new long[table.type().rank() + 1];
        out[0] = p;
        out[1] = q;
        System.arraycopy(table.type().shape(), 1, out, 2, table.type().rank() - 1);
        int[] offsetDims = new int[table.type().rank() - 1];
        for (int i = 0; i < offsetDims.length; i++) offsetDims[i] = i + 2;
        return op("gather", gatherAttrs(offsetDims, 2, slice), table.type().withShape(out), table, idx);
    }

    /**
     * Overwrites rows of {@code table} [N, ...] at {@code indices} [M] with {@code updates} [M, ...]. Rows whose index is
     * out of bounds are skipped (XLA's scatter semantics), which is how padding tokens write nowhere.
     */
    Value scatterRows(Value table, Value indices, Value updates) {
        long m = indices.type().dim(0);
        Value idx = reshape(indices, m, 1);
        int[] windowDims = new int[table.type().rank() - 1];
        for (int i = 0; i < windowDims.length; i++) windowDims[i] = i + 1;
        Type scalarT = Type.of(table.type().elem());
        return opWithRegion("scatter", "indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = "
                        + list(windowDims) + ", inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, unique_indices = false",
                table.type(), List.of(scalarT, scalarT), args -> List.of(args.get(1)), table, idx, updates);
    }

    /** Sorts along {@code dim}, largest first. */
    Value sortDescending(Value a, int dim) {
        Type scalarT = Type.of(a.type().elem());
        MlirBuilder inner = nested();
        return opWithRegion("sort", "dimension = " + dim + " : i64, is_stable = true", a.type(), List.of(scalarT, scalarT),
                args -> List.of(inner.compare("GT", args.get(0), args.get(1))), a);
    }

    /** Gather of whole rows along dim 0; an empty offset_dims is left out, as MLIR's printer does. */
    private static String gatherAttrs(int[] offsetDims, int indexVectorDim, long[] sliceSizes) {
        String offsets = offsetDims.length == 0 ? "" : "offset_dims = " + list(offsetDims) + ", ";
        return "dimension_numbers = #stablehlo.gather<" + offsets + "collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = "
                + indexVectorDim + ">, indices_are_sorted = false, slice_sizes = " + i64Array(sliceSizes);
    }

    // ---- helpers ----

    private static boolean contains(int[] a, int x) {
        for (int v : a) if (v == x) return true;
        return false;
    }

    static String list(int[] a) { return Arrays.stream(a).mapToObj(Integer::toString).collect(Collectors.joining(", ", "[", "]")); }

    static String i64Array(int[] a) { return a.length == 0 ? "array<i64>" : Arrays.stream(a).mapToObj(Integer::toString).collect(Collectors.joining(", ", "array<i64: ", ">")); }

    static String i64Array(long[] a) { return a.length == 0 ? "array<i64>" : Arrays.stream(a).mapToObj(Long::toString).collect(Collectors.joining(", ", "array<i64: ", ">")); }
}
