package dev.jvllm.worker.pjrt;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Loading and version checks that need no plugin. */
class PjrtApiTest {

    @Test
    void missingLibraryIsAClearError(@TempDir Path tmp) {
        var e = assertThrows(PjrtException.class, () -> PjrtApi.load(tmp.resolve("libnothing.so")));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void fileThatIsNotALibraryIsAClearError(@TempDir Path tmp) throws IOException {
        Path fake = Files.writeString(tmp.resolve("fake.so"), "not an ELF file");
        var e = assertThrows(PjrtException.class, () -> PjrtApi.load(fake));
        assertTrue(e.getMessage().contains("cannot load PJRT plugin"), e.getMessage());
    }

    @Test
    void realLibraryWithoutGetPjrtApiIsRejected() {
        Path libm = Stream.of("/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6", "/lib/aarch64-linux-gnu/libm.so.6",
                        "/usr/lib/aarch64-linux-gnu/libm.so.6", "/lib64/libm.so.6")
                .map(Path::of).filter(Files::isRegularFile).findFirst().orElse(null);
        Assumptions.assumeTrue(libm != null, "no libm.so.6 at the usual places");
        var e = assertThrows(PjrtException.class, () -> PjrtApi.load(libm));
        assertTrue(e.getMessage().contains("does not export GetPjrtApi"), e.getMessage());
    }

    @Test
    void versionCompatibility() {
        long full = PjrtFunction.apiStructSize();
        assertDoesNotThrow(() -> PjrtApi.checkCompatible("p", 0, 33, full));
        assertDoesNotThrow(() -> PjrtApi.checkCompatible("p", 0, 70, full + 400), "newer minors only append");
        var major = assertThrows(PjrtException.class, () -> PjrtApi.checkCompatible("p", 1, 0, full));
        assertTrue(major.getMessage().contains("PJRT C API 1.0"), major.getMessage());
        var old = assertThrows(PjrtException.class, () -> PjrtApi.checkCompatible("p", 0, PjrtApi.MIN_MINOR - 1, full));
        assertTrue(old.getMessage().contains("upgrade the plugin"), old.getMessage());
        var shortTable = assertThrows(PjrtException.class, () -> PjrtApi.checkCompatible("p", 0, 33, PjrtFunction.PJRT_Buffer_ToHostBuffer.offset()));
        assertTrue(shortTable.getMessage().contains("PJRT_Api table"), shortTable.getMessage());
    }

    @Test
    void requiredTableEndsAfterTheLastEntryWeCall() {
        assertEquals(PjrtFunction.PJRT_Buffer_ToHostBuffer.offset() + 8, PjrtApi.requiredApiStructSize());
    }
}
