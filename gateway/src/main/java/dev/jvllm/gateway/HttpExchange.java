package dev.jvllm.gateway;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * One HTTP request's response side: a single JSON response, or an SSE stream of {@code data:} events ending with
 * {@code data: [DONE]}. All methods run on the connection's event loop.
 */
final class HttpExchange {
    static final String REQUEST_ID_HEADER = "X-Request-Id";
    private static final byte[] DATA = "data: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);

    /** What the router must do when a request in flight is interrupted or can continue. */
    interface InFlight {
        /** The client disconnected: abort upstream work. */
        void cancel();

        /** The channel became writable again. */
        void resume();
    }

    private final ChannelHandlerContext ctx;
    private final String requestId;
    private final boolean keepAlive;
    /** HTTP/1.0 clients keep the connection only when told so explicitly. */
    private final boolean http10;
    private final Runnable onFinished;
    private boolean finished;
    private boolean streaming;
    private InFlight inFlight;
    /** The request's span and its context (null when tracing is off). */
    private io.opentelemetry.api.trace.Span span;
    private io.opentelemetry.context.Context traceContext;

    HttpExchange(ChannelHandlerContext ctx, String requestId, boolean keepAlive, boolean http10, Runnable onFinished) {
        this.ctx = ctx;
        this.requestId = requestId;
        this.keepAlive = keepAlive;
        this.http10 = http10;
        this.onFinished = onFinished;
    }

    String requestId() { return requestId; }

    EventLoop eventLoop() { return ctx.channel().eventLoop(); }

    boolean isWritable() { return ctx.channel().isWritable(); }

    /** Still worth working for: not answered yet and the client is connected. */
    boolean isOpen() { return !finished && ctx.channel().isActive(); }

    void setInFlight(InFlight f) { this.inFlight = f; }

    void setTrace(io.opentelemetry.api.trace.Span span, io.opentelemetry.context.Context context) {
        this.span = span;
        this.traceContext = context;
    }

    /** Parent of the upstream calls this request makes, or null when not traced. */
    io.opentelemetry.context.Context traceContext() { return traceContext; }

    /** Ends the request's span (once); {@code error} null on success. */
    void endTrace(String error) {
        io.opentelemetry.api.trace.Span s = span;
        if (s == null) return;
        span = null;
        if (error != null) s.setStatus(io.opentelemetry.api.trace.StatusCode.ERROR, error);
        s.end();
    }

    InFlight inFlight() { return finished ? null : inFlight; }

    void sendJson(HttpResponseStatus status, JsonNode body) {
        sendBytes(status, toBytes(body), "application/json", -1);
    }

    void sendText(HttpResponseStatus status, String text) {
        sendBytes(status, text.getBytes(StandardCharsets.UTF_8), "text/plain; charset=utf-8", -1);
    }

    void sendError(OpenAiException e) {
        if (finished) return;
        if (streaming) {
            // Headers are gone already: report in-band as vLLM does, then end the stream.
            sendEvent(OpenAiErrors.body(e));
            endStream();
            return;
        }
        sendBytes(e.status(), toBytes(OpenAiErrors.body(e)), "application/json", e.retryAfterSeconds());
    }

    void sendBytes(HttpResponseStatus status, byte[] body, String contentType) {
        sendBytes(status, body, contentType, -1);
    }

    /** Answers a CORS preflight: any origin, method and header (vLLM's defaults). */
    void sendPreflight() {
        if (finished || streaming) return;
        finished = true;
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, Unpooled.EMPTY_BUFFER);
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
        r.headers().set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS");
        r.headers().set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_HEADERS, "*");
        r.headers().set(HttpHeaderNames.ACCESS_CONTROL_MAX_AGE, 600);
        decorate(r);
        afterLast(ctx.writeAndFlush(r));
    }

    private void sendBytes(HttpResponseStatus status, byte[] body, String contentType, int retryAfter) {
        if (finished || streaming) return;
        finished = true;
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(body));
        if (span != null) {
            span.setAttribute("http.response.status_code", (long) status.code());
            if (status.code() >= 500) span.setStatus(io.opentelemetry.api.trace.StatusCode.ERROR);
        }
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        if (retryAfter >= 0) r.headers().setInt(HttpHeaderNames.RETRY_AFTER, retryAfter);
        decorate(r);
        afterLast(ctx.writeAndFlush(r));
    }

    void startStream() {
        if (finished || streaming) return;
        streaming = true;
        HttpResponse r = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        r.headers().set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_CACHE);
        r.headers().set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
        decorate(r);
        ctx.writeAndFlush(r);
    }

    void sendEvent(JsonNode event) {
        if (finished || !streaming) return;
        // One event per token: serialize straight into the pooled buffer, no intermediate byte[].
        ByteBuf buf = ctx.alloc().buffer();
        try {
            buf.writeBytes(DATA);
            RequestParser.MAPPER.writeValue((java.io.OutputStream) new ByteBufOutputStream(buf), event);
            buf.writeByte('\n').writeByte('\n');
        } catch (IOException | RuntimeException e) {
            buf.release();
            throw e instanceof RuntimeException r ? r : new IllegalStateException(e);
        }
        ctx.writeAndFlush(new DefaultHttpContent(buf));
    }

    void endStream() {
        if (finished || !streaming) return;
        finished = true;
        ctx.write(new DefaultHttpContent(Unpooled.wrappedBuffer(DONE)));
        var f = ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
        afterLast(f);
    }

    private void afterLast(io.netty.channel.ChannelFuture f) {
        endTrace(null);
        if (!keepAlive) {
            f.addListener(ChannelFutureListener.CLOSE);
        }
        onFinished.run();
    }

    private void decorate(HttpResponse r) {
        r.headers().set(REQUEST_ID_HEADER, requestId);
        r.headers().set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, "*");
        if (!keepAlive) r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        else if (http10) r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
    }

    static byte[] toBytes(JsonNode node) {
        try {
            return RequestParser.MAPPER.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
