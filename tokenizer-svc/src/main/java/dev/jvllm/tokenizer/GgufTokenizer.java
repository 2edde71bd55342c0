package dev.jvllm.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jvllm.common.gguf.GgufFile;
import dev.jvllm.common.gguf.GgufFormatException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The tokenizer a GGUF file carries in its {@code tokenizer.ggml.*} metadata, restated as the Hugging Face
 * tokenizer.json that transformers' own converters would write for it, plus the tokenizer_config facts (chat
 * template, special tokens, context length, end-of-generation ids). Two kinds, as llama.cpp names them:
 * <ul>
 *   <li>{@code llama}: SentencePiece BPE (tokens + scores + token types). HF has no score-driven BPE, so the
 *       merges are derived as its LlamaConverter does: a pair (a, b) is a merge when a, b and a+b are all pieces,
 *       ranked by the score of a+b (highest first), ties in piece order. Unknown text falls back to
 *       {@code <0xNN>} byte pieces.</li>
 *   <li>{@code gpt2}: byte-level BPE (tokens + merges); {@code tokenizer.ggml.pre} picks the pre-tokenizer
 *       split regex of the model family.</li>
 * </ul>
 * Metadata that is missing or inconsistent fails with an IllegalArgumentException naming the file and the key.
 */
final class GgufTokenizer {
    private static final Logger log = LoggerFactory.getLogger(GgufTokenizer.class);

    static final String MODEL = "tokenizer.ggml.model", PRE = "tokenizer.ggml.pre", TOKENS = "tokenizer.ggml.tokens",
            SCORES = "tokenizer.ggml.scores", TOKEN_TYPE = "tokenizer.ggml.token_type", MERGES = "tokenizer.ggml.merges",
            BOS = "tokenizer.ggml.bos_token_id", EOS = "tokenizer.ggml.eos_token_id", UNK = "tokenizer.ggml.unknown_token_id",
            PAD = "tokenizer.ggml.padding_token_id", EOT = "tokenizer.ggml.eot_token_id", EOM = "tokenizer.ggml.eom_token_id",
            ADD_BOS = "tokenizer.ggml.add_bos_token", ADD_EOS = "tokenizer.ggml.add_eos_token",
            ADD_SPACE_PREFIX = "tokenizer.ggml.add_space_prefix", CHAT_TEMPLATE = "tokenizer.chat_template";

    /** llama.cpp's token types (llama_token_type). */
    static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;

    // The pre-tokenizer split patterns of the model families, as their tokenizer.json files state them.
    private static final String LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String QWEN2_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** The pre-tokenizer families this converter knows, by the {@code tokenizer.ggml.pre} names llama.cpp gives them. */
    enum PreTokenizer {
        GPT2, LLAMA3, QWEN2, SMOLLM;

        static PreTokenizer of(String pre, Path file) {
            return switch (pre == null ? "default" : pre) {
                case "default", "gpt-2" -> GPT2;
                case "llama-bpe", "llama3", "llama-v3" -> LLAMA3;
                case "qwen2", "deepseek-r1-qwen" -> QWEN2;
                case "smollm" -> SMOLLM;
                default -> {
                    log.warn("{}: unknown pre-tokenizer '{}' ({}); using the GPT-2 default, tokenization may differ from"
                            + " the original model's", file, pre, PRE);
                    yield GPT2;
                }
            };
        }
    }

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    final byte[] tokenizerJson;
    final TokenizerConfig config;

    private GgufTokenizer(byte[] tokenizerJson, TokenizerConfig config) {
        this.tokenizerJson = tokenizerJson;
        this.config = config;
    }

