package dev.jvllm.gateway;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpMessage;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;

/** The HTTP aggregator, answering oversized bodies with 413 in the OpenAI error shape (and the request id). */
final class BodySizeLimiter extends HttpObjectAggregator {
    private final int maxBytes;

    BodySizeLimiter(int maxBytes) {
        super(maxBytes);
        this.maxBytes = maxBytes;
    }

    /** "Expect: 100-continue" with a declared body over the limit: refuse before the body is sent. */
    @Override
    protected Object newContinueResponse(HttpMessage start, int maxContentLength, ChannelPipeline pipeline) {
        if (HttpUtil.is100ContinueExpected(start) && HttpUtil.getContentLength(start, -1L) > maxContentLength) {
            return tooLarge(start); // after a 4xx answer the aggregator skips the body that may follow
        }
        return super.newContinueResponse(start, maxContentLength, pipeline);
    }

    @Override
    protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
        if (!(oversized instanceof HttpRequest)) {
            ctx.close();
            return;
        }
        FullHttpResponse r = tooLarge(oversized);
        // As Netty does: once body bytes were read the connection cannot be resynchronized, so close it; with a
        // declared Content-Length and keep-alive the aggregator skips the rest of the body and the connection lives on.
        boolean close = oversized instanceof FullHttpMessage
                || (!HttpUtil.is100ContinueExpected(oversized) && !HttpUtil.isKeepAlive(oversized));
        if (close) r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        ChannelFuture f = ctx.writeAndFlush(r);
        f.addListener(close ? ChannelFutureListener.CLOSE : ChannelFutureListener.CLOSE_ON_FAILURE);
    }

    private FullHttpResponse tooLarge(HttpMessage request) {
        OpenAiException e = new OpenAiException(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, "RequestEntityTooLargeError",
                "Request body is larger than the limit of " + maxBytes + " bytes.", null, -1);
        byte[] body = HttpExchange.toBytes(OpenAiErrors.body(e));
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, e.status(), Unpooled.wrappedBuffer(body));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        String rid = request.headers().get(HttpExchange.REQUEST_ID_HEADER);
        r.headers().set(HttpExchange.REQUEST_ID_HEADER, rid != null && !rid.isEmpty() ? rid : GenerationHandler.newRequestId());
        return r;
    }
}
