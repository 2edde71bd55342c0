package dev.jvllm.worker.pjrt;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jvllm.proto.InitCacheResponse;
import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.proto.SeqOutput;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.proto.WorkerInfo;
import dev.jvllm.worker.ModelBackend;
import dev.jvllm.worker.model.ModelConfig;
import dev.jvllm.worker.model.SafetensorsFile;
import dev.jvllm.worker.model.WeightFiles;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The worker's model execution on a PJRT device: weights uploaded once, a KV cache of two device buffers per layer,
 * one precompiled executable per bucket, and per step only the small step inputs go up and the sampled ids come back.
 *
 * <p>Not thread-safe: like the CPU backend, the Worker service calls it from its single step thread. Methods throw
 * {@link IllegalArgumentException} for requests to answer with INVALID_ARGUMENT, {@link IllegalStateException} for
 * FAILED_PRECONDITION (no cache yet), and {@link PjrtException} for device errors.
 */
public final class PjrtWorkerBackend implements ModelBackend {

    /**
     * @param kvCacheSpaceGiB   device memory for the KV cache when InitCache asks for 0 blocks
     * @param jvllmVersion      goes into the compile cache key with the emitter version and storage type
     * @param console           warmup progress; null for none
     */
    public record Options(Path modelDir, int maxModelLen, int maxNumBatchedTokens, int maxNumSeqs, int bucketPaddingGap,
                          double kvCacheSpaceGiB, Path compileCacheDir, long seed, PjrtElementType storage,
                          int warmupParallelism, String jvllmVersion, PrintStream console) {

        public static Options defaults(Path modelDir, Path compileCacheDir) {
            return new Options(modelDir, 0, 512, 64, 0, 4.0, compileCacheDir, 0, PjrtElementType.BF16, 2, "0.1.0-SNAPSHOT", System.err);
        }

        public Options withLimits(int maxModelLen, int maxNumBatchedTokens, int maxNumSeqs) {
            return new Options(modelDir, maxModelLen, maxNumBatchedTokens, maxNumSeqs, bucketPaddingGap, kvCacheSpaceGiB,
                    compileCacheDir, seed, storage, warmupParallelism, jvllmVersion, console);
        }

        public Options withStorage(PjrtElementType s) {
            return new Options(modelDir, maxModelLen, maxNumBatchedTokens, maxNumSeqs, bucketPaddingGap, kvCacheSpaceGiB,
                    compileCacheDir, seed, s, warmupParallelism, jvllmVersion, console);
        }

        public Options withConsole(PrintStream c) {
            return new Options(modelDir, maxModelLen, maxNumBatchedTokens, maxNumSeqs, bucketPaddingGap, kvCacheSpaceGiB,
                    compileCacheDir, seed, storage, warmupParallelism, jvllmVersion, c);
        }
    }

    private final Options options;
    private final DeviceRuntime device;
    private final ModelConfig config;
    private final LlamaShape shape;
    private final int maxModelLen;
    private final StableHloModelEmitter emitter = new StableHloModelEmitter();
    private final List<DeviceRuntime.Buffer> weights = new ArrayList<>();
    private final Random seeds;

    // Set by initCache.
    private int blockSize;
    private int numBlocks;
    private BucketPlanner planner;
    private Map<BucketPlanner.Bucket, DeviceRuntime.Executable> executables = Map.of();
    private List<DeviceRuntime.Buffer> caches = new ArrayList<>();
    private final Map<Long, SamplingState> sequences = new HashMap<>();

    public PjrtWorkerBackend(Options options, DeviceRuntime device) {
        this(options, ModelConfig.read(options.modelDir()), device);
    }

    /** With the model's config already read (and checked) by the caller; {@code device} is closed with the backend. */
    public PjrtWorkerBackend(Options options, ModelConfig config, DeviceRuntime device) {
        this.options = options;
        this.device = device;
        this.config = config;
        if (options.maxModelLen() > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("--max-model-len " + options.maxModelLen() + " exceeds the model's max_position_embeddings "
                    + config.maxPositionEmbeddings());
        }
        this.maxModelLen = options.maxModelLen() == 0 ? config.maxPositionEmbeddings() : options.maxModelLen();
        this.seeds = new Random(options.seed());
        this.shape = uploadWeights(LlamaShape.of(config));
    }

