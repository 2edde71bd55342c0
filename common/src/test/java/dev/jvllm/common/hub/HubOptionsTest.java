package dev.jvllm.common.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HubOptionsTest {
    @TempDir Path tmp;

    private Map<String, String> env(String... kv) {
        Map<String, String> env = new HashMap<>(Map.of("HOME", tmp.resolve("home").toString()));
        for (int i = 0; i < kv.length; i += 2) env.put(kv[i], kv[i + 1]);
        return env;
    }

    @Test
    void defaultsFollowHuggingFaceHub() {
        HubOptions o = HubOptions.fromEnvironment(env());
        assertEquals(URI.create("https://huggingface.co"), o.endpoint());
        assertEquals(tmp.resolve("home/.cache/huggingface/hub"), o.cacheDir());
        assertNull(o.token());
        assertFalse(o.offline());
    }

    @Test
    void cacheDirectoryPrecedence() {
        assertEquals(tmp.resolve("hfhome/hub"), HubOptions.fromEnvironment(env("HF_HOME", tmp.resolve("hfhome").toString())).cacheDir());
        assertEquals(tmp.resolve("direct"), HubOptions.fromEnvironment(env("HF_HOME", tmp.resolve("hfhome").toString(),
                "HF_HUB_CACHE", tmp.resolve("direct").toString())).cacheDir());
        assertEquals(tmp.resolve("home/x/hub"), HubOptions.fromEnvironment(env("HF_HOME", "~/x")).cacheDir());
    }

    @Test
    void tokenPrecedenceEnvThenLegacyEnvThenTokenFile() throws IOException {
        Path hfHome = Files.createDirectories(tmp.resolve("hfhome"));
        Files.writeString(hfHome.resolve("token"), "hf_from_home_file\n");
        Path other = Files.writeString(tmp.resolve("other-token"), "  hf_from_token_path ");

        HubOptions fromFile = HubOptions.fromEnvironment(env("HF_HOME", hfHome.toString()));
        assertEquals("hf_from_home_file", fromFile.token());
        assertTrue(fromFile.tokenSource().contains(hfHome.resolve("token").toString()));
        assertEquals("hf_from_token_path", HubOptions.fromEnvironment(env("HF_HOME", hfHome.toString(),
                "HF_TOKEN_PATH", other.toString())).token());
        assertEquals("hf_legacy", HubOptions.fromEnvironment(env("HF_HOME", hfHome.toString(),
                "HUGGING_FACE_HUB_TOKEN", "hf_legacy")).token());
        HubOptions fromEnv = HubOptions.fromEnvironment(env("HF_HOME", hfHome.toString(),
                "HUGGING_FACE_HUB_TOKEN", "hf_legacy", "HF_TOKEN", "hf_main"));
        assertEquals("hf_main", fromEnv.token());
        assertEquals("HF_TOKEN", fromEnv.tokenSource());
        assertFalse(fromEnv.toString().contains("hf_main"), "toString never shows the token");
    }

    @Test
    void endpointAndOfflineFlags() {
        HubOptions o = HubOptions.fromEnvironment(env("HF_ENDPOINT", "https://hf-mirror.example/", "HF_HUB_OFFLINE", "true"));
        assertEquals(URI.create("https://hf-mirror.example"), o.endpoint());
        assertTrue(o.offline());
        assertFalse(HubOptions.fromEnvironment(env("HF_HUB_OFFLINE", "0")).offline());
    }
}
