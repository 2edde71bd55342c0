package dev.jvllm.common.hub;

import java.io.Console;
import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Bytes, rate and ETA of one resolve's downloads, summed over its parallel files: a bar redrawn in place on a
 * terminal, otherwise a log line every few seconds (logs from a service should not fill with carriage returns).
 */
final class DownloadProgress implements AutoCloseable {
    private static final long BAR_PERIOD_MS = 200;
    private static final long LOG_PERIOD_MS = 5_000;
    private static final int BAR_WIDTH = 30;

    private final String label;
    private final long totalBytes;
    private final boolean bar;
    private final PrintStream out = System.err;
    private final AtomicLong done = new AtomicLong();
    private final long startNanos = System.nanoTime();
    private final ScheduledExecutorService ticker;
    private long lastBytes;
    private long lastNanos = startNanos;
    private double rate; // bytes per second, smoothed

    private DownloadProgress(String label, long totalBytes, boolean bar, long periodMs) {
        this.label = label;
        this.totalBytes = totalBytes;
        this.bar = bar;
        if (periodMs > 0) {
            ticker = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "hub-progress");
                t.setDaemon(true);
                return t;
            });
            ticker.scheduleAtFixedRate(this::tick, periodMs, periodMs, TimeUnit.MILLISECONDS);
        } else {
            ticker = null;
        }
    }

    static DownloadProgress start(HubOptions.ProgressMode mode, String label, long totalBytes) {
        HubOptions.ProgressMode m = mode;
        if (m == HubOptions.ProgressMode.AUTO) {
            Console console = System.console();
            m = console != null && console.isTerminal() ? HubOptions.ProgressMode.BAR : HubOptions.ProgressMode.LOG;
        }
        return switch (m) {
            case BAR -> new DownloadProgress(label, totalBytes, true, BAR_PERIOD_MS);
            case LOG -> new DownloadProgress(label, totalBytes, false, LOG_PERIOD_MS);
            default -> new DownloadProgress(label, totalBytes, false, 0);
        };
    }

    /** Bytes written (negative when a partial file had to be thrown away). */
    void add(long bytes) {
        done.addAndGet(bytes);
    }

    private synchronized void tick() {
        long now = System.nanoTime();
        long bytes = done.get();
        double seconds = (now - lastNanos) / 1e9;
        if (seconds > 0) {
            double instant = Math.max(0, bytes - lastBytes) / seconds;
            rate = rate == 0 ? instant : 0.7 * rate + 0.3 * instant;
        }
        lastBytes = bytes;
        lastNanos = now;
        String line = describe(bytes);
        if (bar) {
            out.print("\r" + line + "   ");
            out.flush();
        } else {
            HubModelResolver.LOG.info("downloading {}", line);
        }
    }

    private String describe(long bytes) {
        StringBuilder sb = new StringBuilder(label).append(' ');
        if (totalBytes > 0) {
            double fraction = Math.min(1.0, (double) bytes / totalBytes);
            if (bar) {
                int filled = (int) Math.round(fraction * BAR_WIDTH);
                sb.append('[').append("=".repeat(filled)).append(" ".repeat(BAR_WIDTH - filled)).append("] ");
            }
            sb.append(String.format(Locale.ROOT, "%3.0f%% %s / %s", fraction * 100, size(bytes), size(totalBytes)));
        } else {
            sb.append(size(bytes));
        }
        sb.append("  ").append(size((long) rate)).append("/s");
        if (totalBytes > 0 && rate > 0 && bytes < totalBytes) sb.append("  ETA ").append(duration((long) ((totalBytes - bytes) / rate)));
        return sb.toString();
    }

    static String size(long bytes) {
        if (bytes < 1024) return bytes + " B";
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    static String duration(long seconds) {
        long h = seconds / 3600, m = (seconds % 3600) / 60, s = seconds % 60;
        return h > 0 ? String.format(Locale.ROOT, "%d:%02d:%02d", h, m, s) : String.format(Locale.ROOT, "%d:%02d", m, s);
    }

    @Override
    public void close() {
        if (ticker == null) return;
        ticker.shutdownNow();
        synchronized (this) {
            if (bar) {
                out.print("\r" + " ".repeat(describe(done.get()).length() + 3) + "\r");
                out.flush();
            }
        }
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        HubModelResolver.LOG.info("downloaded {} of {} in {}", size(done.get()), label, duration(Math.round(seconds)));
    }
}
