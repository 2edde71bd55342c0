package dev.jvllm.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * deploy/k8s: every manifest (and every rendered overlay) deserialized into fabric8's typed Kubernetes
 * model, with no field left over (fabric8 keeps unknown fields in additionalProperties: a leftover is
 * a field the API server would reject or drop). The PodMonitoring custom resource is read as a generic
 * resource and its fields checked by hand.
 */
class KubernetesManifestsTest {
    static final Path K8S = Repo.path("deploy/k8s");
    static final Map<String, Class<? extends HasMetadata>> KINDS = Map.of(
            "Deployment", Deployment.class, "Service", Service.class, "HorizontalPodAutoscaler", HorizontalPodAutoscaler.class,
            "Secret", Secret.class, "Namespace", Namespace.class, "ServiceAccount", ServiceAccount.class,
            "PersistentVolumeClaim", PersistentVolumeClaim.class, "PodMonitoring", GenericKubernetesResource.class);

    static HasMetadata typed(Map<String, Object> doc) {
        Class<? extends HasMetadata> type = KINDS.get(String.valueOf(doc.get("kind")));
        assertNotNull(type, "unexpected kind " + doc.get("kind"));
        HasMetadata o = Repo.JSON.convertValue(doc, type);
        assertEquals(doc.get("apiVersion"), o.getApiVersion());
        if (!(o instanceof GenericKubernetesResource)) {
            List<String> leftovers = new ArrayList<>();
            unknownFields(o, o.getKind() + "/" + o.getMetadata().getName(), leftovers, new IdentityHashMap<>());
            assertTrue(leftovers.isEmpty(), "fields the Kubernetes API does not have: " + leftovers);
        }
        return o;
    }

    /** Walks fabric8 model objects collecting non-empty additionalProperties (= unknown fields). */
    static void unknownFields(Object o, String path, List<String> out, Map<Object, Boolean> seen) {
        if (o == null || seen.put(o, true) != null) {
            return;
        }
        if (o instanceof Iterable<?> it) {
            int i = 0;
            for (Object x : it) {
                unknownFields(x, path + "[" + i++ + "]", out, seen);
            }
            return;
        }
        if (o instanceof Map<?, ?> m) {
            m.forEach((k, v) -> unknownFields(v, path + "." + k, out, seen));
            return;
        }
        if (!o.getClass().getName().startsWith("io.fabric8.")) {
            return;
        }
        for (Method m : o.getClass().getMethods()) {
            if (m.getParameterCount() != 0 || Modifier.isStatic(m.getModifiers()) || !m.getName().startsWith("get")
                    || m.getDeclaringClass() == Object.class) {
                continue;
            }
            try {
                Object v = m.invoke(o);
                if (m.getName().equals("getAdditionalProperties")) {
                    if (v instanceof Map<?, ?> extra && !extra.isEmpty()) {
                        out.add(path + " " + extra.keySet());
                    }
                } else {
                    unknownFields(v, path + "." + m.getName().substring(3), out, seen);
                }
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private static final Map<String, List<Map<String, Object>>> RENDERED = new java.util.concurrent.ConcurrentHashMap<>();

    /** The overlay rendered by kustomize (or kubectl kustomize) when installed, else by MiniKustomize. */
    static List<Map<String, Object>> render(String overlay) throws Exception {
        List<Map<String, Object>> cached = RENDERED.get(overlay);
        if (cached == null) {
            cached = renderUncached(overlay);
            RENDERED.put(overlay, cached);
        }
        return cached;
    }

    private static List<Map<String, Object>> renderUncached(String overlay) throws Exception {
        Path dir = K8S.resolve(overlay);
        List<String> kustomize = kustomizeCommand(dir);
        if (kustomize != null) {
            ComposeFileTest.Result r = ComposeFileTest.run(kustomize);
            assertEquals(0, r.code(), "kustomize failed for " + overlay + ":\n" + r.output());
            return Repo.yamlDocuments(r.output());
        }
        return MiniKustomize.render(dir);
    }

    static List<String> kustomizeCommand(Path dir) {
        if (Boolean.getBoolean("deploy.tests.miniKustomize")) {
            return null; // -Ddeploy.tests.miniKustomize=true: exercise the fallback renderer on a machine with kubectl
        }
        if (ComposeFileTest.onPath("kustomize")) {
            return List.of("kustomize", "build", dir.toString());
        }
        if (ComposeFileTest.onPath("kubectl")) {
            return List.of("kubectl", "kustomize", dir.toString());
        }
        return null;
    }

    static <T> T one(List<HasMetadata> objects, Class<T> type, String name) {
        return objects.stream().filter(type::isInstance).map(type::cast)
                .filter(o -> ((HasMetadata) o).getMetadata().getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + type.getSimpleName() + " " + name));
    }

    static List<HasMetadata> typedRender(String overlay) throws Exception {
        return render(overlay).stream().map(KubernetesManifestsTest::typed).toList();
    }

    static Container container(PodSpec pod, String name) {
        return Stream.concat(pod.getInitContainers().stream(), pod.getContainers().stream())
                .filter(c -> c.getName().equals(name)).findFirst().orElseThrow(() -> new AssertionError("no container " + name));
    }

    @Test
    void everyManifestFileIsAValidTypedObject() throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.walk(K8S)) {
            files = s.filter(p -> p.toString().endsWith(".yaml") && !p.getFileName().toString().equals("kustomization.yaml")).toList();
        }
        assertTrue(files.size() >= 8, "manifests: " + files);
        for (Path f : files) {
            for (Map<String, Object> doc : Repo.yamlDocuments(Files.readString(f))) {
                if (f.getParent().getFileName().toString().equals("base")) {
                    typed(doc);
                } else {
                    // Overlay patches are partial objects: still no unknown fields allowed.
                    List<String> leftovers = new ArrayList<>();
                    Object o = Repo.JSON.convertValue(doc, KINDS.get(String.valueOf(doc.get("kind"))));
                    unknownFields(o, f.toString(), leftovers, new IdentityHashMap<>());
                    assertTrue(leftovers.isEmpty(), leftovers.toString());
                }
            }
        }
    }

