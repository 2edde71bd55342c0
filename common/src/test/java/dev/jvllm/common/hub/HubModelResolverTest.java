package dev.jvllm.common.hub;

import dev.jvllm.common.testing.SharedData;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jvllm.common.hub.HubException.Reason;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HubModelResolverTest {
    private static final String ID = "org/stories260K";
    private static final List<String> MODEL_FILES = List.of(
            "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors");

    @TempDir Path tmp;
    private FakeHub hub;
    private FakeHub.Repo stories;
    private Path cache;

    @BeforeEach
    void startHub() throws IOException {
        stories = new FakeHub.Repo(ID).folder(SharedData.stories260K())
                .file("pytorch_model.bin", bytes(40_000, 7))
                .file("onnx/model.onnx", bytes(20_000, 9));
        hub = new FakeHub().add(stories);
        cache = tmp.resolve("hf/hub");
    }

    @AfterEach
    void stopHub() {
        hub.close();
    }

    private HubOptions options(String token, Map<String, String> extraEnv) {
        Map<String, String> env = new HashMap<>(Map.of("HF_ENDPOINT", hub.endpoint().toString(),
                "HF_HOME", tmp.resolve("hf").toString(), "HOME", tmp.toString()));
        if (token != null) env.put("HF_TOKEN", token);
        env.putAll(extraEnv);
        return HubOptions.fromEnvironment(env).withRetries(4, Duration.ofMillis(10)).withProgress(HubOptions.ProgressMode.LOG);
    }

    private Path resolveWith(HubOptions options, String id, String revision) throws HubException {
        try (HubModelResolver resolver = new HubModelResolver(options)) {
            return resolver.resolve(id, revision, null);
        }
    }

    private String modelSha() {
        return stories.etag("model.safetensors");
    }

    @Test
    void downloadsOnlyTheNeededFilesIntoTheHubCacheLayout() throws IOException {
        Path snapshot = resolveWith(options(FakeHub.GOOD_TOKEN, Map.of()), ID, null);

        Path repoDir = cache.resolve("models--org--stories260K");
        assertEquals(repoDir.resolve("snapshots").resolve(stories.commit()), snapshot);
        assertEquals(stories.commit(), Files.readString(repoDir.resolve("refs/main")));
        for (String f : MODEL_FILES) {
            Path link = snapshot.resolve(f);
            assertTrue(Files.isSymbolicLink(link), f + " is a symlink");
            assertEquals(Path.of("../../blobs/" + stories.etag(f)), Files.readSymbolicLink(link));
            assertArrayEquals(Files.readAllBytes(SharedData.stories260K().resolve(f)), Files.readAllBytes(link), f);
        }
        for (String skipped : List.of("golden.json", "pytorch_model.bin", "onnx/model.onnx")) {
            assertFalse(Files.exists(snapshot.resolve(skipped)), skipped + " must not be in the snapshot");
            assertTrue(hub.requestsTo("/" + skipped).isEmpty(), skipped + " must not be requested");
        }
        assertTrue(hub.cdnRequests(stories.etag("pytorch_model.bin")).isEmpty());
        try (Stream<Path> blobs = Files.list(repoDir.resolve("blobs"))) {
            assertTrue(blobs.noneMatch(p -> p.toString().endsWith(".incomplete")));
        }

        // The token goes to the hub, never to the CDN host the weights are redirected to.
        assertTrue(hub.requestsTo("/api/models/").stream().allMatch(r -> ("Bearer " + FakeHub.GOOD_TOKEN).equals(r.authorization())));
        List<FakeHub.Request> cdn = hub.cdnRequests(modelSha());
        assertEquals(1, cdn.size());
        assertTrue(cdn.getFirst().host().startsWith("127.0.0.1"));
        assertNull(cdn.getFirst().authorization());
    }

    @Test
    void localDirectoriesAndGgufFilesAreReturnedAsIs() throws IOException {
        Path gguf = Files.write(tmp.resolve("tiny.gguf"), new byte[] {1, 2, 3});
        Path notModel = Files.write(tmp.resolve("weights.bin"), new byte[] {1});
        try (HubModelResolver resolver = new HubModelResolver(options(null, Map.of()))) {
            assertEquals(SharedData.stories260K(), resolver.resolve(SharedData.stories260K().toString(), null, null));
            assertEquals(gguf, resolver.resolve(gguf.toString(), null, null));
            assertEquals(Reason.INVALID_MODEL, assertThrows(HubException.class, () -> resolver.resolve(notModel.toString(), null, null)).reason());
            HubException missing = assertThrows(HubException.class, () -> resolver.resolve(tmp.resolve("nope").toString(), null, null));
            assertTrue(missing.getMessage().contains("does not exist"), missing.getMessage());
            assertEquals(Reason.INVALID_MODEL, assertThrows(HubException.class, () -> resolver.resolve("not an id!", null, null)).reason());
        }
        assertTrue(hub.requests.isEmpty(), "local paths never touch the network");
    }

    @Test
    void wrongTokenGets401WithoutTheTokenInTheMessage() {
        String secret = "hf_this_is_a_wrong_secret_token";
        HubOptions options = options(secret, Map.of());
        HubException e = assertThrows(HubException.class, () -> resolveWith(options, ID, null));
        assertEquals(Reason.UNAUTHORIZED, e.reason());
        assertTrue(e.getMessage().startsWith("invalid or missing token for org/stories260K: set HF_TOKEN"), e.getMessage());
        assertFalse(e.getMessage().contains(secret));
        assertFalse(options.toString().contains(secret));
    }

    @Test
    void gatedPrivateAndMissingReposSayWhatIsWrong() {
        FakeHub.Repo gated = new FakeHub.Repo("org/gated").file("config.json", "{}");
        gated.access = FakeHub.Access.GATED;
        FakeHub.Repo secret = new FakeHub.Repo("org/private").file("config.json", "{}");
        secret.access = FakeHub.Access.PRIVATE;
        hub.add(gated).add(secret);

        HubException g = assertThrows(HubException.class, () -> resolveWith(options(FakeHub.GOOD_TOKEN, Map.of()), "org/gated", null));
        assertEquals(Reason.GATED, g.reason());
        assertTrue(g.getMessage().startsWith("org/gated is gated: accept its license on the hub and use a token with access"), g.getMessage());

        HubException p = assertThrows(HubException.class, () -> resolveWith(options(null, Map.of()), "org/private", null));
        assertEquals(Reason.UNAUTHORIZED, p.reason());
        assertTrue(p.getMessage().contains("set HF_TOKEN"), p.getMessage());

        HubException nf = assertThrows(HubException.class, () -> resolveWith(options(null, Map.of()), "org/missing", null));
        assertEquals(Reason.NOT_FOUND, nf.reason());
        assertTrue(nf.getMessage().startsWith("org/missing not found on " + hub.endpoint()), nf.getMessage());

        HubException rev = assertThrows(HubException.class, () -> resolveWith(options(null, Map.of()), ID, "v9"));
        assertEquals(Reason.NOT_FOUND, rev.reason());
        assertTrue(rev.getMessage().contains("revision v9"), rev.getMessage());
    }

    @Test
    void resumesWithRangeAfterTheConnectionIsCut() throws IOException {
        int cut = 300_000;
        hub.cutOnce(modelSha(), cut);
        Path snapshot = resolveWith(options(null, Map.of()), ID, null);

        List<FakeHub.Request> cdn = hub.cdnRequests(modelSha());
        assertEquals(2, cdn.size(), "one cut transfer, one resumed");
        assertNull(cdn.get(0).range());
        String range = cdn.get(1).range();
        assertTrue(range != null && range.startsWith("bytes=") && range.endsWith("-"), "resumed with Range: " + range);
        long from = Long.parseLong(range.substring(6, range.length() - 1));
        assertTrue(from > 0 && from <= cut, "resumed from " + from);
        Path blob = cache.resolve("models--org--stories260K/blobs").resolve(modelSha());
        assertEquals(modelSha(), FakeHub.sha256(Files.readAllBytes(blob)));
        assertArrayEquals(Files.readAllBytes(SharedData.stories260K().resolve("model.safetensors")),
                Files.readAllBytes(snapshot.resolve("model.safetensors")));
    }

    @Test
    void resumesThePartialFileAnEarlierProcessLeft() throws IOException {
        byte[] weights = Files.readAllBytes(SharedData.stories260K().resolve("model.safetensors"));
        Path blobs = Files.createDirectories(cache.resolve("models--org--stories260K/blobs"));
        Files.write(blobs.resolve(modelSha() + ".incomplete"), Arrays.copyOf(weights, 100_000));

        Path snapshot = resolveWith(options(null, Map.of()), ID, null);

        List<FakeHub.Request> cdn = hub.cdnRequests(modelSha());
        assertEquals(1, cdn.size());
        assertEquals("bytes=100000-", cdn.getFirst().range());
        assertArrayEquals(weights, Files.readAllBytes(snapshot.resolve("model.safetensors")));
        assertFalse(Files.exists(blobs.resolve(modelSha() + ".incomplete")));
    }

    @Test
    void aStalledTransferIsDroppedAndResumed() throws IOException {
        hub.stallOnce(modelSha(), 200_000);
        Path snapshot = resolveWith(options(null, Map.of()).withStallTimeout(Duration.ofSeconds(1)), ID, null);
        List<FakeHub.Request> cdn = hub.cdnRequests(modelSha());
        assertTrue(cdn.size() >= 2, "the stalled transfer was dropped and resumed");
        assertEquals("bytes=200000-", cdn.get(1).range());
        assertArrayEquals(stories.files.get("model.safetensors"), Files.readAllBytes(snapshot.resolve("model.safetensors")));
    }

    @Test
    void hubErrorsAreRetriedThenTheCacheStandsIn() throws IOException {
        hub.failApi(1, 503);
        Path snapshot = resolveWith(options(null, Map.of()), ID, null);
        assertEquals(2, hub.requestsTo("/api/models/").size(), "a 503 is retried");

        hub.failApi(100, 500);
        assertEquals(snapshot, resolveWith(options(null, Map.of()), ID, null), "a broken hub: the cached snapshot serves");
        HubException e = assertThrows(HubException.class, () -> resolveWith(options(null, Map.of()), ID, "other-branch"));
        assertEquals(Reason.HUB_ERROR, e.reason());
        assertTrue(e.getMessage().contains("HTTP 500") && e.getMessage().contains("not in the cache"), e.getMessage());
    }

    @Test
    void corruptDownloadsAreRejectedAndNeverPublished() {
        hub.corrupt(modelSha());
        HubException e = assertThrows(HubException.class,
                () -> resolveWith(options(null, Map.of()).withRetries(2, Duration.ofMillis(1)), ID, null));
        assertEquals(Reason.CORRUPT, e.reason());
        assertTrue(e.getMessage().contains("sha256"), e.getMessage());
        assertFalse(Files.exists(cache.resolve("models--org--stories260K/blobs").resolve(modelSha())));
        assertFalse(Files.exists(cache.resolve("models--org--stories260K/refs/main")));
    }

    @Test
    void reusesTheCacheWhenTheHubIsUnreachableAndOffline() throws IOException {
        Path first = resolveWith(options(null, Map.of()), ID, null);
        int before = hub.requests.size();
        assertEquals(first, resolveWith(options(null, Map.of()), ID, null));
        assertTrue(hub.requests.subList(before, hub.requests.size()).stream().allMatch(r -> r.path().startsWith("/api/")),
                "a cached model is not downloaded again");

        hub.close();
        assertEquals(first, resolveWith(options(null, Map.of()), ID, null), "unreachable hub: the cache stands in");
        HubOptions offline = options(null, Map.of("HF_HUB_OFFLINE", "1"));
        assertTrue(offline.offline());
        assertEquals(first, resolveWith(offline, ID, null));
        assertEquals(first, resolveWith(offline, ID, stories.commit()));

        HubException e = assertThrows(HubException.class, () -> resolveWith(offline, ID, "v2"));
        assertEquals(Reason.NOT_IN_CACHE, e.reason());
        assertEquals("model org/stories260K revision v2 is not in the cache at " + cache + " and HF_HUB_OFFLINE=1", e.getMessage());

        Files.delete(first.resolve("model.safetensors"));
        HubException incomplete = assertThrows(HubException.class, () -> resolveWith(offline, ID, null));
        assertTrue(incomplete.getMessage().contains("missing *.safetensors"), incomplete.getMessage());

        HubException down = assertThrows(HubException.class, () -> resolveWith(options(null, Map.of()), "org/other", null));
        assertEquals(Reason.NETWORK, down.reason());
        assertTrue(down.getMessage().contains(hub.endpoint().toString()), down.getMessage());
    }

    @Test
    void concurrentResolvesIntoOneCacheDownloadEachBlobOnce() throws Exception {
        int threads = 4;
        CyclicBarrier start = new CyclicBarrier(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Path>> results = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                results.add(pool.submit(() -> {
                    start.await();
                    return resolveWith(options(null, Map.of()), ID, null);
                }));
            }
            Path expected = results.getFirst().get();
            for (Future<Path> f : results) assertEquals(expected, f.get());
            assertEquals(1, hub.cdnRequests(modelSha()).size(), "one download, the others wait for it");
            for (String f : MODEL_FILES) {
                assertArrayEquals(Files.readAllBytes(SharedData.stories260K().resolve(f)), Files.readAllBytes(expected.resolve(f)), f);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void shardedModelsFetchOnlyTheShardsTheIndexLists() throws IOException {
        String index = """
                {"metadata": {"total_size": 30000}, "weight_map": {
                  "a.weight": "model-00001-of-00002.safetensors",
                  "b.weight": "model-00002-of-00002.safetensors",
                  "c.weight": "model-00002-of-00002.safetensors"}}""";
        FakeHub.Repo sharded = new FakeHub.Repo("org/sharded").file("config.json", "{}").file("tokenizer.json", "{}")
                .file("model.safetensors.index.json", index)
                .file("model-00001-of-00002.safetensors", bytes(10_000, 1))
                .file("model-00002-of-00002.safetensors", bytes(20_000, 2))
                .file("consolidated.safetensors", bytes(30_000, 3));
        hub.add(sharded);
        Path snapshot = resolveWith(options(null, Map.of()), "org/sharded", null);
        for (String f : List.of("config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors")) {
            assertArrayEquals(sharded.files.get(f), Files.readAllBytes(snapshot.resolve(f)), f);
        }
        assertFalse(Files.exists(snapshot.resolve("consolidated.safetensors")));
        assertTrue(hub.cdnRequests(sharded.etag("consolidated.safetensors")).isEmpty());
    }

    @Test
    void reposWithoutSafetensorsFailClearly() {
        hub.add(new FakeHub.Repo("org/old").file("config.json", "{}").file("pytorch_model.bin", bytes(1000, 4)));
        HubException e = assertThrows(HubException.class, () -> resolveWith(options(null, Map.of()), "org/old", null));
        assertEquals(Reason.NO_WEIGHTS, e.reason());
        assertTrue(e.getMessage().contains("no safetensors weights"), e.getMessage());
        assertTrue(hub.requestsTo("/resolve/").isEmpty());
    }

    @Test
    void tokenizerResolvesFetchNoWeights() throws IOException {
        Path snapshot;
        try (HubModelResolver resolver = new HubModelResolver(options(null, Map.of()))) {
            snapshot = resolver.resolveTokenizer(ID, null, tmp.resolve("download-dir"));
        }
        assertTrue(snapshot.startsWith(tmp.resolve("download-dir")), "--download-dir is the cache root");
        assertTrue(Files.exists(snapshot.resolve("tokenizer.json")));
        assertTrue(Files.exists(snapshot.resolve("tokenizer_config.json")));
        assertFalse(Files.exists(snapshot.resolve("model.safetensors")));
        assertTrue(hub.cdnRequests(modelSha()).isEmpty());
    }

    @Test
    void readsFileHeadersWhenTheApiGivesNoBlobDetails() throws IOException {
        stories.detailedListing = false;
        Path snapshot = resolveWith(options(null, Map.of()), ID, null);
        assertEquals(stories.commit(), snapshot.getFileName().toString(), "commit from X-Repo-Commit");
        assertFalse(hub.requestsTo("/resolve/").stream().filter(r -> r.method().equals("HEAD")).toList().isEmpty());
        for (String f : MODEL_FILES) {
            assertEquals(Path.of("../../blobs/" + stories.etag(f)), Files.readSymbolicLink(snapshot.resolve(f)));
            assertArrayEquals(stories.files.get(f), Files.readAllBytes(snapshot.resolve(f)), f);
        }
    }

    private static byte[] bytes(int n, int seed) {
        byte[] b = new byte[n];
        new java.util.Random(seed).nextBytes(b);
        return b;
    }
}
