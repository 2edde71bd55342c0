package dev.jvllm.launcher;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The four roles as separate JVMs on loopback ports (the topology compose and Kubernetes run), started with
 * this test JVM's class path and {@code Main serve --role ...}; each role's output goes to a log file.
 */
final class RoleProcesses implements AutoCloseable {
    final Path logDir;
    final int worker = freePort(), tokenizer = freePort(), scheduler = freePort(), gateway = freePort();
    private final List<Process> processes = new ArrayList<>();
    private final Map<String, String> env;

    private RoleProcesses(Map<String, String> env) throws IOException {
        this.logDir = Files.createTempDirectory("jvllm-4proc");
        this.env = env;
    }

    /** Starts worker, tokenizer, scheduler and gateway for {@code model} and waits until the gateway is healthy. */
    static RoleProcesses start(String model, Map<String, String> env) throws Exception {
        RoleProcesses r = new RoleProcesses(env);
        try {
            r.launch("worker", "--role", "worker", "--model", model, "--grpc-host", "127.0.0.1", "--grpc-port", "" + r.worker,
                    "--kv-cache-space", "0.05");
            r.launch("tokenizer", "--role", "tokenizer", "--model", model, "--grpc-host", "127.0.0.1", "--grpc-port", "" + r.tokenizer);
            r.launch("scheduler", "--role", "scheduler", "--model", model, "--grpc-host", "127.0.0.1", "--grpc-port", "" + r.scheduler,
                    "--worker-address", "127.0.0.1:" + r.worker);
            r.launch("gateway", "--role", "gateway", "--model", model, "--host", "127.0.0.1", "--port", "" + r.gateway,
                    "--tokenizer-address", "127.0.0.1:" + r.tokenizer, "--scheduler-address", "127.0.0.1:" + r.scheduler);
            r.awaitHealthy();
            return r;
        } catch (Exception | AssertionError e) {
            r.close();
            throw e;
        }
    }

    private void launch(String name, String... serveArgs) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(Arrays.asList(System.getProperty("jvllm.jvm.flags",
                "--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED").trim().split("\\s+")));
        cmd.add("-Xmx512m");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.add("serve");
        cmd.addAll(Arrays.asList(serveArgs));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(logDir.resolve(name + ".log").toFile());
        pb.environment().putAll(env);
        processes.add(pb.start());
    }

    private void awaitHealthy() throws Exception {
        Http http = new Http(gateway);
        for (int i = 0; i < 1200; i++) {
            for (Process p : processes) {
                if (!p.isAlive()) {
                    fail("a role exited early (exit " + p.exitValue() + "); logs:\n" + logs());
                }
            }
            try {
                if (http.get("/health").status() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // gateway not listening yet
            }
            Thread.sleep(100);
        }
        fail("four-process deployment did not become healthy; logs:\n" + logs());
    }

    String logs() throws IOException {
        StringBuilder sb = new StringBuilder();
        try (var files = Files.list(logDir)) {
            for (Path f : files.sorted().toList()) {
                sb.append("== ").append(f.getFileName()).append('\n').append(Files.readString(f));
            }
        }
        return sb.toString();
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() throws InterruptedException {
        for (Process p : processes.reversed()) {
            p.destroy();
        }
        for (Process p : processes) {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }
}
