package dev.jvllm.worker.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Pins compute threads to cores, as vLLM's {@code VLLM_CPU_OMP_THREADS_BIND} does for its OpenMP
 * threads: a list like {@code "0-3"} or {@code "0,2,4,6"} ({@code "all"}/{@code "auto"}/empty: no binding;
 * with {@code '|'}-separated lists for several ranks, the first is used). Linux only; elsewhere, or if the
 * call fails, the threads simply stay unbound.
 */
public final class CoreBinding {
    private CoreBinding() {}

    private static final MethodHandle SCHED_SETAFFINITY = lookup();
    private static volatile boolean warned;

    private static MethodHandle lookup() {
        try {
            Linker linker = Linker.nativeLinker();
            Optional<MemorySegment> f = linker.defaultLookup().find("sched_setaffinity");
            return f.map(addr -> linker.downcallHandle(addr, FunctionDescriptor.of(ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS))).orElse(null);
        } catch (Throwable t) {
            return null;
        }
    }

    /** The cores of a binding list; empty for no binding. */
    public static int[] parse(String spec) {
        if (spec == null) {
            return new int[0];
        }
        String s = spec.trim();
        int bar = s.indexOf('|');
        if (bar >= 0) {
            s = s.substring(0, bar).trim();
        }
        if (s.isEmpty() || s.equalsIgnoreCase("all") || s.equalsIgnoreCase("auto") || s.equalsIgnoreCase("nobind")) {
            return new int[0];
        }
        List<Integer> cpus = new ArrayList<>();
        for (String part : s.split(",")) {
            String p = part.trim();
            try {
                int dash = p.indexOf('-');
                if (dash > 0) {
                    int lo = Integer.parseInt(p.substring(0, dash).trim()), hi = Integer.parseInt(p.substring(dash + 1).trim());
                    if (lo < 0 || hi < lo || hi > 4095) {
                        throw new NumberFormatException();
                    }
                    for (int c = lo; c <= hi; c++) {
                        cpus.add(c);
                    }
                } else {
                    int c = Integer.parseInt(p);
                    if (c < 0 || c > 4095) {
                        throw new NumberFormatException();
                    }
                    cpus.add(c);
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad CPU list '" + spec + "': expected e.g. 0-3 or 0,2,4");
            }
        }
        return cpus.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Pins the calling thread to one core; returns false (once warning on stderr) if that is not possible. */
    public static boolean bindCurrentThread(int cpu) {
        if (SCHED_SETAFFINITY == null) {
            warnOnce("sched_setaffinity is not available");
            return false;
        }
        try (Arena arena = Arena.ofConfined()) {
            long words = cpu / 64 + 1;
            MemorySegment mask = arena.allocate(Math.max(128, words * 8), 8);
            mask.set(ValueLayout.JAVA_LONG, (cpu / 64) * 8L, 1L << (cpu % 64));
            int rc = (int) SCHED_SETAFFINITY.invokeExact(0, mask.byteSize(), mask);
            if (rc != 0) {
                warnOnce("sched_setaffinity(cpu " + cpu + ") failed");
                return false;
            }
            return true;
        } catch (Throwable t) {
            warnOnce("sched_setaffinity(cpu " + cpu + ") failed: " + t);
            return false;
        }
    }

    private static void warnOnce(String msg) {
        if (!warned) {
            warned = true;
            System.err.println("jvllm: core binding disabled: " + msg);
        }
    }
}
