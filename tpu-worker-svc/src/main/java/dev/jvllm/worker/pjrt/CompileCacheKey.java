package dev.jvllm.worker.pjrt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;

/**
 * What identifies a compiled executable: the model (config.json canonicalized: keys sorted, whitespace dropped, so
 * formatting changes don't miss the cache), the bucket and KV layout, the plugin (platform name and version: serialized
 * executables only load in the same build) and our own version (a different emitter emits a different program).
 */
public record CompileCacheKey(String canonicalModelConfig, BucketPlanner.Bucket bucket, int blockSize, int numBlocks,
                              String platformName, String platformVersion, String jvllmVersion) {

    private static final ObjectMapper JSON = new ObjectMapper();

    public static CompileCacheKey of(String modelConfigJson, BucketPlanner.Bucket bucket, int blockSize, int numBlocks,
                                     String platformName, String platformVersion, String jvllmVersion) {
        return new CompileCacheKey(canonicalJson(modelConfigJson), bucket, blockSize, numBlocks, platformName, platformVersion, jvllmVersion);
    }

    /** Compact JSON with object keys sorted recursively. */
    public static String canonicalJson(String json) {
        try {
            return JSON.writeValueAsString(sorted(JSON.readTree(json)));
        } catch (IOException e) {
            throw new UncheckedIOException("model config is not valid JSON", e);
        }
    }

    private static JsonNode sorted(JsonNode n) {
        if (n.isObject()) {
            Map<String, JsonNode> m = new TreeMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                m.put(e.getKey(), sorted(e.getValue()));
            }
            ObjectNode o = JSON.createObjectNode();
            m.forEach(o::set);
            return o;
        }
        if (n.isArray()) {
            ArrayNode a = JSON.createArrayNode();
            n.forEach(x -> a.add(sorted(x)));
            return a;
        }
        return n;
    }

    /** Hex SHA-256 over every component, each length-prefixed so no two keys concatenate alike. */
    public String hash() {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (String part : new String[] {canonicalModelConfig, bucket.id(), "block_size=" + blockSize, "num_blocks=" + numBlocks,
                    platformName, platformVersion, jvllmVersion}) {
                byte[] b = part.getBytes(StandardCharsets.UTF_8);
                md.update(Integer.toString(b.length).getBytes(StandardCharsets.UTF_8));
                md.update((byte) ':');
                md.update(b);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** File name in the cache: readable prefix for humans, hash for identity. */
    public String fileName() {
        return bucket.id() + "-" + hash().substring(0, 32) + ".pjrt";
    }
}
