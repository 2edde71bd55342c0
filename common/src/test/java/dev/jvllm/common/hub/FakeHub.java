package dev.jvllm.common.hub;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Stream;

/**
 * A local stand-in for the Hugging Face hub: the model API, /resolve/ with the hub's headers, and a "CDN" on a
 * different host name (127.0.0.1 instead of localhost) that LFS files redirect to, with Range support and faults.
 */
final class FakeHub implements AutoCloseable {
    static final String GOOD_TOKEN = "hf_fake_good_token_0123456789";

    enum Access { PUBLIC, PRIVATE, GATED }

    record Request(String method, String path, String host, String authorization, String range) {}

    static final class Repo {
        final String id;
        final Map<String, byte[]> files = new LinkedHashMap<>();
        Access access = Access.PUBLIC;
        /** False: the API lists bare file names without sizes, blob ids or the commit sha, as a minimal mirror might. */
        boolean detailedListing = true;

        Repo(String id) {
            this.id = id;
        }

        synchronized Repo file(String name, byte[] content) {
            files.put(name, content);
            commit = null;
            return this;
        }

        Repo file(String name, String content) {
            return file(name, content.getBytes(StandardCharsets.UTF_8));
        }

        /** Every file of a local model folder. */
        Repo folder(Path dir) throws IOException {
            try (Stream<Path> s = Files.list(dir)) {
                for (Path p : s.sorted().toList()) file(p.getFileName().toString(), Files.readAllBytes(p));
            }
            return this;
        }

        private String commit;

        synchronized String commit() {
            if (commit != null) return commit;
            MessageDigest md = digest("SHA-1");
            md.update(id.getBytes(StandardCharsets.UTF_8));
            files.forEach((k, v) -> {
                md.update(k.getBytes(StandardCharsets.UTF_8));
                md.update(v);
            });
            commit = HexFormat.of().formatHex(md.digest());
            return commit;
        }

        static boolean isLfs(String name) {
            return name.endsWith(".safetensors") || name.endsWith(".bin") || name.endsWith(".onnx") || name.endsWith(".gguf");
        }

        String etag(String name) {
            return isLfs(name) ? sha256(files.get(name)) : gitSha1(files.get(name));
        }
    }

    private final HttpServer server;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final Map<String, Repo> repos = new ConcurrentHashMap<>();
    private final Map<String, Integer> cutOnce = new ConcurrentHashMap<>();
    private final Map<String, Boolean> corrupt = new ConcurrentHashMap<>();
    private final Map<String, Integer> stallOnce = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicInteger apiFailures = new java.util.concurrent.atomic.AtomicInteger();
    private volatile int apiFailureStatus;
    /** byte[] hashes by identity: each content array is hashed once. */
    private static final Map<byte[], String> SHA256 = new ConcurrentHashMap<>();
    private static final Map<byte[], String> GIT_SHA1 = new ConcurrentHashMap<>();
    final List<Request> requests = Collections.synchronizedList(new ArrayList<>());
    private final ObjectMapper json = new ObjectMapper();

    FakeHub() throws IOException {
        server = HttpServer.create(new InetSocketAddress(0), 0);
        server.createContext("/", this::handle);
        server.setExecutor(executor);
        server.start();
    }

    FakeHub add(Repo repo) {
        repos.put(repo.id, repo);
        return this;
    }

    URI endpoint() {
        return URI.create("http://localhost:" + server.getAddress().getPort());
    }

    /** The next CDN download of this blob is cut after {@code bytes} bytes. */
    void cutOnce(String sha256, int bytes) {
        cutOnce.put(sha256, bytes);
    }

    /** The next CDN download of this blob sends {@code bytes} bytes, then nothing until the client gives up. */
    void stallOnce(String sha256, int bytes) {
        stallOnce.put(sha256, bytes);
    }

    /** The next {@code times} model API calls answer {@code status}. */
    void failApi(int times, int status) {
        apiFailureStatus = status;
        apiFailures.set(times);
    }

