package dev.jvllm.worker.pjrt;

import dev.jvllm.common.testing.SharedData;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.worker.model.ModelConfig;
import dev.jvllm.worker.model.SafetensorsFile;
import dev.jvllm.worker.model.WeightFiles;
import dev.jvllm.worker.pjrt.StableHloInterpreter.Tensor;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The real stories260K model through the emitted program (f32 storage), executed by the reference interpreter:
 * chunked prefill, then greedy decode over the paged cache, must reproduce golden.json's token ids exactly.
 */
class Stories260kGoldenTest {

    static final Path MODEL = SharedData.stories260K();
    static final int BLOCK = 16, NUM_BLOCKS = 4, GENERATE = 12;

    @Test
    void greedyDecodeReproducesGoldenIds() throws IOException {
        LlamaShape shape = LlamaShape.of(ModelConfig.read(MODEL));
        BucketPlanner planner = new BucketPlanner(new int[] {4}, new int[] {1}, 4);
        StableHloModelEmitter.Program program = new StableHloModelEmitter().emit(shape, planner.bucketFor(4, 1), BLOCK, NUM_BLOCKS, PjrtElementType.F32);

        Map<String, double[]> weights = new HashMap<>();
        try (Arena mapping = Arena.ofConfined()) {
            WeightFiles files = WeightFiles.open(MODEL, mapping);
            for (String name : StableHloModelEmitter.weightNames(shape)) {
                SafetensorsFile.StoredTensor t = files.get(name, StableHloModelEmitter.weightShape(shape, name));
                double[] v = new double[(int) t.numElements()];
                for (int i = 0; i < v.length; i++) v[i] = HostTensors.get(t, i);
                weights.put(name, v);
            }
        }
        JsonNode golden = new ObjectMapper().readTree(MODEL.resolve("golden.json").toFile()).get(0);
        int[] prompt = new int[golden.get("prompt_ids").size()];
        for (int i = 0; i < prompt.length; i++) prompt[i] = golden.get("prompt_ids").get(i).asInt();
        int[] blocks = {2, 0, 3}; // deliberately out of order

        List<Tensor> caches = new ArrayList<>();
        for (int i = 0; i < 2 * shape.layers(); i++) caches.add(Tensor.zeros("f32", (long) BLOCK * NUM_BLOCKS, shape.kvHeads(), shape.headDim()));

        // Prefill in chunks of at most 4 tokens (the only token bucket); only the last chunk samples.
        int pos = 0;
        int next = -1;
        while (pos < prompt.length) {
            int len = Math.min(4, prompt.length - pos);
            int[] chunk = java.util.Arrays.copyOfRange(prompt, pos, pos + len);
            boolean last = pos + len == prompt.length;
            StepOut out = run(program, planner, weights, caches, chunk, pos, blocks, last);
            caches = out.caches;
            next = out.id;
            pos += len;
        }
        List<Integer> generated = new ArrayList<>();
        generated.add(next);
        while (generated.size() < GENERATE) {
            StepOut out = run(program, planner, weights, caches, new int[] {next}, pos++, blocks, true);
            caches = out.caches;
            next = out.id;
            generated.add(next);
        }
        List<Integer> expected = new ArrayList<>();
        for (int i = 0; i < GENERATE; i++) expected.add(golden.get("greedy_ids").get(i).asInt());
        assertEquals(expected, generated);
    }

    record StepOut(int id, List<Tensor> caches) {}

    static StepOut run(StableHloModelEmitter.Program p, BucketPlanner planner, Map<String, double[]> weights, List<Tensor> caches,
                       int[] tokens, int start, int[] blocks, boolean sample) {
        ScheduledSeq.Builder b = ScheduledSeq.newBuilder().setSeqId(1).setStartPos(start).setDoSample(sample);
        for (int t : tokens) b.addTokenIds(t);
        for (int x : blocks) b.addBlockTable(x);
        StepInputs inputs = StepInputs.build(List.of(b.build()), List.of(SamplingState.GREEDY), planner, BLOCK, NUM_BLOCKS);
        Map<String, Object> byName = inputs.byParamName();
        List<Tensor> args = new ArrayList<>();
        int c = 0;
        for (StableHloModelEmitter.Param param : p.params()) {
            args.add(switch (param.role()) {
                case WEIGHT -> new Tensor(param.shape(), param.type().mlir, weights.get(param.name()));
                case KV_CACHE -> caches.get(c++);
                case STEP_INPUT -> new Tensor(param.shape(), param.type().mlir,
                        StableHloProgramSemanticsTest.toDoubles(byName.get(param.name()), param.type()));
            });
        }
        List<Tensor> out = new StableHloInterpreter().run(p.mlir(), args);
        return new StepOut((int) out.get(0).data()[0], out.subList(1, out.size()));
    }
}
