package dev.jvllm.worker.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Truncated, mutated and lying GGUF files (counts, string lengths, type tags, dims, offsets, GGML types,
 * metadata values, random bytes): {@link LlamaWeights#loadGguf} either works (a harmless mutation) or fails
 * with a {@link ModelLoadException} naming the file; never another exception, an OutOfMemoryError or a hang.
 */
class GgufFuzzTest {
    private static final Duration HANG_GUARD = Duration.ofSeconds(10); // only to fail instead of hanging
    private static final int HIDDEN = 16, HEADS = 2, KV_HEADS = 1, INTER = 24, VOCAB = 32;

    @TempDir
    Path tmp;

    /** A field of the header / metadata / tensor infos that a mutation may overwrite. */
    private record Field(int pos, int width, String what) {}

    /** Where the sections of a file written by {@link GgufWriter} end, and its patchable fields. */
    private record Layout(int kvEnd, int infoEnd, List<Field> fields) {}

    private static byte[] validModel(Path file) throws IOException {
        Random r = new Random(3);
        int kv = HIDDEN / HEADS * KV_HEADS;
        GgufWriter g = new GgufWriter().meta("general.architecture", "llama").meta("general.alignment", 32)
                .meta("llama.embedding_length", HIDDEN).meta("llama.block_count", 1)
                .meta("llama.feed_forward_length", INTER).meta("llama.attention.head_count", HEADS)
                .meta("llama.attention.head_count_kv", KV_HEADS).meta("llama.context_length", 64)
                .meta("llama.rope.freq_base", 10000f).meta("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        g.tensor("token_embd.weight", 1, values(r, VOCAB * HIDDEN), VOCAB, HIDDEN);
        g.tensor("blk.0.attn_norm.weight", 0, values(r, HIDDEN), HIDDEN);
        g.tensor("blk.0.ffn_norm.weight", 1, values(r, HIDDEN), HIDDEN);
        g.tensor("blk.0.attn_q.weight", 0, values(r, HIDDEN * HIDDEN), HIDDEN, HIDDEN);
        g.tensor("blk.0.attn_k.weight", 1, values(r, kv * HIDDEN), kv, HIDDEN);
        g.tensor("blk.0.attn_v.weight", 0, values(r, kv * HIDDEN), kv, HIDDEN);
        g.tensor("blk.0.attn_output.weight", 0, values(r, HIDDEN * HIDDEN), HIDDEN, HIDDEN);
        g.tensor("blk.0.ffn_gate.weight", 0, values(r, INTER * HIDDEN), INTER, HIDDEN);
        g.tensor("blk.0.ffn_up.weight", 1, values(r, INTER * HIDDEN), INTER, HIDDEN);
        g.tensor("blk.0.ffn_down.weight", 0, values(r, HIDDEN * INTER), HIDDEN, INTER);
        g.tensor("output_norm.weight", 0, values(r, HIDDEN), HIDDEN);
        g.tensor("output.weight", 0, values(r, VOCAB * HIDDEN), VOCAB, HIDDEN);
        g.write(file);
        return Files.readAllBytes(file);
    }

    private static float[] values(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian() * 0.1f;
        }
        return v;
    }

    /** Walks a (valid) file as written by {@link GgufWriter}: string/u32/f32 metadata only. */
    private static Layout layout(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        List<Field> fields = new ArrayList<>(List.of(new Field(0, 4, "magic"), new Field(4, 4, "version"),
                new Field(8, 8, "tensor count"), new Field(16, 8, "metadata count")));
        long tensors = b.getLong(8), kvs = b.getLong(16);
        int pos = 24;
        for (long i = 0; i < kvs; i++) {
            fields.add(new Field(pos, 8, "key length"));
            pos += 8 + (int) b.getLong(pos);
            int type = b.getInt(pos);
            fields.add(new Field(pos, 4, "value type"));
            pos += 4;
            if (type == 8) {
                fields.add(new Field(pos, 8, "string value length"));
                pos += 8 + (int) b.getLong(pos);
            } else {
                fields.add(new Field(pos, 4, "value"));
                pos += 4;
            }
        }
        int kvEnd = pos;
        for (long i = 0; i < tensors; i++) {
            fields.add(new Field(pos, 8, "tensor name length"));
            pos += 8 + (int) b.getLong(pos);
            int nDims = b.getInt(pos);
            fields.add(new Field(pos, 4, "dimension count"));
            pos += 4;
            for (int d = 0; d < nDims; d++, pos += 8) {
                fields.add(new Field(pos, 8, "dimension"));
            }
            fields.add(new Field(pos, 4, "ggml type"));
            fields.add(new Field(pos + 4, 8, "tensor offset"));
            pos += 12;
        }
        return new Layout(kvEnd, pos, fields);
    }

    @Test
    void truncatedAndMutatedFilesLoadOrFailWithAMessageNamingTheFile() throws IOException {
        Path file = tmp.resolve("fuzz.gguf");
        byte[] original = validModel(file);
        assertLoadsOrFailsCleanly(file, "the untouched file", true);
        Layout layout = layout(original);
        Random rnd = new Random(17);
        int failedCleanly = 0;
        for (int iter = 0; iter < 280; iter++) {
            byte[] bytes = original.clone();
            String what;
            switch (iter % 4) {
                case 0 -> { // truncated inside the header, the metadata, the tensor infos or the data
                    int[] bounds = {0, 24, layout.kvEnd(), layout.infoEnd(), original.length};
                    int section = rnd.nextInt(4);
                    int len = bounds[section] + rnd.nextInt(bounds[section + 1] - bounds[section]);
                    bytes = Arrays.copyOf(original, len);
                    what = "truncated to " + len + " of " + original.length + " bytes (section " + section + ")";
                }
                case 1 -> { // a count, length, type tag, value, dimension, ggml type or offset lies
                    Field f = layout.fields().get(rnd.nextInt(layout.fields().size()));
                    ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
                    long old = f.width() == 4 ? b.getInt(f.pos()) : b.getLong(f.pos());
                    long lie = switch (rnd.nextInt(11)) {
                        case 0 -> 0;
                        case 1 -> -1;
                        case 2 -> f.width() == 4 ? Integer.MAX_VALUE : Long.MAX_VALUE;
                        case 3 -> f.width() == 4 ? Integer.MIN_VALUE : Long.MIN_VALUE;
                        case 4 -> old + 1;
                        case 5 -> old - 1;
                        case 6 -> old * 2;
                        case 7 -> 1L << 31;
                        case 8 -> f.width() == 4 ? rnd.nextInt(32) : 1L << 32;
                        case 9 -> rnd.nextInt(1000);
                        default -> rnd.nextLong();
                    };
                    if (f.width() == 4) {
                        b.putInt(f.pos(), (int) lie);
                    } else {
                        b.putLong(f.pos(), lie);
                    }
                    what = f.what() + " at byte " + f.pos() + ": " + old + " -> " + (f.width() == 4 ? (int) lie : lie);
                }
                case 2 -> { // random bytes in the header, metadata and tensor infos
                    int flips = 1 + rnd.nextInt(4);
                    StringBuilder at = new StringBuilder();
                    for (int k = 0; k < flips; k++) {
                        int p = rnd.nextInt(layout.infoEnd());
                        bytes[p] = (byte) rnd.nextInt(256);
                        at.append(' ').append(p);
                    }
                    what = "header bytes changed at" + at;
                }
                default -> { // random bytes anywhere
                    int flips = 1 + rnd.nextInt(8);
                    for (int k = 0; k < flips; k++) {
                        bytes[rnd.nextInt(bytes.length)] = (byte) rnd.nextInt(256);
                    }
                    what = flips + " random bytes changed";
                }
            }
            Files.write(file, bytes);
            if (!assertLoadsOrFailsCleanly(file, what, false)) {
                failedCleanly++;
            }
        }
        Files.write(file, original);
        assertLoadsOrFailsCleanly(file, "the untouched file again", true);
        assertTrue(failedCleanly > 120, "too few rejections to mean anything: " + failedCleanly);
    }

    @Test
    void handMadeLiesFailWithAMessageNamingTheFile() throws IOException {
        Path good = tmp.resolve("good.gguf");
        byte[] original = validModel(good);
        Layout layout = layout(original);
        List<String> cases = new ArrayList<>();
        int[] n = {0};
        // Patch the first field called `what` (or the `index`-th).
        record Patch(String what, int index, long value) {}
        for (Patch p : List.of(
                new Patch("key length", 0, Long.MAX_VALUE), new Patch("key length", 0, 1L << 40),
                new Patch("key length", 0, Integer.MAX_VALUE), new Patch("string value length", 0, -2),
                new Patch("tensor count", 0, Long.MAX_VALUE), new Patch("tensor count", 0, 1L << 40),
                new Patch("tensor count", 0, 100_000), new Patch("metadata count", 0, 1L << 40),
                new Patch("dimension", 0, -1), new Patch("dimension", 0, Long.MIN_VALUE),
                new Patch("dimension", 0, Long.MAX_VALUE), new Patch("dimension", 0, 1L << 62),
                new Patch("dimension", 1, 1L << 40), new Patch("dimension", 1, Long.MAX_VALUE / 2),
                new Patch("dimension count", 0, 5), new Patch("dimension count", 0, -1),
                new Patch("tensor offset", 0, original.length), new Patch("tensor offset", 3, Long.MAX_VALUE - 8),
                new Patch("tensor offset", 3, -32), new Patch("tensor offset", 11, Long.MAX_VALUE),
                new Patch("ggml type", 0, 99), new Patch("ggml type", 0, -1), new Patch("ggml type", 1, 8),
                new Patch("value type", 0, 13), new Patch("value type", 0, 9), new Patch("value type", 2, 5),
                new Patch("value type", 2, 10))) {
            int seen = 0;
            for (Field f : layout.fields()) {
                if (f.what().equals(p.what()) && seen++ == p.index()) {
                    byte[] bytes = original.clone();
                    ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
                    if (f.width() == 4) {
                        b.putInt(f.pos(), (int) p.value());
                    } else {
                        b.putLong(f.pos(), p.value());
                    }
                    Path file = tmp.resolve("lie-" + n[0]++ + ".gguf");
                    Files.write(file, bytes);
                    assertLoadsOrFailsCleanly(file, p.what() + "[" + p.index() + "] = " + p.value(), false);
                    cases.add(p.what());
                    break;
                }
            }
        }
        assertEquals(27, cases.size(), "every patch found its field");

        // Metadata values that lie about the model (the tensors stay those of the valid model).
        Consumer<GgufWriter> tensors = g -> {
            Random r = new Random(3);
            g.tensor("token_embd.weight", 0, values(r, VOCAB * HIDDEN), VOCAB, HIDDEN);
        };
        Object[][] metaLies = {
                {"general.architecture", "gpt2"}, {"general.architecture", ""}, {"general.architecture", 7},
                {"general.alignment", 0}, {"general.alignment", 3}, {"general.alignment", 1 << 30},
                {"llama.attention.head_count", 0}, {"llama.attention.head_count_kv", 0},
                {"llama.attention.head_count", 3}, {"llama.embedding_length", -1}, {"llama.embedding_length", 0},
                {"llama.block_count", Integer.MAX_VALUE}, {"llama.block_count", -1}, {"llama.block_count", 0},
                {"llama.feed_forward_length", -1}, {"llama.context_length", 0}, {"llama.context_length", -1},
                {"llama.rope.dimension_count", -1}, {"llama.attention.head_count", "two"},
        };
        for (Object[] lie : metaLies) {
            GgufWriter g = new GgufWriter().meta("general.architecture", "llama").meta("llama.embedding_length", HIDDEN)
                    .meta("llama.block_count", 1).meta("llama.feed_forward_length", INTER)
                    .meta("llama.attention.head_count", HEADS).meta("llama.attention.head_count_kv", KV_HEADS);
            g.meta((String) lie[0], lie[1]);
            tensors.accept(g);
            Path file = tmp.resolve("meta-" + n[0]++ + ".gguf");
            g.write(file);
            assertLoadsOrFailsCleanly(file, lie[0] + " = " + lie[1], false);
        }

        // Arrays nested a hundred thousand deep (12 bytes a level): a recursive reader must not overflow its stack.
        int depth = 100_000;
        ByteBuffer b = ByteBuffer.allocate(64 + 12 * depth).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0x46554747).putInt(3).putLong(0).putLong(1).putLong(1).put("x".getBytes(StandardCharsets.UTF_8)).putInt(9);
        for (int i = 0; i < depth; i++) {
            b.putInt(9).putLong(1);
        }
        b.putInt(4).putLong(0);
        Path nested = tmp.resolve("nested.gguf");
        Files.write(nested, Arrays.copyOf(b.array(), b.position()));
        assertLoadsOrFailsCleanly(nested, "arrays nested " + depth + " deep", false);

        // Pure noise, with and without a valid magic and version.
        Random rnd = new Random(23);
        for (int i = 0; i < 20; i++) {
            byte[] noise = new byte[8 + rnd.nextInt(4096)];
            rnd.nextBytes(noise);
            if (i % 2 == 0) {
                ByteBuffer.wrap(noise).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 0x46554747).putInt(4, 3);
            }
            Path file = tmp.resolve("noise-" + i + ".gguf");
            Files.write(file, noise);
            assertLoadsOrFailsCleanly(file, noise.length + " random bytes", false);
        }
    }

    /** Loads (and closes) the file: true if it loaded; a failure must be a ModelLoadException naming the file. */
    private static boolean assertLoadsOrFailsCleanly(Path file, String mutation, boolean mustLoad) {
        String name = file.getFileName().toString();
        return assertTimeoutPreemptively(HANG_GUARD, () -> {
            try {
                LlamaWeights.loadGguf(file).close();
                return true;
            } catch (ModelLoadException e) {
                if (mustLoad) {
                    fail(mutation + ": should load, got " + e, e);
                }
                assertTrue(e.getMessage() != null && e.getMessage().contains(name),
                        mutation + ": the message does not name the file: " + e.getMessage());
                return false;
            } catch (Throwable t) {
                fail(mutation + ": expected a ModelLoadException, got " + t, t);
                return false;
            }
        }, () -> "loading hung after: " + mutation);
    }
}
