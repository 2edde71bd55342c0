package dev.jvllm.common.telemetry;

import com.google.protobuf.CodedInputStream;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.zip.GZIPInputStream;

/**
 * An OTLP/HTTP (protobuf) trace collector in the test process: other processes export to {@link #endpoint()} and the
 * test reads the spans it received. Decodes ExportTraceServiceRequest's wire format directly (only the fields tests
 * need: resource service.name, trace/span/parent ids, name), so no opentelemetry-proto dependency is needed.
 */
public final class OtlpTraceReceiver implements AutoCloseable {
    public record ReceivedSpan(String serviceName, String traceId, String spanId, String parentSpanId, String name) {}

    private final HttpServer server;
    private final List<ReceivedSpan> spans = new CopyOnWriteArrayList<>();

    public OtlpTraceReceiver() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/v1/traces", ex -> {
            try (ex) {
                InputStream in = ex.getRequestBody();
                if ("gzip".equalsIgnoreCase(ex.getRequestHeaders().getFirst("Content-Encoding"))) in = new GZIPInputStream(in);
                decodeRequest(in.readAllBytes());
                ex.getResponseHeaders().set("Content-Type", "application/x-protobuf");
                ex.sendResponseHeaders(200, 0);
            } catch (RuntimeException e) {
                ex.sendResponseHeaders(400, -1);
            }
        });
        server.start();
    }

    /** Base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT takes it (http/protobuf appends /v1/traces). */
    public String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    public List<ReceivedSpan> spans() {
        return List.copyOf(spans);
    }

    @Override
    public void close() {
        server.stop(0);
    }

    private void decodeRequest(byte[] body) throws IOException {
        CodedInputStream in = CodedInputStream.newInstance(body);
        for (int tag; (tag = in.readTag()) != 0; ) {
            if (tag >>> 3 == 1) decodeResourceSpans(in.readByteArray()); else in.skipField(tag);
        }
    }

    private void decodeResourceSpans(byte[] bytes) throws IOException {
        CodedInputStream in = CodedInputStream.newInstance(bytes);
        String service = "";
        List<byte[]> scopeSpans = new java.util.ArrayList<>();
        for (int tag; (tag = in.readTag()) != 0; ) {
            switch (tag >>> 3) {
                case 1 -> service = serviceName(in.readByteArray());
                case 2 -> scopeSpans.add(in.readByteArray());
                default -> in.skipField(tag);
            }
        }
        for (byte[] s : scopeSpans) {
            CodedInputStream ss = CodedInputStream.newInstance(s);
            for (int tag; (tag = ss.readTag()) != 0; ) {
                if (tag >>> 3 == 2) spans.add(decodeSpan(service, ss.readByteArray())); else ss.skipField(tag);
            }
        }
    }

    /** Resource.attributes (1) -> KeyValue{key 1, value 2: AnyValue{string_value 1}}. */
    private static String serviceName(byte[] resource) throws IOException {
        CodedInputStream in = CodedInputStream.newInstance(resource);
        for (int tag; (tag = in.readTag()) != 0; ) {
            if (tag >>> 3 != 1) { in.skipField(tag); continue; }
            CodedInputStream kv = CodedInputStream.newInstance(in.readByteArray());
            String key = null, value = null;
            for (int t; (t = kv.readTag()) != 0; ) {
                if (t >>> 3 == 1) key = kv.readString();
                else if (t >>> 3 == 2) {
                    CodedInputStream any = CodedInputStream.newInstance(kv.readByteArray());
                    for (int a; (a = any.readTag()) != 0; ) {
                        if (a >>> 3 == 1) value = any.readString(); else any.skipField(a);
                    }
                } else kv.skipField(t);
            }
            if ("service.name".equals(key)) return value;
        }
        return "";
    }

    private static ReceivedSpan decodeSpan(String service, byte[] bytes) throws IOException {
        CodedInputStream in = CodedInputStream.newInstance(bytes);
        String trace = "", span = "", parent = "", name = "";
        HexFormat hex = HexFormat.of();
        for (int tag; (tag = in.readTag()) != 0; ) {
            switch (tag >>> 3) {
                case 1 -> trace = hex.formatHex(in.readByteArray());
                case 2 -> span = hex.formatHex(in.readByteArray());
                case 4 -> parent = hex.formatHex(in.readByteArray());
                case 5 -> name = in.readString();
                default -> in.skipField(tag);
            }
        }
        return new ReceivedSpan(service, trace, span, parent, name);
    }
}
