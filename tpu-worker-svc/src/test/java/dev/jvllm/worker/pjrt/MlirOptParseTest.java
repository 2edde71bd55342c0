package dev.jvllm.worker.pjrt;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * When LLVM's mlir-opt is installed (Debian: mlir-19-tools), parses the emitted text with it. StableHLO is not
 * registered there, so this checks MLIR's own syntax (SSA, types, dense literals, func and argument attributes),
 * not StableHLO's verifier.
 */
class MlirOptParseTest {

    static Path mlirOpt() {
        try (Stream<Path> dirs = Files.list(Path.of("/usr/lib"))) {
            return dirs.filter(d -> d.getFileName().toString().startsWith("llvm-"))
                    .map(d -> d.resolve("bin/mlir-opt")).filter(Files::isExecutable)
                    .max(Comparator.comparing(Path::toString)).orElse(null);
        } catch (IOException e) {
            return null;
        }
    }

    @Test
    void mlirOptParsesEmittedPrograms(@TempDir Path tmp) throws Exception {
        Path opt = mlirOpt();
        Assumptions.assumeTrue(opt != null, "mlir-opt not installed (apt-get install mlir-19-tools to run this check)");
        LlamaShape qwen3 = LlamaShapeTest.shape("qwen3-0.6b");
        for (String mlir : new String[] {
                new StableHloModelEmitter().emit(StableHloModelEmitterTest.TINY, StableHloModelEmitterTest.TINY_BUCKET, 2, 4).mlir(),
                new StableHloModelEmitter().emit(qwen3, new BucketPlanner.Bucket(16, 8, 4), 16, 32).mlir()}) {
            Path in = Files.writeString(tmp.resolve("p.mlir"), mlir);
            Process p = new ProcessBuilder(opt.toString(), "--allow-unregistered-dialect", in.toString(), "-o", tmp.resolve("out.mlir").toString())
                    .redirectErrorStream(true).start();
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(120, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), output);
        }
    }
}
