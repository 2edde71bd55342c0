package dev.jvllm.worker.pjrt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class StepTraceWriterTest {

    static final long MS = 1_000_000;
    static final BucketPlanner.Bucket BUCKET = new BucketPlanner.Bucket(16, 8, 4);

    @Test
    void recordsOnlyTheWindowAndWritesChromeTraceJsonWhenItCloses(@TempDir Path tmp) throws Exception {
        long t0 = 1_000 * MS; // synthetic clock: no sleeping
        StepTraceWriter w = new StepTraceWriter(tmp, t0, 100, 50);
        w.span("execute", t0 + 50 * MS, t0 + 60 * MS, 1, BUCKET);      // before the window
        w.span("execute", t0 + 110 * MS, t0 + 120 * MS, 2, BUCKET);    // inside
        w.span("read_back", t0 + 120 * MS, t0 + 121 * MS, 2, BUCKET);  // inside
        assertFalse(w.written());
        w.span("execute", t0 + 160 * MS, t0 + 170 * MS, 3, BUCKET);    // after: closes the window
        assertTrue(w.written());
        JsonNode trace = new ObjectMapper().readTree(tmp.resolve("jvllm-steps.trace.json").toFile());
        JsonNode events = trace.get("traceEvents");
        assertEquals(2, events.size());
        assertEquals("execute", events.get(0).get("name").asText());
        assertEquals("X", events.get(0).get("ph").asText());
        assertEquals(10_000.0, events.get(0).get("ts").asDouble(), 1e-6, "microseconds from the window start");
        assertEquals(10_000.0, events.get(0).get("dur").asDouble(), 1e-6);
        assertEquals(2, events.get(1).get("args").get("step").asInt());
        assertEquals("t16-s8-b4", events.get(1).get("args").get("bucket").asText());
    }
}
