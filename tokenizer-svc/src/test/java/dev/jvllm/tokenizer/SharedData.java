package dev.jvllm.tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finds the read-only shared/ folder (models, tokenizers) beside the checkout. */
final class SharedData {
    private SharedData() {}

    static Path root() {
        String explicit = System.getProperty("jvllm.shared", System.getenv("JVLLM_SHARED"));
        if (explicit != null && !explicit.isEmpty()) {
            return Path.of(explicit);
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            for (Path candidate : new Path[] {p.resolve("shared"), p.resolveSibling("shared")}) {
                if (candidate != null && Files.isDirectory(candidate.resolve("models"))) {
                    return candidate;
                }
            }
        }
        throw new IllegalStateException("shared/ not found: set -Djvllm.shared=PATH or JVLLM_SHARED");
    }

    static Path stories260K() {
        return root().resolve("models/stories260K");
    }

    static Path tokenizers(String name) {
        return root().resolve("tokenizers").resolve(name);
    }
}
