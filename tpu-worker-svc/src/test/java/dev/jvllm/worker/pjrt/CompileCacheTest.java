package dev.jvllm.worker.pjrt;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class CompileCacheTest {

    static final BucketPlanner.Bucket BUCKET = new BucketPlanner.Bucket(16, 8, 4);

    static CompileCacheKey key(String config, BucketPlanner.Bucket b, String platformVersion, String ours) {
        return CompileCacheKey.of(config, b, 16, 64, "cuda", platformVersion, ours);
    }

    @Test
    void keyIgnoresJsonFormattingAndKeyOrder() {
        String a = "{\"hidden_size\": 64, \"rope_scaling\": {\"factor\": 8.0, \"rope_type\": \"llama3\"}}";
        String b = "{\n  \"rope_scaling\" : {\"rope_type\":\"llama3\",\"factor\":8.0},\n  \"hidden_size\":64\n}";
        assertEquals(key(a, BUCKET, "12.8", "0.1").hash(), key(b, BUCKET, "12.8", "0.1").hash());
    }

    @Test
    void keyChangesWithEveryComponent() {
        String cfg = "{\"hidden_size\": 64}";
        String base = key(cfg, BUCKET, "12.8", "0.1").hash();
        assertNotEquals(base, key("{\"hidden_size\": 65}", BUCKET, "12.8", "0.1").hash());
        assertNotEquals(base, key(cfg, new BucketPlanner.Bucket(32, 8, 4), "12.8", "0.1").hash());
        assertNotEquals(base, key(cfg, BUCKET, "12.9", "0.1").hash());
        assertNotEquals(base, key(cfg, BUCKET, "12.8", "0.2").hash());
        assertNotEquals(base, CompileCacheKey.of(cfg, BUCKET, 32, 64, "cuda", "12.8", "0.1").hash());
        assertNotEquals(base, CompileCacheKey.of(cfg, BUCKET, 16, 64, "tpu", "12.8", "0.1").hash());
        assertEquals(64, base.length());
    }

    @Test
    void rootPrefersFlagThenVllmXlaCachePathThenXdgThenHome() {
        Path home = Path.of("/home/u");
        assertEquals(Path.of("/flag"), CompileCache.resolveRoot(Optional.of("/flag"), Map.of("VLLM_XLA_CACHE_PATH", "/env"), home));
        assertEquals(Path.of("/env"), CompileCache.resolveRoot(Optional.empty(), Map.of("VLLM_XLA_CACHE_PATH", "/env"), home));
        assertEquals(Path.of("/xdg/jvllm/xla"), CompileCache.resolveRoot(Optional.empty(), Map.of("XDG_CACHE_HOME", "/xdg"), home));
        assertEquals(Path.of("/home/u/.cache/jvllm/xla"), CompileCache.resolveRoot(Optional.empty(), Map.of(), home));
    }

    @Test
    void storeThenLoadRoundTripsAndLeavesNoTempFiles(@TempDir Path tmp) throws IOException {
        CompileCache cache = new CompileCache(tmp);
        CompileCacheKey k = key("{}", BUCKET, "12.8", "0.1");
        assertTrue(cache.load(k).isEmpty());
        cache.store(k, new byte[] {1, 2, 3});
        cache.store(k, new byte[] {4, 5});
        assertArrayEquals(new byte[] {4, 5}, cache.load(k).orElseThrow());
        assertTrue(cache.pathFor(k).startsWith(tmp.resolve("cuda")));
        assertTrue(cache.pathFor(k).getFileName().toString().startsWith("t16-s8-b4-"));
        try (Stream<Path> files = Files.list(cache.pathFor(k).getParent())) {
            assertEquals(1, files.count(), "the temporary file was renamed, not left behind");
        }
        assertTrue(cache.load(key("{}", BUCKET, "12.9", "0.1")).isEmpty(), "another plugin version misses");
    }

    @Test
    void platformNamesAreSafeDirectoryNames() {
        assertEquals("cuda", CompileCache.sanitize("cuda"));
        assertEquals("a_b_c", CompileCache.sanitize("a/b c"));
        assertEquals("unknown", CompileCache.sanitize(""));
    }
}
