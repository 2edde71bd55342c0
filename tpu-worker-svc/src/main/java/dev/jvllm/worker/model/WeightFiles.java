package dev.jvllm.worker.model;

import com.fasterxml.jackson.databind.JsonNode;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * All tensors of a model directory: {@code model.safetensors}, or the shards listed in
 * {@code model.safetensors.index.json}. Files stay mapped for the lifetime of {@code arena}.
 */
public final class WeightFiles {
    private final Path modelDir;
    private Path source;
    private final Map<String, SafetensorsFile.StoredTensor> tensors = new HashMap<>();
    /** For {@code --load-format dummy}: tensors made on first request instead of read from files. */
    private DummyTensors dummy;

    private WeightFiles(Path modelDir) {
        this.modelDir = modelDir;
    }

    public static WeightFiles open(Path modelDir, Arena arena) {
        WeightFiles files = new WeightFiles(modelDir);
        Path index = modelDir.resolve("model.safetensors.index.json");
        Path single = modelDir.resolve("model.safetensors");
        if (Files.isRegularFile(index)) {
            files.source = index;
            JsonNode weightMap = ModelConfig.readJson(index).get("weight_map");
            if (weightMap == null || !weightMap.isObject()) {
                throw new ModelLoadException(index + ": missing 'weight_map' object");
            }
            Map<String, SafetensorsFile> shards = new HashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = weightMap.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String shardName = e.getValue().asText();
                SafetensorsFile shard = shards.computeIfAbsent(shardName,
                        n -> SafetensorsFile.open(modelDir.resolve(n), arena));
                SafetensorsFile.StoredTensor t = shard.tensors().get(e.getKey());
                if (t == null) {
                    throw new ModelLoadException(shard.path() + ": tensor '" + e.getKey()
                            + "' listed in " + index.getFileName() + " is missing from the shard");
                }
                files.tensors.put(e.getKey(), t);
            }
        } else if (Files.isRegularFile(single)) {
            files.source = single;
            files.tensors.putAll(SafetensorsFile.open(single, arena).tensors());
        } else {
            throw new ModelLoadException(single + ": file not found (nor model.safetensors.index.json)");
        }
        return files;
    }

    /**
     * Random weights for the model described by {@code config} ({@code --load-format dummy}, as vLLM):
     * every tensor the loader asks for is allocated in {@code arena} in {@code dtype} and filled with
     * seeded uniform noise scaled like a trained model's (linear weights +-sqrt(3/fan_in), norms near 1),
     * so activations stay finite and benchmarks run the real kernels on realistic shapes.
     */
    public static WeightFiles dummy(Path modelDir, ModelConfig config, SafetensorsFile.DType dtype, long seed, Arena arena) {
        WeightFiles files = new WeightFiles(modelDir);
        files.source = modelDir.resolve("config.json");
        files.dummy = new DummyTensors(config, dtype, seed, arena);
        return files;
    }

    public boolean has(String name) {
        return dummy != null ? dummy.has(name) : tensors.containsKey(name);
    }

    /** The tensor with this name, checked against the expected shape. */
    public SafetensorsFile.StoredTensor get(String name, long... expectedShape) {
        if (dummy != null && !tensors.containsKey(name) && dummy.has(name)) {
            tensors.put(name, dummy.make(name, source, expectedShape));
        }
        SafetensorsFile.StoredTensor t = tensors.get(name);
        if (t == null) {
            throw new ModelLoadException(source + ": missing tensor '" + name + "'");
        }
        if (!java.util.Arrays.equals(t.shape(), expectedShape)) {
            throw new ModelLoadException(t.file() + ": tensor '" + name + "' has shape "
                    + java.util.Arrays.toString(t.shape()) + ", expected " + java.util.Arrays.toString(expectedShape));
        }
        return t;
    }
}
