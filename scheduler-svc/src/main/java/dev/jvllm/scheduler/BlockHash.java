package dev.jvllm.scheduler;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Identity of a full KV block's contents: 128 bits of SHA-256 chained over the parent block's hash and
 * this block's token ids. Chaining makes a block's identity cover the whole prefix before it, so a hit on
 * block i implies hits on blocks 0..i-1. 128 bits keep accidental collisions (which would silently feed
 * a request someone else's KV) out of reach.
 */
record BlockHash(long hi, long lo) {

    /** Hashes one full block. {@code extra} (model name + cache salt) only goes into the first block. */
    static BlockHash of(MessageDigest sha256, BlockHash parent, int[] tokens, int from, int to, String extra) {
        sha256.reset();
        ByteBuffer buf = ByteBuffer.allocate(16 + 4 * (to - from));
        if (parent != null) buf.putLong(parent.hi).putLong(parent.lo);
        else buf.putLong(0L).putLong(0L);
        for (int i = from; i < to; i++) buf.putInt(tokens[i]);
        sha256.update(buf.array(), 0, buf.position());
        if (parent == null && extra != null && !extra.isEmpty()) {
            sha256.update((byte) 0x1f);
            sha256.update(extra.getBytes(StandardCharsets.UTF_8));
        }
        ByteBuffer d = ByteBuffer.wrap(sha256.digest());
        return new BlockHash(d.getLong(), d.getLong());
    }

    static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by the JDK", e);
        }
    }
}