    /** CDN downloads of this blob send wrong bytes (same length). */
    void corrupt(String sha256) {
        corrupt.put(sha256, true);
    }

    List<Request> requestsTo(String pathPart) {
        synchronized (requests) {
            return requests.stream().filter(r -> r.path().contains(pathPart)).toList();
        }
    }

    List<Request> cdnRequests(String sha256) {
        return requestsTo("/cdn/" + sha256);
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }

    private void handle(HttpExchange ex) {
        try (ex) {
            String path = ex.getRequestURI().getRawPath();
            var h = ex.getRequestHeaders();
            requests.add(new Request(ex.getRequestMethod(), path, h.getFirst("Host"), h.getFirst("Authorization"), h.getFirst("Range")));
            if (path.startsWith("/api/models/")) api(ex, path);
            else if (path.startsWith("/cdn/")) cdn(ex, path.substring("/cdn/".length()));
            else if (path.contains("/resolve/")) resolve(ex, path);
            else error(ex, 404, "EntryNotFound");
        } catch (IOException e) {
            // a cut connection ends here
        }
    }

    /** Hub-style access control; returns the repo or null after answering with an error. */
    private Repo authorize(HttpExchange ex, String id) throws IOException {
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        if (auth != null && !auth.equals("Bearer " + GOOD_TOKEN)) {
            error(ex, 401, null);
            return null;
        }
        Repo repo = repos.get(id);
        if (repo == null) {
            error(ex, 404, "RepoNotFound");
            return null;
        }
        if (repo.access == Access.PRIVATE && auth == null) {
            error(ex, 401, "RepoNotFound");
            return null;
        }
        if (repo.access == Access.GATED) {
            error(ex, auth == null ? 401 : 403, "GatedRepo");
            return null;
        }
        return repo;
    }

    private boolean knownRevision(HttpExchange ex, Repo repo, String rev) throws IOException {
        if (rev.equals("main") || rev.equals(repo.commit())) return true;
        error(ex, 404, "RevisionNotFound");
        return false;
    }

    private void api(HttpExchange ex, String path) throws IOException {
        if (apiFailures.getAndDecrement() > 0) {
            error(ex, apiFailureStatus, null);
            return;
        }
        String rest = path.substring("/api/models/".length());
        int r = rest.indexOf("/revision/");
        Repo repo = authorize(ex, rest.substring(0, r));
        if (repo == null) return;
        String rev = URLDecoder.decode(rest.substring(r + "/revision/".length()), StandardCharsets.UTF_8);
        if (!knownRevision(ex, repo, rev)) return;
        boolean blobs = repo.detailedListing && String.valueOf(ex.getRequestURI().getQuery()).contains("blobs=true");
        ObjectNode root = json.createObjectNode().put("id", repo.id);
        if (repo.detailedListing) root.put("sha", repo.commit());
        ArrayNode siblings = root.putArray("siblings");
        repo.files.forEach((name, content) -> {
            ObjectNode s = siblings.addObject().put("rfilename", name);
            if (!blobs) return;
            s.put("size", content.length).put("blobId", gitSha1(content));
            if (Repo.isLfs(name)) s.putObject("lfs").put("sha256", sha256(content)).put("size", content.length).put("pointerSize", 134);
        });
        byte[] body = json.writeValueAsBytes(root);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(200, body.length);
        ex.getResponseBody().write(body);
    }

