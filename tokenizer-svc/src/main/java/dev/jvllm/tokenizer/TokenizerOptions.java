package dev.jvllm.tokenizer;

import java.nio.file.Path;

/**
 * How to load the tokenizer service.
 *
 * @param modelDir     model directory in Hugging Face layout (tokenizer_config.json, generation_config.json), or a
 *                     {@code .gguf} file, whose metadata carries the tokenizer and chat template
 * @param tokenizerDir directory holding tokenizer.json (and its tokenizer_config.json), or a {@code .gguf} file;
 *                     null = {@code modelDir}
 * @param chatTemplate null = the model's template; otherwise a path to a template file, or the template itself
 *                     (vLLM's {@code --chat-template})
 */
public record TokenizerOptions(Path modelDir, Path tokenizerDir, String chatTemplate) {
    public TokenizerOptions {
        if (modelDir == null && tokenizerDir == null) {
            throw new IllegalArgumentException("modelDir or tokenizerDir is required");
        }
    }

    public static TokenizerOptions of(Path modelDir) {
        return new TokenizerOptions(modelDir, null, null);
    }

    /** A single-file GGUF model (llama.cpp's format) rather than a directory. */
    public static boolean isGguf(Path path) {
        return path != null && path.getFileName() != null && path.getFileName().toString().endsWith(".gguf")
                && !java.nio.file.Files.isDirectory(path);
    }

    /** Where tokenizer.json and tokenizer_config.json (or the GGUF file's tokenizer metadata) are read from. */
    public Path effectiveTokenizerDir() {
        return tokenizerDir != null ? tokenizerDir : modelDir;
    }
}
