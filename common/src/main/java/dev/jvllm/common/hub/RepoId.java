package dev.jvllm.common.hub;

import java.util.regex.Pattern;

/** A hub model id, {@code org/name} (or a bare legacy {@code name}). */
record RepoId(String id) {
    private static final Pattern VALID = Pattern.compile("(?:[A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*");

    static boolean isValid(String id) {
        return id != null && VALID.matcher(id).matches() && !id.contains("..") && !id.contains("--") && !id.endsWith(".");
    }

    static RepoId parse(String id) throws HubException {
        if (!isValid(id)) {
            throw new HubException(HubException.Reason.INVALID_MODEL, "'" + id
                    + "' is neither an existing local directory or .gguf file nor a Hugging Face model id like org/name");
        }
        return new RepoId(id);
    }

    /** The folder name the hub cache uses: {@code models--org--name}. */
    String cacheFolderName() {
        return "models--" + id.replace("/", "--");
    }

    @Override
    public String toString() {
        return id;
    }
}
