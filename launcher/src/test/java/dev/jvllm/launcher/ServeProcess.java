package dev.jvllm.launcher;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One {@code Main serve ...} JVM started with this test JVM's class path, its output in a log file. Unlike
 * {@link RoleProcesses} each process can be stopped on its own: {@link #terminate()} sends SIGTERM (what
 * Kubernetes sends), {@link #kill()} SIGKILL (a crash, an OOM kill).
 */
final class ServeProcess implements AutoCloseable {
    final String name;
    final Path log;
    private final Process process;

    private ServeProcess(String name, Path log, Process process) {
        this.name = name;
        this.log = log;
        this.process = process;
    }

    static ServeProcess start(Path logDir, String name, String... serveArgs) throws IOException {
        return start(logDir, name, Map.of(), serveArgs);
    }

    /** As {@link #start(Path, String, String...)} with extra environment variables (e.g. OTEL_*). */
    static ServeProcess start(Path logDir, String name, Map<String, String> env, String... serveArgs) throws IOException {
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
        Path log = logDir.resolve(name + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().putAll(env);
        Process p = pb.start();
        return new ServeProcess(name, log, p);
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** SIGTERM. */
    void terminate() {
        process.destroy();
    }

    /** SIGKILL, and waits until the process is gone. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** Exit code, or null when still running after {@code seconds}. */
    Integer awaitExit(long seconds) throws InterruptedException {
        return process.waitFor(seconds, TimeUnit.SECONDS) ? process.exitValue() : null;
    }

    String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    static String logs(List<ServeProcess> processes) {
        StringBuilder sb = new StringBuilder();
        for (ServeProcess p : processes) sb.append("== ").append(p.name).append('\n').append(p.logText()).append('\n');
        return sb.toString();
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(15, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
