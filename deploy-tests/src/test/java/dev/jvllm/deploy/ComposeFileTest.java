package dev.jvllm.deploy;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** compose.yaml: accepted by a real Compose implementation, and consistent with the server's real CLI. */
class ComposeFileTest {

    static final List<String> JVLLM_SERVICES = List.of("gateway", "tokenizer", "scheduler", "worker");

    @SuppressWarnings("unchecked")
    static Map<String, Object> services() {
        return (Map<String, Object>) Repo.yaml(Repo.read("compose.yaml")).get("services");
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> service(String name) {
        Map<String, Object> s = (Map<String, Object>) services().get(name);
        assertNotNull(s, "compose.yaml has no service " + name);
        return s;
    }

    /** A service's command, interpolated with Compose defaults (an empty environment). */
    @SuppressWarnings("unchecked")
    static List<String> command(String name) {
        List<String> out = new ArrayList<>();
        for (Object o : (List<Object>) service(name).get("command")) {
            out.add(Repo.interpolate(String.valueOf(o)));
        }
        return out;
    }

    /** --flag=value or --flag value -> value, or null. */
    static String flag(List<String> cmd, String name) {
        for (int i = 0; i < cmd.size(); i++) {
            String a = cmd.get(i);
            if (a.startsWith(name + "=")) {
                return a.substring(name.length() + 1);
            }
            if (a.equals(name) && i + 1 < cmd.size()) {
                return cmd.get(i + 1);
            }
        }
        return null;
    }

    @Test
    void everyFlagInEveryServiceCommandExistsInServeCommand() {
        Set<String> known = Repo.serveFlags();
        assertTrue(known.contains("--role") && known.contains("--grpc-port") && known.contains("--worker-address"),
                "the ServeCommand reader found too little: " + known);
        for (String name : JVLLM_SERVICES) {
            List<String> cmd = command(name);
            assertEquals("serve", cmd.get(0), name + " must run `jvllm serve`");
            for (String arg : cmd.subList(1, cmd.size())) {
                if (arg.startsWith("-")) {
                    String f = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
                    assertTrue(known.contains(f), name + ": `" + f + "` is not an option of jvllm serve " + known);
                }
            }
            assertEquals(name, flag(cmd, "--role"), name + " runs the wrong role");
            assertTrue(Repo.serveRoles().contains(flag(cmd, "--role")));
        }
    }

    @Test
    void servicesReachEachOtherOnThePortsTheyListenOn() {
        String schedulerPort = flag(command("scheduler"), "--grpc-port");
        String tokenizerPort = flag(command("tokenizer"), "--grpc-port");
        String workerPort = flag(command("worker"), "--grpc-port");
        assertEquals("worker:" + workerPort, flag(command("scheduler"), "--worker-address"));
        assertEquals("scheduler:" + schedulerPort, flag(command("gateway"), "--scheduler-address"));
        assertEquals("tokenizer:" + tokenizerPort, flag(command("gateway"), "--tokenizer-address"));
        // The CLI's documented defaults, so `--role X` alone would bind the same ports.
        assertEquals(List.of("50051", "50052", "50053"), List.of(schedulerPort, tokenizerPort, workerPort));
        String envoy = Repo.read("deploy/envoy/envoy.yaml");
        assertTrue(envoy.contains("address: gateway, port_value: " + flag(command("gateway"), "--port")));
        assertTrue(envoy.contains("address: scheduler, port_value: " + schedulerPort));
    }

    @Test
    @SuppressWarnings("unchecked")
    void startupOrderHealthchecksReplicasVolumesAndToken() {
        Map<String, String> waitsFor = Map.of("envoy", "gateway", "gateway", "scheduler", "scheduler", "worker");
        waitsFor.forEach((svc, upstream) -> {
            Map<String, Object> deps = (Map<String, Object>) service(svc).get("depends_on");
            assertEquals("service_healthy", ((Map<String, Object>) deps.get(upstream)).get("condition"),
                    svc + " must wait for a healthy " + upstream);
        });
        assertEquals("service_healthy",
                ((Map<String, Object>) ((Map<String, Object>) service("gateway").get("depends_on")).get("tokenizer")).get("condition"));
        for (String name : JVLLM_SERVICES) {
            Map<String, Object> s = service(name);
            List<String> test = (List<String>) ((Map<String, Object>) s.get("healthcheck")).get("test");
            String target = test.get(test.size() - 1);
            if (name.equals("gateway")) {
                assertEquals("http://127.0.0.1:" + flag(command(name), "--port") + "/health", target);
            } else {
                assertEquals("grpc://127.0.0.1:" + flag(command(name), "--grpc-port"), target);
            }
            assertTrue(((List<String>) s.get("environment")).contains("HF_TOKEN"), name + " must pass HF_TOKEN through");
            assertTrue(((List<String>) s.get("volumes")).stream().anyMatch(v -> v.endsWith(":/models:ro")), name);
            assertEquals("docker/Dockerfile", ((Map<String, Object>) s.get("build")).get("dockerfile"));
        }
        assertEquals(2, ((Map<String, Object>) service("gateway").get("deploy")).get("replicas"));
        assertFalse(service("gateway").containsKey("ports"), "replicated gateways cannot publish one host port");
        assertTrue(((List<String>) service("worker").get("volumes")).stream().anyMatch(v -> v.equals("xla-cache:/cache/xla")));
        assertTrue(((List<String>) service("worker").get("environment")).contains("VLLM_XLA_CACHE_PATH=/cache/xla"));
        for (String name : List.of("prometheus", "grafana")) {
            assertEquals(List.of("monitoring"), service(name).get("profiles"), name + " belongs to the monitoring profile");
        }
        for (String name : List.of("envoy", "prometheus", "grafana")) {
            String image = String.valueOf(service(name).get("image"));
            assertTrue(image.matches("[a-z0-9./-]+:v?\\d+\\.\\d+\\.\\d+(@sha256:[0-9a-f]{64})?"),
                    name + " image must be pinned to an exact version: " + image);
        }
        assertTrue(String.valueOf(service("envoy").get("image")).startsWith("envoyproxy/envoy:v"));
    }

    @Test
    @SuppressWarnings("unchecked")
    void prometheusScrapesTheGatewaysAndGrafanaIsProvisioned() throws IOException {
        Map<String, Object> prom = Repo.yaml(Repo.read("deploy/prometheus/prometheus.yml"));
        List<Map<String, Object>> jobs = (List<Map<String, Object>>) prom.get("scrape_configs");
        Map<String, Object> gw = jobs.stream().filter(j -> "jvllm-gateway".equals(j.get("job_name"))).findFirst().orElseThrow();
        Map<String, Object> sd = ((List<Map<String, Object>>) gw.get("dns_sd_configs")).get(0);
        assertEquals(List.of("gateway"), sd.get("names"));
        assertEquals(8000, sd.get("port"));
        assertEquals("/metrics", gw.get("metrics_path"));
        assertTrue(jobs.stream().anyMatch(j -> String.valueOf(j.get("static_configs")).contains("envoy:9902")));

        var dash = Repo.JSON.readTree(Files.readString(Repo.path("deploy/grafana/dashboards/jvllm.json")));
        StringBuilder exprs = new StringBuilder();
        dash.get("panels").forEach(p -> p.get("targets").forEach(t -> exprs.append(t.get("expr").asText()).append('\n')));
        for (String metric : List.of("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                "vllm:avg_generation_throughput_toks_per_s", "vllm:time_to_first_token_seconds_bucket",
                "vllm:inter_token_latency_seconds_bucket", "vllm:prompt_tokens_total", "vllm:generation_tokens_total")) {
            assertTrue(exprs.toString().contains(metric), "dashboard lacks " + metric);
        }
        Map<String, Object> ds = Repo.yaml(Repo.read("deploy/grafana/provisioning/datasources/prometheus.yaml"));
        Map<String, Object> source = ((List<Map<String, Object>>) ds.get("datasources")).get(0);
        assertEquals("http://prometheus:9090", source.get("url"));
        dash.get("panels").forEach(p -> assertEquals(source.get("uid"), p.get("datasource").get("uid").asText()));
        Map<String, Object> provider = ((List<Map<String, Object>>) Repo.yaml(
                Repo.read("deploy/grafana/provisioning/dashboards/jvllm.yaml")).get("providers")).get(0);
        String mounted = ((List<String>) service("grafana").get("volumes")).stream()
                .filter(v -> v.startsWith("./deploy/grafana/dashboards:")).findFirst().orElseThrow();
        assertEquals(((Map<String, Object>) provider.get("options")).get("path"), mounted.split(":")[1]);
    }

    /** `docker-compose config` (Compose v1, Debian's docker-compose) or `docker compose config` (v2). */
    @Test
    void aRealComposeImplementationAcceptsTheFile() throws Exception {
        List<String> compose = composeCommand();
        assumeTrue(compose != null, "SKIPPED: neither `docker-compose` nor the `docker compose` plugin is installed "
                + "(apt-get install -y docker-compose); compose.yaml was only checked structurally");
        List<String> config = new ArrayList<>(compose);
        config.addAll(List.of("-f", Repo.path("compose.yaml").toString(), "--profile", "monitoring", "config"));
        Result r = run(config);
        assertEquals(0, r.code, "compose rejected compose.yaml:\n" + r.output);
        // The normalized output is what Compose will run: check interpolation and merge keys took effect.
        @SuppressWarnings("unchecked")
        Map<String, Object> normalized = (Map<String, Object>) Repo.yaml(r.output).get("services");
        assertEquals(Set.of("envoy", "gateway", "tokenizer", "scheduler", "worker", "prometheus", "grafana"),
                normalized.keySet());
        for (String name : JVLLM_SERVICES) {
            @SuppressWarnings("unchecked")
            Map<String, Object> s = (Map<String, Object>) normalized.get(name);
            assertEquals(command(name), s.get("command"), name + ": Compose interpolated differently");
            assertEquals("jvllm:cpu", s.get("image"));
        }
    }

    static List<String> composeCommand() throws Exception {
        if (onPath("docker-compose")) {
            return List.of("docker-compose");
        }
        if (onPath("docker") && run(List.of("docker", "compose", "version")).code == 0) {
            return List.of("docker", "compose");
        }
        return null;
    }

    static boolean onPath(String exe) {
        String path = System.getenv().getOrDefault("PATH", "");
        for (String dir : path.split(java.io.File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, exe))) {
                return true;
            }
        }
        return false;
    }

    record Result(int code, String output) {}

    static Result run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).directory(Repo.ROOT.toFile()).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(command + " did not finish");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
