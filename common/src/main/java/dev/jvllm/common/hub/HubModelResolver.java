package dev.jvllm.common.hub;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jvllm.common.hub.HubException.Reason;
import dev.jvllm.common.hub.RepoInfo.Sibling;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns what a user passes as {@code --model} (or {@code --tokenizer}) into a local directory, the way vLLM does:
 * an existing directory or {@code .gguf} file is used as is; a hub id {@code org/name} is found in the Hugging Face
 * cache or downloaded into it (only the files jvllm reads), and the snapshot folder is returned.
 *
 * <pre>{@code
 * try (var hub = HubModelResolver.fromEnvironment()) {
 *     Path model = hub.resolve("org/name", null, null);               // revision main, default cache
 *     Path tokenizer = hub.resolveTokenizer("org/other", "v1", downloadDir);
 * }
 * }</pre>
 * Safe to use from several threads and several processes on one cache.
 */
public final class HubModelResolver implements AutoCloseable {
    static final Logger LOG = LoggerFactory.getLogger(HubModelResolver.class);

    public static final String DEFAULT_REVISION = "main";

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern GIT_SHA1 = Pattern.compile("[0-9a-f]{40}");
    private static final Pattern SAFE_ETAG = Pattern.compile("[A-Za-z0-9._-]{1,128}");
    private static final Duration API_TIMEOUT = Duration.ofSeconds(30);
    private static final int COPY_BUFFER = 256 << 10;

    private final HubOptions options;
    private HubHttp http; // created on first use: local paths and offline resolves need no client

    public HubModelResolver(HubOptions options) {
        this.options = Objects.requireNonNull(options, "options");
    }

    private synchronized HubHttp http() {
        if (http == null) http = new HubHttp(options.endpoint(), options.token());
        return http;
    }

