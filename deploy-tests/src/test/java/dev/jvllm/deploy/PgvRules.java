package dev.jvllm.deploy;

import com.google.protobuf.Any;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.OneofDescriptor;
import com.google.protobuf.Duration;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.pgv.validate.Validate;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Envoy's field constraints (protoc-gen-validate annotations on its API protos, which Envoy enforces
 * when it loads a config: required fields, min_len, numeric and duration bounds, min_items, required
 * oneofs), checked by reading the annotations from the descriptors. Typed configs inside Any are
 * unpacked with the registry and checked too.
 */
final class PgvRules {
    private static final Set<String> WRAPPERS = Set.of("google.protobuf.UInt32Value", "google.protobuf.UInt64Value",
            "google.protobuf.Int32Value", "google.protobuf.Int64Value", "google.protobuf.DoubleValue",
            "google.protobuf.FloatValue", "google.protobuf.BoolValue", "google.protobuf.StringValue");

    private PgvRules() {}

    static List<String> violations(Message root, JsonFormat.TypeRegistry types) throws InvalidProtocolBufferException {
        List<String> out = new ArrayList<>();
        check(root, root.getDescriptorForType().getName(), types, out);
        return out;
    }

    private static void check(Message m, String path, JsonFormat.TypeRegistry types, List<String> out)
            throws InvalidProtocolBufferException {
        Descriptor d = m.getDescriptorForType();
        if (d.getFullName().equals(Any.getDescriptor().getFullName())) {
            String url = (String) m.getField(d.findFieldByName("type_url"));
            Descriptor inner = types.find(url.substring(url.lastIndexOf('/') + 1));
            if (inner == null) {
                out.add(path + ": typed config " + url + " not in the registry");
                return;
            }
            check(DynamicMessage.parseFrom(inner, (com.google.protobuf.ByteString) m.getField(d.findFieldByName("value"))),
                    path + "<" + inner.getName() + ">", types, out);
            return;
        }
        if (d.getOptions().getExtension(Validate.disabled) || d.getOptions().getExtension(Validate.ignored)) {
            return;
        }
        for (OneofDescriptor o : d.getRealOneofs()) {
            if (o.getOptions().getExtension(Validate.required) && !m.hasOneof(o)) {
                out.add(path + ": one of " + o.getName() + " is required");
            }
        }
        for (FieldDescriptor f : d.getFields()) {
            String fp = path + "." + f.getName();
            if (f.getRealContainingOneof() != null && !m.hasField(f)) {
                continue;
            }
            Validate.FieldRules rules = f.getOptions().hasExtension(Validate.rules) ? f.getOptions().getExtension(Validate.rules) : null;
            if (f.isRepeated()) {
                int n = m.getRepeatedFieldCount(f);
                if (rules != null && rules.hasRepeated()) {
                    Validate.RepeatedRules r = rules.getRepeated();
                    if (!(r.getIgnoreEmpty() && n == 0)) {
                        if (r.hasMinItems() && n < r.getMinItems()) {
                            out.add(fp + ": needs at least " + r.getMinItems() + " item(s)");
                        }
                        if (r.hasMaxItems() && n > r.getMaxItems()) {
                            out.add(fp + ": at most " + r.getMaxItems() + " item(s)");
                        }
                    }
                }
                if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                    for (int i = 0; i < n; i++) {
                        check((Message) m.getRepeatedField(f, i), fp + "[" + i + "]", types, out);
                    }
                }
            } else if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                boolean has = m.hasField(f);
                if (rules != null) {
                    if (rules.hasMessage() && rules.getMessage().getRequired() && !has) {
                        out.add(fp + ": is required");
                    }
                    if (rules.hasDuration() && rules.getDuration().getRequired() && !has) {
                        out.add(fp + ": is required");
                    }
                    if (rules.hasAny() && rules.getAny().getRequired() && !has) {
                        out.add(fp + ": is required");
                    }
                }
                if (has) {
                    Message v = (Message) m.getField(f);
                    if (rules != null && rules.hasDuration()) {
                        checkDuration(rules.getDuration(), v, fp, out);
                    }
                    if (rules != null && WRAPPERS.contains(v.getDescriptorForType().getFullName())) {
                        checkScalar(rules, v.getField(v.getDescriptorForType().findFieldByName("value")), fp, out);
                    }
                    check(v, fp, types, out);
                }
            } else if (rules != null) {
                checkScalar(rules, m.getField(f), fp, out);
            }
        }
    }

    private static void checkDuration(Validate.DurationRules r, Message v, String fp, List<String> out) {
        Duration d = Duration.newBuilder().mergeFrom(v).build();
        if (r.hasGt() && compare(d, r.getGt()) <= 0) {
            out.add(fp + ": must be > " + r.getGt().getSeconds() + "s");
        }
        if (r.hasGte() && compare(d, r.getGte()) < 0) {
            out.add(fp + ": must be >= " + r.getGte().getSeconds() + "s");
        }
        if (r.hasLt() && compare(d, r.getLt()) >= 0) {
            out.add(fp + ": must be < " + r.getLt().getSeconds() + "s");
        }
        if (r.hasLte() && compare(d, r.getLte()) > 0) {
            out.add(fp + ": must be <= " + r.getLte().getSeconds() + "s");
        }
    }

    private static int compare(Duration a, Duration b) {
        return a.getSeconds() != b.getSeconds() ? Long.compare(a.getSeconds(), b.getSeconds()) : Integer.compare(a.getNanos(), b.getNanos());
    }

    /** Numeric bounds (any numeric rule type, read generically) and string lengths. */
    private static void checkScalar(Validate.FieldRules rules, Object value, String fp, List<String> out) {
        if (rules.hasString() && value instanceof String s) {
            Validate.StringRules r = rules.getString();
            if (r.getIgnoreEmpty() && s.isEmpty()) {
                return;
            }
            if (r.hasMinLen() && s.codePointCount(0, s.length()) < r.getMinLen()) {
                out.add(fp + ": must have at least " + r.getMinLen() + " character(s)");
            }
            if (r.hasMaxLen() && s.codePointCount(0, s.length()) > r.getMaxLen()) {
                out.add(fp + ": at most " + r.getMaxLen() + " character(s)");
            }
            if (r.hasMinBytes() && s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length < r.getMinBytes()) {
                out.add(fp + ": must have at least " + r.getMinBytes() + " byte(s)");
            }
            return;
        }
        if (!(value instanceof Number n)) {
            return;
        }
        FieldDescriptor typeField = rules.getOneofFieldDescriptor(Validate.FieldRules.getDescriptor().getRealOneofs().get(0));
        if (typeField == null || typeField.getJavaType() != FieldDescriptor.JavaType.MESSAGE) {
            return;
        }
        Message r = (Message) rules.getField(typeField);
        FieldDescriptor ignoreEmpty = r.getDescriptorForType().findFieldByName("ignore_empty");
        if (ignoreEmpty != null && (Boolean) r.getField(ignoreEmpty) && n.doubleValue() == 0) {
            return;
        }
        double v = n.doubleValue();
        bound(r, "gt", fp, out, b -> v > b, ">");
        bound(r, "gte", fp, out, b -> v >= b, ">=");
        bound(r, "lt", fp, out, b -> v < b, "<");
        bound(r, "lte", fp, out, b -> v <= b, "<=");
    }

    private static void bound(Message r, String name, String fp, List<String> out,
                              java.util.function.DoublePredicate ok, String op) {
        FieldDescriptor f = r.getDescriptorForType().findFieldByName(name);
        if (f != null && r.hasField(f) && r.getField(f) instanceof Number b && !ok.test(b.doubleValue())) {
            out.add(fp + ": must be " + op + " " + b);
        }
    }
}
