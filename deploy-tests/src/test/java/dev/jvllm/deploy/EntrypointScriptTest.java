package dev.jvllm.deploy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * docker/jvllm-entrypoint.sh with a stand-in `java` that prints its arguments: `docker run IMAGE serve ...`
 * must become `java <jvllm flags> -cp ... dev.jvllm.launcher.Main serve ...`, and the health target the
 * image's HEALTHCHECK probes must follow the role and ports.
 */
class EntrypointScriptTest {
    @TempDir
    Path tmp;

    List<String> run(String... args) throws Exception {
        assumeTrue(ComposeFileTest.onPath("bash"), "SKIPPED: no bash");
        Path javaHome = tmp.resolve("jre");
        Files.createDirectories(javaHome.resolve("bin"));
        Path java = javaHome.resolve("bin/java");
        Files.writeString(java, "#!/usr/bin/env bash\nprintf '%s\\n' \"$@\"\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        List<String> cmd = new ArrayList<>(List.of("env", "JAVA_HOME=" + javaHome, "JVLLM_HOME=/opt/jvllm", "TMPDIR=" + tmp,
                "JAVA_OPTS=-Xmx2g -Dfoo=bar", "bash", Repo.path("docker/jvllm-entrypoint.sh").toString()));
        cmd.addAll(List.of(args));
        ComposeFileTest.Result r = ComposeFileTest.run(cmd);
        assertEquals(0, r.code(), r.output());
        return r.output().lines().toList();
    }

    String healthTarget() throws Exception {
        return Files.readString(tmp.resolve("jvllm-health-target")).strip();
    }

    @Test
    void servePassesThroughToTheLauncherWithTheJvmFlags() throws Exception {
        List<String> argv = run("serve", "--model", "/models/x", "--role", "gateway", "--port", "9000");
        int main = argv.indexOf("dev.jvllm.launcher.Main");
        assertTrue(main > 0, argv.toString());
        assertEquals(List.of("serve", "--model", "/models/x", "--role", "gateway", "--port", "9000"),
                argv.subList(main + 1, argv.size()));
        List<String> jvm = argv.subList(0, main);
        assertTrue(jvm.containsAll(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xmx2g", "-Dfoo=bar", "-cp", "/opt/jvllm/app/*:/opt/jvllm/lib/*")), jvm.toString());
        assertEquals("http://127.0.0.1:9000/health", healthTarget());
    }

    @Test
    void healthTargetFollowsTheRole() throws Exception {
        Map<List<String>, String> cases = Map.of(
                List.of("serve", "--model=/m", "--role=scheduler"), "grpc://127.0.0.1:50051",
                List.of("serve", "--model=/m", "--role=tokenizer", "--grpc-port=6000"), "grpc://127.0.0.1:6000",
                List.of("serve", "--model", "/m", "--role", "worker", "--grpc-port", "7000"), "grpc://127.0.0.1:7000",
                List.of("serve", "--model", "/m"), "http://127.0.0.1:8000/health");
        for (var c : cases.entrySet()) {
            run(c.getKey().toArray(String[]::new));
            assertEquals(c.getValue(), healthTarget(), c.getKey().toString());
        }
        // The role defaults in the script are the CLI's (ServeCommand.grpcPortFor).
        String serve = Repo.read("launcher/src/main/java/dev/jvllm/launcher/ServeCommand.java");
        for (String expected : List.of("case scheduler -> 50051", "case tokenizer -> 50052", "case worker -> 50053")) {
            assertTrue(serve.contains(expected), "ServeCommand's default ports changed: " + expected);
        }
    }
}