    @Test
    void theUnknownFieldCheckCatchesAMisspelling() throws IOException {
        String deployment = Files.readString(K8S.resolve("base/deployment.yaml")).replace("containerPort: 8000", "containerPrt: 8000");
        assertThrows(AssertionError.class, () -> typed(Repo.yamlDocuments(deployment).get(0)));
    }

    @Test
    void everyServeCommandInTheManifestsUsesRealFlags() throws Exception {
        Set<String> flags = Repo.serveFlags();
        for (String overlay : List.of("overlays/cpu", "overlays/gke-tpu-v6e")) {
            Deployment d = one(typedRender(overlay), Deployment.class, "jvllm");
            PodSpec pod = d.getSpec().getTemplate().getSpec();
            for (Container c : Stream.concat(pod.getInitContainers().stream(), pod.getContainers().stream()).toList()) {
                List<String> args = c.getArgs();
                assertEquals("serve", args.get(0));
                assertTrue(args.contains("--role=" + c.getName()), c.getName() + " runs role " + c.getName());
                for (String a : args.subList(1, args.size())) {
                    String f = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
                    assertTrue(flags.contains(f), overlay + " " + c.getName() + ": " + f + " is not a jvllm serve flag");
                }
            }
            // Loopback wiring inside the pod matches the ports the sidecars listen on.
            assertTrue(container(pod, "scheduler").getArgs().contains("--worker-address=127.0.0.1:"
                    + container(pod, "worker").getPorts().get(0).getContainerPort()));
            assertTrue(container(pod, "gateway").getArgs().contains("--tokenizer-address=127.0.0.1:"
                    + container(pod, "tokenizer").getPorts().get(0).getContainerPort()));
            assertTrue(container(pod, "gateway").getArgs().contains("--scheduler-address=127.0.0.1:"
                    + container(pod, "scheduler").getPorts().get(0).getContainerPort()));
        }
    }

