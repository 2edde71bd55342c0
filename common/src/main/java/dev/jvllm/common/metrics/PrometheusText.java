package dev.jvllm.common.metrics;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;

import java.io.IOException;
import java.io.OutputStream;

/** The Prometheus text exposition format (0.0.4), written by the Prometheus client's own writer. */
public final class PrometheusText {
    public static final String CONTENT_TYPE = PrometheusTextFormatWriter.CONTENT_TYPE;

    private PrometheusText() {}

    /** Scrapes every registry (their metric names must not overlap) and writes them as one exposition. */
    public static void write(OutputStream out, PrometheusRegistry... registries) throws IOException {
        MetricSnapshots.Builder all = MetricSnapshots.builder();
        for (PrometheusRegistry r : registries) {
            for (MetricSnapshot s : r.scrape()) all.metricSnapshot(s);
        }
        PrometheusTextFormatWriter.create().write(out, all.build());
    }

    public static byte[] toBytes(PrometheusRegistry... registries) {
        var out = new java.io.ByteArrayOutputStream(16 << 10);
        try {
            write(out, registries);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
