package dev.jvllm.deploy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The deployment files checked by the tools that own their formats, where installed (Debian packages
 * `prometheus` for promtool, `shellcheck`); skipped with a message otherwise. bash -n always runs.
 */
class ToolchainChecksTest {
    static final List<String> SCRIPTS = List.of("docker/jvllm-entrypoint.sh", "docker/jvllm-health.sh", "deploy/load.sh");

    @Test
    void scriptsParseAndPassShellcheck() throws Exception {
        for (String s : SCRIPTS) {
            ComposeFileTest.Result r = ComposeFileTest.run(List.of("bash", "-n", Repo.path(s).toString()));
            assertEquals(0, r.code(), s + ":\n" + r.output());
        }
        assumeTrue(ComposeFileTest.onPath("shellcheck"), "SKIPPED: shellcheck not installed (apt-get install -y shellcheck)");
        List<String> cmd = new ArrayList<>(List.of("shellcheck", "--severity=style"));
        SCRIPTS.forEach(s -> cmd.add(Repo.path(s).toString()));
        ComposeFileTest.Result r = ComposeFileTest.run(cmd);
        assertEquals(0, r.code(), r.output());
    }

    @Test
    void promtoolAcceptsTheScrapeConfig() throws Exception {
        assumeTrue(ComposeFileTest.onPath("promtool"), "SKIPPED: promtool not installed (apt-get install -y prometheus)");
        ComposeFileTest.Result r = ComposeFileTest.run(List.of("promtool", "check", "config",
                Repo.path("deploy/prometheus/prometheus.yml").toString()));
        assertEquals(0, r.code(), r.output());
    }

    /** Every dashboard query, with Grafana's variables filled in, must be valid PromQL. */
    @Test
    void everyDashboardQueryIsValidPromQl(@TempDir Path tmp) throws Exception {
        assumeTrue(ComposeFileTest.onPath("promtool"), "SKIPPED: promtool not installed (apt-get install -y prometheus)");
        var dash = Repo.JSON.readTree(Files.readString(Repo.path("deploy/grafana/dashboards/jvllm.json")));
        StringBuilder rules = new StringBuilder("groups:\n  - name: dashboard\n    rules:\n");
        int[] n = {0};
        dash.get("panels").forEach(p -> p.get("targets").forEach(t -> {
            String expr = t.get("expr").asText().replace("$__rate_interval", "1m").replace("$model", ".*");
            rules.append("      - record: dashboard:q").append(n[0]++).append('\n')
                    .append("        expr: ").append(Repo.JSON.valueToTree(expr).toString()).append('\n');
        }));
        assumeTrue(n[0] > 0);
        Path file = tmp.resolve("dashboard-rules.yml");
        Files.writeString(file, rules);
        ComposeFileTest.Result r = ComposeFileTest.run(List.of("promtool", "check", "rules", file.toString()));
        assertEquals(0, r.code(), r.output() + "\n" + rules);
    }
}
