package dev.jvllm.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import ai.djl.huggingface.tokenizers.jni.TokenizersLibrary;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * A Hugging Face {@code tokenizer.json} run by the real Rust tokenizers library (through DJL's JNI binding),
 * plus the id to token-string table read from the same file (the binding does not expose it).
 * Never truncates or pads: a prompt longer than any limit is the scheduler's business, not ours.
 */
final class HfTokenizer implements AutoCloseable {
    static {
        // DJL extracts its bundled native library into a cache dir and, unless offline, may probe the network
        // (CUDA flavour downloads, telemetry). Keep it offline and out of $HOME unless the user said otherwise.
        setDefault("ai.djl.offline", "true");
        setDefault("OPT_OUT_TRACKING", "true");
        if (System.getenv("ENGINE_CACHE_DIR") == null && System.getenv("DJL_CACHE_DIR") == null) {
            setDefault("ENGINE_CACHE_DIR",
                    Path.of(System.getProperty("java.io.tmpdir"), "jvllm-djl-" + System.getProperty("user.name"))
                            .toString());
        }
    }

    private static void setDefault(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }

    private final HuggingFaceTokenizer tokenizer;
    private final String[] idToToken;
    private final boolean[] special;

    private HfTokenizer(HuggingFaceTokenizer tokenizer, String[] idToToken, boolean[] special) {
        this.tokenizer = tokenizer;
        this.idToToken = idToToken;
        this.special = special;
    }

    static HfTokenizer load(Path tokenizerJson) {
        if (!Files.isRegularFile(tokenizerJson)) {
            throw new IllegalArgumentException("tokenizer file not found: " + tokenizerJson);
        }
        return load(() -> Files.newInputStream(tokenizerJson), "tokenizer file " + tokenizerJson);
    }

    /** A tokenizer.json held in memory (converted from another format); {@code source} names it in errors. */
    static HfTokenizer load(byte[] tokenizerJson, String source) {
        return load(() -> new ByteArrayInputStream(tokenizerJson), source);
    }

    private interface JsonSource {
        InputStream open() throws IOException;
    }

    private static HfTokenizer load(JsonSource json, String source) {
        Map<Integer, String> vocab = new HashMap<>();
        Map<Integer, Boolean> specials = new HashMap<>();
        // The id table and the native tokenizer both parse the (possibly 10+ MB) file: do it side by side.
        CompletableFuture<Void> table = CompletableFuture.runAsync(() -> {
            try {
                readVocabulary(json, vocab, specials);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        HuggingFaceTokenizer tok;
        Map<String, String> options = Map.of("addSpecialTokens", "true", "truncation", "false", "padding", "false");
        try {
            try (InputStream in = json.open()) {
                tok = HuggingFaceTokenizer.newInstance(in, options);
            }
        } catch (IOException | RuntimeException e) {
            table.exceptionally(ignored -> null).join();
            throw new IllegalArgumentException("cannot load " + source + ": " + e.getMessage(), e);
        }
        try {
            table.join();
        } catch (CompletionException e) {
            tok.close();
            Throwable cause = e.getCause() instanceof UncheckedIOException u ? u.getCause() : e.getCause();
            throw new IllegalArgumentException("cannot read " + source + ": " + cause.getMessage(), e);
        }
        if (vocab.isEmpty()) {
            tok.close();
            throw new IllegalArgumentException(source + " has no vocabulary");
        }
        int size = vocab.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        String[] idToToken = new String[size];
        boolean[] special = new boolean[size];
        vocab.forEach((id, token) -> idToToken[id] = token);
        specials.forEach((id, s) -> special[id] = s);
        return new HfTokenizer(tok, idToToken, special);
    }

    /** Streams tokenizer.json for model.vocab (map or Unigram list) and added_tokens, skipping the merges. */
    private static void readVocabulary(JsonSource file, Map<Integer, String> vocab, Map<Integer, Boolean> specials)
            throws IOException {
        try (InputStream in = file.open(); JsonParser p = new JsonFactory().createParser(in)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException("not a JSON object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                p.nextToken();
                if (field.equals("added_tokens") && p.currentToken() == JsonToken.START_ARRAY) {
                    while (p.nextToken() == JsonToken.START_OBJECT) {
                        Map<?, ?> t = Json.MAPPER.readValue(p, Map.class);
                        int id = ((Number) t.get("id")).intValue();
                        vocab.put(id, (String) t.get("content"));
                        specials.put(id, Boolean.TRUE.equals(t.get("special")));
                    }
                } else if (field.equals("model") && p.currentToken() == JsonToken.START_OBJECT) {
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String mf = p.currentName();
                        JsonToken v = p.nextToken();
                        if (mf.equals("vocab") && v == JsonToken.START_OBJECT) {
                            while (p.nextToken() == JsonToken.FIELD_NAME) {
                                String token = p.currentName();
                                p.nextToken();
                                vocab.putIfAbsent(p.getIntValue(), token);
                            }
                        } else if (mf.equals("vocab") && v == JsonToken.START_ARRAY) {
                            int id = 0;
                            while (p.nextToken() == JsonToken.START_ARRAY) {
                                p.nextToken();
                                vocab.putIfAbsent(id++, p.getText());
                                p.skipChildren();
                                while (p.nextToken() != JsonToken.END_ARRAY) {
                                    p.skipChildren();
                                }
                            }
                        } else {
                            p.skipChildren();
                        }
                    }
                } else {
                    p.skipChildren();
                }
            }
        }
    }

    /** Number of ids (base vocabulary plus added tokens), i.e. Python's {@code len(tokenizer)}. */
    int vocabSize() {
        return idToToken.length;
    }

    boolean isValidId(long id) {
        return id >= 0 && id < idToToken.length && idToToken[(int) id] != null;
    }

    boolean isSpecial(int id) {
        return special[id];
    }

    /** The vocabulary string of {@code id} (e.g. "Ġthe" for byte-level BPE), or null for an unused id. */
    String idToToken(int id) {
        return id >= 0 && id < idToToken.length ? idToToken[id] : null;
    }

    /** Id of an exact vocabulary or added-token string, or -1. */
    int tokenToId(String token) {
        if (token == null) {
            return -1;
        }
        for (int i = 0; i < idToToken.length; i++) {
            if (token.equals(idToToken[i])) {
                return i;
            }
        }
        return -1;
    }

    record Encoded(int[] ids, int[] offsets) {}

    /**
     * Encodes {@code text}; offsets are the start of each token in {@code text} in Unicode code points (as the
     * Rust library reports them, clamped to the text). Reads only ids and spans from the native encoding:
     * {@link HuggingFaceTokenizer#encode} also copies out token strings, type ids, masks and word ids (eight
     * more native calls and a String per token) that nothing here uses.
     */
    Encoded encode(String text, boolean addSpecialTokens) {
        long encoding = TokenizersLibrary.LIB.encode(tokenizer.getHandle(), text, addSpecialTokens);
        long[] ids;
        CharSpan[] spans;
        try {
            ids = TokenizersLibrary.LIB.getTokenIds(encoding);
            spans = TokenizersLibrary.LIB.getTokenCharSpans(encoding);
        } finally {
            TokenizersLibrary.LIB.deleteEncoding(encoding);
        }
        int[] out = new int[ids.length];
        int[] offsets = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
            CharSpan span = spans != null && i < spans.length ? spans[i] : null;
            offsets[i] = span == null ? 0 : Math.min(Math.max(span.getStart(), 0), text.length());
        }
        return new Encoded(out, offsets);
    }

    String decode(int[] ids, int from, int to, boolean skipSpecialTokens) {
        if (from >= to) {
            return "";
        }
        long[] window = new long[to - from];
        for (int i = from; i < to; i++) {
            window[i - from] = ids[i];
        }
        return tokenizer.decode(window, skipSpecialTokens);
    }

    String decode(int[] ids, boolean skipSpecialTokens) {
        return decode(ids, 0, ids.length, skipSpecialTokens);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