    @Test
    void probesSecretServiceMonitoringAndAutoscaler() throws Exception {
        List<HasMetadata> objects = typedRender("overlays/cpu");
        objects.forEach(o -> {
            if (!(o instanceof Namespace)) {
                assertEquals("jvllm", o.getMetadata().getNamespace(), o.getKind() + " " + o.getMetadata().getName());
            }
        });
        PodSpec pod = one(objects, Deployment.class, "jvllm").getSpec().getTemplate().getSpec();
        for (String grpc : List.of("worker", "tokenizer")) {
            Container c = container(pod, grpc);
            assertEquals("Always", c.getRestartPolicy(), grpc + " is a native sidecar, started before the others");
            assertEquals(c.getPorts().get(0).getContainerPort(), c.getStartupProbe().getGrpc().getPort());
            assertNotNull(c.getLivenessProbe().getGrpc());
        }
        assertEquals(50051, container(pod, "scheduler").getReadinessProbe().getGrpc().getPort());
        assertEquals("/health", container(pod, "gateway").getReadinessProbe().getHttpGet().getPath());
        assertEquals("/health", container(pod, "gateway").getLivenessProbe().getHttpGet().getPath());
        assertTrue(container(pod, "gateway").getImage().equals("jvllm:cpu"));
        var token = container(pod, "worker").getEnv().stream().filter(e -> e.getName().equals("HUGGING_FACE_HUB_TOKEN"))
                .findFirst().orElseThrow().getValueFrom().getSecretKeyRef();
        Secret secret = one(objects, Secret.class, token.getName());
        assertEquals("hf-secret", secret.getMetadata().getName());
        assertTrue(secret.getData().containsKey(token.getKey()));
        assertEquals("hf_api_token", token.getKey());
        assertEquals("/cache/xla", container(pod, "worker").getEnv().stream()
                .filter(e -> e.getName().equals("VLLM_XLA_CACHE_PATH")).findFirst().orElseThrow().getValue());
        assertEquals("jvllm-models", pod.getVolumes().stream().filter(v -> v.getName().equals("data")).findFirst()
                .orElseThrow().getPersistentVolumeClaim().getClaimName());

        Service api = one(objects, Service.class, "jvllm");
        assertEquals("LoadBalancer", api.getSpec().getType());
        assertEquals(d(objects).getSpec().getSelector().getMatchLabels(), api.getSpec().getSelector());

        GenericKubernetesResource pm = one(objects, GenericKubernetesResource.class, "jvllm-pod-monitoring");
        assertEquals("monitoring.googleapis.com/v1", pm.getApiVersion());
        assertEquals("PodMonitoring", pm.getKind());
        JsonNode spec = Repo.JSON.valueToTree(pm.getAdditionalProperties().get("spec"));
        assertEquals(Set.of("selector", "endpoints"), fieldNames(spec));
        assertEquals(Repo.JSON.valueToTree(d(objects).getSpec().getSelector().getMatchLabels()), spec.get("selector").get("matchLabels"));
        JsonNode endpoint = spec.get("endpoints").get(0);
        assertTrue(Set.of("port", "path", "interval", "scheme", "timeout").containsAll(fieldNames(endpoint)), endpoint.toString());
        assertEquals("/metrics", endpoint.get("path").asText());
        assertEquals(container(pod, "gateway").getPorts().get(0).getContainerPort().intValue(), endpoint.get("port").asInt());
        assertTrue(endpoint.get("interval").asText().matches("\\d+s"));

        HorizontalPodAutoscaler hpa = one(objects, HorizontalPodAutoscaler.class, "jvllm-hpa");
        assertEquals("autoscaling/v2", hpa.getApiVersion());
        assertEquals("Deployment", hpa.getSpec().getScaleTargetRef().getKind());
        assertEquals("jvllm", hpa.getSpec().getScaleTargetRef().getName());
        var metric = hpa.getSpec().getMetrics().get(0);
        assertEquals("Pods", metric.getType());
        assertEquals("prometheus.googleapis.com|vllm:num_requests_waiting|gauge", metric.getPods().getMetric().getName());
        assertEquals("AverageValue", metric.getPods().getTarget().getType());
        assertEquals(new Quantity("10"), metric.getPods().getTarget().getAverageValue());
    }

    static Deployment d(List<HasMetadata> objects) {
        return one(objects, Deployment.class, "jvllm");
    }

    static Set<String> fieldNames(JsonNode n) {
        Set<String> names = new java.util.HashSet<>();
        n.fieldNames().forEachRemaining(names::add);
        return names;
    }

