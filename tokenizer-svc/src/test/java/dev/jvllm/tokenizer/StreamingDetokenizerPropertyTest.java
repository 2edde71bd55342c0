package dev.jvllm.tokenizer;

import dev.jvllm.common.testing.SharedData;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * For random text with emoji, CJK, accents and whitespace runs: streaming the ids (one at a time or in random
 * chunks, after a prompt prefix) yields deltas whose concatenation is the full decode minus the prompt's
 * decode, and no delta ever carries U+FFFD (split characters arrive whole).
 */
class StreamingDetokenizerPropertyTest {
    private static final String[] PIECES = {"the", " cat", " sat", "Hello", ",", ".", "!", " ", "  ", "   ", "\n",
            "\n\n", "\t", "é", "ü", "ñ", "café", " naïve", "中", "文字", "日本語", "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷",
            "𠀀", "∑", "→", "ß", "Ελληνικά", "русский", "العربية", "हिन्दी", "1234", " 3.14", "<", "/>", "ok",
            "<|im_end|>", "<|eot_id|>"};

    private static HfTokenizer qwen3;
    private static HfTokenizer llama3;
    private static HfTokenizer stories;

    @BeforeAll
    static void load() {
        qwen3 = HfTokenizer.load(SharedData.tokenizers("qwen3").resolve("tokenizer.json"));
        llama3 = HfTokenizer.load(SharedData.tokenizers("llama3").resolve("tokenizer.json"));
        stories = HfTokenizer.load(SharedData.stories260K().resolve("tokenizer.json"));
    }

    @AfterAll
    static void close() {
        qwen3.close();
        llama3.close();
        stories.close();
    }

    private static String randomText(Random rnd) {
        StringBuilder sb = new StringBuilder();
        int n = 1 + rnd.nextInt(25);
        for (int i = 0; i < n; i++) {
            sb.append(PIECES[rnd.nextInt(PIECES.length)]);
        }
        return sb.toString();
    }

    @Test
    void qwen3() {
        check(qwen3, new Random(1), 60);
    }

    @Test
    void llama3() {
        check(llama3, new Random(2), 60);
    }

    @Test
    void sentencePieceWithByteFallback() {
        check(stories, new Random(3), 40);
    }

    private static void check(HfTokenizer tok, Random rnd, int strings) {
        int splitChars = 0;
        for (int s = 0; s < strings; s++) {
            String text = randomText(rnd);
            int[] ids = tok.encode(text, false).ids();
            boolean skip = s % 2 == 0;
            String full = tok.decode(ids, skip);
            assertFalse(full.contains("\uFFFD"), text);
            for (int k : new int[] {0, rnd.nextInt(ids.length + 1)}) {
                String promptText = tok.decode(ids, 0, k, skip);
                if (promptText.endsWith("\uFFFD") || !full.startsWith(promptText)) {
                    continue; // the prompt itself ends inside a character: no clean "minus"
                }
                String expected = full.substring(promptText.length());
                int[] prompt = Arrays.copyOf(ids, k);
                int[] rest = Arrays.copyOfRange(ids, k, ids.length);
                List<String> oneByOne = stream(tok, prompt, rest, 1, rnd, skip);
                assertEquals(expected, String.join("", oneByOne), "one id at a time: " + text);
                List<String> chunked = stream(tok, prompt, rest, 0, rnd, skip);
                assertEquals(expected, String.join("", chunked), "random chunks: " + text);
                for (String d : oneByOne) {
                    assertFalse(d.contains("\uFFFD"), "delta with U+FFFD for " + text);
                }
                for (String d : chunked) {
                    assertFalse(d.contains("\uFFFD"), "delta with U+FFFD for " + text);
                }
                splitChars += (int) oneByOne.stream().filter(String::isEmpty).count();
            }
        }
        assertTrue(splitChars > 0, "the corpus should exercise characters split across tokens");
    }

    /**
     * Models can emit any id sequence, including invalid UTF-8: with byte-level BPE (whose lossy UTF-8 decoding
     * is local) the deltas must still add up to the full text. SentencePiece's ByteFallback is not local (one
     * invalid byte turns its whole run of byte tokens into U+FFFD, retroactively), so no streamer can match it there.
     */
    @Test
    void arbitraryIdSequencesStillAddUp() {
        Random rnd = new Random(4);
        for (HfTokenizer tok : new HfTokenizer[] {qwen3, llama3}) {
            for (int s = 0; s < 40; s++) {
                int[] ids = new int[1 + rnd.nextInt(30)];
                for (int i = 0; i < ids.length; i++) {
                    // mostly single-byte tokens (ids below 256 are single bytes in byte-level BPE), some words
                    ids[i] = rnd.nextInt(4) == 0 ? rnd.nextInt(Math.min(tok.vocabSize(), 20000)) : 3 + rnd.nextInt(253);
                }
                // a one-token prompt, unless it is itself a partial character (then "minus the prompt" is undefined)
                String first = tok.decode(ids, 0, 1, true);
                int k = first.endsWith("\uFFFD") || !tok.decode(ids, true).startsWith(first) ? 0 : 1;
                int[] rest = Arrays.copyOfRange(ids, k, ids.length);
                String expected = tok.decode(ids, true).substring(tok.decode(ids, 0, k, true).length());
                assertEquals(expected, String.join("", stream(tok, Arrays.copyOf(ids, k), rest, 1, rnd, true)),
                        Arrays.toString(ids));
            }
        }
    }

    /** chunk 0 = random chunk sizes 1..4. */
    private static List<String> stream(HfTokenizer tok, int[] prompt, int[] rest, int chunk, Random rnd,
                                       boolean skipSpecialTokens) {
        IncrementalDetokenizer d = new IncrementalDetokenizer(tok, prompt, skipSpecialTokens);
        List<String> deltas = new ArrayList<>();
        int i = 0;
        while (i < rest.length) {
            int n = Math.min(rest.length - i, chunk > 0 ? chunk : 1 + rnd.nextInt(4));
            deltas.add(d.append(Arrays.copyOfRange(rest, i, i + n), i + n == rest.length));
            i += n;
        }
        return deltas;
    }
}