    /** Drops transfers that stopped sending; one daemon thread, started with the first download. */
    private static final class StallWatchdog {
        static final ScheduledExecutorService INSTANCE = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "hub-stall-watchdog");
            t.setDaemon(true);
            return t;
        });
    }

    /** A resolver configured from the process environment (HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_OFFLINE, ...). */
    public static HubModelResolver fromEnvironment() {
        return new HubModelResolver(HubOptions.fromEnvironment());
    }

    public HubOptions options() {
        return options;
    }

    /**
     * The local directory (or .gguf file) for {@code --model}: config, tokenizer and safetensors weights.
     *
     * @param model       a local directory, a local .gguf file, or a hub id {@code org/name}
     * @param revision    branch, tag or commit sha; null means {@value #DEFAULT_REVISION}
     * @param downloadDir hub cache root to use ({@code --download-dir}); null means {@link HubOptions#cacheDir()}
     */
    public Path resolve(String model, String revision, Path downloadDir) throws HubException {
        return resolve(model, revision, downloadDir, HubFiles.MODEL);
    }

    /** As {@link #resolve(String, String, Path)} for {@code --tokenizer}: fetches config and tokenizer files only. */
    public Path resolveTokenizer(String tokenizer, String revision, Path downloadDir) throws HubException {
        return resolve(tokenizer, revision, downloadDir, HubFiles.TOKENIZER);
    }

    public Path resolve(String model, String revision, Path downloadDir, HubFiles files) throws HubException {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(files, "files");
        String rev = revision == null || revision.isBlank() ? DEFAULT_REVISION : revision.trim();
        Path local = localPath(model.trim(), files);
        if (local != null) return local;

        RepoId repo = RepoId.parse(model.trim());
        HubCache cache = new HubCache(downloadDir != null ? downloadDir : options.cacheDir(), repo);
        if (options.offline()) return fromCache(cache, repo, rev, files);
        try {
            RepoInfo info;
            try {
                info = fetchInfo(repo, rev);
            } catch (HubException e) {
                // As huggingface_hub does, a hub that cannot answer (down, 5xx) lets a complete cached snapshot stand in.
                if (e.reason() != Reason.NETWORK && e.reason() != Reason.HUB_ERROR) throw e;
                Path cached = usableSnapshot(cache, rev, files);
                if (cached == null) {
                    throw new HubException(e.reason(), e.getMessage() + "; " + what(files) + " " + repo + " revision "
                            + rev + " is not in the cache at " + cache.root() + " either", e.getCause());
                }
                LOG.warn("{}; using the cached snapshot {}", e.getMessage(), cached);
                return cached;
            }
            return download(repo, rev, info, cache, files);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException(Reason.INTERRUPTED, "interrupted while resolving " + repo);
        }
    }

    /** Whether {@code model} would be looked up on the hub (it is not an existing local path and reads as an id). */
    public static boolean isHubId(String model) {
        if (model == null) return false;
        try {
            if (Files.exists(Path.of(model))) return false;
        } catch (InvalidPathException e) {
            return false;
        }
        return RepoId.isValid(model.trim());
    }

    // ---------------------------------------------------------------- local paths and the cache

    private static Path localPath(String model, HubFiles files) throws HubException {
        String expanded = model.equals("~") || model.startsWith("~/")
                ? HubOptions.expandHome(model, System.getProperty("user.home")).toString() : model;
        Path p;
        try {
            p = Path.of(expanded);
        } catch (InvalidPathException e) {
            return null;
        }
        if (Files.isDirectory(p)) return p;
        if (Files.isRegularFile(p)) {
            if (files == HubFiles.TOKENIZER || p.getFileName().toString().endsWith(".gguf")) return p;
            throw new HubException(Reason.INVALID_MODEL, model
                    + " is a file; pass a model directory, a .gguf file or a Hugging Face model id like org/name");
        }
        boolean looksLikePath = model.startsWith("/") || model.startsWith("./") || model.startsWith("../")
                || model.startsWith("~") || model.contains("\\") || model.endsWith(".gguf")
                || model.chars().filter(c -> c == '/').count() > 1;
        if (looksLikePath) throw new HubException(Reason.INVALID_MODEL, "model path " + model + " does not exist");
        return null;
    }

    private Path fromCache(HubCache cache, RepoId repo, String rev, HubFiles files) throws HubException {
        String commit = cache.cachedCommit(rev);
        if (commit == null || !Files.isDirectory(cache.snapshot(commit))) {
            throw new HubException(Reason.NOT_IN_CACHE, what(files) + " " + repo + " revision " + rev
                    + " is not in the cache at " + cache.root() + " and HF_HUB_OFFLINE=1");
        }
        Path snapshot = cache.snapshot(commit);
        List<String> missing = files.missingIn(snapshot);
        if (!missing.isEmpty()) {
            throw new HubException(Reason.NOT_IN_CACHE, what(files) + " " + repo + " revision " + rev
                    + " is incomplete in the cache at " + snapshot + " (missing " + String.join(", ", missing)
                    + ") and HF_HUB_OFFLINE=1");
        }
        return snapshot;
    }

    private static Path usableSnapshot(HubCache cache, String rev, HubFiles files) {
        String commit = cache.cachedCommit(rev);
        if (commit == null) return null;
        Path snapshot = cache.snapshot(commit);
        return files.missingIn(snapshot).isEmpty() ? snapshot : null;
    }

    private static String what(HubFiles files) {
        return files == HubFiles.MODEL ? "model" : "tokenizer";
    }

    // ---------------------------------------------------------------- hub API

    private RepoInfo fetchInfo(RepoId repo, String rev) throws HubException, InterruptedException {
        URI uri = http().apiRevisionUri(repo, rev);
        for (int attempt = 1; ; attempt++) {
            try {
                var ex = http().send("GET", uri, Map.of("Accept", "application/json"), BodyHandlers.ofByteArray(), true, API_TIMEOUT);
                if (ex.status() == 200) {
                    RepoInfo info;
                    try {
                        info = RepoInfo.parse(ex.body());
                    } catch (IOException e) {
                        throw new HubException(Reason.HUB_ERROR, "the hub at " + options.endpoint()
                                + " answered unreadable JSON for " + repo + ": " + e.getMessage());
                    }
                    if (info.commit() == null || !HubCache.isCommit(info.commit())) {
                        // Some mirrors leave the sha out of the listing; the hub's file answers carry it too.
                        info = new RepoInfo(commitFromHeaders(repo, rev), info.siblings());
                    }
                    return info;
                }
                if (!HubHttp.retryable(ex.status()) || attempt >= options.maxAttempts()) {
                    throw httpError(ex.status(), ex.last().headers(), repo, rev, null);
                }
            } catch (HubException e) {
                throw e;
            } catch (IOException e) {
                if (e instanceof ConnectException || attempt >= options.maxAttempts()) throw networkError(repo, e);
            }
            Thread.sleep(backoff(attempt));
        }
    }

    private String commitFromHeaders(RepoId repo, String rev) throws IOException, InterruptedException {
        var head = http().send("HEAD", http().resolveUri(repo, rev, "config.json"), Map.of(), BodyHandlers.discarding(),
                false, API_TIMEOUT);
        String commit = head.commit();
        if (commit == null || !HubCache.isCommit(commit)) {
            throw new HubException(Reason.HUB_ERROR, "the hub at " + options.endpoint() + " gave no commit sha for "
                    + repo + " revision " + rev);
        }
        return commit;
    }

    private HubException networkError(RepoId repo, IOException e) {
        return new HubException(Reason.NETWORK, "cannot reach the hub at " + options.endpoint() + " for " + repo
                + " (" + describe(e) + ")", e);
    }

    private HubException httpError(int status, HttpHeaders headers, RepoId repo, String rev, String file) {
        String code = headers.firstValue("X-Error-Code").orElse("");
        String hubMessage = headers.firstValue("X-Error-Message").map(m -> " (hub: " + m + ")").orElse("");
        URI endpoint = options.endpoint();
        return switch (status) {
            case 401 -> new HubException(Reason.UNAUTHORIZED, "invalid or missing token for " + repo
                    + ": set HF_TOKEN (sent " + options.tokenDescription() + " to " + endpoint
                    + "; a repo that does not exist answers the same)");
            case 403 -> code.isEmpty() || code.equals("GatedRepo")
                    ? new HubException(Reason.GATED, repo + " is gated: accept its license on the hub and use a token"
                    + " with access (sent " + options.tokenDescription() + ")")
                    : new HubException(Reason.UNAUTHORIZED, "access to " + repo + " was refused by " + endpoint
                    + " (sent " + options.tokenDescription() + ")" + hubMessage);
            case 404 -> {
                if (file != null && code.equals("EntryNotFound")) {
                    yield new HubException(Reason.NOT_FOUND, file + " not found in " + repo + " revision " + rev + " on " + endpoint);
                }
                if (code.equals("RevisionNotFound")) {
                    yield new HubException(Reason.NOT_FOUND, repo + " has no revision " + rev + " on " + endpoint);
                }
                // An id is also a relative path: say that neither was found, in case a local path was meant.
                yield new HubException(Reason.NOT_FOUND, repo + " not found on " + endpoint + " (or it has no revision "
                        + rev + "), and there is no local directory " + Path.of(repo.id()).toAbsolutePath());
            }
            default -> new HubException(Reason.HUB_ERROR, "the hub at " + endpoint + " answered HTTP " + status + " for "
                    + (file == null ? "" : file + " of ") + repo + " revision " + rev + hubMessage);
        };
    }

    // ---------------------------------------------------------------- downloads

    private Path download(RepoId repo, String rev, RepoInfo info, HubCache cache, HubFiles files)
            throws HubException, InterruptedException {
        String commit = info.commit();
        Map<String, Sibling> byName = new LinkedHashMap<>();
        for (Sibling s : info.siblings()) byName.put(s.name(), s);
        if (!byName.containsKey("config.json") && files == HubFiles.MODEL) {
            throw new HubException(Reason.NOT_FOUND, repo + " revision " + rev + " has no config.json: not a model jvllm can load");
        }
        if (files == HubFiles.TOKENIZER && !byName.containsKey("tokenizer.json") && !byName.containsKey("tokenizer.model")
                && !byName.containsKey("vocab.json")) {
            throw new HubException(Reason.NOT_FOUND, repo + " revision " + rev + " has no tokenizer (tokenizer.json or tokenizer.model)");
        }

        List<String> metadata = new ArrayList<>(files.metadataIn(byName.keySet()));
        JsonNode index = null;
        // The index decides which shards to fetch, so it comes first.
        if (metadata.remove(HubFiles.SAFETENSORS_INDEX)) {
            Sibling s = byName.get(HubFiles.SAFETENSORS_INDEX);
            try (DownloadProgress none = DownloadProgress.start(HubOptions.ProgressMode.NONE, repo.id(), 0)) {
                fetchFile(repo, commit, s, cache, none);
            } catch (HubException e) {
                throw e;
            } catch (IOException e) {
                throw cacheError(cache.repoDir(), e);
            }
            try {
                index = HubFiles.readIndex(cache.snapshotFile(commit, s.name()));
            } catch (IOException e) {
                throw new HubException(Reason.HUB_ERROR, repo + " revision " + rev + ": unreadable "
                        + HubFiles.SAFETENSORS_INDEX + " (" + describe(e) + ")", e);
            }
        }
        List<Sibling> wanted = new ArrayList<>();
        for (String f : metadata) wanted.add(byName.get(f));
        for (String f : files.weightsIn(byName.keySet(), index, repo.id(), rev)) wanted.add(byName.get(f));

        long toDownload = 0;
        int count = 0;
        for (Sibling s : wanted) {
            Path link = cache.snapshotFile(commit, s.name());
            if (link == null) throw new HubException(Reason.HUB_ERROR, repo + " lists a file with an unsafe name: " + s.name());
            if (s.etag() != null && Files.isRegularFile(cache.blob(s.etag()))) continue;
            count++;
            toDownload += Math.max(0, s.size());
        }
        if (count > 0) {
            LOG.info("downloading {} revision {} (commit {}): {} files, {} into {}", repo, rev, commit, count,
                    DownloadProgress.size(toDownload), cache.repoDir());
        }
        try (DownloadProgress progress = DownloadProgress.start(
                count > 0 ? options.progress() : HubOptions.ProgressMode.NONE, repo.id(), toDownload)) {
            fetchAll(repo, commit, wanted, cache, progress);
        }
        try {
            cache.writeRef(rev, commit);
        } catch (IOException e) {
            throw cacheError(cache.repoDir(), e);
        }
        Path snapshot = cache.snapshot(commit);
        List<String> missing = files.missingIn(snapshot);
        if (!missing.isEmpty()) {
            throw new HubException(Reason.HUB_ERROR, repo + " revision " + rev + " lacks " + String.join(", ", missing));
        }
        return snapshot;
    }

    /** Fetches files on a small fixed pool; the first failure cancels the rest. */
    private void fetchAll(RepoId repo, String commit, List<Sibling> wanted, HubCache cache, DownloadProgress progress)
            throws HubException, InterruptedException {
        if (wanted.isEmpty()) return;
        AtomicInteger threadNo = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(Math.min(options.parallelDownloads(), wanted.size()), r -> {
            Thread t = new Thread(r, "hub-download-" + threadNo.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<Void>> futures = new ArrayList<>();
            for (Sibling s : wanted) {
                futures.add(pool.submit(() -> {
                    fetchFile(repo, commit, s, cache, progress);
                    return null;
                }));
            }
            for (Future<Void> f : futures) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    futures.forEach(other -> other.cancel(true));
                    Throwable cause = e.getCause();
                    if (cause instanceof HubException he) throw he;
                    if (cause instanceof InterruptedException) throw new InterruptedException();
                    if (cause instanceof IOException io) throw cacheError(cache.repoDir(), io);
                    if (cause instanceof RuntimeException re) throw re;
                    throw new IllegalStateException(cause);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** Puts one file into the snapshot: its blob (downloaded unless present) and the snapshot's link to it. */
    private void fetchFile(RepoId repo, String commit, Sibling s, HubCache cache, DownloadProgress progress)
            throws IOException, InterruptedException {
        URI uri = http().resolveUri(repo, commit, s.name());
        String etag = s.etag();
        long size = s.size();
        if (etag == null) {
            // The endpoint listed the file without blob details: ask the hub's own answer for the file.
            var head = http().send("HEAD", uri, Map.of(), BodyHandlers.discarding(), false, API_TIMEOUT);
            if (head.status() / 100 != 2 && head.status() / 100 != 3) throw httpError(head.status(), head.last().headers(), repo, commit, s.name());
            etag = head.etag();
            size = head.size();
            if (etag == null) throw new HubException(Reason.HUB_ERROR, "the hub at " + options.endpoint() + " gave no ETag for " + s.name() + " of " + repo);
        }
        if (!SAFE_ETAG.matcher(etag).matches()) {
            throw new HubException(Reason.HUB_ERROR, "the hub at " + options.endpoint() + " gave an unusable ETag for " + s.name() + " of " + repo);
        }
        Path link = cache.snapshotFile(commit, s.name());
        if (cache.isLinked(link, etag)) return;
        if (!Files.isRegularFile(cache.blob(etag))) {
            try (HubCache.BlobLock lock = cache.lockBlob(etag)) {
                // Whoever held the lock before us may have finished this blob.
                if (!Files.isRegularFile(cache.blob(etag))) downloadBlob(repo, s.name(), uri, etag, size, cache, progress);
            }
        }
        cache.link(link, etag);
    }

    /** Per-file count of bytes reported to the progress, so restarts can take them back. */
    private static final class Counted {
        long bytes;
    }

    /**
     * Downloads into blobs/{etag}.incomplete, resuming with a Range request from what is already there (left by an
     * interrupted try or an earlier process), checks size and checksum, then renames it into place.
     */
    private void downloadBlob(RepoId repo, String name, URI uri, String etag, long expectedSize, HubCache cache,
                              DownloadProgress progress) throws IOException, InterruptedException {
        Path part = cache.incomplete(etag);
        long size = expectedSize;
        Counted counted = new Counted();
        int failures = 0;
        while (true) {
            long have = Files.exists(part) ? Files.size(part) : 0;
            if (size >= 0 && have > size) {
                Files.delete(part);
                have = 0;
            }
            progress.add(have - counted.bytes);
            counted.bytes = have;
            if (size >= 0 && have == size) {
                String problem = verify(part, etag, size);
                if (problem == null) break;
                Files.delete(part);
                if (++failures >= options.maxAttempts()) {
                    throw new HubException(Reason.CORRUPT, name + " of " + repo + " downloaded from " + options.endpoint()
                            + " is corrupt: " + problem);
                }
                LOG.warn("{} of {} is corrupt ({}); downloading it again", name, repo, problem);
                continue;
            }
            try {
                Map<String, String> headers = have > 0 ? Map.of("Range", "bytes=" + have + "-") : Map.of();
                var ex = http().send("GET", uri, headers, BodyHandlers.ofInputStream(), true, options.stallTimeout());
                int status = ex.status();
                if (status == 416) {
                    // Our partial file does not fit what the server has: start over.
                    Files.deleteIfExists(part);
                    throw new IOException("HTTP 416 for a resumed download");
                }
                if (status / 100 != 2) {
                    if (HubHttp.retryable(status)) throw new IOException("HTTP " + status);
                    throw httpError(status, ex.last().headers(), repo, commitOf(uri), name);
                }
                boolean resumed = status == 206 && have > 0 && rangeStart(ex.last().headers()) == have;
                if (status == 206 && !resumed) {
                    ex.body().close();
                    Files.deleteIfExists(part);
                    throw new IOException("unexpected Content-Range for a resumed download");
                }
                if (size < 0 && status == 200) size = ex.size();
                copy(ex.body(), part, resumed ? have : 0, counted, progress, options.stallTimeout());
                if (size < 0) size = counted.bytes; // no size announced: a clean end of stream is the end
            } catch (HubException e) {
                throw e;
            } catch (IOException e) {
                if (++failures >= options.maxAttempts()) {
                    throw new HubException(Reason.NETWORK, "downloading " + name + " of " + repo + " from "
                            + options.endpoint() + " failed " + failures + " times (last: " + describe(e) + ")", e);
                }
                LOG.warn("download of {} of {} interrupted after {} ({}); resuming, try {} of {}", name, repo,
                        DownloadProgress.size(Files.exists(part) ? Files.size(part) : 0), describe(e),
                        failures + 1, options.maxAttempts());
                Thread.sleep(backoff(failures));
            }
        }
        try {
            Files.move(part, cache.blob(etag), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw cacheError(cache.blobs(), e);
        }
    }

    /**
     * Appends the body at {@code offset} (truncating there). Read errors propagate as network failures; a body
     * that sends nothing for {@code stallTimeout} is closed (which wakes the blocked read) and reported as one.
     */
    private static void copy(InputStream body, Path part, long offset, Counted counted, DownloadProgress progress,
                             Duration stallTimeout) throws IOException {
        AtomicLong lastRead = new AtomicLong(System.nanoTime());
        AtomicBoolean stalled = new AtomicBoolean();
        long checkMs = Math.clamp(stallTimeout.toMillis() / 4, 10, 1000);
        ScheduledFuture<?> watch = StallWatchdog.INSTANCE.scheduleAtFixedRate(() -> {
            if (System.nanoTime() - lastRead.get() > stallTimeout.toNanos() && stalled.compareAndSet(false, true)) {
                try {
                    body.close();
                } catch (IOException ignored) {
                    // the reader sees the stall flag either way
                }
            }
        }, checkMs, checkMs, TimeUnit.MILLISECONDS);
        try (InputStream in = body) {
            FileChannel out;
            try {
                out = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                out.truncate(offset);
                out.position(offset);
            } catch (IOException e) {
                throw cacheError(part.getParent(), e);
            }
            progress.add(offset - counted.bytes);
            counted.bytes = offset;
            try (out) {
                byte[] buf = new byte[COPY_BUFFER];
                ByteBuffer bb = ByteBuffer.wrap(buf);
                int n;
                while ((n = in.read(buf)) != -1) {
                    bb.clear().limit(n);
                    try {
                        while (bb.hasRemaining()) out.write(bb);
                    } catch (IOException e) {
                        throw cacheError(part.getParent(), e);
                    }
                    counted.bytes += n;
                    progress.add(n);
                    lastRead.set(System.nanoTime());
                }
            }
        } catch (IOException e) {
            if (!stalled.get() || e instanceof HubException) throw e;
        } finally {
            watch.cancel(false);
        }
        if (stalled.get()) throw new IOException("no data for " + stallTimeout.toMillis() + " ms");
    }

    private static long rangeStart(HttpHeaders headers) {
        // Content-Range: bytes START-END/TOTAL
        String cr = headers.firstValue("Content-Range").orElse("");
        int sp = cr.indexOf(' '), dash = cr.indexOf('-');
        if (!cr.startsWith("bytes ") || dash < sp) return -1;
        try {
            return Long.parseLong(cr.substring(sp + 1, dash).trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /**
     * Null when the file matches: its size, and its ETag as a checksum (sha256 of the content for LFS files,
     * git's blob sha1 for small ones); else what is wrong.
     */
    static String verify(Path file, String etag, long size) throws IOException {
        long actual = Files.size(file);
        if (actual != size) return "size " + actual + " instead of " + size;
        MessageDigest digest;
        String kind;
        try {
            if (SHA256.matcher(etag).matches()) {
                digest = MessageDigest.getInstance("SHA-256");
                kind = "sha256";
            } else if (GIT_SHA1.matcher(etag).matches()) {
                digest = MessageDigest.getInstance("SHA-1");
                digest.update(("blob " + size + "\0").getBytes(StandardCharsets.US_ASCII));
                kind = "git sha1";
            } else {
                return null; // an ETag that is no checksum we know: the size check is all we can do
            }
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
            while (in.read(buf.clear()) != -1) digest.update(buf.flip());
        }
        String got = HexFormat.of().formatHex(digest.digest());
        return got.equals(etag) ? null : kind + " " + got + " instead of " + etag;
    }

    /** The revision part of a resolve URL (the commit sha the download was pinned to). */
    private static String commitOf(URI resolveUri) {
        String path = resolveUri.getRawPath();
        int i = path.indexOf("/resolve/");
        if (i < 0) return "?";
        int end = path.indexOf('/', i + 9);
        return end < 0 ? path.substring(i + 9) : path.substring(i + 9, end);
    }

    private long backoff(int attempt) {
        return options.retryBackoff().toMillis() << Math.min(attempt - 1, 6);
    }

    private static HubException cacheError(Path where, IOException e) {
        return new HubException(Reason.CACHE_IO, "cannot write the model cache at " + where + " (" + describe(e) + ")", e);
    }

    private static String describe(Throwable e) {
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + m);
    }

    @Override
    public synchronized void close() {
        if (http != null) http.close();
    }
}
