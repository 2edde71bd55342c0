package dev.jvllm.deploy;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The obvious Dockerfile mistakes, checked without a Docker engine: unpinned bases, root at run time,
 * no HEALTHCHECK, ADD of URLs, COPY of files that do not exist, and the entrypoint drifting from ./jvllm.
 */
class DockerfileLintTest {
    record Instruction(String keyword, String args, int line) {}

    static List<Path> dockerfiles() throws IOException {
        try (Stream<Path> s = Files.list(Repo.path("docker"))) {
            return s.filter(p -> p.getFileName().toString().matches("Dockerfile(\\..+)?") && !p.toString().endsWith(".dockerignore"))
                    .toList();
        }
    }

    /** Instructions with continuation lines joined and comments dropped. */
    static List<Instruction> parse(Path file) throws IOException {
        List<Instruction> out = new ArrayList<>();
        List<String> lines = Files.readAllLines(file);
        StringBuilder cur = null;
        int start = 0;
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i).strip();
            if (cur == null && (l.isEmpty() || l.startsWith("#"))) {
                continue;
            }
            if (cur != null && l.startsWith("#")) {
                continue;
            }
            if (cur == null) {
                cur = new StringBuilder();
                start = i + 1;
            }
            boolean more = l.endsWith("\\");
            cur.append(more ? l.substring(0, l.length() - 1) : l).append(' ');
            if (!more) {
                String text = cur.toString().strip();
                int sp = text.indexOf(' ');
                out.add(new Instruction(text.substring(0, sp).toUpperCase(), text.substring(sp + 1).strip(), start));
                cur = null;
            }
        }
        return out;
    }

    static final Pattern ARG_REF = Pattern.compile("\\$\\{?([A-Za-z_][A-Za-z0-9_]*)}?");

    @Test
    void everyBaseIsPinnedTheFinalStagesRunAsNonRootWithAHealthcheck() throws IOException {
        List<Path> files = dockerfiles();
        assertFalse(files.isEmpty());
        for (Path f : files) {
            List<Instruction> ins = parse(f);
            Map<String, String> globalArgs = new HashMap<>();
            List<String> stages = new ArrayList<>();
            Map<String, List<Instruction>> byStage = new HashMap<>();
            Map<String, String> parent = new HashMap<>();
            String stage = null;
            for (Instruction i : ins) {
                switch (i.keyword()) {
                    case "ARG" -> {
                        if (stage == null) {
                            String[] kv = i.args().split("=", 2);
                            globalArgs.put(kv[0], kv.length == 2 ? kv[1] : "");
                        }
                    }
                    case "FROM" -> {
                        String[] parts = i.args().replaceAll("--platform=\\S+\\s+", "").split("\\s+");
                        String image = parts[0];
                        Matcher m = ARG_REF.matcher(image);
                        StringBuilder resolved = new StringBuilder();
                        while (m.find()) {
                            m.appendReplacement(resolved, Matcher.quoteReplacement(globalArgs.getOrDefault(m.group(1), "")));
                        }
                        m.appendTail(resolved);
                        image = resolved.toString();
                        stage = parts.length >= 3 && parts[1].equalsIgnoreCase("AS") ? parts[2] : "stage" + stages.size();
                        stages.add(stage);
                        byStage.put(stage, new ArrayList<>());
                        if (byStage.containsKey(image) && !image.equals(stage)) {
                            parent.put(stage, image);
                        } else {
                            assertPinned(f, i, image);
                        }
                    }
                    case "ADD" -> assertFalse(i.args().matches("(?s).*(https?|ftp)://.*"),
                            f + ":" + i.line() + ": ADD of a URL (download with a checksum in RUN instead)");
                    default -> { }
                }
                if (stage != null && !i.keyword().equals("FROM")) {
                    byStage.get(stage).add(i);
                }
            }
            // Stages that are run (final targets): those no other stage builds on or copies from.
            Set<String> used = new java.util.HashSet<>(parent.values());
            for (Instruction i : ins) {
                Matcher m = Pattern.compile("--from=(\\S+)").matcher(i.args());
                if (i.keyword().equals("COPY") && m.find()) {
                    used.add(m.group(1));
                }
            }
            List<String> finals = stages.stream().filter(s -> !used.contains(s)).toList();
            assertEquals(stages.get(stages.size() - 1), "cpu", f + ": the default target (last stage) must be cpu");
            assertTrue(finals.containsAll(List.of("cpu", "tpu", "cuda")), "final stages: " + finals);
            for (String s : finals) {
                Instruction user = lastIn(s, "USER", byStage, parent);
                assertTrue(user != null, f + ": stage " + s + " has no USER");
                String who = user.args().split(":")[0];
                assertFalse(Set.of("root", "0").contains(who), f + ": stage " + s + " runs as root");
                assertTrue(lastIn(s, "HEALTHCHECK", byStage, parent) != null, f + ": stage " + s + " has no HEALTHCHECK");
                Instruction ep = lastIn(s, "ENTRYPOINT", byStage, parent);
                assertTrue(ep != null && ep.args().contains("jvllm"), f + ": stage " + s + " must enter through jvllm");
            }
        }
    }

    static Instruction lastIn(String stage, String keyword, Map<String, List<Instruction>> byStage, Map<String, String> parent) {
        for (String s = stage; s != null; s = parent.get(s)) {
            List<Instruction> list = byStage.get(s);
            for (int i = list.size() - 1; i >= 0; i--) {
                if (list.get(i).keyword().equals(keyword)) {
                    return list.get(i);
                }
            }
        }
        return null;
    }

    static void assertPinned(Path f, Instruction i, String image) {
        String where = f.getFileName() + ":" + i.line() + " FROM " + image;
        assertFalse(image.isEmpty() || image.contains("$"), where + ": base image not resolvable from ARG defaults");
        String nameAndTag = image.contains("@") ? image.substring(0, image.indexOf('@')) : image;
        if (image.contains("@")) {
            assertTrue(image.substring(image.indexOf('@') + 1).matches("sha256:[0-9a-f]{64}"), where + ": malformed digest");
        }
        int colon = nameAndTag.lastIndexOf(':');
        assertTrue(colon > nameAndTag.lastIndexOf('/'), where + ": no tag");
        String tag = nameAndTag.substring(colon + 1);
        assertFalse(tag.equals("latest") || tag.isBlank(), where + ": `latest` is not a pin");
        assertTrue(tag.matches(".*\\d+\\.\\d+.*"), where + ": pin an exact version (x.y[.z]), not a moving tag");
    }

    @Test
    void everyCopiedFileExistsInTheBuildContext() throws IOException {
        for (Path f : dockerfiles()) {
            for (Instruction i : parse(f)) {
                if (!i.keyword().equals("COPY") || i.args().contains("--from=")) {
                    continue;
                }
                List<String> parts = new ArrayList<>(List.of(i.args().split("\\s+")));
                parts.removeIf(p -> p.startsWith("--"));
                for (String src : parts.subList(0, parts.size() - 1)) {
                    if (!src.equals(".")) {
                        assertTrue(Files.exists(Repo.ROOT.resolve(src)), f + ":" + i.line() + ": COPY source " + src + " missing");
                    }
                }
            }
        }
    }

    @Test
    void theEntrypointRunsTheLauncherLikeTheJvllmScript() throws IOException {
        String script = Repo.read("jvllm");
        String entry = Repo.read("docker/jvllm-entrypoint.sh");
        for (String needed : List.of("--add-modules jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "dev.jvllm.launcher.Main")) {
            assertTrue(script.contains(needed), "./jvllm no longer has " + needed + ": re-check the entrypoint");
            assertTrue(entry.contains(needed), "docker/jvllm-entrypoint.sh lacks " + needed);
        }
        assertTrue(entry.contains("exec "), "the JVM must replace the shell so SIGTERM reaches it");
        String dockerfile = Repo.read("docker/Dockerfile");
        assertTrue(dockerfile.contains("jdk.incubator.vector"), "the jlink-ed runtime must include jdk.incubator.vector");
        assertTrue(dockerfile.contains("TPU_LIBRARY_PATH=") && dockerfile.contains("PJRT_PLUGIN_LIBRARY_PATH="));
    }
}
