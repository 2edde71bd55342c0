package dev.jvllm.scheduler;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.GenerateResponse;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.StatsRequest;
import dev.jvllm.proto.TokenIds;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import org.junit.jupiter.api.Test;

import java.util.Iterator;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Random bytes and random-field GenerateRequests from a client: each one runs to completion or is rejected with
 * INVALID_ARGUMENT and a message; the engine never crashes, leaks nothing and serves a good request afterwards.
 */
class GenerateFuzzTest {
    private static final int MAX_LEN = 256, BLOCKS = 64;

    @Test
    void badRequestsAreRejectedWithInvalidArgumentAndTheEngineStaysHealthy() throws Exception {
        FakeWorker worker = new FakeWorker(MAX_LEN, BLOCKS);
        String wName = InProcessServerBuilder.generateName(), eName = InProcessServerBuilder.generateName();
        Server ws = InProcessServerBuilder.forName(wName).addService(worker).build().start();
        ManagedChannel wch = InProcessChannelBuilder.forName(wName).build();
        SchedulerService service = new SchedulerService(SchedulerOptions.defaults().withMaxNumSeqs(8), wch);
        Server es = null;
        ManagedChannel ech = null;
        try {
            service.start();
            es = InProcessServerBuilder.forName(eName).addService(service).build().start();
            ech = InProcessChannelBuilder.forName(eName).build();
            EngineGrpc.EngineBlockingStub engine = EngineGrpc.newBlockingStub(ech);
            Random rnd = new Random(1122);
            int completed = 0, rejected = 0;
            for (int iter = 0; iter < 300; iter++) {
                GenerateRequest req;
                if (iter % 5 == 0) {
                    byte[] bytes = new byte[rnd.nextInt(80)];
                    rnd.nextBytes(bytes);
                    try {
                        req = GenerateRequest.parseFrom(bytes);
                    } catch (InvalidProtocolBufferException e) {
                        continue; // never reaches the service
                    }
                    // Random bytes may ask for a huge generation; keep the run short but the request otherwise as is.
                    req = req.toBuilder().setSampling(req.getSampling().toBuilder().setMaxTokens(
                            Math.min(Math.max(req.getSampling().getMaxTokens(), 1), 8))).build();
                } else {
                    req = random(rnd);
                }
                try {
                    Iterator<GenerateResponse> it = engine.withDeadlineAfter(60, TimeUnit.SECONDS).generate(req);
                    GenerateResponse last = null;
                    while (it.hasNext()) last = it.next();
                    assertTrue(last != null && last.getFinished(), "no final response for " + req);
                    completed++;
                } catch (StatusRuntimeException e) {
                    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), req + " -> " + e.getStatus());
                    assertTrue(e.getStatus().getDescription() != null && !e.getStatus().getDescription().isBlank());
                    rejected++;
                }
            }
            assertTrue(completed > 40 && rejected > 50, "completed " + completed + ", rejected " + rejected);
            // The last response reaches the client before the engine loop's bookkeeping of that step ends: wait for idle.
            EngineStats s = engine.getStats(StatsRequest.getDefaultInstance());
            for (int i = 0; i < 200 && s.getNumRunning() + s.getNumWaiting() > 0; i++) {
                Thread.sleep(10);
                s = engine.getStats(StatsRequest.getDefaultInstance());
            }
            assertEquals(0, s.getNumRunning() + s.getNumWaiting());
            assertEquals(s.getNumTotalBlocks(), s.getNumFreeBlocks());
            assertTrue(s.getWorkerConnected());
            Iterator<GenerateResponse> good = engine.generate(GenerateRequest.newBuilder().addPromptTokenIds(5).addPromptTokenIds(6)
                    .setSampling(SamplingParams.newBuilder().setMaxTokens(3).setIgnoreEos(true)).build());
            GenerateResponse last = null;
            while (good.hasNext()) last = good.next();
            assertTrue(last.getFinished());
        } finally {
            if (ech != null) ech.shutdownNow();
            if (es != null) es.shutdownNow();
            service.close();
            wch.shutdownNow();
            ws.shutdownNow();
        }
    }

    /** Half of the requests draw every field from its valid range, half may put any field out of range. */
    private static boolean wild;

    private static GenerateRequest random(Random rnd) {
        wild = rnd.nextBoolean();
        GenerateRequest.Builder b = GenerateRequest.newBuilder();
        if (rnd.nextInt(4) == 0) b.setRequestId("id-" + rnd.nextInt(1000));
        int len = wild && rnd.nextInt(8) == 0 ? MAX_LEN + rnd.nextInt(10) - 5 : rnd.nextInt(30);
        for (int i = 0; i < len; i++) b.addPromptTokenIds(token(rnd));
        if (len == 0 && !wild) b.addPromptTokenIds(1);
        b.setPriority(rnd.nextInt(5) == 0 ? rnd.nextInt() : rnd.nextInt(3));
        SamplingParams.Builder p = SamplingParams.newBuilder();
        p.setMaxTokens(wild && rnd.nextInt(8) == 0 ? -rnd.nextInt(5) : rnd.nextInt(10));
        if (rnd.nextInt(4) == 0) p.setN(wild && rnd.nextInt(6) == 0 ? rnd.nextInt() : 1 + rnd.nextInt(3));
        if (rnd.nextInt(3) == 0) p.setTemperature(weird(rnd, 2));
        if (rnd.nextInt(4) == 0) p.setTopP(weird(rnd, 1.2f));
        if (rnd.nextInt(4) == 0) p.setTopK(wild ? rnd.nextInt(60) - 3 : rnd.nextInt(Harness.VOCAB));
        if (rnd.nextInt(5) == 0) p.setMinP(weird(rnd, 1.2f));
        if (rnd.nextInt(5) == 0) p.setRepetitionPenalty(weird(rnd, 3));
        if (rnd.nextInt(5) == 0) p.setPresencePenalty(weird(rnd, 3));
        if (rnd.nextInt(5) == 0) p.setMinTokens(wild ? rnd.nextInt(12) - 2 : rnd.nextInt(5));
        if (rnd.nextInt(5) == 0) p.addStopTokenIds(token(rnd));
        if (rnd.nextInt(5) == 0) p.putLogitBias(token(rnd), weird(rnd, 200));
        if (rnd.nextInt(6) == 0) p.addAllowedTokenIds(token(rnd));
        if (rnd.nextInt(6) == 0) p.addBadWordsIds(TokenIds.newBuilder().addIds(token(rnd)));
        if (rnd.nextInt(5) == 0) p.setLogprobs(wild ? rnd.nextInt(40) - 5 : rnd.nextInt(5));
        if (rnd.nextInt(8) == 0) p.setPromptLogprobs(wild ? rnd.nextInt(40) - 5 : rnd.nextInt(5));
        if (rnd.nextInt(4) == 0) p.setSeed(rnd.nextLong());
        if (rnd.nextBoolean()) p.setIgnoreEos(true);
        return b.setSampling(p).build();
    }

    private static int token(Random rnd) {
        if (!wild) return rnd.nextInt(Harness.VOCAB);
        return switch (rnd.nextInt(12)) {
            case 0 -> -1 - rnd.nextInt(5);
            case 1 -> Harness.VOCAB + rnd.nextInt(5);
            case 2 -> rnd.nextBoolean() ? Integer.MIN_VALUE : Integer.MAX_VALUE;
            default -> rnd.nextInt(Harness.VOCAB);
        };
    }

    private static float weird(Random rnd, float scale) {
        if (!wild) return 0.05f + rnd.nextFloat() * 0.9f;
        return switch (rnd.nextInt(8)) {
            case 0 -> Float.NaN;
            case 1 -> Float.POSITIVE_INFINITY;
            case 2 -> -rnd.nextFloat() * scale;
            default -> rnd.nextFloat() * scale;
        };
    }
}
