package dev.jvllm.launcher;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The four roles as separate JVMs on loopback ports (the topology compose and Kubernetes run), started with
 * this test JVM's class path and {@code Main serve --role ...} ({@link ServeProcess}); each role logs to a file.
 */
final class RoleProcesses implements AutoCloseable {
    final Path logDir;
    final int worker = freePort(), tokenizer = freePort(), scheduler = freePort(), gateway = freePort();
    private final List<ServeProcess> processes = new ArrayList<>();
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
        processes.add(ServeProcess.start(logDir, name, env, serveArgs));
    }

    private void awaitHealthy() throws Exception {
        Http http = new Http(gateway);
        for (int i = 0; i < 1200; i++) {
            for (ServeProcess p : processes) {
                if (!p.isAlive()) {
                    fail("the " + p.name + " role exited early; logs:\n" + logs());
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

    String logs() {
        return ServeProcess.logs(processes);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() throws InterruptedException {
        for (ServeProcess p : processes.reversed()) {
            p.close();
        }
    }
}
