package dev.jvllm.common.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Which files of a repo a resolve needs. Only top-level files are taken: repos often carry duplicate weights in
 * other formats or in subfolders ({@code original/}, {@code onnx/}), which jvllm never reads.
 */
public enum HubFiles {
    /** Config, tokenizer and safetensors weights: everything {@code --model} needs. */
    MODEL,
    /** Config and tokenizer files only, for a separate {@code --tokenizer}. */
    TOKENIZER;

    static final String SAFETENSORS_INDEX = "model.safetensors.index.json";

    /** Small files taken whenever the repo has them. */
    static final List<String> METADATA = List.of(
            "config.json", "generation_config.json",
            "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
            "added_tokens.json", "vocab.json", "merges.txt",
            "chat_template.jinja", "chat_template.json");

    private static final List<String> TOKENIZER_MARKERS = List.of("tokenizer.json", "tokenizer.model", "vocab.json");
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Metadata (and the weight index) present in the repo, in a stable order. */
    List<String> metadataIn(Set<String> repoFiles) {
        List<String> out = new ArrayList<>();
        for (String f : METADATA) if (repoFiles.contains(f)) out.add(f);
        if (this == MODEL && repoFiles.contains(SAFETENSORS_INDEX)) out.add(SAFETENSORS_INDEX);
        return out;
    }

    /**
     * Weight files to fetch: the shards the index lists when there is one ({@code index} non-null), else every
     * top-level {@code *.safetensors}. Empty for TOKENIZER.
     */
    List<String> weightsIn(Set<String> repoFiles, JsonNode index, String repo, String revision) throws HubException {
        if (this != MODEL) return List.of();
        if (index != null) {
            Set<String> shards = shardsOf(index);
            for (String shard : shards) {
                if (!repoFiles.contains(shard)) {
                    throw new HubException(HubException.Reason.HUB_ERROR, repo + " at revision " + revision + ": "
                            + SAFETENSORS_INDEX + " lists " + shard + " but the repo has no such file");
                }
            }
            if (shards.isEmpty()) {
                throw new HubException(HubException.Reason.NO_WEIGHTS, repo + " at revision " + revision
                        + ": " + SAFETENSORS_INDEX + " lists no shards (no safetensors weights)");
            }
            return List.copyOf(shards);
        }
        List<String> weights = repoFiles.stream().filter(f -> !f.contains("/") && f.endsWith(".safetensors")).sorted().toList();
        if (weights.isEmpty()) {
            List<String> other = repoFiles.stream()
                    .filter(f -> f.endsWith(".bin") || f.endsWith(".pt") || f.endsWith(".pth") || f.endsWith(".h5")
                            || f.endsWith(".msgpack") || f.endsWith(".gguf") || f.endsWith(".onnx"))
                    .sorted().limit(5).toList();
            throw new HubException(HubException.Reason.NO_WEIGHTS, repo + " at revision " + revision
                    + " has no safetensors weights" + (other.isEmpty() ? "" : " (it has " + String.join(", ", other)
                    + (other.size() == 5 ? ", ..." : "") + ")") + "; jvllm loads only *.safetensors (or a local .gguf file)");
        }
        return weights;
    }

    static Set<String> shardsOf(JsonNode index) {
        Set<String> shards = new LinkedHashSet<>();
        index.path("weight_map").forEach(v -> shards.add(v.asText()));
        return shards;
    }

    static JsonNode readIndex(Path file) throws IOException {
        return JSON.readTree(file.toFile());
    }

    /** What a snapshot folder lacks for this file set, in words; empty when it is usable. */
    List<String> missingIn(Path snapshot) {
        List<String> missing = new ArrayList<>();
        if (!Files.isDirectory(snapshot)) return List.of("the snapshot folder " + snapshot.getFileName());
        if (!Files.exists(snapshot.resolve("config.json"))) missing.add("config.json");
        if (TOKENIZER_MARKERS.stream().noneMatch(f -> Files.exists(snapshot.resolve(f)))) {
            // A model without its own tokenizer is usable with --tokenizer; only the tokenizer set requires one.
            if (this == TOKENIZER) missing.add("tokenizer.json (or tokenizer.model)");
        }
        if (this == MODEL) {
            Path index = snapshot.resolve(SAFETENSORS_INDEX);
            if (Files.exists(index)) {
                try {
                    for (String shard : shardsOf(readIndex(index))) {
                        if (!Files.exists(snapshot.resolve(shard))) missing.add(shard);
                    }
                } catch (IOException e) {
                    missing.add("a readable " + SAFETENSORS_INDEX);
                }
            } else if (!hasSafetensors(snapshot)) {
                missing.add("*.safetensors weights");
            }
        }
        return missing;
    }

    private static boolean hasSafetensors(Path dir) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "*.safetensors")) {
            for (Path p : s) if (Files.exists(p)) return true;
            return false;
        } catch (IOException e) {
            return false;
        }
    }
}
