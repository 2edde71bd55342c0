package dev.jvllm.deploy;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The repository these tests check, and small readers for its deployment files. */
final class Repo {
    static final Path ROOT = findRoot();
    static final ObjectMapper JSON = new ObjectMapper();

    private Repo() {}

    private static Path findRoot() {
        Path dir = Path.of("").toAbsolutePath();
        for (Path p = dir; p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("compose.yaml")) && Files.isDirectory(p.resolve("launcher"))) {
                return p;
            }
        }
        throw new IllegalStateException("no repository root (compose.yaml + launcher/) above " + dir);
    }

    static Path path(String relative) {
        return ROOT.resolve(relative);
    }

    static String read(String relative) {
        try {
            return Files.readString(path(relative));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** YAML with anchors and merge keys resolved (SnakeYAML, as Compose does), as plain maps and lists. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> yaml(String text) {
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false);
        return (Map<String, Object>) new Yaml(options).load(text);
    }

    /** Every document of a multi-document YAML stream. */
    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> yamlDocuments(String text) {
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false);
        List<Map<String, Object>> docs = new ArrayList<>();
        for (Object o : new Yaml(options).loadAll(text)) {
            if (o != null) {
                docs.add((Map<String, Object>) o);
            }
        }
        return docs;
    }

    /** The long option names `jvllm serve` accepts, read from ServeCommand's picocli annotations. */
    static Set<String> serveFlags() {
        String src = read("launcher/src/main/java/dev/jvllm/launcher/ServeCommand.java");
        Set<String> flags = new LinkedHashSet<>();
        Matcher option = Pattern.compile("@Option\\s*\\(([^)]*?)\\)", Pattern.DOTALL).matcher(src);
        while (option.find()) {
            String attrs = option.group(1);
            Matcher names = Pattern.compile("names\\s*=\\s*\\{?([^}]*?)(?:}|,\\s*\\w+\\s*=|$)", Pattern.DOTALL).matcher(attrs);
            if (!names.find()) {
                continue;
            }
            Matcher name = Pattern.compile("\"(-[^\"]+)\"").matcher(names.group(1));
            boolean negatable = attrs.matches("(?s).*negatable\\s*=\\s*true.*");
            while (name.find()) {
                flags.add(name.group(1));
                if (negatable && name.group(1).startsWith("--")) {
                    flags.add("--no-" + name.group(1).substring(2));
                }
            }
        }
        // mixinStandardHelpOptions
        flags.add("--help");
        flags.add("--version");
        return flags;
    }

    /** ServeCommand.Role's constants. */
    static Set<String> serveRoles() {
        String src = read("launcher/src/main/java/dev/jvllm/launcher/ServeCommand.java");
        Matcher m = Pattern.compile("enum\\s+Role\\s*\\{([^}]*)}").matcher(src);
        if (!m.find()) {
            throw new IllegalStateException("ServeCommand has no Role enum");
        }
        Set<String> roles = new LinkedHashSet<>();
        for (String r : m.group(1).split(",")) {
            roles.add(r.strip());
        }
        return roles;
    }

    private static final Pattern VARIABLE = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?}");

    /** Compose-style interpolation with an empty environment: ${VAR:-default} -> default. */
    static String interpolate(String s) {
        Matcher m = VARIABLE.matcher(s);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(out, Matcher.quoteReplacement(m.group(2) == null ? "" : m.group(2)));
        }
        m.appendTail(out);
        return out.toString();
    }
}
