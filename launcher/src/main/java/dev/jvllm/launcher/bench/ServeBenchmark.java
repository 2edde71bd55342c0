package dev.jvllm.launcher.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * {@code jvllm bench serve}: load against any OpenAI-compatible server (as vLLM's {@code vllm bench serve}
 * with the random dataset): {@code numPrompts} streamed completions with random prompts of about
 * {@code inputLen} tokens and {@code outputLen} new tokens each ({@code ignore_eos}), sent at a Poisson
 * {@code requestRate} (infinite: all at once) and at most {@code maxConcurrency} in flight.
 * Measures request and token throughput, TTFT, TPOT, ITL and end-to-end latency.
 */
public final class ServeBenchmark {

    /**
     * @param baseUrl        e.g. http://127.0.0.1:8000
     * @param endpoint       /v1/completions (or /v1/chat/completions)
     * @param model          model name for the requests; null: the first of GET /v1/models
     * @param rangeRatio     lengths drawn uniformly in [len * (1 - r), len * (1 + r)]
     * @param requestRate    requests per second (Poisson arrivals); Double.POSITIVE_INFINITY: all at once
     * @param maxConcurrency most requests in flight; 0: unlimited
     */
    public record Options(String baseUrl, String endpoint, String model, String apiKey, int numPrompts, int inputLen,
                          int outputLen, double rangeRatio, double requestRate, int maxConcurrency, boolean ignoreEos,
                          long seed, boolean progress, Path resultJson) {
        public Options {
            if (numPrompts < 1 || inputLen < 1 || outputLen < 1 || rangeRatio < 0 || rangeRatio >= 1 || maxConcurrency < 0
                    || !(requestRate > 0)) {
                throw new IllegalArgumentException("num-prompts, lengths, request rate must be positive; range ratio in [0, 1)");
            }
            baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        }
    }

    /** One request's measurements (seconds). */
    record RequestResult(boolean ok, String error, int promptTokens, int outputTokens, double ttft, double latency,
                         double[] itl) {}

    /** Aggregates; times in milliseconds. */
    public record Metrics(int completed, int failed, double durationSeconds, long totalInputTokens, long totalOutputTokens,
                          double requestThroughput, double outputThroughput, double totalTokenThroughput,
                          Stat ttftMs, Stat tpotMs, Stat itlMs, Stat e2elMs) {}

    public record Stat(double mean, double median, double p90, double p99) {
        static Stat of(double[] values) {
            double[] v = values.clone();
            Arrays.sort(v);
            return new Stat(v.length == 0 ? 0 : Arrays.stream(v).average().orElse(0), pct(v, 50), pct(v, 90), pct(v, 99));
        }
    }

    static double pct(double[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        double rank = p / 100 * (sorted.length - 1);
        int lo = (int) Math.floor(rank), hi = (int) Math.ceil(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Short common words: with most tokenizers about one token each, so prompt length in words ~ tokens. */
    private static final String[] WORDS = ("the of and to in is you that it he was for on are as with his they at be this "
            + "have from or one had by word but not what all were we when your can said there use an each which she do how "
            + "their if will up other about out many then them these so some her would make like him into time has look two "
            + "more write go see number no way could people my than first water been call who oil its now find long down day "
            + "did get come made may part").split(" ");

    private ServeBenchmark() {}

    public static Metrics run(Options o, PrintStream out) throws IOException, InterruptedException {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).version(HttpClient.Version.HTTP_1_1).build();
        String model = o.model() != null ? o.model() : firstModel(http, o);
        Random rng = new Random(o.seed());
        List<String> prompts = new ArrayList<>();
        int[] maxTokens = new int[o.numPrompts()];
        for (int i = 0; i < o.numPrompts(); i++) {
            prompts.add(randomPrompt(rng, drawLength(rng, o.inputLen(), o.rangeRatio())));
            maxTokens[i] = drawLength(rng, o.outputLen(), o.rangeRatio());
        }
        Semaphore slots = o.maxConcurrency() > 0 ? new Semaphore(o.maxConcurrency()) : null;
        AtomicInteger done = new AtomicInteger();
        List<Future<RequestResult>> futures = new ArrayList<>();
        long start = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            double next = 0;
            for (int i = 0; i < o.numPrompts(); i++) {
                if (Double.isFinite(o.requestRate())) {
                    next += -Math.log(1 - rng.nextDouble()) / o.requestRate();
                    long wait = start + (long) (next * 1e9) - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    }
                }
                if (slots != null) {
                    slots.acquire();
                }
                String prompt = prompts.get(i);
                int max = maxTokens[i];
                futures.add(pool.submit(() -> {
                    try {
                        return send(http, o, model, prompt, max);
                    } finally {
                        if (slots != null) {
                            slots.release();
                        }
                        int n = done.incrementAndGet();
                        if (o.progress() && out != null) {
                            progress(out, n, o.numPrompts());
                        }
                    }
                }));
            }
        }
        double duration = (System.nanoTime() - start) / 1e9;
        if (o.progress() && out != null) {
            out.println();
        }
        List<RequestResult> results = new ArrayList<>();
        for (Future<RequestResult> f : futures) {
            try {
                results.add(f.get());
            } catch (java.util.concurrent.ExecutionException e) {
                results.add(new RequestResult(false, String.valueOf(e.getCause()), 0, 0, 0, 0, new double[0]));
            }
        }
        Metrics m = aggregate(results, duration);
        if (out != null) {
            print(m, o, out, results);
        }
        if (o.resultJson() != null) {
            writeJson(m, o, model);
        }
        return m;
    }

