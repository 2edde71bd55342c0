package dev.jvllm.worker.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Random and mutated safetensors files (header bytes, header length, numbers in the header JSON, dtypes,
 * truncation, pure noise): loading either works (a harmless mutation) or fails with a
 * {@link ModelLoadException} naming the file; never another exception, a crash or a hang.
 */
class SafetensorsFuzzTest {
    private static final Duration HANG_GUARD = Duration.ofSeconds(60); // only to fail instead of hanging
    private static final Pattern NUMBER = Pattern.compile("-?\\d+");

    @TempDir
    Path tmp;

    @Test
    void mutatedHeadersFailWithAMessageNamingTheFile() throws IOException {
        Path dir = RandomModelWriter.builder().hidden(16).layers(1).heads(2).kvHeads(1).intermediate(24).vocab(32)
                .seed(5).write(tmp.resolve("m"));
        Path file = dir.resolve("model.safetensors");
        byte[] original = Files.readAllBytes(file);
        int headerLen = (int) ByteBuffer.wrap(original).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        String header = new String(original, 8, headerLen, StandardCharsets.UTF_8);
        Random rnd = new Random(7);
        int failedCleanly = 0, loaded = 0;
        for (int iter = 0; iter < 300; iter++) {
            String what;
            byte[] bytes;
            switch (iter % 6) {
                case 0 -> { // flip bytes inside the header
                    bytes = original.clone();
                    int flips = 1 + rnd.nextInt(4);
                    for (int k = 0; k < flips; k++) bytes[8 + rnd.nextInt(headerLen)] = (byte) rnd.nextInt(256);
                    what = "header bytes flipped";
                }
                case 1 -> { // the header length lies
                    bytes = original.clone();
                    long lie = switch (rnd.nextInt(4)) {
                        case 0 -> -rnd.nextInt(1000);
                        case 1 -> Long.MAX_VALUE - rnd.nextInt(10);
                        case 2 -> headerLen + 1 + rnd.nextInt(original.length);
                        default -> rnd.nextInt(headerLen);
                    };
                    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, lie);
                    what = "header length " + lie;
                }
                case 2 -> { // a number in the header (offset or dimension) changed, same byte length kept
                    Matcher m = NUMBER.matcher(header);
                    java.util.List<int[]> spans = new java.util.ArrayList<>();
                    while (m.find()) spans.add(new int[] {m.start(), m.end()});
                    int[] span = spans.get(rnd.nextInt(spans.size()));
                    int width = span[1] - span[0];
                    String repl = switch (rnd.nextInt(3)) {
                        case 0 -> "9".repeat(width);
                        case 1 -> width > 1 ? "-" + "1".repeat(width - 1) : "0";
                        default -> String.format("%0" + width + "d", rnd.nextInt((int) Math.min(Integer.MAX_VALUE, Math.pow(10, width))));
                    };
                    String h = header.substring(0, span[0]) + repl + header.substring(span[1]);
                    bytes = withHeader(original, headerLen, h);
                    what = "number at " + span[0] + " -> " + repl;
                }
                case 3 -> { // a dtype changed
                    String h = header.replaceFirst("\"F32\"|\"BF16\"|\"F16\"", rnd.nextBoolean() ? "\"I64\"" : "\"F64\"");
                    bytes = withHeader(original, headerLen, h.length() == header.length() ? h : header.replaceFirst("\"F32\"", "\"Q4_\""));
                    what = "dtype changed";
                }
                case 4 -> { // truncated anywhere
                    int len = rnd.nextInt(original.length);
                    bytes = java.util.Arrays.copyOf(original, len);
                    what = "truncated to " + len + " of " + original.length + " bytes";
                }
                default -> { // noise
                    bytes = new byte[rnd.nextInt(4096)];
                    rnd.nextBytes(bytes);
                    if (bytes.length >= 8 && rnd.nextBoolean())
                        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, rnd.nextInt(bytes.length));
                    what = bytes.length + " random bytes";
                }
            }
            Files.write(file, bytes);
            String mutation = what;
            Boolean ok = assertTimeoutPreemptively(HANG_GUARD, () -> {
                try {
                    LlamaWeights.load(dir).close();
                    return true;
                } catch (ModelLoadException e) {
                    assertTrue(e.getMessage() != null && e.getMessage().contains("model.safetensors"),
                            mutation + ": the message does not name the file: " + e.getMessage());
                    return false;
                } catch (Throwable t) {
                    fail(mutation + ": expected a ModelLoadException, got " + t, t);
                    return false;
                }
            }, () -> "loading hung after: " + mutation);
            if (ok) loaded++;
            else failedCleanly++;
        }
        Files.write(file, original);
        LlamaWeights.load(dir).close(); // the untouched file still loads
        assertTrue(failedCleanly > 150, "too few rejections to mean anything: " + failedCleanly + " (loaded " + loaded + ")");
    }

    private static byte[] withHeader(byte[] original, int headerLen, String header) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        if (h.length != headerLen) throw new AssertionError("mutation changed the header length");
        byte[] bytes = original.clone();
        System.arraycopy(h, 0, bytes, 8, headerLen);
        return bytes;
    }
}
