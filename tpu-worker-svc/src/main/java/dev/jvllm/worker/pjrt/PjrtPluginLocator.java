package dev.jvllm.worker.pjrt;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Turns a {@code --device} value into the PJRT plugin library to load.
 *
 * <ul>
 *   <li>{@code cpu}: no plugin (the Java CPU backend).</li>
 *   <li>{@code tpu}: {@code TPU_LIBRARY_PATH}, then {@code libtpu/libtpu.so} in Python site-packages (the {@code libtpu}
 *       wheel), then {@code lib/libtpu.so} under the system prefixes.</li>
 *   <li>{@code cuda}: {@code PJRT_PLUGIN_LIBRARY_PATH}, then {@code jax_plugins/xla_cuda13/xla_cuda_plugin.so} and
 *       {@code jax_plugins/xla_cuda12/xla_cuda_plugin.so} in Python site-packages (the jax-cudaNN-pjrt wheels).</li>
 *   <li>{@code pjrt:/path/to/plugin.so}: exactly that file.</li>
 * </ul>
 * Site-packages are looked for under {@code PYTHONPATH}, {@code VIRTUAL_ENV}, {@code CONDA_PREFIX}, {@code ~/.local}
 * and the system prefixes, in that order. Environment and prefixes are injected so tests need no real install.
 */
public final class PjrtPluginLocator {

    public static final List<Path> DEFAULT_SYSTEM_PREFIXES = List.of(Path.of("/usr/local"), Path.of("/usr"), Path.of("/opt/conda"));

    private final Map<String, String> env;
    private final Path home;
    private final List<Path> systemPrefixes;

    public PjrtPluginLocator(Map<String, String> env, Path home, List<Path> systemPrefixes) {
        this.env = Map.copyOf(env);
        this.home = home;
        this.systemPrefixes = List.copyOf(systemPrefixes);
    }

    public static PjrtPluginLocator system() {
        return new PjrtPluginLocator(System.getenv(), Path.of(System.getProperty("user.home")), DEFAULT_SYSTEM_PREFIXES);
    }

    /** A plugin found for a device: the library and how it was found (for the startup log). */
    public record PluginLocation(String device, Path library, String foundVia) {}

    /** Thrown when no plugin library is found; the message lists every place searched. */
    public static final class PluginNotFoundException extends RuntimeException {
        public PluginNotFoundException(String message) { super(message); }
    }

    /** Empty for {@code cpu}; otherwise the plugin, or a {@link PluginNotFoundException} saying where it looked. */
    public Optional<PluginLocation> locate(String device) {
        Objects.requireNonNull(device, "device");
        String d = device.trim();
        if (d.equals("cpu")) return Optional.empty();
        if (d.startsWith("pjrt:")) {
            Path p = Path.of(d.substring("pjrt:".length()));
            if (d.length() == "pjrt:".length()) throw new IllegalArgumentException("--device pjrt: needs a path, e.g. pjrt:/path/to/plugin.so");
            if (!Files.isRegularFile(p)) throw new PluginNotFoundException("PJRT plugin " + p + " (from --device " + d + ") does not exist or is not a file");
            return Optional.of(new PluginLocation(d, p, "--device"));
        }
        List<String> searched = new ArrayList<>();
        return switch (d) {
            case "tpu" -> Optional.of(find(d, searched, "TPU_LIBRARY_PATH",
                    List.of("libtpu/libtpu.so"), List.of("lib/libtpu.so", "lib64/libtpu.so"),
                    "install the libtpu wheel or set TPU_LIBRARY_PATH=/path/to/libtpu.so"));
            case "cuda" -> Optional.of(find(d, searched, "PJRT_PLUGIN_LIBRARY_PATH",
                    List.of("jax_plugins/xla_cuda13/xla_cuda_plugin.so", "jax_plugins/xla_cuda12/xla_cuda_plugin.so"), List.of(),
                    "install jax-cuda13-pjrt (or jax-cuda12-pjrt) or set PJRT_PLUGIN_LIBRARY_PATH=/path/to/xla_cuda_plugin.so"));
            default -> throw new IllegalArgumentException("unknown --device '" + device + "': expected cpu, tpu, cuda or pjrt:/path/to/plugin.so");
        };
    }

    private PluginLocation find(String device, List<String> searched, String envVar, List<String> inSitePackages,
                                List<String> underPrefixes, String hint) {
        String fromEnv = env.get(envVar);
        if (fromEnv != null && !fromEnv.isBlank()) {
            Path p = Path.of(fromEnv.trim());
            if (Files.isRegularFile(p)) return new PluginLocation(device, p, envVar);
            // A variable that names a missing file is a configuration error, not a reason to look elsewhere.
            throw new PluginNotFoundException(envVar + "=" + fromEnv + " does not name an existing file");
        }
        searched.add("$" + envVar + " (unset)");
        for (Path sp : sitePackages()) {
            for (String rel : inSitePackages) {
                Path p = sp.resolve(rel);
                if (Files.isRegularFile(p)) return new PluginLocation(device, p, "site-packages " + sp);
                searched.add(p.toString());
            }
        }
        for (Path prefix : systemPrefixes) {
            for (String rel : underPrefixes) {
                Path p = prefix.resolve(rel);
                if (Files.isRegularFile(p)) return new PluginLocation(device, p, "prefix " + prefix);
                searched.add(p.toString());
            }
        }
        throw new PluginNotFoundException("no PJRT plugin for --device " + device + ": " + hint + ". Searched: " + String.join(", ", searched));
    }

    /** Candidate site-packages directories in search order, without duplicates. */
    List<Path> sitePackages() {
        List<Path> out = new ArrayList<>();
        String pp = env.get("PYTHONPATH");
        if (pp != null) {
            for (String s : pp.split(java.io.File.pathSeparator)) if (!s.isBlank()) addIfDir(out, Path.of(s));
        }
        List<Path> prefixes = new ArrayList<>();
        for (String var : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) prefixes.add(Path.of(v));
        }
        if (home != null) prefixes.add(home.resolve(".local"));
        prefixes.addAll(systemPrefixes);
        for (Path prefix : prefixes) {
            for (String lib : List.of("lib", "lib64")) {
                Path libDir = prefix.resolve(lib);
                if (!Files.isDirectory(libDir)) continue;
                try (Stream<Path> s = Files.list(libDir)) {
                    s.filter(p -> p.getFileName().toString().startsWith("python3")).sorted(java.util.Comparator.reverseOrder())
                            .forEach(py -> {
                                addIfDir(out, py.resolve("site-packages"));
                                addIfDir(out, py.resolve("dist-packages"));
                            });
                } catch (IOException ignored) {
                    // An unreadable lib dir just contributes no candidates.
                }
            }
        }
        return out;
    }

    private static void addIfDir(List<Path> out, Path p) {
        if (Files.isDirectory(p) && !out.contains(p)) out.add(p);
    }
}