    static int drawLength(Random rng, int len, double ratio) {
        int lo = Math.max(1, (int) Math.floor(len * (1 - ratio))), hi = Math.max(lo, (int) Math.ceil(len * (1 + ratio)));
        return lo == hi ? lo : lo + rng.nextInt(hi - lo + 1);
    }

    static String randomPrompt(Random rng, int words) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < words; i++) {
            if (i > 0) {
                sb.append(' ');
            }
            sb.append(WORDS[rng.nextInt(WORDS.length)]);
        }
        return sb.toString();
    }

    private static String firstModel(HttpClient http, Options o) throws IOException, InterruptedException {
        HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(o.baseUrl() + "/v1/models")).GET();
        if (o.apiKey() != null) {
            rb.header("Authorization", "Bearer " + o.apiKey());
        }
        HttpResponse<String> r = http.send(rb.build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IOException(o.baseUrl() + "/v1/models: HTTP " + r.statusCode() + " " + r.body());
        }
        JsonNode data = JSON.readTree(r.body()).path("data");
        if (!data.isArray() || data.isEmpty()) {
            throw new IOException(o.baseUrl() + "/v1/models lists no model; pass --model");
        }
        return data.get(0).path("id").asText();
    }

    /** One streamed request: TTFT at the first chunk carrying text, ITL between later ones. */
    static RequestResult send(HttpClient http, Options o, String model, String prompt, int maxTokens) {
        boolean chat = o.endpoint().contains("chat");
        ObjectNode body = JSON.createObjectNode();
        body.put("model", model);
        if (chat) {
            body.putArray("messages").addObject().put("role", "user").put("content", prompt);
        } else {
            body.put("prompt", prompt);
        }
        body.put("max_tokens", maxTokens).put("temperature", 0.0).put("stream", true);
        body.putObject("stream_options").put("include_usage", true);
        if (o.ignoreEos()) {
            body.put("ignore_eos", true);
        }
        HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(o.baseUrl() + o.endpoint()))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString()));
        if (o.apiKey() != null) {
            rb.header("Authorization", "Bearer " + o.apiKey());
        }
        long t0 = System.nanoTime();
        try {
            HttpResponse<Stream<String>> r = http.send(rb.build(), HttpResponse.BodyHandlers.ofLines());
            if (r.statusCode() != 200) {
                String err;
                try (Stream<String> lines = r.body()) {
                    err = String.join("\n", lines.toList());
                }
                return new RequestResult(false, "HTTP " + r.statusCode() + ": " + err, 0, 0, 0, 0, new double[0]);
            }
            List<Double> itl = new ArrayList<>();
            double ttft = -1;
            long last = t0;
            int chunks = 0, promptTokens = 0, completionTokens = -1;
            try (Stream<String> lines = r.body()) {
                for (String line : (Iterable<String>) lines::iterator) {
                    if (!line.startsWith("data:")) {
                        continue;
                    }
                    String data = line.substring(5).trim();
                    if (data.equals("[DONE]")) {
                        break;
                    }
                    JsonNode n = JSON.readTree(data);
                    if (n.has("error")) {
                        return new RequestResult(false, n.get("error").toString(), 0, 0, 0, 0, new double[0]);
                    }
                    JsonNode usage = n.path("usage");
                    if (usage.isObject()) {
                        promptTokens = usage.path("prompt_tokens").asInt(promptTokens);
                        completionTokens = usage.path("completion_tokens").asInt(completionTokens);
                    }
                    JsonNode choice = n.path("choices").path(0);
                    String text = chat ? choice.path("delta").path("content").asText("") : choice.path("text").asText("");
                    if (!text.isEmpty()) {
                        long now = System.nanoTime();
                        if (ttft < 0) {
                            ttft = (now - t0) / 1e9;
                        } else {
                            itl.add((now - last) / 1e9);
                        }
                        last = now;
                        chunks++;
                    }
                }
            }
            double latency = (System.nanoTime() - t0) / 1e9;
            if (ttft < 0) {
                return new RequestResult(false, "no tokens streamed", promptTokens, 0, 0, latency, new double[0]);
            }
            int outputTokens = completionTokens >= 0 ? completionTokens : chunks;
            return new RequestResult(true, null, promptTokens, outputTokens, ttft, latency,
                    itl.stream().mapToDouble(Double::doubleValue).toArray());
        } catch (IOException e) {
            return new RequestResult(false, e.toString(), 0, 0, 0, 0, new double[0]);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new RequestResult(false, "interrupted", 0, 0, 0, 0, new double[0]);
        }
    }

    static Metrics aggregate(List<RequestResult> results, double duration) {
        List<RequestResult> ok = results.stream().filter(RequestResult::ok).toList();
        long in = ok.stream().mapToLong(RequestResult::promptTokens).sum();
        long outTokens = ok.stream().mapToLong(RequestResult::outputTokens).sum();
        double[] ttft = ok.stream().mapToDouble(r -> r.ttft() * 1e3).toArray();
        double[] tpot = ok.stream().filter(r -> r.outputTokens() > 1)
                .mapToDouble(r -> (r.latency() - r.ttft()) / (r.outputTokens() - 1) * 1e3).toArray();
        double[] itl = ok.stream().flatMapToDouble(r -> Arrays.stream(r.itl())).map(x -> x * 1e3).toArray();
        double[] e2el = ok.stream().mapToDouble(r -> r.latency() * 1e3).toArray();
        return new Metrics(ok.size(), results.size() - ok.size(), duration, in, outTokens, ok.size() / duration,
                outTokens / duration, (in + outTokens) / duration, Stat.of(ttft), Stat.of(tpot), Stat.of(itl), Stat.of(e2el));
    }

    private static void progress(PrintStream out, int n, int total) {
        int width = 40, filled = (int) ((long) width * n / total);
        synchronized (out) {
            out.print("\r[" + "#".repeat(filled) + " ".repeat(width - filled) + "] " + n + "/" + total);
            out.flush();
        }
    }

    private static void print(Metrics m, Options o, PrintStream out, List<RequestResult> results) {
        results.stream().filter(r -> !r.ok()).findFirst().ifPresent(r -> out.println("First failure: " + r.error()));
        out.println("============ Serving Benchmark Result ============");
        out.printf("%-40s %10d%n", "Successful requests:", m.completed());
        out.printf("%-40s %10d%n", "Failed requests:", m.failed());
        out.printf("%-40s %10s%n", "Maximum request concurrency:", o.maxConcurrency() == 0 ? "none" : o.maxConcurrency());
        out.printf("%-40s %10s%n", "Request rate (req/s):", Double.isFinite(o.requestRate()) ? o.requestRate() : "inf");
        out.printf("%-40s %10.2f%n", "Benchmark duration (s):", m.durationSeconds());
        out.printf("%-40s %10d%n", "Total input tokens:", m.totalInputTokens());
        out.printf("%-40s %10d%n", "Total generated tokens:", m.totalOutputTokens());
        out.printf("%-40s %10.2f%n", "Request throughput (req/s):", m.requestThroughput());
        out.printf("%-40s %10.2f%n", "Output token throughput (tok/s):", m.outputThroughput());
        out.printf("%-40s %10.2f%n", "Total token throughput (tok/s):", m.totalTokenThroughput());
        stat(out, "Time to First Token", "TTFT", m.ttftMs());
        stat(out, "Time per Output Token (excl. 1st token)", "TPOT", m.tpotMs());
        stat(out, "Inter-token Latency", "ITL", m.itlMs());
        stat(out, "End-to-end Latency", "E2EL", m.e2elMs());
        out.println("==================================================");
    }

    private static void stat(PrintStream out, String title, String key, Stat s) {
        out.println("-".repeat(15) + " " + title + " " + "-".repeat(Math.max(0, 32 - title.length())));
        out.printf("%-40s %10.2f%n", "Mean " + key + " (ms):", s.mean());
        out.printf("%-40s %10.2f%n", "Median " + key + " (ms):", s.median());
        out.printf("%-40s %10.2f%n", "P90 " + key + " (ms):", s.p90());
        out.printf("%-40s %10.2f%n", "P99 " + key + " (ms):", s.p99());
    }

    private static void writeJson(Metrics m, Options o, String model) throws IOException {
        ObjectNode n = JSON.createObjectNode();
        n.put("model_id", model).put("base_url", o.baseUrl()).put("endpoint", o.endpoint());
        n.put("num_prompts", o.numPrompts()).put("random_input_len", o.inputLen()).put("random_output_len", o.outputLen());
        n.put("request_rate", Double.isFinite(o.requestRate()) ? String.valueOf(o.requestRate()) : "inf");
        n.put("max_concurrency", o.maxConcurrency());
        n.put("completed", m.completed()).put("failed", m.failed()).put("duration", m.durationSeconds());
        n.put("total_input_tokens", m.totalInputTokens()).put("total_output_tokens", m.totalOutputTokens());
        n.put("request_throughput", m.requestThroughput()).put("output_throughput", m.outputThroughput());
        n.put("total_token_throughput", m.totalTokenThroughput());
        for (var e : List.of(new Object[]{"ttft", m.ttftMs()}, new Object[]{"tpot", m.tpotMs()},
                new Object[]{"itl", m.itlMs()}, new Object[]{"e2el", m.e2elMs()})) {
            String k = (String) e[0];
            Stat s = (Stat) e[1];
            n.put("mean_" + k + "_ms", s.mean()).put("median_" + k + "_ms", s.median())
                    .put("p90_" + k + "_ms", s.p90()).put("p99_" + k + "_ms", s.p99());
        }
        JSON.writerWithDefaultPrettyPrinter().writeValue(o.resultJson().toFile(), n);
    }
}
