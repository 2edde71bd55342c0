package dev.jvllm.scheduler;

import dev.jvllm.proto.CompletionOutput;
import dev.jvllm.proto.FinishReason;
import dev.jvllm.proto.GenerateResponse;
import dev.jvllm.proto.TokenLogprobs;
import dev.jvllm.proto.Usage;
import io.grpc.stub.ServerCallStreamObserver;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Back-pressure: while the client's transport is not ready, token deltas coalesce into one message. */
class ResponseStreamTest {
    static final class SlowClient extends ServerCallStreamObserver<GenerateResponse> {
        boolean ready;
        boolean completed;
        final List<GenerateResponse> sent = new ArrayList<>();

        @Override public boolean isCancelled() { return false; }
        @Override public void setOnCancelHandler(Runnable r) {}
        @Override public void setCompression(String c) {}
        @Override public boolean isReady() { return ready; }
        @Override public void setOnReadyHandler(Runnable r) {}
        @Override public void request(int n) {}
        @Override public void setMessageCompression(boolean e) {}
        @Override public void disableAutoInboundFlowControl() {}
        @Override public void onNext(GenerateResponse v) { sent.add(v); }
        @Override public void onError(Throwable t) { throw new AssertionError(t); }
        @Override public void onCompleted() { completed = true; }
    }

    private static GenerateResponse delta(int index, int token, int total, FinishReason reason, boolean finished) {
        return GenerateResponse.newBuilder().setRequestId("r")
                .addOutputs(CompletionOutput.newBuilder().setIndex(index).addTokenIds(token)
                        .addLogprobs(TokenLogprobs.newBuilder().setTokenId(token)).setNumGeneratedTokens(total).setFinishReason(reason))
                .setUsage(Usage.newBuilder().setCompletionTokens(total)).setFinished(finished).build();
    }

    @Test
    void aReadyClientGetsEachDeltaAsPushed() {
        SlowClient client = new SlowClient();
        client.ready = true;
        ResponseStream stream = new ResponseStream(client);
        GenerateResponse first = delta(0, 5, 1, FinishReason.FINISH_REASON_UNSPECIFIED, false);
        GenerateResponse last = delta(0, 6, 2, FinishReason.FINISH_REASON_STOP, true);
        stream.push(first);
        stream.push(last);
        assertEquals(2, client.sent.size());
        assertSame(first, client.sent.getFirst(), "nothing to coalesce: the message goes out without a copy");
        assertSame(last, client.sent.getLast());
        assertTrue(client.completed);
    }

    @Test
    void deltasCoalesceWhileNotReadyAndFlushOnReady() {
        SlowClient client = new SlowClient();
        ResponseStream stream = new ResponseStream(client);
        stream.push(delta(0, 5, 1, FinishReason.FINISH_REASON_UNSPECIFIED, false));
        stream.push(delta(1, 9, 1, FinishReason.FINISH_REASON_UNSPECIFIED, false));
        stream.push(delta(0, 6, 2, FinishReason.FINISH_REASON_UNSPECIFIED, false));
        stream.push(delta(0, 7, 3, FinishReason.FINISH_REASON_LENGTH, false));
        assertTrue(client.sent.isEmpty());
        client.ready = true;
        stream.onReady();
        assertEquals(1, client.sent.size());
        GenerateResponse m = client.sent.getFirst();
        assertEquals(List.of(5, 6, 7), m.getOutputs(0).getTokenIdsList());
        assertEquals(3, m.getOutputs(0).getLogprobsCount());
        assertEquals(3, m.getOutputs(0).getNumGeneratedTokens());
        assertEquals(FinishReason.FINISH_REASON_LENGTH, m.getOutputs(0).getFinishReason());
        assertEquals(List.of(9), m.getOutputs(1).getTokenIdsList());
        assertEquals(3, m.getUsage().getCompletionTokens());

        client.ready = false;
        stream.push(delta(1, 4, 2, FinishReason.FINISH_REASON_STOP, true));
        assertEquals(1, client.sent.size());
        assertTrue(!client.completed, "the final message waits for readiness too");
        client.ready = true;
        stream.onReady();
        assertEquals(2, client.sent.size());
        assertTrue(client.sent.getLast().getFinished());
        assertTrue(client.completed);
        stream.push(delta(0, 1, 4, FinishReason.FINISH_REASON_UNSPECIFIED, false));
        assertEquals(2, client.sent.size(), "nothing after the end of the stream");
    }
}
