package dev.jvllm.common.hub;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finds /work/shared/models: -Djvllm.shared, $JVLLM_SHARED, else walking up from the working directory. */
final class SharedModels {
    private SharedModels() {}

    static Path modelsDir() {
        String prop = System.getProperty("jvllm.shared");
        if (prop != null && Files.isDirectory(Path.of(prop, "models"))) return Path.of(prop, "models");
        String env = System.getenv("JVLLM_SHARED");
        if (env != null && Files.isDirectory(Path.of(env, "models"))) return Path.of(env, "models");
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isDirectory(dir.resolve("shared/models"))) return dir.resolve("shared/models");
            if (dir.getFileName() != null && dir.getFileName().toString().equals("shared")
                    && Files.isDirectory(dir.resolve("models"))) return dir.resolve("models");
        }
        throw new IllegalStateException("shared/models not found: set -Djvllm.shared or JVLLM_SHARED");
    }

    static Path stories260K() {
        return modelsDir().resolve("stories260K");
    }
}
