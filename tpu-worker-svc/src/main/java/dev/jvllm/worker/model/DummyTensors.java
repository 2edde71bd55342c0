package dev.jvllm.worker.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/** The tensors of {@link WeightFiles#dummy}: which exist for a config, and their random contents. */
final class DummyTensors {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final ModelConfig config;
    private final SafetensorsFile.DType dtype;
    private final long seed;
    private final Arena arena;

    DummyTensors(ModelConfig config, SafetensorsFile.DType dtype, long seed, Arena arena) {
        this.config = config;
        this.dtype = dtype;
        this.seed = seed;
        this.arena = arena;
    }

    boolean has(String name) {
        if (name.equals("lm_head.weight")) {
            return !config.tieWordEmbeddings();
        }
        if (name.endsWith("q_proj.bias") || name.endsWith("k_proj.bias") || name.endsWith("v_proj.bias")) {
            return config.qkvBias();
        }
        if (name.endsWith("o_proj.bias")) {
            return config.oBias();
        }
        if (name.endsWith("q_norm.weight") || name.endsWith("k_norm.weight")) {
            return config.qkNorm();
        }
        return name.startsWith("model.");
    }

    SafetensorsFile.StoredTensor make(String name, Path source, long[] shape) {
        long count = 1;
        for (long d : shape) {
            count *= d;
        }
        long n = count;
        double center, scale;
        if (name.endsWith("norm.weight")) {
            center = 1;
            scale = 0.1;
        } else if (name.endsWith(".bias")) {
            center = 0;
            scale = 0.2;
        } else if (name.equals("model.embed_tokens.weight")) {
            center = 0;
            scale = 1;
        } else {
            center = 0;
            scale = Math.sqrt(3.0 / shape[shape.length - 1]);
        }
        // Vectors stay f32 like the converted ones of a real checkpoint; matrices take the requested dtype.
        SafetensorsFile.DType type = shape.length == 1 ? SafetensorsFile.DType.F32 : dtype;
        MemorySegment data = arena.allocate(n * type.bytes, 64);
        long perChunk = 1 << 16;
        int chunks = (int) ((n + perChunk - 1) / perChunk);
        long tensorSeed = seed * 0x9E3779B97F4A7C15L + name.hashCode();
        // Chunks are seeded by index, so the values do not depend on how the fill is parallelized.
        IntStream.range(0, chunks).parallel().forEach(ch -> {
            SplittableRandom rng = new SplittableRandom(tensorSeed + ch * 0xBF58476D1CE4E5B9L);
            long end = Math.min(n, (ch + 1) * perChunk);
            for (long i = ch * perChunk; i < end; i++) {
                float v = (float) (center + scale * (2 * rng.nextDouble() - 1));
                switch (type) {
                    case F32 -> data.set(F32, i * 4, v);
                    case F16 -> data.set(HALF, i * 2, Float.floatToFloat16(v));
                    case BF16 -> data.set(HALF, i * 2, (short) (Float.floatToRawIntBits(v) >>> 16));
                }
            }
        });
        return new SafetensorsFile.StoredTensor(name, source, type, shape, data);
    }
}
