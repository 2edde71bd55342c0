package dev.jvllm.worker.pjrt;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class PjrtPluginLocatorTest {

    @TempDir
    Path tmp;

    private Path touch(Path p) throws IOException {
        Files.createDirectories(p.getParent());
        return Files.writeString(p, "not really a library");
    }

    private PjrtPluginLocator locator(Map<String, String> env) {
        return new PjrtPluginLocator(env, tmp.resolve("home"), List.of(tmp.resolve("usr")));
    }

    @Test
    void cpuNeedsNoPlugin() {
        assertTrue(locator(Map.of()).locate("cpu").isEmpty());
    }

    @Test
    void explicitPjrtPathIsUsedAsIs() throws IOException {
        Path lib = touch(tmp.resolve("custom/plugin.so"));
        PjrtPluginLocator.PluginLocation loc = locator(Map.of()).locate("pjrt:" + lib).orElseThrow();
        assertEquals(lib, loc.library());
        var e = assertThrows(PjrtPluginLocator.PluginNotFoundException.class, () -> locator(Map.of()).locate("pjrt:" + tmp.resolve("missing.so")));
        assertTrue(e.getMessage().contains("missing.so"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> locator(Map.of()).locate("pjrt:"));
    }

    @Test
    void tpuPrefersTpuLibraryPathOverSitePackages() throws IOException {
        Path fromEnv = touch(tmp.resolve("env/libtpu.so"));
        touch(tmp.resolve("usr/lib/python3.11/site-packages/libtpu/libtpu.so"));
        PjrtPluginLocator.PluginLocation loc = locator(Map.of("TPU_LIBRARY_PATH", fromEnv.toString())).locate("tpu").orElseThrow();
        assertEquals(fromEnv, loc.library());
        assertEquals("TPU_LIBRARY_PATH", loc.foundVia());
    }

    @Test
    void tpuFallsBackToTheLibtpuWheelThenToSystemLib() throws IOException {
        Path wheel = touch(tmp.resolve("usr/lib/python3.11/site-packages/libtpu/libtpu.so"));
        assertEquals(wheel, locator(Map.of()).locate("tpu").orElseThrow().library());
        Files.delete(wheel);
        Path system = touch(tmp.resolve("usr/lib/libtpu.so"));
        assertEquals(system, locator(Map.of()).locate("tpu").orElseThrow().library());
    }

    @Test
    void cudaFindsJaxPluginWheelPreferringCuda13AndVirtualEnvFirst() throws IOException {
        touch(tmp.resolve("usr/lib/python3.12/dist-packages/jax_plugins/xla_cuda12/xla_cuda_plugin.so"));
        Path venv13 = touch(tmp.resolve("venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so"));
        Path venv12 = touch(tmp.resolve("venv/lib/python3.12/site-packages/jax_plugins/xla_cuda12/xla_cuda_plugin.so"));
        Map<String, String> env = Map.of("VIRTUAL_ENV", tmp.resolve("venv").toString());
        assertEquals(venv13, locator(env).locate("cuda").orElseThrow().library());
        Files.delete(venv13);
        assertEquals(venv12, locator(env).locate("cuda").orElseThrow().library());
    }

    @Test
    void cudaPrefersPjrtPluginLibraryPathAndPythonpath() throws IOException {
        Path explicit = touch(tmp.resolve("x/xla_cuda_plugin.so"));
        Path onPythonPath = touch(tmp.resolve("pp/jax_plugins/xla_cuda13/xla_cuda_plugin.so"));
        touch(tmp.resolve("home/.local/lib/python3.10/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so"));
        assertEquals(explicit, locator(Map.of("PJRT_PLUGIN_LIBRARY_PATH", explicit.toString())).locate("cuda").orElseThrow().library());
        assertEquals(onPythonPath, locator(Map.of("PYTHONPATH", tmp.resolve("pp").toString())).locate("cuda").orElseThrow().library());
    }

    @Test
    void userSitePackagesAreSearched() throws IOException {
        Path user = touch(tmp.resolve("home/.local/lib/python3.10/site-packages/jax_plugins/xla_cuda12/xla_cuda_plugin.so"));
        assertEquals(user, locator(Map.of()).locate("cuda").orElseThrow().library());
    }

    @Test
    void envVariableNamingAMissingFileIsAnErrorNotAFallback() throws IOException {
        touch(tmp.resolve("usr/lib/libtpu.so"));
        var e = assertThrows(PjrtPluginLocator.PluginNotFoundException.class,
                () -> locator(Map.of("TPU_LIBRARY_PATH", "/nope/libtpu.so")).locate("tpu"));
        assertTrue(e.getMessage().contains("TPU_LIBRARY_PATH=/nope/libtpu.so"), e.getMessage());
    }

    @Test
    void notFoundListsWhereItLookedAndHowToFixIt() {
        var e = assertThrows(PjrtPluginLocator.PluginNotFoundException.class, () -> locator(Map.of()).locate("cuda"));
        assertTrue(e.getMessage().contains("PJRT_PLUGIN_LIBRARY_PATH"), e.getMessage());
        assertTrue(e.getMessage().contains("jax-cuda13-pjrt"), e.getMessage());
        var t = assertThrows(PjrtPluginLocator.PluginNotFoundException.class, () -> locator(Map.of()).locate("tpu"));
        assertTrue(t.getMessage().contains(tmp.resolve("usr/lib/libtpu.so").toString()), t.getMessage());
    }

    @Test
    void unknownDeviceIsRejected() {
        var e = assertThrows(IllegalArgumentException.class, () -> locator(Map.of()).locate("gpu"));
        assertTrue(e.getMessage().contains("cpu, tpu, cuda or pjrt:"), e.getMessage());
    }
}