    /**
     * One host-to-device copy per tensor, read through the worker's memory-mapped loader and converted to the storage
     * type on the way; shapes are checked against config.json. Returns the shape actually served (an untied model
     * without lm_head.weight is served tied, as the cpu backend and Hugging Face do).
     */
    private LlamaShape uploadWeights(LlamaShape declared) {
        try (Arena mapping = Arena.ofShared()) {
            WeightFiles files = WeightFiles.open(options.modelDir(), mapping);
            LlamaShape served = !declared.tiedEmbeddings() && !files.has("lm_head.weight") ? declared.withTiedEmbeddings() : declared;
            for (String name : StableHloModelEmitter.weightNames(served)) {
                long[] expected = StableHloModelEmitter.weightShape(served, name);
                SafetensorsFile.StoredTensor t = files.get(name, expected);
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment host = arena.allocate(t.numElements() * options.storage().bytes, 8);
                    HostTensors.copyAs(t, options.storage(), host);
                    weights.add(device.upload(options.storage(), expected, host));
                }
            }
            return served;
        } catch (RuntimeException e) {
            weights.forEach(DeviceRuntime.Buffer::close);
            throw e;
        }
    }

    /** The program depends on the shape only (not on eos ids or dtype labels), so that is what keys the compile cache. */
    private static String shapeJson(LlamaShape shape) {
        try {
            return new ObjectMapper().writeValueAsString(shape);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize " + shape, e);
        }
    }

    public LlamaShape shape() { return shape; }

    public long kvBytesPerBlockToken() {
        return (long) shape.layers() * 2 * shape.kvDim() * options.storage().bytes;
    }

    @Override
    public boolean hasSequence(long seqId) {
        return sequences.containsKey(seqId);
    }

    @Override
    public WorkerInfo describe() {
        return WorkerInfo.newBuilder()
                .setModel(options.modelDir().toString())
                .setConfig(dev.jvllm.proto.ModelConfig.newBuilder().setArchitecture(shape.architecture()).setHiddenSize(shape.hidden())
                        .setNumLayers(shape.layers()).setNumHeads(shape.heads()).setNumKvHeads(shape.kvHeads()).setHeadDim(shape.headDim())
                        .setIntermediateSize(shape.intermediate()).setVocabSize(shape.vocab()).setMaxPositionEmbeddings(shape.maxPositions())
                        .setDtype(options.storage() == PjrtElementType.BF16 ? "bfloat16" : "float32"))
                .addAllEosTokenIds(config.eosTokenIds())
                .setBackend("pjrt:" + device.platformName())
                .setMaxModelLen(maxModelLen)
                .setKvBytesPerBlockToken(kvBytesPerBlockToken())
                .build();
    }

    /** Drops all sequences, (re)allocates the cache and makes sure every bucket has an executable. */
    @Override
    public InitCacheResponse initCache(int blockSize, int requestedBlocks) {
        if (blockSize <= 0) throw new IllegalArgumentException("block_size must be positive");
        if (requestedBlocks < 0) throw new IllegalArgumentException("num_blocks must be >= 0");
        int blocksPerSeq = Math.ceilDiv(maxModelLen, blockSize);
        int blocks = requestedBlocks;
        if (blocks == 0) {
            long fit = (long) (options.kvCacheSpaceGiB() * (1L << 30)) / (kvBytesPerBlockToken() * blockSize);
            blocks = (int) Math.min(fit, (long) blocksPerSeq * options.maxNumSeqs());
            if (blocks < blocksPerSeq) {
                throw io.grpc.Status.RESOURCE_EXHAUSTED.withDescription("KV cache space of " + options.kvCacheSpaceGiB()
                        + " GiB holds fewer blocks than one sequence of max_model_len " + maxModelLen + " needs").asRuntimeException();
            }
        }
        sequences.clear();
        releaseCaches();
        boolean shapesChanged = blockSize != this.blockSize || blocks != this.numBlocks;
        this.blockSize = blockSize;
        this.numBlocks = blocks;
        long slots = (long) blocks * blockSize;
        long[] cacheShape = {slots, shape.kvHeads(), shape.headDim()};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment zeros = arena.allocate(slots * shape.kvDim() * options.storage().bytes, 8);
            for (int i = 0; i < 2 * shape.layers(); i++) caches.add(device.upload(options.storage(), cacheShape, zeros));
        }
        if (shapesChanged || executables.isEmpty()) {
            executables.values().forEach(DeviceRuntime.Executable::close);
            planner = BucketPlanner.create(options.maxNumBatchedTokens(), options.maxNumSeqs(), maxModelLen, blockSize, options.bucketPaddingGap());
            CompileCache cache = new CompileCache(options.compileCacheDir());
            String version = options.jvllmVersion() + "/emitter-" + StableHloModelEmitter.EMITTER_VERSION + "/" + options.storage();
            String platformVersion = device.platformVersion();
            int nb = blocks;
            String shapeJson = shapeJson(shape);
            executables = BucketWarmup.run(planner.allBuckets(), b -> emitter.emit(shape, b, blockSize, nb, options.storage()).mlir(),
                    b -> CompileCacheKey.of(shapeJson, b, blockSize, nb, device.platformName(), platformVersion, version),
                    cache, new BucketWarmup.ProgramCompiler<DeviceRuntime.Executable>() {
                        public DeviceRuntime.Executable compile(String mlir) { return device.compile(mlir); }

                        public byte[] serialize(DeviceRuntime.Executable e) { return device.serialize(e); }

                        public DeviceRuntime.Executable deserialize(byte[] b) { return device.deserialize(b); }
                    }, options.warmupParallelism(), options.console()).executables();
        }
        return InitCacheResponse.newBuilder().setBlockSize(blockSize).setNumBlocks(blocks).build();
    }

    @Override
    public StepResponse step(StepRequest request) {
        if (caches.isEmpty()) throw new IllegalStateException("InitCache must come before Step");
        long t0 = System.nanoTime();
        // Validate and derive everything before changing any state, so a bad step leaves the worker as it was.
        Map<Long, SamplingState> started = new HashMap<>();
        List<SamplingState> states = new ArrayList<>();
        for (ScheduledSeq s : request.getSeqsList()) {
            if (s.getWantPromptLogprobs()) throw new IllegalArgumentException("the pjrt backend does not support prompt_logprobs yet");
            SamplingState st;
            if (s.hasNewSeq()) {
                st = SamplingState.from(s.getNewSeq(), seeds.nextLong());
                started.put(s.getSeqId(), st);
            } else {
                st = sequences.get(s.getSeqId());
                if (st == null) throw new IllegalArgumentException("sequence " + s.getSeqId() + " is unknown: its first step needs new_seq");
            }
            if (s.getStartPos() + s.getTokenIdsCount() > maxModelLen) {
                throw new IllegalArgumentException("sequence " + s.getSeqId() + " exceeds max_model_len " + maxModelLen);
            }
            states.add(st);
        }
        StepResponse.Builder response = StepResponse.newBuilder().setStepId(request.getStepId());
        StepInputs inputs = request.getSeqsCount() == 0 ? null : StepInputs.build(request.getSeqsList(), states, planner, blockSize, numBlocks);
        for (long id : request.getFinishedSeqIdsList()) sequences.remove(id);
        if (inputs == null) return response.build();
        sequences.putAll(started);

        DeviceRuntime.Executable exe = executables.get(inputs.bucket());
        List<DeviceRuntime.Buffer> stepBuffers = uploadStepInputs(inputs);
        List<DeviceRuntime.Buffer> args = new ArrayList<>(weights);
        args.addAll(caches);
        args.addAll(stepBuffers);
        List<DeviceRuntime.Buffer> out;
        try {
            out = device.execute(exe, args);
        } finally {
            stepBuffers.forEach(DeviceRuntime.Buffer::close);
        }
        // The old cache buffers were donated to the execution; their updated contents are outputs 1..2L.
        releaseCaches();
        caches = new ArrayList<>(out.subList(1, out.size()));
        int[] ids;
        try (DeviceRuntime.Buffer sampled = out.getFirst(); Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(4L * inputs.bucket().numSeqs());
            device.toHost(sampled, host);
            ids = host.toArray(ValueLayout.JAVA_INT);
        }
        for (int i = 0; i < request.getSeqsCount(); i++) {
            ScheduledSeq s = request.getSeqs(i);
            response.addOutputs(SeqOutput.newBuilder().setSeqId(s.getSeqId()).setTokenId(s.getDoSample() ? ids[i] : -1));
        }
        return response.setComputeSeconds((System.nanoTime() - t0) / 1e9).build();
    }

    private List<DeviceRuntime.Buffer> uploadStepInputs(StepInputs inputs) {
        Map<String, Object> byName = inputs.byParamName();
        List<DeviceRuntime.Buffer> out = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            for (StableHloModelEmitter.Param p : StableHloModelEmitter.stepInputParams(inputs.bucket())) {
                Object array = byName.get(p.name());
                MemorySegment host = array instanceof float[] f ? arena.allocateFrom(ValueLayout.JAVA_FLOAT, f)
                        : arena.allocateFrom(ValueLayout.JAVA_INT, (int[]) array);
                out.add(device.upload(p.type(), p.shape(), host));
            }
        } catch (RuntimeException e) {
            out.forEach(DeviceRuntime.Buffer::close);
            throw e;
        }
        return out;
    }

    private void releaseCaches() {
        caches.forEach(DeviceRuntime.Buffer::close);
        caches = new ArrayList<>();
    }

    @Override
    public void close() {
        releaseCaches();
        executables.values().forEach(DeviceRuntime.Executable::close);
        weights.forEach(DeviceRuntime.Buffer::close);
        device.close();
    }
}
