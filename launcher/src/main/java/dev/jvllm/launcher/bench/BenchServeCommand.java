package dev.jvllm.launcher.bench;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code jvllm bench serve}: flags as vLLM's {@code vllm bench serve} (random dataset); the work is {@link ServeBenchmark}. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Load an OpenAI-compatible server with streamed completions; report throughput, TTFT, TPOT, ITL.")
public final class BenchServeCommand implements Callable<Integer> {
    @Option(names = "--base-url", description = "Server URL (default: http://HOST:PORT).")
    String baseUrl;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Server host (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", defaultValue = "8000", description = "Server port (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--endpoint", defaultValue = "/v1/completions", description = "API path (default: ${DEFAULT-VALUE}).")
    String endpoint;

    @Option(names = "--model", description = "Model name to request (default: the first of /v1/models).")
    String model;

    @Option(names = "--dataset-name", defaultValue = "random", description = "Only 'random' (default).")
    String datasetName;

    @Option(names = "--num-prompts", defaultValue = "1000", description = "Requests to send (default: ${DEFAULT-VALUE}).")
    int numPrompts;

    @Option(names = {"--random-input-len", "--input-len"}, defaultValue = "1024",
            description = "Prompt length in tokens, about one word each (default: ${DEFAULT-VALUE}).")
    int inputLen;

    @Option(names = {"--random-output-len", "--output-len"}, defaultValue = "128",
            description = "max_tokens per request (default: ${DEFAULT-VALUE}).")
    int outputLen;

    @Option(names = "--random-range-ratio", defaultValue = "0.0",
            description = "Lengths uniform in len*(1-r)..len*(1+r); 0: fixed (default: ${DEFAULT-VALUE}).")
    double rangeRatio;

    @Option(names = "--request-rate", defaultValue = "inf", description = "Requests/s, Poisson arrivals; inf: all at once (default).")
    String requestRate;

    @Option(names = "--max-concurrency", defaultValue = "0", description = "Most requests in flight; 0: unlimited.")
    int maxConcurrency;

    @Option(names = "--ignore-eos", defaultValue = "false", description = "Ask the server to ignore EOS (vLLM's ignore_eos).")
    boolean ignoreEos;

    @Option(names = "--seed", defaultValue = "0", description = "Seed for prompts, lengths and arrivals.")
    long seed;

    @Option(names = "--disable-tqdm", defaultValue = "false", description = "No progress bar.")
    boolean disableProgress;

    @Option(names = "--api-key", description = "Bearer token (default: env OPENAI_API_KEY).")
    String apiKey;

    @Option(names = "--result-json", paramLabel = "FILE", description = "Write the metrics as JSON.")
    Path resultJson;

    @Override
    public Integer call() throws Exception {
        if (!datasetName.equals("random")) {
            System.err.println("only --dataset-name random is supported");
            return 2;
        }
        double rate = requestRate.equalsIgnoreCase("inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(requestRate);
        String url = baseUrl != null ? baseUrl : "http://" + host + ":" + port;
        String key = apiKey != null ? apiKey : System.getenv("OPENAI_API_KEY");
        ServeBenchmark.Metrics m = ServeBenchmark.run(new ServeBenchmark.Options(url, endpoint, model, key, numPrompts,
                inputLen, outputLen, rangeRatio, rate, maxConcurrency, ignoreEos, seed, !disableProgress, resultJson), System.out);
        return m.failed() == 0 ? 0 : 1;
    }
}
