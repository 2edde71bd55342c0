package dev.jvllm.common.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The read-only shared/ folder beside the checkout (real models, tokenizers, model shapes), for every
 * module's tests: {@code -Djvllm.shared=PATH}, else {@code $JVLLM_SHARED}, else the first {@code shared/}
 * with a {@code models/} folder found walking up from the working directory.
 */
public final class SharedData {
    private SharedData() {}

    public static Path root() {
        for (String explicit : new String[] {System.getProperty("jvllm.shared"), System.getenv("JVLLM_SHARED")}) {
            if (explicit != null && !explicit.isEmpty() && Files.isDirectory(Path.of(explicit, "models"))) {
                return Path.of(explicit);
            }
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isDirectory(dir.resolve("shared/models"))) {
                return dir.resolve("shared");
            }
        }
        throw new IllegalStateException("shared/ not found: set -Djvllm.shared=PATH or JVLLM_SHARED");
    }

    /** A model folder under shared/models, e.g. "stories260K" or "shapes/smollm2-135m". */
    public static Path model(String name) {
        return root().resolve("models").resolve(name);
    }

    public static Path stories260K() {
        return model("stories260K");
    }

    /** A real tokenizer folder under shared/tokenizers: "qwen3" or "llama3". */
    public static Path tokenizers(String name) {
        return root().resolve("tokenizers").resolve(name);
    }
}
