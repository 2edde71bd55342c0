package dev.jvllm.worker.pjrt;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.Optional;

/**
 * Serialized executables on disk: {@code <root>/<platform>/<bucket>-<hash>.pjrt}. The root is
 * {@code --compile-cache-dir}, else {@code VLLM_XLA_CACHE_PATH}, else {@code $XDG_CACHE_HOME/jvllm/xla}, else
 * {@code ~/.cache/jvllm/xla}. Writes go to a temporary file in the same directory and are renamed atomically, so a
 * crash or a second worker writing the same entry never leaves a torn file for the next start to load.
 */
public final class CompileCache {
    private final Path root;

    public CompileCache(Path root) {
        this.root = root;
    }

    public static Path resolveRoot(Optional<String> compileCacheDirFlag, Map<String, String> env, Path home) {
        if (compileCacheDirFlag.isPresent() && !compileCacheDirFlag.get().isBlank()) return Path.of(compileCacheDirFlag.get());
        String v = env.get("VLLM_XLA_CACHE_PATH");
        if (v != null && !v.isBlank()) return Path.of(v);
        String xdg = env.get("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : home.resolve(".cache");
        return base.resolve("jvllm").resolve("xla");
    }

    public Path root() { return root; }

    public Path pathFor(CompileCacheKey key) {
        return root.resolve(sanitize(key.platformName())).resolve(key.fileName());
    }

    public Optional<byte[]> load(CompileCacheKey key) {
        Path p = pathFor(key);
        if (!Files.isRegularFile(p)) return Optional.empty();
        try {
            return Optional.of(Files.readAllBytes(p));
        } catch (IOException e) {
            return Optional.empty(); // unreadable entry: recompile rather than fail startup
        }
    }

    public void store(CompileCacheKey key, byte[] serialized) {
        Path p = pathFor(key);
        try {
            Files.createDirectories(p.getParent());
            Path tmp = Files.createTempFile(p.getParent(), p.getFileName().toString(), ".tmp");
            try {
                Files.write(tmp, serialized);
                try {
                    Files.move(tmp, p, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, p, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write compile cache entry " + p, e);
        }
    }

    static String sanitize(String s) {
        String out = s.replaceAll("[^A-Za-z0-9._-]", "_");
        return out.isEmpty() ? "unknown" : out;
    }
}
