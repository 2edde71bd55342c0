package dev.jvllm.gateway;

import java.util.List;

/**
 * One token's logprob information, ready for formatting.
 *
 * @param token      the token as text (or "token_id:N")
 * @param logprob    null for the first prompt token, which has none
 * @param top        the most likely alternatives, engine order
 * @param textOffset character offset of this token in the choice's text
 */
record LogprobEntry(int tokenId, String token, Float logprob, List<Top> top, int textOffset) {
    record Top(int tokenId, String token, float logprob) {}
}
