package dev.jvllm.launcher.soak;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jvllm.launcher.Deployment;
import dev.jvllm.launcher.ServeCommand;
import dev.jvllm.proto.EngineStats;
import dev.jvllm.scheduler.SchedulerService;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Soak run: an all-in-one server in this JVM, a KV cache small enough to force preemption, and N mixed
 * requests (streamed and not, n > 1, logprobs, seeds, long and short, a few invalid ones) of which a share
 * are aborted by the client mid-way (disconnects and client timeouts). At the end the engine must be idle
 * with every KV block free, no request lost (each got an answer, an expected error or was aborted by us),
 * and the heap after GC flat across the run. Not part of the test suite:
 *
 * <pre>
 *   java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp CLASSPATH \
 *       dev.jvllm.launcher.soak.SoakRun --model DIR [--requests 10000] [--concurrency 32] [--seed 1] [serve flags...]
 * </pre>
 * Exit status 0 when nothing leaked and no request failed unexpectedly, 1 otherwise.
 */
public final class SoakRun {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] WORDS = {"Once", "upon", "a", "time", "there", "was", "a", "little", "girl", "named",
            "Lily", "she", "loved", "to", "play", "in", "the", "park", "with", "her", "dog", "big", "red", "ball", "sun"};

    private final int requests;
    private final int concurrency;
    private final long seed;
    private final Map<String, LongAdder> outcomes = new ConcurrentHashMap<>();
    private final Map<String, String> unexpectedExamples = new ConcurrentHashMap<>();

    private SoakRun(int requests, int concurrency, long seed) {
        this.requests = requests;
        this.concurrency = concurrency;
        this.seed = seed;
    }

    public static void main(String[] args) throws Exception {
        int requests = 10_000, concurrency = 32;
        long seed = 1;
        List<String> serve = new ArrayList<>(List.of("--host", "127.0.0.1", "--port", "0",
                // 48 blocks x 16 tokens: one max-length (512) sequence fits, a crowd does not, so the scheduler preempts.
                "--num-gpu-blocks-override", "48", "--max-num-seqs", "16", "--kv-cache-space", "0.05",
                "--request-timeout", "300"));
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--requests" -> requests = Integer.parseInt(args[++i]);
                case "--concurrency" -> concurrency = Integer.parseInt(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                default -> serve.add(args[i]);
            }
        }
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn"));
        ServeCommand cmd = ServeCommand.parse(serve.toArray(String[]::new));
        int code;
        try (Deployment d = Deployment.start(cmd)) {
            code = new SoakRun(requests, concurrency, seed).run(d);
        }
        System.exit(code);
    }

    private int run(Deployment d) throws Exception {
        String base = "http://127.0.0.1:" + d.httpPort();
        SchedulerService scheduler = d.scheduler();
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        Semaphore inFlight = new Semaphore(concurrency);
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        List<Long> heapSamples = new ArrayList<>();
        AtomicInteger done = new AtomicInteger();
        long start = System.nanoTime();
        int checkpoint = Math.max(1, requests / 10);
        for (int i = 0; i < requests; i++) {
            inFlight.acquire();
            Random rnd = new Random(seed * 1_000_003L + i);
            pool.execute(() -> {
                try {
                    record(one(http, base, rnd));
                } catch (Exception e) {
                    record("unexpected:" + e.getClass().getSimpleName());
                    unexpectedExamples.putIfAbsent(e.getClass().getSimpleName(), String.valueOf(e));
                } finally {
                    inFlight.release();
                    done.incrementAndGet();
                }
            });
            if ((i + 1) % checkpoint == 0) {
                heapSamples.add(heapAfterGc(memory));
                System.out.printf(Locale.ROOT, "soak: %d/%d sent, %d done, heap after GC %.1f MiB, %s%n", i + 1, requests,
                        done.get(), heapSamples.getLast() / 1048576.0, brief(scheduler.stats()));
            }
        }
        pool.shutdown();
        pool.awaitTermination(30, TimeUnit.MINUTES);
        double seconds = (System.nanoTime() - start) / 1e9;

        // Aborts land at the next step boundary: give the engine a moment to become idle, then check for leaks.
        EngineStats s = scheduler.stats();
        long idleDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while ((s.getNumRunning() > 0 || s.getNumWaiting() > 0 || s.getNumFreeBlocks() != s.getNumTotalBlocks())
                && System.nanoTime() < idleDeadline) {
            Thread.sleep(50);
            s = scheduler.stats();
        }
        long heapEnd = heapAfterGc(memory);
        boolean leakedBlocks = s.getNumFreeBlocks() != s.getNumTotalBlocks();
        boolean leakedRequests = s.getNumRunning() != 0 || s.getNumWaiting() != 0;
        long unexpected = outcomes.entrySet().stream().filter(e -> e.getKey().startsWith("unexpected"))
                .mapToLong(e -> e.getValue().sum()).sum();
        long accounted = outcomes.values().stream().mapToLong(LongAdder::sum).sum();
        // Flat: the heap after GC at the end is within 32 MiB of the first sample after warm-up.
        long warm = heapSamples.size() > 1 ? heapSamples.get(1) : heapSamples.getFirst();
        boolean heapFlat = heapEnd <= warm + (32L << 20);

        System.out.printf(Locale.ROOT, "%nsoak finished: %d requests in %.1f s (%.1f req/s), concurrency %d, seed %d%n",
                requests, seconds, requests / seconds, concurrency, seed);
        System.out.println("outcomes: " + new TreeMap<>(outcomesAsLongs()) + " (accounted " + accounted + ")");
        if (!unexpectedExamples.isEmpty()) System.out.println("unexpected examples: " + unexpectedExamples);
        System.out.println("engine: " + brief(s) + ", preemptions " + s.getNumPreemptions() + ", generation tokens "
                + s.getGenerationTokensTotal() + ", prompt tokens " + s.getPromptTokensTotal()
                + ", finished by reason " + s.getRequestSuccessTotalMap());
        List<String> mib = new ArrayList<>();
        for (long h : heapSamples) mib.add(String.format(Locale.ROOT, "%.1f", h / 1048576.0));
        System.out.printf(Locale.ROOT, "heap after GC (MiB) at each 10%%: %s, at the end %.1f -> %s%n", mib,
                heapEnd / 1048576.0, heapFlat ? "flat" : "GROWING");
        boolean ok = !leakedBlocks && !leakedRequests && unexpected == 0 && accounted == requests && heapFlat
                && s.getNumPreemptions() > 0;
        System.out.println("leaked KV blocks: " + (s.getNumTotalBlocks() - s.getNumFreeBlocks()) + ", leaked requests: "
                + (s.getNumRunning() + s.getNumWaiting()) + ", unexpected failures: " + unexpected
                + (s.getNumPreemptions() == 0 ? ", NO PREEMPTION HAPPENED" : "") + " => " + (ok ? "PASS" : "FAIL"));
        return ok ? 0 : 1;
    }

    private Map<String, Long> outcomesAsLongs() {
        Map<String, Long> m = new TreeMap<>();
        outcomes.forEach((k, v) -> m.put(k, v.sum()));
        return m;
    }

    private void record(String outcome) {
        outcomes.computeIfAbsent(outcome, k -> new LongAdder()).increment();
    }

    private static String brief(EngineStats s) {
        return "running " + s.getNumRunning() + ", waiting " + s.getNumWaiting() + ", free blocks " + s.getNumFreeBlocks()
                + "/" + s.getNumTotalBlocks();
    }

    private static long heapAfterGc(MemoryMXBean memory) {
        System.gc();
        return memory.getHeapMemoryUsage().getUsed();
    }

    /** One request of a random kind; returns its outcome class. */
    private String one(HttpClient http, String base, Random rnd) throws IOException, InterruptedException {
        int kind = rnd.nextInt(100);
        ObjectNode body = JSON.createObjectNode();
        StringBuilder prompt = new StringBuilder();
        int words = 1 + rnd.nextInt(rnd.nextInt(10) == 0 ? 200 : 20);
        for (int w = 0; w < words; w++) prompt.append(w == 0 ? "" : " ").append(WORDS[rnd.nextInt(WORDS.length)]);
        body.put("prompt", prompt.toString());
        body.put("max_tokens", 1 + rnd.nextInt(rnd.nextInt(5) == 0 ? 300 : 60));
        body.put("temperature", rnd.nextInt(3) == 0 ? 0 : rnd.nextDouble());
        if (rnd.nextInt(4) == 0) body.put("ignore_eos", true);
        if (rnd.nextInt(5) == 0) body.put("n", 1 + rnd.nextInt(3));
        if (rnd.nextInt(5) == 0) body.put("seed", rnd.nextInt(1000));
        if (rnd.nextInt(6) == 0) body.put("logprobs", rnd.nextInt(4));
        boolean stream = rnd.nextBoolean();
        if (!stream && rnd.nextInt(20) == 0) body.put("prompt_logprobs", 1);
        if (kind < 3) body.put("max_tokens", -5); // invalid: must be a clean 400
        body.put("stream", stream);
        boolean abort = rnd.nextInt(100) < 15;
        HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
        // Client-side abort of a non-streamed request: a short timeout closes the connection mid-generation.
        req.timeout(abort && !stream ? Duration.ofMillis(1 + rnd.nextInt(50)) : Duration.ofSeconds(600));
        HttpResponse<InputStream> r;
        try {
            r = http.send(req.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (HttpTimeoutException e) {
            return abort ? "aborted-by-client" : "unexpected:timeout";
        }
        try (InputStream in = r.body()) {
            if (r.statusCode() != 200) {
                String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                if (kind < 3 && r.statusCode() == 400) return "rejected-400 (invalid on purpose)";
                // A long random prompt plus a large max_tokens can exceed the context: vLLM's 400, correctly.
                if (r.statusCode() == 400 && text.contains("maximum context length")) return "rejected-400 (context length)";
                if (r.statusCode() == 503) return "overloaded-503";
                unexpectedExamples.putIfAbsent("status " + r.statusCode(), text);
                return "unexpected:status-" + r.statusCode();
            }
            if (!stream) {
                JsonNode j = JSON.readTree(in);
                for (JsonNode c : j.path("choices")) {
                    if (!c.hasNonNull("finish_reason")) return "unexpected:no-finish-reason";
                }
                return "completed";
            }
            int abortAfter = abort ? rnd.nextInt(8) : Integer.MAX_VALUE;
            int events = 0;
            BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            String line;
            while ((line = lines.readLine()) != null) {
                if (!line.startsWith("data: ")) continue;
                if (line.equals("data: [DONE]")) return "completed";
                if (line.contains("\"error\"")) {
                    unexpectedExamples.putIfAbsent("stream error", line);
                    return "unexpected:stream-error";
                }
                if (++events > abortAfter) return "aborted-by-client"; // closing the stream disconnects
            }
            return abort ? "aborted-by-client" : "unexpected:stream-without-done";
        }
    }
}
