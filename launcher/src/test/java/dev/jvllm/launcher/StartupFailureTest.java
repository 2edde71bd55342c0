package dev.jvllm.launcher;

import dev.jvllm.common.testing.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A model directory with a missing or corrupt file fails at startup with a message naming the file. */
class StartupFailureTest {

    static Path copyOfStories(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(SharedData.stories260K())) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        return dir;
    }

    static String startupError(Path model) {
        RuntimeException e = assertThrows(RuntimeException.class, () -> Deployment.start(ServeCommand.parse(
                "--model", model.toString(), "--port", "0", "--host", "127.0.0.1", "--kv-cache-space", "0.01")).close());
        StringBuilder all = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            all.append(t.getMessage()).append(" | ");
        }
        return all.toString();
    }

    @Test
    void missingWeights(@TempDir Path dir) throws IOException {
        Files.delete(copyOfStories(dir).resolve("model.safetensors"));
        String msg = startupError(dir);
        assertTrue(msg.contains("model.safetensors"), msg);
    }

    @Test
    void corruptConfig(@TempDir Path dir) throws IOException {
        Files.writeString(copyOfStories(dir).resolve("config.json"), "{\"model_type\": \"llama\", ");
        String msg = startupError(dir);
        assertTrue(msg.contains("config.json"), msg);
    }

    @Test
    void truncatedWeights(@TempDir Path dir) throws IOException {
        Path weights = copyOfStories(dir).resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(weights);
        Files.write(weights, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        String msg = startupError(dir);
        assertTrue(msg.contains("model.safetensors"), msg);
    }

    @Test
    void corruptTokenizer(@TempDir Path dir) throws IOException {
        Files.writeString(copyOfStories(dir).resolve("tokenizer.json"), "{\"version\": ");
        String msg = startupError(dir);
        assertTrue(msg.contains("tokenizer.json"), msg);
    }
}
