package dev.jvllm.gateway;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jvllm.common.metrics.PrometheusText;
import dev.jvllm.common.metrics.VllmMetrics;
import dev.jvllm.common.telemetry.Telemetry;
import dev.jvllm.common.telemetry.TraceContexts;
import dev.jvllm.proto.EngineGrpc;
import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.StatsRequest;
import dev.jvllm.proto.TokenizerGrpc;
import dev.jvllm.proto.TokenizerInfo;
import dev.jvllm.proto.TokenizerInfoRequest;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.concurrent.TimeUnit;

/**
 * Per-connection handler: request id, authentication, routing. One request is served at a time per connection;
 * pipelined requests wait in a short queue, so responses leave in order.
 */
final class HttpRouter extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final Logger log = LoggerFactory.getLogger(HttpRouter.class);
    static final String VERSION = "0.1.0";

    private final Services services;
    private final byte[] expectedAuth;
    private static final int MAX_QUEUED = 16;
    private final java.util.ArrayDeque<FullHttpRequest> queued = new java.util.ArrayDeque<>();
    /** Written on the event loop; read by {@link GatewayServer#drain} from another thread. */
    private volatile HttpExchange current;

    HttpRouter(Services services) {
        this.services = services;
        String key = services.options().apiKey();
        this.expectedAuth = key == null ? null : ("Bearer " + key).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
        if (current != null) {
            // Pipelined request: answer in order once the current one is done. Reading goes on (a closed
            // connection is only noticed by reading), unless too many requests pile up.
            queued.add(req.retain());
            if (queued.size() >= MAX_QUEUED) ctx.channel().config().setAutoRead(false);
            return;
        }
        serve(ctx, req);
    }

    private void serve(ChannelHandlerContext ctx, FullHttpRequest req) {
        String rid = req.headers().get(HttpExchange.REQUEST_ID_HEADER);
        if (rid == null || rid.isBlank() || rid.length() > 256) rid = GenerationHandler.newRequestId();
        // While draining every response closes its connection, so clients and proxies reconnect elsewhere.
        boolean keepAlive = HttpUtil.isKeepAlive(req) && req.decoderResult().isSuccess() && !services.draining().get();
        boolean http10 = req.protocolVersion().equals(io.netty.handler.codec.http.HttpVersion.HTTP_1_0);
        HttpExchange ex = new HttpExchange(ctx, rid, keepAlive, http10, () -> finished(ctx));
        current = ex;
        startTrace(req, ex);
        try {
            route(ctx, req, ex);
        } catch (OpenAiException e) {
            ex.sendError(e);
        } catch (RuntimeException e) {
            log.warn("request {} failed", rid, e);
            ex.sendError(OpenAiErrors.from(e));
        }
    }

    private void route(ChannelHandlerContext ctx, FullHttpRequest req, HttpExchange ex) {
        if (!req.decoderResult().isSuccess()) {
            throw OpenAiException.badRequest("Malformed HTTP request: " + req.decoderResult().cause(), null);
        }
        String path = new QueryStringDecoder(req.uri()).path();
        HttpMethod method = req.method();
        if (method.equals(HttpMethod.OPTIONS)) {
            ex.sendPreflight(); // CORS preflight, before authentication as browsers send no credentials here
            return;
        }
        if (services.draining().get() && !path.equals("/metrics") && !path.equals("/version")) {
            // Health fails too, so load balancers take this replica out while running requests finish.
            throw new OpenAiException(HttpResponseStatus.SERVICE_UNAVAILABLE, "ServiceUnavailableError",
                    "The server is shutting down; retry the request (another replica will serve it).", null, 1);
        }
        if (path.startsWith("/v1/") && expectedAuth != null && !authorized(req)) {
            throw new OpenAiException(HttpResponseStatus.UNAUTHORIZED, "AuthenticationError",
                    "Unauthorized: a valid API key is required (Authorization: Bearer <key>).", null, -1);
        }
        switch (path) {
            case "/v1/completions" -> {
                requireMethod(method, HttpMethod.POST);
                new CompletionsHandler(services, ex).handle(ByteBufUtil.getBytes(req.content()));
            }
            case "/v1/chat/completions" -> {
                requireMethod(method, HttpMethod.POST);
                new ChatCompletionsHandler(services, ex).handle(ByteBufUtil.getBytes(req.content()));
            }
            case "/v1/models" -> {
                requireMethod(method, HttpMethod.GET);
                models(ex);
            }
            case "/health" -> {
                requireMethod(method, HttpMethod.GET);
                health(ex);
            }
            case "/ping" -> {
                if (method != HttpMethod.GET && method != HttpMethod.POST) throw methodNotAllowed(method);
                health(ex);
            }
            case "/metrics" -> {
                requireMethod(method, HttpMethod.GET);
                metrics(ex);
            }
            case "/version" -> {
                requireMethod(method, HttpMethod.GET);
                ex.sendJson(HttpResponseStatus.OK, JsonNodeFactory.instance.objectNode().put("version", VERSION));
            }
            case "/tokenize" -> {
                requireMethod(method, HttpMethod.POST);
                new TokenizeHandler(services, ex).tokenize(ByteBufUtil.getBytes(req.content()));
            }
            case "/detokenize" -> {
                requireMethod(method, HttpMethod.POST);
                new TokenizeHandler(services, ex).detokenize(ByteBufUtil.getBytes(req.content()));
            }
            default -> throw OpenAiException.notFound("Not found: " + method + " " + path, null);
        }
    }

    /** A SERVER span for API calls when tracing is on, continuing the caller's W3C {@code traceparent} if any. */
    private static void startTrace(FullHttpRequest req, HttpExchange ex) {
        Telemetry t = Telemetry.current();
        if (!t.tracingEnabled()) return;
        String path = new QueryStringDecoder(req.uri()).path();
        if (!path.startsWith("/v1/") && !path.equals("/tokenize") && !path.equals("/detokenize")) return;
        io.opentelemetry.context.Context parent = TraceContexts.extract(t.openTelemetry(), req.headers()::get);
        io.opentelemetry.api.trace.Span span = t.tracer("dev.jvllm.gateway").spanBuilder(req.method().name() + " " + path)
                .setParent(parent).setSpanKind(io.opentelemetry.api.trace.SpanKind.SERVER)
                .setAttribute("http.request.method", req.method().name())
                .setAttribute("url.path", path)
                .setAttribute("jvllm.request_id", ex.requestId())
                .startSpan();
        ex.setTrace(span, parent.with(span));
    }

    private boolean authorized(FullHttpRequest req) {
        String h = req.headers().get(HttpHeaderNames.AUTHORIZATION);
        if (h == null) return false;
        return MessageDigest.isEqual(expectedAuth, h.getBytes(StandardCharsets.UTF_8));
    }

    private static void requireMethod(HttpMethod actual, HttpMethod expected) {
        if (!actual.equals(expected)) throw methodNotAllowed(actual);
    }

    private static OpenAiException methodNotAllowed(HttpMethod m) {
        return new OpenAiException(HttpResponseStatus.METHOD_NOT_ALLOWED, "MethodNotAllowedError",
                "Method " + m + " is not allowed here.", null, -1);
    }

    private void models(HttpExchange ex) {
        services.models().model().whenCompleteAsync((m, error) -> {
            if (error != null) {
                ex.sendError(OpenAiErrors.from(error));
                return;
            }
            ObjectNode list = JsonNodeFactory.instance.objectNode();
            list.put("object", "list");
            ArrayNode data = list.putArray("data");
            for (String name : m.names()) {
                ObjectNode o = data.addObject();
                o.put("id", name);
                o.put("object", "model");
                o.put("created", m.created());
                o.put("owned_by", "jvllm");
                o.put("root", m.root());
                o.putNull("parent");
                o.put("max_model_len", m.maxModelLen());
                o.putArray("permission");
            }
            ex.sendJson(HttpResponseStatus.OK, list);
        }, ex.eventLoop());
    }

    /**
     * vLLM's metrics (engine numbers fetched fresh with Engine.GetStats, so they are live in every deployment mode)
     * followed by this process's gRPC and JVM metrics, in the Prometheus text format.
     */
    private void metrics(HttpExchange ex) {
        long ms = services.options().controlTimeout().toMillis();
        EngineGrpc.EngineStub engine = services.engine(ex.eventLoop()).withDeadlineAfter(ms, TimeUnit.MILLISECONDS);
        var stats = GrpcCalls.<EngineStats>unary(o -> engine.getStats(StatsRequest.getDefaultInstance(), o));
        stats.thenCombine(services.models().model(), (st, m) -> {
                    VllmMetrics vllm = services.metrics().forModel(m);
                    vllm.update(st);
                    return PrometheusText.toBytes(vllm.registry(), Telemetry.current().registry());
                })
                .whenCompleteAsync((bytes, error) -> {
            if (error != null) ex.sendError(OpenAiErrors.from(error));
            else ex.sendBytes(HttpResponseStatus.OK, bytes, PrometheusText.CONTENT_TYPE);
        }, ex.eventLoop());
    }

    /** Healthy when the engine reports a connected worker and the tokenizer answers. */
    private void health(HttpExchange ex) {
        long ms = services.options().controlTimeout().toMillis();
        EngineGrpc.EngineStub engine = services.engine(ex.eventLoop()).withDeadlineAfter(ms, TimeUnit.MILLISECONDS);
        TokenizerGrpc.TokenizerStub tok = services.tokenizer(ex.eventLoop()).withDeadlineAfter(ms, TimeUnit.MILLISECONDS);
        var stats = GrpcCalls.<EngineStats>unary(o -> engine.getStats(StatsRequest.getDefaultInstance(), o));
        var info = GrpcCalls.<TokenizerInfo>unary(o -> tok.getInfo(TokenizerInfoRequest.getDefaultInstance(), o));
        stats.thenCombine(info, (s, i) -> s).whenCompleteAsync((s, error) -> {
            if (error == null && s.getWorkerConnected()) {
                ex.sendText(HttpResponseStatus.OK, "");
                return;
            }
            String why = error != null ? OpenAiErrors.from(error).getMessage() : "the engine has no connected worker";
            ex.sendError(new OpenAiException(HttpResponseStatus.SERVICE_UNAVAILABLE, "ServiceUnavailableError",
                    "Unhealthy: " + why, null, 5));
        }, ex.eventLoop());
    }

    /** A request is being served on this connection (or waits behind one). */
    boolean busy() {
        return current != null;
    }

    private void finished(ChannelHandlerContext ctx) {
        current = null;
        if (queued.isEmpty()) return;
        // Next pipelined request, in a fresh task: finished() may run inside serve().
        ctx.executor().execute(() -> {
            if (current != null || !ctx.channel().isActive()) return;
            FullHttpRequest next = queued.poll();
            if (next == null) return;
            if (queued.size() < MAX_QUEUED && !ctx.channel().config().isAutoRead()) {
                ctx.channel().config().setAutoRead(true);
            }
            try {
                serve(ctx, next);
            } finally {
                next.release();
            }
        });
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        HttpExchange ex = current;
        current = null;
        if (ex != null && ex.inFlight() != null) ex.inFlight().cancel();
        if (ex != null) ex.endTrace("client disconnected");
        FullHttpRequest q;
        while ((q = queued.poll()) != null) q.release();
        super.channelInactive(ctx);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) throws Exception {
        HttpExchange ex = current;
        if (ctx.channel().isWritable() && ex != null && ex.inFlight() != null) ex.inFlight().resume();
        super.channelWritabilityChanged(ctx);
    }

    /** Idle keep-alive connections are closed; a request in flight (a long generation) keeps its connection. */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof io.netty.handler.timeout.IdleStateEvent) {
            if (current == null && queued.isEmpty()) ctx.close();
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!(cause instanceof IOException)) log.warn("connection error", cause);
        ctx.close();
    }
}
