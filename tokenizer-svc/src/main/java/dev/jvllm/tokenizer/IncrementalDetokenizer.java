package dev.jvllm.tokenizer;

import java.util.Arrays;

/**
 * Streaming detokenizer in the style of vLLM's {@code detokenize_incrementally} and HF's {@code DecodeStream}:
 * each step decodes only a short window of ids twice, {@code [prefixOffset, readOffset)} (text already
 * emitted) and {@code [prefixOffset, end)}, and emits the difference once it no longer ends in U+FFFD (an
 * incomplete multi-byte character). Starting the window inside the prompt makes SentencePiece's leading
 * space and byte-level characters decode exactly as they do in the full text.
 */
final class IncrementalDetokenizer {
    /** How many prompt tokens of context the first window keeps (vLLM uses the same). */
    static final int INITIAL_CONTEXT = 5;
    private static final char REPLACEMENT = '\uFFFD';
    /** A UTF-8 character is at most 4 bytes, so at most 4 byte tokens. */
    private static final int MAX_CHAR_TOKENS = 4;

    private final HfTokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private int[] ids;
    private int size;
    private int prefixOffset;
    private int readOffset;
    private String prefixText;

    IncrementalDetokenizer(HfTokenizer tokenizer, int[] promptIds, boolean skipSpecialTokens) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
        this.ids = Arrays.copyOf(promptIds, Math.max(16, promptIds.length * 2));
        this.size = promptIds.length;
        this.readOffset = size;
        this.prefixOffset = Math.max(0, size - INITIAL_CONTEXT);
        if (skipSpecialTokens) {
            // A window of only skipped tokens would lose the leading space of the next word.
            while (prefixOffset > 0 && onlySpecial(prefixOffset, readOffset)) {
                prefixOffset--;
            }
        }
        this.prefixText = alignWindowStart();
    }

    /**
     * Moves the window start back off a continuation byte: a window opening in the middle of a character
     * decodes as U+FFFD, and SentencePiece's ByteFallback then rejects the whole run of byte tokens after it.
     */
    private String alignWindowStart() {
        String text = tokenizer.decode(ids, prefixOffset, readOffset, skipSpecialTokens);
        for (int steps = 0; steps < MAX_CHAR_TOKENS && prefixOffset > 0 && !text.isEmpty()
                && text.charAt(0) == REPLACEMENT; steps++) {
            prefixOffset--;
            text = tokenizer.decode(ids, prefixOffset, readOffset, skipSpecialTokens);
        }
        return text;
    }

    private boolean onlySpecial(int from, int to) {
        for (int i = from; i < to; i++) {
            if (!tokenizer.isSpecial(ids[i])) {
                return false;
            }
        }
        return true;
    }

    /**
     * Appends generated ids and returns the text that became final. With {@code last}, also returns
     * whatever was held back (an incomplete character decodes as U+FFFD, as in the full decode).
     */
    String append(int[] newIds, boolean last) {
        if (size + newIds.length > ids.length) {
            ids = Arrays.copyOf(ids, Math.max(ids.length * 2, size + newIds.length));
        }
        System.arraycopy(newIds, 0, ids, size, newIds.length);
        size += newIds.length;
        if (size == readOffset) {
            return "";
        }
        String newText = tokenizer.decode(ids, prefixOffset, size, skipSpecialTokens);
        boolean complete = newText.isEmpty() || newText.charAt(newText.length() - 1) != REPLACEMENT;
        if (newText.length() > prefixText.length() && (complete || last)) {
            String delta = newText.startsWith(prefixText) ? newText.substring(prefixText.length())
                    : newText.substring(commonPrefix(prefixText, newText));
            prefixOffset = readOffset;
            readOffset = size;
            prefixText = alignWindowStart();
            return delta;
        }
        return "";
    }

    private static int commonPrefix(String a, String b) {
        int n = Math.min(a.length(), b.length());
        int i = 0;
        while (i < n && a.charAt(i) == b.charAt(i)) {
            i++;
        }
        return i;
    }
}