    private void resolve(HttpExchange ex, String path) throws IOException {
        String[] parts = path.substring(1).split("/resolve/", 2);
        Repo repo = authorize(ex, parts[0]);
        if (repo == null) return;
        int slash = parts[1].indexOf('/');
        String rev = URLDecoder.decode(parts[1].substring(0, slash), StandardCharsets.UTF_8);
        String file = URLDecoder.decode(parts[1].substring(slash + 1), StandardCharsets.UTF_8);
        if (!knownRevision(ex, repo, rev)) return;
        byte[] content = repo.files.get(file);
        if (content == null) {
            error(ex, 404, "EntryNotFound");
            return;
        }
        var headers = ex.getResponseHeaders();
        headers.set("X-Repo-Commit", repo.commit());
        boolean head = ex.getRequestMethod().equals("HEAD");
        if (Repo.isLfs(file)) {
            String sha = sha256(content);
            headers.set("ETag", "\"" + gitSha1(("version https://git-lfs.github.com/spec/v1\noid sha256:" + sha).getBytes()) + "\"");
            headers.set("X-Linked-Etag", "\"" + sha + "\"");
            headers.set("X-Linked-Size", Long.toString(content.length));
            headers.set("Location", "http://127.0.0.1:" + server.getAddress().getPort() + "/cdn/" + sha);
            ex.sendResponseHeaders(302, -1);
            return;
        }
        headers.set("ETag", "\"" + gitSha1(content) + "\"");
        if (head) {
            headers.set("Content-Length", Integer.toString(content.length));
            ex.sendResponseHeaders(200, -1);
            return;
        }
        ex.sendResponseHeaders(200, content.length);
        ex.getResponseBody().write(content);
    }

    private void cdn(HttpExchange ex, String sha) throws IOException {
        byte[] content = null;
        for (Repo repo : repos.values()) {
            for (byte[] c : repo.files.values()) if (sha256(c).equals(sha)) content = c;
        }
        if (content == null) {
            ex.sendResponseHeaders(404, -1);
            return;
        }
        if (corrupt.containsKey(sha)) {
            content = content.clone();
            content[content.length / 2] ^= 0x5a;
        }
        int start = 0;
        String range = ex.getRequestHeaders().getFirst("Range");
        if (range != null && range.startsWith("bytes=") && range.endsWith("-")) {
            start = Integer.parseInt(range.substring(6, range.length() - 1));
            if (start >= content.length) {
                ex.sendResponseHeaders(416, -1);
                return;
            }
            ex.getResponseHeaders().set("Content-Range", "bytes " + start + "-" + (content.length - 1) + "/" + content.length);
        }
        int length = content.length - start;
        ex.sendResponseHeaders(range != null ? 206 : 200, length);
        OutputStream out = ex.getResponseBody();
        Integer stall = stallOnce.remove(sha);
        if (stall != null && stall < length) {
            out.write(content, start, stall);
            out.flush();
            try {
                Thread.sleep(10_000); // the client's stall timeout fires long before; server.stop interrupts this
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("stalled");
        }
        Integer cut = cutOnce.remove(sha);
        if (cut != null && cut < length) {
            out.write(content, start, cut);
            out.flush();
            try {
                Thread.sleep(50); // let the client take what was sent before the connection drops
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("cut"); // the server closes the connection with bytes still owed
        }
        out.write(content, start, length);
    }

    private void error(HttpExchange ex, int status, String code) throws IOException {
        if (code != null) ex.getResponseHeaders().set("X-Error-Code", code);
        ex.getResponseHeaders().set("X-Error-Message", "fake hub says " + status);
        byte[] body = ("{\"error\":\"" + status + "\"}").getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(status, body.length);
        ex.getResponseBody().write(body);
    }

    static String sha256(byte[] content) {
        return SHA256.computeIfAbsent(content, c -> HexFormat.of().formatHex(digest("SHA-256").digest(c)));
    }

    static String gitSha1(byte[] content) {
        return GIT_SHA1.computeIfAbsent(content, c -> {
            MessageDigest md = digest("SHA-1");
            md.update(("blob " + c.length + "\0").getBytes(StandardCharsets.US_ASCII));
            return HexFormat.of().formatHex(md.digest(c));
        });
    }

    private static MessageDigest digest(String algorithm) {
        try {
            return MessageDigest.getInstance(algorithm);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