    @Test
    void tpuOverlayPutsTheWorkerOnAV6eSliceWithEightChipsAndGcsFuse() throws Exception {
        List<HasMetadata> objects = typedRender("overlays/gke-tpu-v6e");
        Deployment d = d(objects);
        PodSpec pod = d.getSpec().getTemplate().getSpec();
        assertEquals(Map.of("cloud.google.com/gke-tpu-accelerator", "tpu-v6e-slice", "cloud.google.com/gke-tpu-topology", "2x4"),
                pod.getNodeSelector());
        Container worker = container(pod, "worker");
        assertEquals(new Quantity("8"), worker.getResources().getLimits().get("google.com/tpu"));
        assertEquals(new Quantity("8"), worker.getResources().getRequests().get("google.com/tpu"));
        assertTrue(worker.getArgs().contains("--tensor-parallel-size=8"), worker.getArgs().toString());
        assertTrue(worker.getArgs().contains("--device=tpu"));
        assertTrue(worker.getArgs().contains("--download-dir=/data"));
        for (Container c : Stream.concat(pod.getInitContainers().stream(), pod.getContainers().stream()).toList()) {
            assertTrue(c.getImage().endsWith("/jvllm:tpu"), c.getImage());
            if (!c.getName().equals("worker")) {
                assertTrue(c.getResources() == null || c.getResources().getLimits() == null
                        || !c.getResources().getLimits().containsKey("google.com/tpu"), "only the worker holds the TPU");
            }
        }
        assertEquals("true", d.getSpec().getTemplate().getMetadata().getAnnotations().get("gke-gcsfuse/volumes"));
        Volume data = pod.getVolumes().stream().filter(v -> v.getName().equals("data")).findFirst().orElseThrow();
        assertEquals(null, data.getEmptyDir(), "the patch must replace the base emptyDir, not add beside it");
        assertEquals("gcsfuse.csi.storage.gke.io", data.getCsi().getDriver());
        assertNotNull(data.getCsi().getVolumeAttributes().get("bucketName"));
        assertTrue(worker.getVolumeMounts().stream().anyMatch(m -> m.getName().equals("data") && m.getMountPath().equals("/data")));
        assertEquals("/data/xla-cache", worker.getEnv().stream().filter(e -> e.getName().equals("VLLM_XLA_CACHE_PATH"))
                .findFirst().orElseThrow().getValue(), "compiled programs persist in the bucket");
        assertTrue(worker.getEnv().stream().anyMatch(e -> e.getName().equals("HUGGING_FACE_HUB_TOKEN")), "the patch keeps base env");
        assertTrue(data.getCsi().getVolumeAttributes().get("mountOptions").contains("uid=10001"),
                "the non-root user must be able to write the bucket mount");
        assertEquals("jvllm", pod.getServiceAccountName());
        one(objects, ServiceAccount.class, "jvllm");
        assertEquals(new Quantity("16Gi"), pod.getVolumes().stream().filter(v -> v.getName().equals("dshm")).findFirst()
                .orElseThrow().getEmptyDir().getSizeLimit());
        HorizontalPodAutoscaler hpa = one(objects, HorizontalPodAutoscaler.class, "jvllm-hpa");
        assertEquals("prometheus.googleapis.com|vllm:num_requests_waiting|gauge",
                hpa.getSpec().getMetrics().get(0).getPods().getMetric().getName(), "the overlay must keep the base metric");
        assertTrue(hpa.getSpec().getMaxReplicas() > hpa.getSpec().getMinReplicas());
    }

    /** The fallback renderer must agree with real kustomize, or its results above would mean nothing. */
    @Test
    void miniKustomizeMatchesRealKustomize() throws Exception {
        for (String overlay : List.of("base", "overlays/cpu", "overlays/gke-tpu-v6e")) {
            List<String> kustomize = kustomizeCommand(K8S.resolve(overlay));
            assumeTrue(kustomize != null, "SKIPPED: no kustomize/kubectl binary; MiniKustomize is unchecked against it");
            ComposeFileTest.Result r = ComposeFileTest.run(kustomize);
            assertEquals(0, r.code(), r.output());
            Map<String, JsonNode> expected = byKindAndName(Repo.yamlDocuments(r.output()));
            Map<String, JsonNode> actual = byKindAndName(MiniKustomize.render(K8S.resolve(overlay)));
            assertEquals(expected.keySet(), actual.keySet(), overlay);
            for (String key : expected.keySet()) {
                assertEquals(expected.get(key), actual.get(key), overlay + " " + key);
            }
        }
    }

    static Map<String, JsonNode> byKindAndName(List<Map<String, Object>> docs) {
        Map<String, JsonNode> out = new HashMap<>();
        for (Map<String, Object> d : docs) {
            out.put(d.get("kind") + "/" + MiniKustomize.name(d), Repo.JSON.valueToTree(d));
        }
        return out;
    }

    @SuppressWarnings("unused")
    private static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
