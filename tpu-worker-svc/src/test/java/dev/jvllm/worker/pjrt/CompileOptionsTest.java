package dev.jvllm.worker.pjrt;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.UnknownFieldSet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.*;

class CompileOptionsTest {

    @Test
    void singleDeviceBytesAreTheHandWrittenProto() {
        // CompileOptionsProto { executable_build_options (3) = { device_ordinal (1) = -1, num_replicas (4) = 1, num_partitions (5) = 1 } }
        // 0x1a = field 3, wire type 2; 0x0f = 15 bytes; 0x08 = field 1 varint, -1 as a 10-byte varint; 0x20 01; 0x28 01.
        String expected = "1a0f" + "08ffffffffffffffffff01" + "2001" + "2801";
        assertEquals(expected, HexFormat.of().formatHex(CompileOptions.singleDevice().toBytes()));
    }

    @Test
    void spmdOptionsParseBackToTheFieldsWeMeant() throws IOException {
        byte[] bytes = new CompileOptions(1, 4, -1, true).toBytes();
        UnknownFieldSet outer = UnknownFieldSet.parseFrom(bytes);
        assertEquals(1, outer.asMap().size());
        UnknownFieldSet build = UnknownFieldSet.parseFrom(outer.getField(3).getLengthDelimitedList().get(0));
        assertEquals(-1L, build.getField(1).getVarintList().get(0));
        assertEquals(1L, build.getField(4).getVarintList().get(0));
        assertEquals(4L, build.getField(5).getVarintList().get(0));
        assertEquals(1L, build.getField(6).getVarintList().get(0));
        assertNotNull(CodedInputStream.newInstance(bytes));
    }
}
