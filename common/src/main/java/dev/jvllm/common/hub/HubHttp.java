package dev.jvllm.common.hub;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandler;
import java.net.http.HttpResponse.BodySubscribers;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;

/**
 * HTTP to the hub with the JDK client. Redirects are followed here rather than by the client so the token goes
 * only to the hub itself: the hub sends LFS files to a CDN on another host, which must never see it.
 */
final class HubHttp implements AutoCloseable {
    private static final int MAX_REDIRECTS = 10;
    private static final String USER_AGENT = "jvllm/0.1 (java " + Runtime.version().feature() + ")";

    private final HttpClient client;
    private final URI endpoint;
    private final String token;

    /** The first response (from the hub itself, carrying X-Repo-Commit and X-Linked-*) and the last one. */
    record Exchange<T>(HttpHeaders hubHeaders, HttpResponse<T> last) {
        int status() {
            return last.statusCode();
        }

        T body() {
            return last.body();
        }

        /** {@code X-Linked-Etag} (LFS: the sha256) else {@code ETag} (git sha1), unquoted. */
        String etag() {
            String e = hubHeaders.firstValue("X-Linked-Etag").or(() -> hubHeaders.firstValue("ETag")).orElse(null);
            return e == null ? null : unquote(e);
        }

        long size() {
            OptionalLong linked = hubHeaders.firstValueAsLong("X-Linked-Size");
            if (linked.isPresent()) return linked.getAsLong();
            return last.headers().firstValueAsLong("Content-Length").orElse(-1);
        }

        String commit() {
            return hubHeaders.firstValue("X-Repo-Commit").orElse(null);
        }
    }

    HubHttp(URI endpoint, String token) {
        this.endpoint = Objects.requireNonNull(endpoint);
        this.token = token;
        // HTTP/1.1: parallel downloads then use separate connections instead of sharing one HTTP/2 connection's window.
        this.client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofSeconds(15))
                .build();
    }

    URI endpoint() {
        return endpoint;
    }

    URI apiRevisionUri(RepoId repo, String revision) {
        return URI.create(endpoint + "/api/models/" + repo.id() + "/revision/" + encodeSegment(revision) + "?blobs=true");
    }

    URI resolveUri(RepoId repo, String revision, String file) {
        StringBuilder path = new StringBuilder();
        for (String part : file.split("/")) {
            if (!path.isEmpty()) path.append('/');
            path.append(encodeSegment(part));
        }
        return URI.create(endpoint + "/" + repo.id() + "/resolve/" + encodeSegment(revision) + "/" + path);
    }

    /**
     * Sends a request, following redirects ({@code crossHost} false: only those staying on the hub's host, the
     * way huggingface_hub reads file metadata from the hub's own answer). Bodies of non-2xx answers are discarded.
     */
    <T> Exchange<T> send(String method, URI uri, Map<String, String> headers, BodyHandler<T> handler, boolean crossHost,
                         Duration timeout) throws IOException, InterruptedException {
        HttpHeaders hubHeaders = null;
        URI current = uri;
        for (int hop = 0; ; hop++) {
            HttpRequest.Builder b = HttpRequest.newBuilder(current)
                    .method(method, HttpRequest.BodyPublishers.noBody())
                    .header("User-Agent", USER_AGENT)
                    .header("Accept-Encoding", "identity");
            if (timeout != null) b.timeout(timeout);
            headers.forEach(b::header);
            if (token != null && sameOrigin(current, endpoint)) b.header("Authorization", "Bearer " + token);
            HttpResponse<T> response = client.send(b.build(), info ->
                    info.statusCode() / 100 == 2 ? handler.apply(info) : BodySubscribers.replacing(null));
            if (hubHeaders == null) hubHeaders = response.headers();
            int status = response.statusCode();
            boolean redirect = status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
            if (!redirect) return new Exchange<>(hubHeaders, response);
            String location = response.headers().firstValue("Location").orElse(null);
            if (location == null) return new Exchange<>(hubHeaders, response);
            URI next = current.resolve(location);
            if (!crossHost && !sameOrigin(next, endpoint)) return new Exchange<>(hubHeaders, response);
            if (hop >= MAX_REDIRECTS) throw new IOException("more than " + MAX_REDIRECTS + " redirects from " + endpoint);
            if (status == 303) method = "GET";
            current = next;
        }
    }

    static boolean sameOrigin(URI a, URI b) {
        return Objects.equals(lower(a.getScheme()), lower(b.getScheme()))
                && Objects.equals(lower(a.getHost()), lower(b.getHost()))
                && port(a) == port(b);
    }

    private static int port(URI u) {
        if (u.getPort() != -1) return u.getPort();
        return "https".equalsIgnoreCase(u.getScheme()) ? 443 : 80;
    }

    private static String lower(String s) {
        return s == null ? null : s.toLowerCase(Locale.ROOT);
    }

    static String encodeSegment(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    static String unquote(String etag) {
        String e = etag.trim();
        if (e.startsWith("W/")) e = e.substring(2);
        if (e.length() >= 2 && e.startsWith("\"") && e.endsWith("\"")) e = e.substring(1, e.length() - 1);
        return e;
    }

    /** Statuses worth another try: the hub or CDN is busy or briefly broken. */
    static boolean retryable(int status) {
        return status == 408 || status == 429 || status / 100 == 5;
    }

    @Override
    public void close() {
        client.shutdownNow(); // downloads are finished or abandoned by now; do not wait on stragglers
    }
}
