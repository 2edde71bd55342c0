package dev.jvllm.common.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** What {@code GET /api/models/{id}/revision/{rev}?blobs=true} says about one revision of a repo. */
record RepoInfo(String commit, List<Sibling> siblings) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * One file of the repo. {@code size} is -1 and {@code etag} null when the endpoint did not send blob details;
     * the resolver then asks the file's own headers.
     */
    record Sibling(String name, long size, String etag, boolean lfs) {}

    static RepoInfo parse(byte[] body) throws IOException {
        JsonNode root = JSON.readTree(body);
        String sha = root.path("sha").asText(null);
        List<Sibling> siblings = new ArrayList<>();
        for (JsonNode s : root.path("siblings")) {
            String name = s.path("rfilename").asText(null);
            if (name == null) continue;
            JsonNode lfs = s.path("lfs");
            if (lfs.isObject() && lfs.hasNonNull("sha256")) {
                long size = lfs.path("size").asLong(s.path("size").asLong(-1));
                siblings.add(new Sibling(name, size, lfs.get("sha256").asText(), true));
            } else {
                long size = s.hasNonNull("size") ? s.get("size").asLong() : -1;
                siblings.add(new Sibling(name, size, s.hasNonNull("blobId") ? s.get("blobId").asText() : null, false));
            }
        }
        return new RepoInfo(sha, List.copyOf(siblings));
    }
}