    /** Reads the metadata of {@code file} (never its tensors). */
    static GgufTokenizer read(Path file) {
        Map<String, Object> metadata;
        try {
            metadata = GgufFile.readMetadata(file);
        } catch (GgufFormatException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        return fromMetadata(file, metadata);
    }

    static GgufTokenizer fromMetadata(Path file, Map<String, Object> md) {
        return new Reader(file, md).convert();
    }

    /** One conversion: the file for messages, its metadata, and the vocabulary as read so far. */
    private static final class Reader {
        final Path file;
        final Map<String, Object> md;
        List<String> tokens;
        int[] types;

        Reader(Path file, Map<String, Object> md) {
            this.file = file;
            this.md = md;
        }

        IllegalArgumentException bad(String key, String what) {
            String separator = what.startsWith("[") ? "" : " ";   // "key[3] is ..." vs "key is ..."
            return new IllegalArgumentException(file + ": GGUF tokenizer metadata " + key + separator + what);
        }

        GgufTokenizer convert() {
            if (!(md.get(MODEL) instanceof String model)) {
                throw md.containsKey(MODEL) ? bad(MODEL, "is not a string")
                        : new IllegalArgumentException(file + ": GGUF metadata lacks " + MODEL
                                + " (the file carries no tokenizer; pass --tokenizer DIR)");
            }
            boolean spm = switch (model) {
                case "llama" -> true;
                case "gpt2" -> false;
                default -> throw bad(MODEL, "is '" + model + "': only 'llama' (SentencePiece) and 'gpt2' (BPE) are supported");
            };
            tokens = strings(TOKENS, true);
            if (tokens.isEmpty()) {
                throw bad(TOKENS, "is empty");
            }
            types = tokenTypes();
            Integer bos = tokenId(BOS, spm ? 1 : null), eos = tokenId(EOS, spm ? 2 : null),
                    unk = tokenId(UNK, spm ? 0 : null), pad = tokenId(PAD, null);
            PreTokenizer pre = spm ? null : PreTokenizer.of(string(PRE), file);
            boolean addBos = bool(ADD_BOS, spm || pre == PreTokenizer.LLAMA3);   // llama.cpp's defaults
            boolean addEos = bool(ADD_EOS, false);

            ObjectNode json = NODES.objectNode();
            json.put("version", "1.0");
            json.putNull("truncation");
            json.putNull("padding");
            json.set("added_tokens", addedTokens());
            ObjectNode bpe = spm ? sentencePiece(json, unk) : byteLevel(json, pre);
            json.set("post_processor", postProcessor(spm, addBos ? bos : null, addEos ? eos : null));
            json.set("model", bpe);
            byte[] bytes;
            try {
                bytes = Json.MAPPER.writeValueAsBytes(json);
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            }

            Map<String, Object> special = new LinkedHashMap<>();
            putToken(special, "bos_token", bos);
            putToken(special, "eos_token", eos);
            putToken(special, "unk_token", unk);
            putToken(special, "pad_token", pad);
            Set<Long> eosIds = new LinkedHashSet<>();
            for (Integer id : new Integer[] {eos, tokenId(EOT, null), tokenId(EOM, null)}) {
                if (id != null) {
                    eosIds.add(id.longValue());
                }
            }
            Object template = md.get(CHAT_TEMPLATE);
            if (template != null && !(template instanceof String)) {
                throw bad(CHAT_TEMPLATE, "is not a string");
            }
            TokenizerConfig config = new TokenizerConfig(special, (String) template, contextLength(), List.copyOf(eosIds),
                    bos == null ? null : bos.longValue());
            return new GgufTokenizer(bytes, config);
        }

        // ------------------------------------------------------------ SentencePiece

        ObjectNode sentencePiece(ObjectNode json, Integer unk) {
            double[] scores = scores();
            boolean spacePrefix = bool(ADD_SPACE_PREFIX, true);
            ObjectNode replace = NODES.objectNode().put("type", "Replace");
            replace.putObject("pattern").put("String", " ");
            replace.put("content", "\u2581");
            ObjectNode normalizer;
            if (spacePrefix) {
                normalizer = NODES.objectNode().put("type", "Sequence");
                normalizer.putArray("normalizers").add(NODES.objectNode().put("type", "Prepend").put("prepend", "\u2581"))
                        .add(replace);
            } else {
                normalizer = replace;
            }
            json.set("normalizer", normalizer);
            json.putNull("pre_tokenizer");
            ObjectNode decoder = NODES.objectNode().put("type", "Sequence");
            ObjectNode unspace = NODES.objectNode().put("type", "Replace");
            unspace.putObject("pattern").put("String", "\u2581");
            unspace.put("content", " ");
            ArrayNode decoders = decoder.putArray("decoders").add(unspace)
                    .add(NODES.objectNode().put("type", "ByteFallback")).add(NODES.objectNode().put("type", "Fuse"));
            if (spacePrefix) {
                decoders.add(NODES.objectNode().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0));
            }
            json.set("decoder", decoder);

            ObjectNode bpe = bpeModel(false);
            if (unk != null) {
                bpe.put("unk_token", tokens.get(unk));
            }
            bpe.put("fuse_unk", true).put("byte_fallback", true);
            bpe.set("vocab", vocab());
            ArrayNode merges = bpe.putArray("merges");
            for (int[] m : derivedMerges(scores)) {
                merges.add(NODES.arrayNode().add(tokens.get(m[0])).add(tokens.get(m[1])));
            }
            return bpe;
        }

        /** Pieces that BPE may build: not control, unknown or byte tokens (those are matched or used whole). */
        private boolean mergeable(int id) {
            return types[id] != CONTROL && types[id] != UNKNOWN && types[id] != BYTE;
        }

        /**
         * HF's SentencePiece merges: every split of a piece into two pieces, ordered by the piece's score (highest
         * first), then piece id, then the ids of the two halves.
         */
        List<int[]> derivedMerges(double[] scores) {
            Map<String, Integer> ids = new HashMap<>(tokens.size() * 2);
            for (int i = 0; i < tokens.size(); i++) {
                if (mergeable(i)) {
                    ids.putIfAbsent(tokens.get(i), i);
                }
            }
            List<int[]> merges = new ArrayList<>();   // {left, right, piece}
            for (int piece = 0; piece < tokens.size(); piece++) {
                String p = tokens.get(piece);
                if (!mergeable(piece) || ids.get(p) != piece) {
                    continue;
                }
                for (int at = p.offsetByCodePoints(0, Math.min(1, p.length())); at < p.length(); at = p.offsetByCodePoints(at, 1)) {
                    Integer l = ids.get(p.substring(0, at)), r = ids.get(p.substring(at));
                    if (l != null && r != null) {
                        merges.add(new int[] {l, r, piece});
                    }
                }
            }
            merges.sort(Comparator.<int[]>comparingDouble(m -> -scores[m[2]]).thenComparingInt(m -> m[2])
                    .thenComparingInt(m -> m[0]).thenComparingInt(m -> m[1]));
            return merges;
        }

        // ------------------------------------------------------------ byte-level BPE

        ObjectNode byteLevel(ObjectNode json, PreTokenizer pre) {
            json.set("normalizer", pre == PreTokenizer.QWEN2 ? NODES.objectNode().put("type", "NFC") : NODES.nullNode());
            ObjectNode bytes = NODES.objectNode().put("type", "ByteLevel").put("add_prefix_space", false)
                    .put("trim_offsets", true).put("use_regex", pre == PreTokenizer.GPT2 || pre == PreTokenizer.SMOLLM);
            ObjectNode preTokenizer = switch (pre) {
                case GPT2 -> bytes;
                case SMOLLM -> sequence("pretokenizers",
                        NODES.objectNode().put("type", "Digits").put("individual_digits", true), bytes);
                case LLAMA3, QWEN2 -> {
                    ObjectNode split = NODES.objectNode().put("type", "Split");
                    split.putObject("pattern").put("Regex", pre == PreTokenizer.LLAMA3 ? LLAMA3_SPLIT : QWEN2_SPLIT);
                    split.put("behavior", "Isolated").put("invert", false);
                    yield sequence("pretokenizers", split, bytes);
                }
            };
            json.set("pre_tokenizer", preTokenizer);
            json.set("decoder", NODES.objectNode().put("type", "ByteLevel").put("add_prefix_space", true)
                    .put("trim_offsets", true).put("use_regex", true));

            ObjectNode bpe = bpeModel(pre == PreTokenizer.LLAMA3);   // llama.cpp too takes a whole word in the vocabulary as is
            bpe.put("fuse_unk", false).put("byte_fallback", false);
            bpe.set("vocab", vocab());
            Map<String, Integer> ids = new HashMap<>(tokens.size() * 2);
            for (int i = 0; i < tokens.size(); i++) {
                ids.putIfAbsent(tokens.get(i), i);
            }
            List<String> merges = strings(MERGES, true);
            ArrayNode out = bpe.putArray("merges");
            for (int i = 0; i < merges.size(); i++) {
                String m = merges.get(i);
                int space = m.indexOf(' ', 1);   // a merge is "left right"; a left half may itself be a space
                if (space < 0) {
                    throw bad(MERGES, "[" + i + "] '" + m + "' is not two tokens separated by a space");
                }
                String l = m.substring(0, space), r = m.substring(space + 1);
                for (String part : new String[] {l, r, l + r}) {
                    if (!ids.containsKey(part)) {
                        throw bad(MERGES, "[" + i + "] '" + m + "': '" + part + "' is not in " + TOKENS);
                    }
                }
                out.add(NODES.arrayNode().add(l).add(r));
            }
            return bpe;
        }

        // ------------------------------------------------------------ shared parts

        ObjectNode bpeModel(boolean ignoreMerges) {
            ObjectNode bpe = NODES.objectNode().put("type", "BPE");
            bpe.putNull("dropout");
            bpe.putNull("unk_token");
            bpe.putNull("continuing_subword_prefix");
            bpe.putNull("end_of_word_suffix");
            bpe.put("ignore_merges", ignoreMerges);
            return bpe;
        }

        ObjectNode vocab() {
            ObjectNode vocab = NODES.objectNode();
            for (int i = 0; i < tokens.size(); i++) {
                if (!vocab.has(tokens.get(i))) {
                    vocab.put(tokens.get(i), i);
                }
            }
            return vocab;
        }

        /** Control and unknown tokens are special; user-defined ones are matched whole but decoded as text. */
        ArrayNode addedTokens() {
            ArrayNode added = NODES.arrayNode();
            for (int i = 0; i < tokens.size(); i++) {
                int t = types[i];
                if (t == CONTROL || t == UNKNOWN || t == USER_DEFINED) {
                    if (tokens.get(i).isEmpty()) {
                        continue;   // an empty added token would match everywhere
                    }
                    added.add(NODES.objectNode().put("id", i).put("content", tokens.get(i)).put("single_word", false)
                            .put("lstrip", false).put("rstrip", false).put("normalized", false)
                            .put("special", t != USER_DEFINED));
                }
            }
            return added;
        }

        ObjectNode postProcessor(boolean spm, Integer bos, Integer eos) {
            ObjectNode template = null;
            if (bos != null || eos != null) {
                template = NODES.objectNode().put("type", "TemplateProcessing");
                ObjectNode specials = NODES.objectNode();
                ArrayNode single = template.putArray("single"), pair = template.putArray("pair");
                frame(single, specials, bos, "A", eos, 0);
                frame(pair, specials, bos, "A", eos, 0);
                frame(pair, specials, bos, "B", eos, 1);
                template.set("special_tokens", specials);
            }
            if (spm) {
                return template;
            }
            ObjectNode bytes = NODES.objectNode().put("type", "ByteLevel").put("add_prefix_space", true)
                    .put("trim_offsets", false).put("use_regex", true);
            return template == null ? bytes : sequence("processors", bytes, template);
        }

        /** {@code [bos] $seq [eos]}, as transformers' TemplateProcessing for add_bos_token / add_eos_token. */
        private void frame(ArrayNode into, ObjectNode specials, Integer bos, String seq, Integer eos, int typeId) {
            if (bos != null) {
                addSpecial(into, specials, bos, typeId);
            }
            into.addObject().putObject("Sequence").put("id", seq).put("type_id", typeId);
            if (eos != null) {
                addSpecial(into, specials, eos, typeId);
            }
        }

        private void addSpecial(ArrayNode into, ObjectNode specials, int id, int typeId) {
            String token = tokens.get(id);
            into.addObject().putObject("SpecialToken").put("id", token).put("type_id", typeId);
            ObjectNode s = specials.putObject(token);
            s.put("id", token);
            s.putArray("ids").add(id);
            s.putArray("tokens").add(token);
        }

        private static ObjectNode sequence(String field, ObjectNode... parts) {
            ObjectNode seq = NODES.objectNode().put("type", "Sequence");
            ArrayNode list = seq.putArray(field);
            for (ObjectNode p : parts) {
                list.add(p);
            }
            return seq;
        }

        private void putToken(Map<String, Object> special, String name, Integer id) {
            if (id != null) {
                special.put(name, tokens.get(id));
            }
        }

        // ------------------------------------------------------------ typed metadata

        String string(String key) {
            Object v = md.get(key);
            if (v != null && !(v instanceof String)) {
                throw bad(key, "is not a string");
            }
            return (String) v;
        }

        boolean bool(String key, boolean dflt) {
            Object v = md.get(key);
            if (v == null) {
                return dflt;
            }
            if (v instanceof Boolean b) {
                return b;
            }
            throw bad(key, "is not a boolean");
        }

        List<String> strings(String key, boolean required) {
            Object v = md.get(key);
            if (v == null) {
                if (required) {
                    throw bad(key, "is missing");
                }
                return null;
            }
            if (!(v instanceof List<?> list)) {
                throw bad(key, "is not an array of strings");
            }
            for (Object o : list) {
                if (!(o instanceof String)) {
                    throw bad(key, "is not an array of strings");
                }
            }
            @SuppressWarnings("unchecked")
            List<String> strings = (List<String>) list;
            return strings;
        }

        /** Absent: every token normal (llama.cpp's default), except the {@code <0xNN>} pieces of a SentencePiece vocabulary. */
        int[] tokenTypes() {
            int[] out = new int[tokens.size()];
            Object v = md.get(TOKEN_TYPE);
            if (v == null) {
                for (int i = 0; i < out.length; i++) {
                    out[i] = tokens.get(i).matches("<0x[0-9A-F]{2}>") ? BYTE : NORMAL;
                }
                return out;
            }
            if (!(v instanceof List<?> list)) {
                throw bad(TOKEN_TYPE, "is not an array of integers");
            }
            if (list.size() != out.length) {
                throw bad(TOKEN_TYPE, "has " + list.size() + " entries for " + out.length + " tokens in " + TOKENS);
            }
            for (int i = 0; i < out.length; i++) {
                if (!(list.get(i) instanceof Long l) || l < 0 || l > BYTE) {
                    throw bad(TOKEN_TYPE, "[" + i + "] is " + list.get(i) + ", not a token type (0-6)");
                }
                out[i] = l.intValue();
            }
            return out;
        }

        /** SentencePiece scores; absent: all equal, so merges follow piece order. */
        double[] scores() {
            double[] out = new double[tokens.size()];
            Object v = md.get(SCORES);
            if (v == null) {
                return out;
            }
            if (!(v instanceof List<?> list)) {
                throw bad(SCORES, "is not an array of floats");
            }
            if (list.size() != out.length) {
                throw bad(SCORES, "has " + list.size() + " entries for " + out.length + " tokens in " + TOKENS);
            }
            for (int i = 0; i < out.length; i++) {
                if (!(list.get(i) instanceof Number n)) {
                    throw bad(SCORES, "[" + i + "] is not a number");
                }
                out[i] = n.doubleValue();
            }
            return out;
        }

        /** A token id key; null when absent and without default, or when the default is not in the vocabulary. */
        Integer tokenId(String key, Integer dflt) {
            Object v = md.get(key);
            if (v == null) {
                return dflt != null && dflt < tokens.size() ? dflt : null;
            }
            if (!(v instanceof Long l)) {
                throw bad(key, "is not an integer");
            }
            if (l == -1 || l == 0xFFFFFFFFL) {
                return null;   // llama.cpp's "no such token"
            }
            if (l < 0 || l >= tokens.size()) {
                throw bad(key, "= " + l + " is not a token id (the vocabulary has " + tokens.size() + " tokens)");
            }
            return l.intValue();
        }

        /** {@code <arch>.context_length}, the model's trained context; 0 when the file does not say. */
        long contextLength() {
            if (md.get("general.architecture") instanceof String arch && md.get(arch + ".context_length") instanceof Long n && n > 0) {
                return n;
            }
            return 0;
        }
    }
}
