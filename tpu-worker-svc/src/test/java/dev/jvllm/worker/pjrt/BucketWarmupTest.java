package dev.jvllm.worker.pjrt;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

class BucketWarmupTest {

    /** Stands in for the plugin: an "executable" is the program text; serialization is its bytes with a marker. */
    static class FakeCompiler implements BucketWarmup.ProgramCompiler<String> {
        final AtomicInteger compiles = new AtomicInteger();

        public String compile(String mlir) {
            compiles.incrementAndGet();
            return mlir;
        }

        public byte[] serialize(String e) { return ("EXE:" + e).getBytes(StandardCharsets.UTF_8); }

        public String deserialize(byte[] b) {
            String s = new String(b, StandardCharsets.UTF_8);
            if (!s.startsWith("EXE:")) throw new PjrtException("not an executable");
            return s.substring(4);
        }
    }

    static final LlamaShape TINY = StableHloModelEmitterTest.TINY;

    static BucketWarmup.Result<String> warm(CompileCache cache, FakeCompiler compiler, List<BucketPlanner.Bucket> buckets, PrintStream console) {
        StableHloModelEmitter emitter = new StableHloModelEmitter();
        return BucketWarmup.run(buckets, b -> emitter.emit(TINY, b, 2, 4).mlir(),
                b -> CompileCacheKey.of("{\"hidden_size\":8}", b, 2, 4, "fake", "1.0", "jvllm-test/emitter-" + StableHloModelEmitter.EMITTER_VERSION),
                cache, compiler, 2, console);
    }

    @Test
    void compilesEveryBucketOnceThenARestartLoadsThemAllFromTheCache(@TempDir Path tmp) {
        List<BucketPlanner.Bucket> buckets = BucketPlanner.create(32, 16, 8, 2, 0).allBuckets();
        CompileCache cache = new CompileCache(tmp);
        FakeCompiler first = new FakeCompiler();
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        BucketWarmup.Result<String> r1 = warm(cache, first, buckets, new PrintStream(console, true, StandardCharsets.UTF_8));
        assertEquals(buckets.size(), first.compiles.get());
        assertEquals(new BucketWarmup.Stats(buckets.size(), 0, r1.stats().millis()), r1.stats());
        assertEquals(buckets, List.copyOf(r1.executables().keySet()), "in bucket order");
        for (BucketPlanner.Bucket b : buckets) assertTrue(r1.executables().get(b).contains("bucket tokens=" + b.numTokens() + " seqs=" + b.numSeqs()));
        assertTrue(console.toString(StandardCharsets.UTF_8).contains(buckets.size() + "/" + buckets.size() + " buckets"));

        FakeCompiler second = new FakeCompiler();
        BucketWarmup.Result<String> r2 = warm(cache, second, buckets, null);
        assertEquals(0, second.compiles.get(), "restart loads from the cache");
        assertEquals(buckets.size(), r2.stats().loadedFromCache());
        assertEquals(r1.executables(), r2.executables());
    }

    @Test
    void aCorruptEntryIsRecompiledAndRewritten(@TempDir Path tmp) throws Exception {
        List<BucketPlanner.Bucket> buckets = List.of(new BucketPlanner.Bucket(4, 2, 2));
        CompileCache cache = new CompileCache(tmp);
        warm(cache, new FakeCompiler(), buckets, null);
        CompileCacheKey key = CompileCacheKey.of("{\"hidden_size\":8}", buckets.get(0), 2, 4, "fake", "1.0", "jvllm-test/emitter-" + StableHloModelEmitter.EMITTER_VERSION);
        Files.write(cache.pathFor(key), new byte[] {1, 2, 3});
        FakeCompiler again = new FakeCompiler();
        BucketWarmup.Result<String> r = warm(cache, again, buckets, null);
        assertEquals(1, again.compiles.get());
        assertEquals(new BucketWarmup.Stats(1, 0, r.stats().millis()), r.stats());
        assertTrue(new String(cache.load(key).orElseThrow(), StandardCharsets.UTF_8).startsWith("EXE:"));
    }

    @Test
    void compileFailureSurfacesThePluginError(@TempDir Path tmp) {
        BucketWarmup.ProgramCompiler<String> failing = new FakeCompiler() {
            @Override
            public String compile(String mlir) { throw new PjrtException("PJRT_Client_Compile: out of memory", 8); }
        };
        var e = assertThrows(PjrtException.class, () -> BucketWarmup.run(List.of(new BucketPlanner.Bucket(4, 2, 2)),
                b -> "x", b -> CompileCacheKey.of("{}", b, 2, 4, "fake", "1", "t"), new CompileCache(tmp), failing, 1, null));
        assertEquals(8, e.code());
    }

    @Test
    void progressLineShowsCountsAndEta() {
        assertEquals("warmup [>                       ] 0/4 buckets  elapsed 0s", BucketWarmup.Progress.line(0, 4, 0.2));
        assertEquals("warmup [============>           ] 2/4 buckets  elapsed 10s  eta 10s", BucketWarmup.Progress.line(2, 4, 10));
        assertEquals("warmup [========================] 4/4 buckets  elapsed 21s", BucketWarmup.Progress.line(4, 4, 21));
    }
}
