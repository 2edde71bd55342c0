package dev.jvllm.deploy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The part of kustomize our manifests use, for machines without kubectl/kustomize: resources (files and
 * kustomization directories), secretGenerator (envs, no name hash), labels (pairs, metadata only),
 * patches (strategic merge by path, targeted by kind and name), namespace and images. Anything else in
 * a kustomization is refused rather than silently ignored. Where kubectl exists, KubernetesManifestsTest
 * checks this renderer's output equals `kubectl kustomize`.
 */
final class MiniKustomize {
    private static final Set<String> SUPPORTED = Set.of("apiVersion", "kind", "resources", "secretGenerator", "labels",
            "patches", "namespace", "images");
    private static final Set<String> CLUSTER_SCOPED = Set.of("Namespace", "PersistentVolume", "ClusterRole",
            "ClusterRoleBinding", "StorageClass", "CustomResourceDefinition");
    /** Strategic-merge keys of the list fields we patch (from the Kubernetes API's patchMergeKey tags). */
    private static final Map<String, String> MERGE_KEYS = Map.of("containers", "name", "initContainers", "name",
            "volumes", "name", "env", "name", "volumeMounts", "mountPath", "ports", "containerPort");

    private MiniKustomize() {}

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> render(Path dir) throws IOException {
        Map<String, Object> k = Repo.yaml(Files.readString(dir.resolve("kustomization.yaml")));
        for (String key : k.keySet()) {
            if (!SUPPORTED.contains(key)) {
                throw new IllegalArgumentException(dir + ": kustomization field `" + key + "` is not supported by MiniKustomize");
            }
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (String r : (List<String>) k.getOrDefault("resources", List.of())) {
            Path p = dir.resolve(r).normalize();
            if (Files.isDirectory(p)) {
                out.addAll(render(p));
            } else {
                out.addAll(Repo.yamlDocuments(Files.readString(p)));
            }
        }
        for (Map<String, Object> g : (List<Map<String, Object>>) k.getOrDefault("secretGenerator", List.of())) {
            Map<String, Object> options = (Map<String, Object>) g.getOrDefault("options", Map.of());
            if (!Boolean.TRUE.equals(options.get("disableNameSuffixHash"))) {
                throw new IllegalArgumentException("MiniKustomize only generates secrets with disableNameSuffixHash");
            }
            Map<String, Object> data = new LinkedHashMap<>();
            for (String env : (List<String>) g.getOrDefault("envs", List.of())) {
                for (String line : Files.readAllLines(dir.resolve(env))) {
                    String l = line.strip();
                    if (l.isEmpty() || l.startsWith("#")) {
                        continue;
                    }
                    int eq = l.indexOf('=');
                    data.put(l.substring(0, eq), Base64.getEncoder().encodeToString(
                            l.substring(eq + 1).getBytes(StandardCharsets.UTF_8)));
                }
            }
            Map<String, Object> secret = new LinkedHashMap<>();
            secret.put("apiVersion", "v1");
            secret.put("kind", "Secret");
            secret.put("metadata", new LinkedHashMap<>(Map.of("name", g.get("name"))));
            secret.put("type", "Opaque");
            secret.put("data", data);
            out.add(secret);
        }
        for (Map<String, Object> p : (List<Map<String, Object>>) k.getOrDefault("patches", List.of())) {
            if (p.keySet().size() != 1 || !p.containsKey("path")) {
                throw new IllegalArgumentException("MiniKustomize supports `patches: - path: FILE` only, got " + p);
            }
            for (Map<String, Object> patch : Repo.yamlDocuments(Files.readString(dir.resolve((String) p.get("path"))))) {
                Map<String, Object> target = out.stream()
                        .filter(o -> o.get("kind").equals(patch.get("kind")) && name(o).equals(name(patch)))
                        .findFirst()
                        .orElseThrow(() -> new IllegalArgumentException("patch " + p + " matches no resource"));
                merge(target, patch, null);
            }
        }
        for (Map<String, Object> l : (List<Map<String, Object>>) k.getOrDefault("labels", List.of())) {
            if (l.keySet().size() != 1) {
                throw new IllegalArgumentException("MiniKustomize supports `labels: - pairs:` only");
            }
            for (Map<String, Object> o : out) {
                ((Map<String, Object>) ((Map<String, Object>) o.get("metadata"))
                        .computeIfAbsent("labels", x -> new LinkedHashMap<>())).putAll((Map<String, Object>) l.get("pairs"));
            }
        }
        if (k.containsKey("namespace")) {
            for (Map<String, Object> o : out) {
                if (!CLUSTER_SCOPED.contains(o.get("kind"))) {
                    ((Map<String, Object>) o.get("metadata")).put("namespace", k.get("namespace"));
                }
            }
        }
        for (Map<String, Object> image : (List<Map<String, Object>>) k.getOrDefault("images", List.of())) {
            for (Map<String, Object> o : out) {
                retag(o, image);
            }
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    static String name(Map<String, Object> o) {
        return String.valueOf(((Map<String, Object>) o.get("metadata")).get("name"));
    }

    @SuppressWarnings("unchecked")
    private static void merge(Map<String, Object> target, Map<String, Object> patch, String field) {
        for (Map.Entry<String, Object> e : patch.entrySet()) {
            String key = e.getKey();
            Object value = e.getValue();
            Object existing = target.get(key);
            if (value == null) {
                target.remove(key);
            } else if (value instanceof Map<?, ?> pm && existing instanceof Map<?, ?> em) {
                merge((Map<String, Object>) em, (Map<String, Object>) pm, key);
            } else if (value instanceof List<?> pl && existing instanceof List<?> el && MERGE_KEYS.containsKey(key)) {
                // Like kustomize's merge: the patch's items first, in patch order, then the untouched rest.
                String mk = MERGE_KEYS.get(key);
                List<Object> remaining = new ArrayList<>((List<Object>) el);
                List<Object> merged = new ArrayList<>();
                for (Object item : pl) {
                    Map<String, Object> pi = (Map<String, Object>) item;
                    Map<String, Object> match = null;
                    for (Object t : remaining) {
                        if (t instanceof Map<?, ?> tm && tm.get(mk) != null && tm.get(mk).equals(pi.get(mk))) {
                            match = (Map<String, Object>) tm;
                        }
                    }
                    if (match == null) {
                        merged.add(deepCopyWithoutNulls(pi));
                    } else {
                        remaining.remove(match);
                        merge(match, pi, key);
                        merged.add(match);
                    }
                }
                merged.addAll(remaining);
                target.put(key, merged);
            } else {
                target.put(key, deepCopyWithoutNulls(value));
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static Object deepCopyWithoutNulls(Object v) {
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> c = new LinkedHashMap<>();
            m.forEach((k, x) -> {
                if (x != null) {
                    c.put((String) k, deepCopyWithoutNulls(x));
                }
            });
            return c;
        }
        if (v instanceof List<?> l) {
            List<Object> c = new ArrayList<>();
            l.forEach(x -> c.add(deepCopyWithoutNulls(x)));
            return c;
        }
        return v;
    }

    /** images: every `image:` field anywhere whose name (sans tag/digest) matches gets newName:newTag. */
    @SuppressWarnings("unchecked")
    private static void retag(Object node, Map<String, Object> image) {
        if (node instanceof Map<?, ?> m) {
            Map<String, Object> map = (Map<String, Object>) m;
            Object img = map.get("image");
            if (img instanceof String s && (map.containsKey("name") || map.containsKey("args"))) {
                String bare = s.contains("@") ? s.substring(0, s.indexOf('@'))
                        : s.lastIndexOf(':') > s.lastIndexOf('/') ? s.substring(0, s.lastIndexOf(':')) : s;
                if (bare.equals(image.get("name"))) {
                    String newName = (String) image.getOrDefault("newName", bare);
                    map.put("image", image.containsKey("newTag") ? newName + ":" + image.get("newTag") : newName);
                }
            }
            map.values().forEach(v -> retag(v, image));
        } else if (node instanceof List<?> l) {
            l.forEach(v -> retag(v, image));
        }
    }
}
