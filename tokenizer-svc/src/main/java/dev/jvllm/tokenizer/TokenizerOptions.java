package dev.jvllm.tokenizer;

import java.nio.file.Path;

/**
 * How to load the tokenizer service.
 *
 * @param modelDir     model directory in Hugging Face layout (tokenizer_config.json, generation_config.json)
 * @param tokenizerDir directory holding tokenizer.json (and its tokenizer_config.json); null = {@code modelDir}
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

    /** Where tokenizer.json and tokenizer_config.json are read from. */
    public Path effectiveTokenizerDir() {
        return tokenizerDir != null ? tokenizerDir : modelDir;
    }
}
