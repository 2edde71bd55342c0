package dev.jvllm.common.metrics;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A strict parser of the Prometheus text exposition format 0.0.4 (as Prometheus's own text parser reads it):
 * {@code # HELP} / {@code # TYPE} lines, samples with escaped label values, a TYPE before a family's samples and at
 * most once, histogram series as {@code _bucket} (with {@code le}, cumulative, ending at {@code +Inf}), {@code _sum}
 * and {@code _count} equal to the {@code +Inf} bucket. Anything else fails with the offending line. Shared with the
 * launcher's end-to-end tests through the test jar.
 */
public final class PrometheusTextParser {
    public record Sample(String name, Map<String, String> labels, double value) {}

    public record Family(String name, String type, String help, List<Sample> samples) {
        /** Samples of this family's series {@code suffix} ("" for gauges/counters, "_bucket", ...) with these labels. */
        public List<Sample> series(String suffix, Map<String, String> labelSubset) {
            List<Sample> out = new ArrayList<>();
            for (Sample s : samples) {
                if (!s.name.equals(seriesName(suffix))) continue;
                if (s.labels.entrySet().containsAll(labelSubset.entrySet())) out.add(s);
            }
            return out;
        }

        private String seriesName(String suffix) {
            return type.equals("counter") && suffix.isEmpty() && !name.endsWith("_total") ? name + "_total" : name + suffix;
        }

        /** The single value of this gauge/counter series with exactly these labels. */
        public double value(Map<String, String> labels) {
            for (Sample s : samples) if (s.labels.equals(labels) && !s.name.endsWith("_bucket")) return s.value;
            throw new AssertionError("no sample of " + name + " with labels " + labels + " in " + samples);
        }
    }

    private PrometheusTextParser() {}

    public static Map<String, Family> parse(String text) {
        Map<String, Family> families = new LinkedHashMap<>();
        Map<String, String> help = new LinkedHashMap<>();
        Family current = null;
        int lineNo = 0;
        for (String line : text.split("\n", -1)) {
            lineNo++;
            if (line.isEmpty()) continue;
            try {
                if (line.startsWith("#")) {
                    String[] parts = line.split(" ", 4);
                    if (parts.length >= 3 && parts[1].equals("HELP")) {
                        checkName(parts[2]);
                        if (help.put(parts[2], parts.length == 4 ? unescapeHelp(parts[3]) : "") != null)
                            throw new IllegalArgumentException("second HELP for " + parts[2]);
                    } else if (parts.length >= 3 && parts[1].equals("TYPE")) {
                        if (parts.length != 4) throw new IllegalArgumentException("TYPE without a type");
                        checkName(parts[2]);
                        String type = parts[3];
                        if (!List.of("counter", "gauge", "histogram", "summary", "untyped").contains(type))
                            throw new IllegalArgumentException("unknown type " + type);
                        if (families.containsKey(parts[2])) throw new IllegalArgumentException("second TYPE for " + parts[2]);
                        current = new Family(parts[2], type, help.getOrDefault(parts[2], ""), new ArrayList<>());
                        families.put(parts[2], current);
                    }
                    continue; // other comments are allowed
                }
                Sample s = parseSample(line);
                Family f = familyOf(s.name, families);
                if (f == null) throw new IllegalArgumentException("sample without a TYPE: " + s.name);
                if (f != current) throw new IllegalArgumentException("samples of " + f.name + " are not contiguous");
                f.samples.add(s);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("line " + lineNo + " '" + line + "': " + e.getMessage(), e);
            }
        }
        Map<String, Family> out = new LinkedHashMap<>();
        for (Family f : families.values()) {
            Family withHelp = new Family(f.name, f.type, help.getOrDefault(f.name, ""), List.copyOf(f.samples));
            if (f.type.equals("histogram")) checkHistogram(withHelp);
            out.put(f.name, withHelp);
        }
        return out;
    }

    private static Family familyOf(String sample, Map<String, Family> families) {
        Family f = families.get(sample);
        if (f != null && !f.type.equals("histogram") && !f.type.equals("summary")) return f;
        for (String suffix : List.of("_bucket", "_sum", "_count", "_total", "_created")) {
            if (!sample.endsWith(suffix)) continue;
            Family g = families.get(sample.substring(0, sample.length() - suffix.length()));
            if (g == null) continue;
            boolean ok = switch (g.type) {
                case "histogram" -> !suffix.equals("_total");
                case "summary" -> suffix.equals("_sum") || suffix.equals("_count") || suffix.equals("_created");
                case "counter" -> suffix.equals("_total") || suffix.equals("_created");
                default -> false;
            };
            if (ok) return g;
        }
        return f;
    }

    private static void checkHistogram(Family f) {
        Map<Map<String, String>, List<Sample>> buckets = new TreeMap<>((a, b) -> a.toString().compareTo(b.toString()));
        Map<Map<String, String>, Double> counts = new TreeMap<>((a, b) -> a.toString().compareTo(b.toString()));
        Map<Map<String, String>, Double> sums = new TreeMap<>((a, b) -> a.toString().compareTo(b.toString()));
        for (Sample s : f.samples) {
            if (s.name.endsWith("_bucket")) {
                if (!s.labels.containsKey("le")) throw new IllegalArgumentException(f.name + ": bucket without le");
                Map<String, String> key = new TreeMap<>(s.labels);
                key.remove("le");
                buckets.computeIfAbsent(key, k -> new ArrayList<>()).add(s);
            } else if (s.name.endsWith("_count")) counts.put(new TreeMap<>(s.labels), s.value);
            else if (s.name.endsWith("_sum")) sums.put(new TreeMap<>(s.labels), s.value);
        }
        if (buckets.isEmpty()) throw new IllegalArgumentException(f.name + ": histogram without buckets");
        for (var e : buckets.entrySet()) {
            double prevLe = Double.NEGATIVE_INFINITY, prevCount = 0;
            for (Sample b : e.getValue()) {
                double le = parseValue(b.labels.get("le"));
                if (!(le > prevLe)) throw new IllegalArgumentException(f.name + ": le not increasing at " + b.labels.get("le"));
                if (b.value < prevCount) throw new IllegalArgumentException(f.name + ": buckets not cumulative at le=" + b.labels.get("le"));
                prevLe = le;
                prevCount = b.value;
            }
            if (prevLe != Double.POSITIVE_INFINITY) throw new IllegalArgumentException(f.name + ": no +Inf bucket");
            Double count = counts.get(e.getKey());
            if (count == null || count != prevCount)
                throw new IllegalArgumentException(f.name + ": _count " + count + " differs from the +Inf bucket " + prevCount);
            if (!sums.containsKey(e.getKey())) throw new IllegalArgumentException(f.name + ": no _sum for " + e.getKey());
        }
    }

    /** The {@code le} bounds of a histogram series, +Inf excluded. */
    public static List<Double> bucketBounds(Family f, Map<String, String> labels) {
        List<Double> out = new ArrayList<>();
        for (Sample s : f.series("_bucket", labels)) {
            double le = parseValue(s.labels.get("le"));
            if (le != Double.POSITIVE_INFINITY) out.add(le);
        }
        return out;
    }

    private static Sample parseSample(String line) {
        int i = 0;
        while (i < line.length() && line.charAt(i) != '{' && line.charAt(i) != ' ') i++;
        String name = line.substring(0, i);
        checkName(name);
        Map<String, String> labels = new LinkedHashMap<>();
        if (i < line.length() && line.charAt(i) == '{') {
            i++;
            while (true) {
                if (line.charAt(i) == '}') { i++; break; }
                int eq = line.indexOf('=', i);
                String label = line.substring(i, eq);
                if (!label.matches("[a-zA-Z_][a-zA-Z0-9_]*")) throw new IllegalArgumentException("bad label name " + label);
                if (line.charAt(eq + 1) != '"') throw new IllegalArgumentException("label value not quoted");
                StringBuilder v = new StringBuilder();
                int j = eq + 2;
                for (; line.charAt(j) != '"'; j++) {
                    char c = line.charAt(j);
                    if (c == '\\') {
                        char n = line.charAt(++j);
                        v.append(switch (n) {
                            case '\\' -> '\\';
                            case '"' -> '"';
                            case 'n' -> '\n';
                            default -> throw new IllegalArgumentException("bad escape \\" + n);
                        });
                    } else v.append(c);
                }
                if (labels.put(label, v.toString()) != null) throw new IllegalArgumentException("duplicate label " + label);
                i = j + 1;
                if (line.charAt(i) == ',') i++;
                else if (line.charAt(i) != '}') throw new IllegalArgumentException("expected , or } after a label");
            }
        }
        if (i >= line.length() || line.charAt(i) != ' ') throw new IllegalArgumentException("no value");
        String[] rest = line.substring(i + 1).split(" ");
        if (rest.length > 2) throw new IllegalArgumentException("trailing text");
        if (rest.length == 2) Long.parseLong(rest[1]); // timestamp
        return new Sample(name, labels, parseValue(rest[0]));
    }

    private static double parseValue(String v) {
        return switch (v) {
            case "+Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            case "NaN" -> Double.NaN;
            default -> Double.parseDouble(v);
        };
    }

    private static void checkName(String name) {
        if (!name.matches("[a-zA-Z_:][a-zA-Z0-9_:]*")) throw new IllegalArgumentException("bad metric name '" + name + "'");
    }

    private static String unescapeHelp(String s) {
        return s.replace("\\n", "\n").replace("\\\\", "\\");
    }
}
