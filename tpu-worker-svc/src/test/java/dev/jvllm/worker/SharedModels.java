package dev.jvllm.worker;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finds the read-only shared resources: -Djvllm.shared, env JVLLM_SHARED, else a shared/ dir above the working dir. */
public final class SharedModels {
    private SharedModels() {}

    public static Path sharedDir() {
        String prop = System.getProperty("jvllm.shared");
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        String env = System.getenv("JVLLM_SHARED");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("shared/models"))) {
                return p.resolve("shared");
            }
        }
        throw new IllegalStateException("shared/models not found: set -Djvllm.shared or JVLLM_SHARED");
    }

    public static Path model(String name) {
        return sharedDir().resolve("models").resolve(name);
    }
}
