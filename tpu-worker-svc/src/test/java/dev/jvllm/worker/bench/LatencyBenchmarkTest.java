package dev.jvllm.worker.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jvllm.worker.cpu.ComputePool;
import dev.jvllm.worker.cpu.CpuModelRunner;
import dev.jvllm.worker.cpu.PagedKvCache;
import dev.jvllm.worker.cpu.StepInput;
import dev.jvllm.worker.model.LlamaWeights;
import dev.jvllm.worker.model.ModelLoadException;
import dev.jvllm.worker.model.WeightType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --load-format dummy (a config.json alone) and the bench latency core. */
class LatencyBenchmarkTest {
    @TempDir
    Path tmp;

    private Path configOnly(String dtype) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("cfg-" + dtype));
        Files.writeString(dir.resolve("config.json"), """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 48, "intermediate_size": 80,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 101,
                 "max_position_embeddings": 256, "rms_norm_eps": 1e-05, "rope_theta": 10000, "tie_word_embeddings": true,
                 "torch_dtype": "%s"}""".formatted(dtype));
        return dir;
    }

    private static float[] logits(LlamaWeights w, int[] tokens) {
        try (ComputePool pool = new ComputePool(2);
             PagedKvCache cache = new PagedKvCache(w.config().numLayers(), 4, 16, w.config().kvDim())) {
            CpuModelRunner runner = new CpuModelRunner(w, pool, 64);
            return runner.forward(new StepInput(List.of(new StepInput.SeqChunk(tokens, 0, new int[]{0, 1})),
                    new int[]{tokens.length - 1}), cache).clone();
        }
    }

    @Test
    void dummyWeightsNeedOnlyConfigJsonAndAreSeeded() throws Exception {
        Path dir = configOnly("bfloat16");
        assertFalse(Files.exists(dir.resolve("model.safetensors")));
        float[] a, b, c;
        try (LlamaWeights w = LlamaWeights.dummy(dir, "auto", 7)) {
            assertEquals(WeightType.BF16, w.layer(1).wDown().type());
            assertEquals(48, w.layer(0).wDown().rows());
            assertEquals(80, w.layer(0).wDown().cols());
            a = logits(w, new int[]{1, 5, 9, 100});
        }
        try (LlamaWeights w = LlamaWeights.dummy(dir, "float16", 7)) {
            assertEquals(WeightType.F16, w.layer(0).wq().type());
        }
        try (LlamaWeights w = LlamaWeights.dummy(dir, "auto", 7)) {
            b = logits(w, new int[]{1, 5, 9, 100});
        }
        try (LlamaWeights w = LlamaWeights.dummy(dir, "auto", 8)) {
            c = logits(w, new int[]{1, 5, 9, 100});
        }
        for (int i = 0; i < 101; i++) {
            assertTrue(Float.isFinite(a[i]));
        }
        assertArrayEquals(a, b, "same seed, same weights");
        assertFalse(java.util.Arrays.equals(a, c), "another seed, other weights");
        assertThrows(ModelLoadException.class, () -> LlamaWeights.dummy(dir, "int3", 1));
    }

    @Test
    void latencyBenchmarkReportsConsistentNumbers() throws Exception {
        Path dir = configOnly("float32");
        Path json = tmp.resolve("latency.json");
        LatencyBenchmark.Options o = LatencyBenchmark.parse(new String[]{"--model", dir.toString(), "--load-format", "dummy",
                "--batch-size", "3", "--input-len", "9", "--output-len", "5", "--num-iters-warmup", "1", "--num-iters", "2",
                "--threads", "2", "--output-json", json.toString()});
        LatencyBenchmark.Result r = LatencyBenchmark.run(o, null);
        assertEquals(2, r.latencies().length);
        assertTrue(r.avgLatency() > 0 && r.p50Latency() <= r.p99Latency());
        assertTrue(r.prefillTokensPerSecond() > 0 && r.decodeTokensPerSecond() > 0);
        JsonNode n = new ObjectMapper().readTree(json.toFile());
        assertEquals(r.avgLatency(), n.get("avg_latency").asDouble(), 1e-12);
        assertEquals(2, n.get("latencies").size());
        assertThrows(IllegalArgumentException.class, () -> LatencyBenchmark.parse(new String[]{"--model", "x", "--bogus", "1"}));
        assertThrows(IllegalArgumentException.class,
                () -> LatencyBenchmark.parse(new String[]{"--model", "x", "--load-format", "pt"}));
    }

    @Test
    void percentilesInterpolateLikeNumpy() {
        double[] v = {1, 2, 3, 4, 5};
        assertEquals(3, LatencyBenchmark.percentile(v, 50), 1e-12);
        assertEquals(4.6, LatencyBenchmark.percentile(v, 90), 1e-12);
        assertEquals(1, LatencyBenchmark.percentile(v, 0), 1e-12);
    }
}
