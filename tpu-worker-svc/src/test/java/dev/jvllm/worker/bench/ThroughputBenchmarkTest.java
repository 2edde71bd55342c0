package dev.jvllm.worker.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ThroughputBenchmarkTest {
    @TempDir
    Path tmp;

    private Path configOnly() throws Exception {
        Files.writeString(tmp.resolve("config.json"), """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "intermediate_size": 48,
                 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 50,
                 "max_position_embeddings": 128, "tie_word_embeddings": true, "torch_dtype": "bfloat16"}""");
        return tmp;
    }

    @Test
    void continuousBatchingFinishesEveryRequestWithChunkedPrefill() throws Exception {
        Path dir = configOnly();
        // Budget 7 < prompt 11: prefills are chunked; at most 3 sequences run at once.
        ThroughputBenchmark.Result r = ThroughputBenchmark.run(ThroughputBenchmark.parse(new String[]{
                "--model", dir.toString(), "--load-format", "dummy", "--num-prompts", "7", "--input-len", "11",
                "--output-len", "4", "--max-num-seqs", "3", "--max-num-batched-tokens", "7", "--threads", "2",
                "--output-json", tmp.resolve("t.json").toString()}), null);
        assertEquals(7, r.requests());
        assertEquals(7 * 4, r.outputTokens());
        assertEquals(7 * 11, r.promptTokens());
        assertTrue(r.steps() >= (7 * 11 + 7 * 3) / 7, "the token budget bounds each step: " + r.steps());
        assertTrue(Files.size(tmp.resolve("t.json")) > 0);
    }

    @Test
    void aKvCacheForOneSequenceServesThemOneAtATime() throws Exception {
        Path dir = configOnly();
        ThroughputBenchmark.Result r = ThroughputBenchmark.run(ThroughputBenchmark.parse(new String[]{
                "--model", dir.toString(), "--load-format", "dummy", "--num-prompts", "3", "--input-len", "5",
                "--output-len", "3", "--kv-cache-space", "0.0000001", "--threads", "1"}), null);
        assertEquals(3 * 3, r.outputTokens());
        assertEquals(3 * 3, r.steps(), "one sequence at a time: a prefill step and two decode steps each");
        assertThrows(IllegalArgumentException.class, () -> ThroughputBenchmark.parse(new String[]{"--model", "x", "--num-prompts", "0"}));
    }
}
