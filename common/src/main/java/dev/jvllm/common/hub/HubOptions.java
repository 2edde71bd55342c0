package dev.jvllm.common.hub;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * How to reach the Hugging Face hub and where its cache lives. {@link #fromEnvironment(Map)} reads the
 * same variables as {@code huggingface_hub}, so a cache and token set up for Python tools are shared.
 *
 * @param endpoint          hub base URL ({@code HF_ENDPOINT}, default https://huggingface.co)
 * @param token             bearer token, or null for anonymous access. Never logged: {@link #toString()} redacts it
 * @param tokenSource       where the token came from ("HF_TOKEN", "token file /path"), for error messages
 * @param cacheDir          hub cache root holding {@code models--org--name} folders
 * @param offline           {@code HF_HUB_OFFLINE}: use only the cache
 * @param parallelDownloads files downloaded at once
 * @param progress          how download progress is shown
 * @param maxAttempts       tries per file before giving up (an interrupted transfer resumes where it stopped)
 * @param retryBackoff      pause before the second try; doubles for each later one
 * @param stallTimeout      a transfer that receives nothing for this long is dropped and resumed
 */
public record HubOptions(
        URI endpoint,
        String token,
        String tokenSource,
        Path cacheDir,
        boolean offline,
        int parallelDownloads,
        ProgressMode progress,
        int maxAttempts,
        Duration retryBackoff,
        Duration stallTimeout) {

    public static final URI DEFAULT_ENDPOINT = URI.create("https://huggingface.co");
    public static final int DEFAULT_PARALLEL_DOWNLOADS = 4;
    public static final int DEFAULT_MAX_ATTEMPTS = 5;
    public static final Duration DEFAULT_RETRY_BACKOFF = Duration.ofMillis(500);
    public static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(60);

    /** AUTO: a bar on a terminal, otherwise a log line every few seconds. */
    public enum ProgressMode { AUTO, BAR, LOG, NONE }

    public HubOptions {
        Objects.requireNonNull(endpoint, "endpoint");
        Objects.requireNonNull(cacheDir, "cacheDir");
        Objects.requireNonNull(progress, "progress");
        Objects.requireNonNull(retryBackoff, "retryBackoff");
        Objects.requireNonNull(stallTimeout, "stallTimeout");
        if (stallTimeout.isNegative() || stallTimeout.isZero()) throw new IllegalArgumentException("stallTimeout must be positive");
        String e = endpoint.toString();
        while (e.endsWith("/")) e = e.substring(0, e.length() - 1);
        endpoint = URI.create(e);
        if (token != null && token.isBlank()) token = null;
        if (token == null) tokenSource = null;
        if (parallelDownloads < 1) throw new IllegalArgumentException("parallelDownloads must be >= 1");
        if (maxAttempts < 1) throw new IllegalArgumentException("maxAttempts must be >= 1");
    }

    /** Options from the process environment ({@code System.getenv()}). */
    public static HubOptions fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /**
     * Options from the given environment. Token: {@code HF_TOKEN}, then {@code HUGGING_FACE_HUB_TOKEN}, then the
     * token file ({@code HF_TOKEN_PATH}, else {@code $HF_HOME/token}, else ~/.cache/huggingface/token). Cache:
     * {@code HF_HUB_CACHE}, else {@code $HF_HOME/hub}, else ~/.cache/huggingface/hub.
     */
    public static HubOptions fromEnvironment(Map<String, String> env) {
        String home = nonBlank(env.get("HOME")) != null ? env.get("HOME") : System.getProperty("user.home");
        Path hfHome = hfHome(env, home);

        URI endpoint = DEFAULT_ENDPOINT;
        if (nonBlank(env.get("HF_ENDPOINT")) != null) {
            try {
                endpoint = URI.create(env.get("HF_ENDPOINT").trim());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("HF_ENDPOINT is not a URL: " + env.get("HF_ENDPOINT"), e);
            }
            if (endpoint.getScheme() == null || endpoint.getHost() == null) {
                throw new IllegalArgumentException("HF_ENDPOINT must be an http(s) URL like https://huggingface.co: " + endpoint);
            }
        }

        Path cacheDir;
        if (nonBlank(env.get("HF_HUB_CACHE")) != null) cacheDir = expandHome(env.get("HF_HUB_CACHE"), home);
        else if (nonBlank(env.get("HUGGINGFACE_HUB_CACHE")) != null) cacheDir = expandHome(env.get("HUGGINGFACE_HUB_CACHE"), home);
        else cacheDir = hfHome.resolve("hub");

        String token = null;
        String tokenSource = null;
        for (String name : new String[] {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}) {
            if (nonBlank(env.get(name)) != null) {
                token = env.get(name).trim();
                tokenSource = name;
                break;
            }
        }
        if (token == null) {
            Path tokenFile = nonBlank(env.get("HF_TOKEN_PATH")) != null
                    ? expandHome(env.get("HF_TOKEN_PATH"), home)
                    : hfHome.resolve("token");
            token = readTokenFile(tokenFile);
            if (token != null) tokenSource = "token file " + tokenFile;
        }

        ProgressMode progress = truthy(env.get("HF_HUB_DISABLE_PROGRESS_BARS")) ? ProgressMode.LOG : ProgressMode.AUTO;
        return new HubOptions(endpoint, token, tokenSource, cacheDir.toAbsolutePath().normalize(),
                truthy(env.get("HF_HUB_OFFLINE")), DEFAULT_PARALLEL_DOWNLOADS, progress,
                DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY_BACKOFF, DEFAULT_STALL_TIMEOUT);
    }

    public HubOptions withProgress(ProgressMode progress) {
        return new HubOptions(endpoint, token, tokenSource, cacheDir, offline, parallelDownloads, progress, maxAttempts, retryBackoff, stallTimeout);
    }

    public HubOptions withRetries(int maxAttempts, Duration retryBackoff) {
        return new HubOptions(endpoint, token, tokenSource, cacheDir, offline, parallelDownloads, progress, maxAttempts, retryBackoff, stallTimeout);
    }

    public HubOptions withStallTimeout(Duration stallTimeout) {
        return new HubOptions(endpoint, token, tokenSource, cacheDir, offline, parallelDownloads, progress, maxAttempts, retryBackoff, stallTimeout);
    }

    /** Describes the token for humans without revealing it. */
    String tokenDescription() {
        return token == null ? "no token" : "the token from " + tokenSource;
    }

    @Override
    public String toString() {
        return "HubOptions[endpoint=" + endpoint + ", token=" + (token == null ? "none" : "<redacted, from " + tokenSource + ">")
                + ", cacheDir=" + cacheDir + ", offline=" + offline + ", parallelDownloads=" + parallelDownloads
                + ", progress=" + progress + ", maxAttempts=" + maxAttempts + ", retryBackoff=" + retryBackoff + ", stallTimeout=" + stallTimeout + "]";
    }

    private static Path hfHome(Map<String, String> env, String home) {
        if (nonBlank(env.get("HF_HOME")) != null) return expandHome(env.get("HF_HOME"), home);
        if (nonBlank(env.get("XDG_CACHE_HOME")) != null) return expandHome(env.get("XDG_CACHE_HOME"), home).resolve("huggingface");
        return Path.of(home, ".cache", "huggingface");
    }

    private static String readTokenFile(Path file) {
        try {
            if (!Files.isRegularFile(file)) return null;
            return nonBlank(Files.readString(file, StandardCharsets.UTF_8).trim());
        } catch (IOException | SecurityException e) {
            return null; // an unreadable token file means anonymous access, as in huggingface_hub
        }
    }

    static Path expandHome(String path, String home) {
        String p = path.trim();
        if (p.equals("~")) return Path.of(home);
        if (p.startsWith("~/")) return Path.of(home, p.substring(2));
        return Path.of(p);
    }

    static boolean truthy(String value) {
        if (value == null) return false;
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "1", "true", "yes", "on" -> true;
            default -> false;
        };
    }

    private static String nonBlank(String s) {
        return s == null || s.isBlank() ? null : s;
    }
}
