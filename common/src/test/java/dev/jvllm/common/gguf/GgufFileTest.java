package dev.jvllm.common.gguf;

import dev.jvllm.common.testing.GgufWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every metadata value type round-trips through {@link GgufWriter} and {@link GgufFile}. */
class GgufFileTest {
    @TempDir
    Path tmp;

    @Test
    void metadataOfEveryTypeAndTensorsReadBack() throws Exception {
        Path file = tmp.resolve("m.gguf");
        new GgufWriter().meta("s", "héllo ▁ 世界").meta("u32", 7).meta("u64", 1L << 40).meta("f32", 0.5f).meta("f64", 0.25)
                .meta("b", true).meta("strings", List.of("a", "", "<0x0A>")).meta("floats", new float[] {-1f, 2.5f})
                .meta("ints", new int[] {-3, 4}).meta("bools", new boolean[] {false, true})
                .meta("i8", new GgufWriter.Typed(1, -2)).meta("u16", new GgufWriter.Typed(2, 65535))
                .f32("t", new float[] {1, 2, 3, 4, 5, 6}, 2, 3).write(file);
        Map<String, Object> m = GgufFile.readMetadata(file);
        assertEquals("héllo ▁ 世界", m.get("s"));
        assertEquals(7L, m.get("u32"));
        assertEquals(1L << 40, m.get("u64"));
        assertEquals(0.5, m.get("f32"));
        assertEquals(0.25, m.get("f64"));
        assertEquals(true, m.get("b"));
        assertEquals(List.of("a", "", "<0x0A>"), m.get("strings"));
        assertEquals(List.of(-1.0, 2.5), m.get("floats"));
        assertEquals(List.of(-3L, 4L), m.get("ints"));
        assertEquals(List.of(false, true), m.get("bools"));
        assertEquals(-2L, m.get("i8"));
        assertEquals(65535L, m.get("u16"));
        try (Arena arena = Arena.ofConfined()) {
            GgufFile g = GgufFile.open(file, arena);
            GgufFile.Tensor t = g.tensors().get("t");
            assertEquals("[3, 2]", Arrays.toString(t.dims()));
            assertEquals(GgufFile.TensorType.F32, t.type());
            assertEquals(6, t.numElements());
        }
    }

    @Test
    void aTensorsDataExtendsIntoTheBytesThatFollowItUpToTheFilesEnd() throws Exception {
        Path file = tmp.resolve("m.gguf");
        new GgufWriter().f32("a", new float[] {1, 2, 3}, 1, 3).f32("b", new float[] {4, 5}, 1, 2).write(file);
        try (Arena arena = Arena.ofConfined(); Arena other = Arena.ofConfined()) {
            GgufFile g = GgufFile.open(file, arena);
            GgufFile.Tensor a = g.tensors().get("a"), b = g.tensors().get("b");
            java.lang.foreign.MemorySegment aMore = g.dataAndFollowingBytes(a, 8);
            assertEquals(a.data().address(), aMore.address());
            assertEquals(a.data().byteSize() + 8, aMore.byteSize());
            java.lang.foreign.MemorySegment bMore = g.dataAndFollowingBytes(b, 1 << 20);
            assertEquals(b.data().address(), bMore.address());
            assertTrue(bMore.byteSize() >= b.data().byteSize() && bMore.byteSize() < (1 << 20), "stops at the file's end: " + bMore.byteSize());
            assertEquals(4f, bMore.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 0));
            GgufFile.Tensor stranger = new GgufFile.Tensor("x", GgufFile.TensorType.F32, new long[] {1}, other.allocate(4));
            assertThrows(IllegalArgumentException.class, () -> g.dataAndFollowingBytes(stranger, 8));
        }
    }

    @Test
    void truncatedFilesFailNamingTheFile() throws Exception {
        Path file = tmp.resolve("m.gguf");
        new GgufWriter().meta("strings", List.of("a", "b", "c")).write(file);
        byte[] bytes = Files.readAllBytes(file);
        Path cut = tmp.resolve("cut.gguf");
        Files.write(cut, Arrays.copyOf(bytes, bytes.length - 40));
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufFile.readMetadata(cut));
        assertTrue(e.getMessage().contains("cut.gguf") && e.getMessage().contains("truncated"), e.getMessage());
        GgufFormatException missing = assertThrows(GgufFormatException.class, () -> GgufFile.readMetadata(tmp.resolve("none.gguf")));
        assertTrue(missing.getMessage().contains("none.gguf"), missing.getMessage());
    }
}
