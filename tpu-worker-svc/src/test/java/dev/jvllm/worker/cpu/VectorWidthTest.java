package dev.jvllm.worker.cpu;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the cpu backend accepts at this JVM's vector width (the build runs the kernel tests at 512, 256 and
 * 128 bits): int8 formats need a byte vector of exactly L lanes, i.e. vectors of 256 bits or more.
 */
class VectorWidthTest {
    @Test
    void int8FormatsAreReadWhereByteVectorsHaveLLanesAndRefusedClearlyElsewhere() {
        boolean wide = VectorKernels.S.length() >= 8;
        assertEquals(wide, VectorKernels.byteKernelsSupported());
        if (wide) {
            assertDoesNotThrow(() -> CpuModelRunner.checkKvCacheDtype(KvCacheDtype.FP8_E5M2));
            assertDoesNotThrow(() -> VectorKernels.requireByteKernels("Q8_0 weights"));
        } else {
            IllegalArgumentException cache = assertThrows(IllegalArgumentException.class,
                    () -> CpuModelRunner.checkKvCacheDtype(KvCacheDtype.FP8_E5M2));
            assertTrue(cache.getMessage().contains("fp8_e5m2") && cache.getMessage().contains("256 bits"), cache.getMessage());
            IllegalArgumentException weights = assertThrows(IllegalArgumentException.class,
                    () -> VectorKernels.requireByteKernels("Q8_0 weights"));
            assertTrue(weights.getMessage().startsWith("Q8_0 weights needs"), weights.getMessage());
        }
        assertDoesNotThrow(() -> CpuModelRunner.checkKvCacheDtype(KvCacheDtype.BF16));
        assertDoesNotThrow(() -> CpuModelRunner.checkKvCacheDtype(KvCacheDtype.F32));
    }
}
