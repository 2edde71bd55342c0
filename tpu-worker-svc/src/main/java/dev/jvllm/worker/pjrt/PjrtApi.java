package dev.jvllm.worker.pjrt;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * A loaded PJRT plugin: the {@code PJRT_Api} table that {@code GetPjrtApi()} returns, with downcalls for the entries
 * jvllm uses. Every entry but two has the C type {@code PJRT_Error* fn(Args*)}; {@link #call} turns a non-null error
 * into a {@link PjrtException} carrying the plugin's message and code, and destroys the error.
 */
public final class PjrtApi {

    /** The major version we were written against; a different major means a reordered (incompatible) table. */
    public static final int SUPPORTED_MAJOR = 0;
    /**
     * Oldest minor accepted. Every entry we call exists since well before minor 33 (the header we read); the check
     * that matters at runtime is that the plugin's table is long enough, see {@link #checkCompatible}.
     */
    public static final int MIN_MINOR = 29;

    /** The entries this backend calls; the plugin's {@code struct_size} must cover the highest one. */
    public static final Set<PjrtFunction> USED = EnumSet.of(
            PjrtFunction.PJRT_Error_Destroy, PjrtFunction.PJRT_Error_Message, PjrtFunction.PJRT_Error_GetCode,
            PjrtFunction.PJRT_Plugin_Initialize, PjrtFunction.PJRT_Event_Destroy, PjrtFunction.PJRT_Event_Await,
            PjrtFunction.PJRT_Client_Create, PjrtFunction.PJRT_Client_Destroy, PjrtFunction.PJRT_Client_PlatformName,
            PjrtFunction.PJRT_Client_PlatformVersion, PjrtFunction.PJRT_Client_Devices,
            PjrtFunction.PJRT_Client_AddressableDevices, PjrtFunction.PJRT_Client_Compile,
            PjrtFunction.PJRT_Client_BufferFromHostBuffer, PjrtFunction.PJRT_Executable_Destroy,
            PjrtFunction.PJRT_Executable_NumOutputs, PjrtFunction.PJRT_Executable_Serialize,
            PjrtFunction.PJRT_LoadedExecutable_Destroy, PjrtFunction.PJRT_LoadedExecutable_GetExecutable,
            PjrtFunction.PJRT_LoadedExecutable_Execute, PjrtFunction.PJRT_Executable_DeserializeAndLoad,
            PjrtFunction.PJRT_Buffer_Destroy, PjrtFunction.PJRT_Buffer_ToHostBuffer);

    private static final Linker LINKER = Linker.nativeLinker();
    private static final FunctionDescriptor ERR_FN = FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS);
    private static final FunctionDescriptor VOID_FN = FunctionDescriptor.ofVoid(ValueLayout.ADDRESS);

    private final Path library;
    private final MemorySegment api;
    private final int major;
    private final int minor;
    private final Map<PjrtFunction, MethodHandle> handles = new EnumMap<>(PjrtFunction.class);

    private PjrtApi(Path library, MemorySegment api, int major, int minor) {
        this.library = library;
        this.api = api;
        this.major = major;
        this.minor = minor;
        for (PjrtFunction f : USED) {
            MemorySegment fp = api.get(ValueLayout.ADDRESS, f.offset());
            if (fp.equals(MemorySegment.NULL)) continue; // reported when called
            handles.put(f, LINKER.downcallHandle(fp, f.returnsVoid() ? VOID_FN : ERR_FN));
        }
    }

    /**
     * Loads the plugin, checks its API version and table size, and runs PJRT_Plugin_Initialize.
     * The library stays loaded for the life of the process (global arena): plugins such as libtpu do not support
     * being unloaded.
     */
    public static PjrtApi load(Path library) {
        if (!Files.isRegularFile(library)) throw new PjrtException("PJRT plugin " + library + " does not exist");
        SymbolLookup lookup;
        try {
            lookup = SymbolLookup.libraryLookup(library, Arena.global());
        } catch (IllegalArgumentException e) {
            throw new PjrtException("cannot load PJRT plugin " + library + ": " + e.getMessage());
        }
        MemorySegment getApi = lookup.find("GetPjrtApi").orElseThrow(() ->
                new PjrtException(library + " is not a PJRT plugin: it does not export GetPjrtApi"));
        MemorySegment apiPtr;
        try {
            apiPtr = (MemorySegment) LINKER.downcallHandle(getApi, FunctionDescriptor.of(ValueLayout.ADDRESS)).invokeExact();
        } catch (Throwable t) {
            throw new PjrtException("GetPjrtApi failed in " + library + ": " + t);
        }
        if (apiPtr.equals(MemorySegment.NULL)) throw new PjrtException("GetPjrtApi returned NULL in " + library);
        long structSize = apiPtr.reinterpret(8).get(ValueLayout.JAVA_LONG, 0);
        MemorySegment api = apiPtr.reinterpret(Math.max(structSize, PjrtStructs.API_HEADER.structSize()));
        int major = PjrtStructs.API_HEADER.getInt(api, "major_version");
        int minor = PjrtStructs.API_HEADER.getInt(api, "minor_version");
        checkCompatible(library.toString(), major, minor, structSize);
        PjrtApi pjrt = new PjrtApi(library, api, major, minor);
        try (Arena arena = Arena.ofConfined()) {
            pjrt.call(PjrtFunction.PJRT_Plugin_Initialize, PjrtStructs.PLUGIN_INITIALIZE.allocate(arena));
        }
        return pjrt;
    }

    /** Throws with a clear message unless a plugin of this version and table size can serve every entry in {@link #USED}. */
    static void checkCompatible(String what, int major, int minor, long apiStructSize) {
        if (major != SUPPORTED_MAJOR) {
            throw new PjrtException(what + " implements PJRT C API " + major + "." + minor + " but jvllm speaks major "
                    + SUPPORTED_MAJOR + " (minor >= " + MIN_MINOR + "): use a plugin built for PJRT API " + SUPPORTED_MAJOR + ".x");
        }
        if (minor < MIN_MINOR) {
            throw new PjrtException(what + " implements PJRT C API " + major + "." + minor + ", older than the "
                    + SUPPORTED_MAJOR + "." + MIN_MINOR + " jvllm needs: upgrade the plugin");
        }
        long needed = requiredApiStructSize();
        if (apiStructSize < needed) {
            throw new PjrtException(what + " has a PJRT_Api table of " + apiStructSize + " bytes; jvllm needs at least "
                    + needed + " (API " + major + "." + minor + ")");
        }
    }

    static long requiredApiStructSize() {
        return USED.stream().mapToLong(PjrtFunction::offset).max().orElseThrow() + 8;
    }

    public Path library() { return library; }

    public String version() { return major + "." + minor; }

    /** Calls an entry returning {@code PJRT_Error*}; throws {@link PjrtException} with the plugin's message on error. */
    public void call(PjrtFunction f, MemorySegment args) {
        MemorySegment err;
        try {
            err = (MemorySegment) handle(f).invokeExact(args);
        } catch (PjrtException e) {
            throw e;
        } catch (Throwable t) {
            throw new PjrtException(f + " failed to run: " + t);
        }
        if (!err.equals(MemorySegment.NULL)) throw toException(f, err);
    }

    private MethodHandle handle(PjrtFunction f) {
        MethodHandle h = handles.get(f);
        if (h == null) throw new PjrtException(library + " does not implement " + f + " (API " + version() + ")", 12);
        return h;
    }

    private PjrtException toException(PjrtFunction f, MemorySegment err) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = PjrtStructs.ERROR_MESSAGE.allocate(arena);
            PjrtStructs.ERROR_MESSAGE.setPointer(m, "error", err);
            invokeVoid(PjrtFunction.PJRT_Error_Message, m);
            long len = PjrtStructs.ERROR_MESSAGE.getLong(m, "message_size");
            MemorySegment msgPtr = PjrtStructs.ERROR_MESSAGE.getPointer(m, "message");
            String msg = msgPtr.equals(MemorySegment.NULL) ? "(no message)"
                    : new String(msgPtr.reinterpret(len).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            int code = 2;
            MemorySegment c = PjrtStructs.ERROR_GET_CODE.allocate(arena);
            PjrtStructs.ERROR_GET_CODE.setPointer(c, "error", err);
            try {
                MemorySegment codeErr = (MemorySegment) handle(PjrtFunction.PJRT_Error_GetCode).invokeExact(c);
                if (codeErr.equals(MemorySegment.NULL)) code = PjrtStructs.ERROR_GET_CODE.getInt(c, "code");
            } catch (Throwable ignored) {
                // The message is what matters; the code stays UNKNOWN.
            }
            destroyError(err);
            return new PjrtException(f + ": " + msg, code);
        }
    }

    private void destroyError(MemorySegment err) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment d = PjrtStructs.ERROR_DESTROY.allocate(arena);
            PjrtStructs.ERROR_DESTROY.setPointer(d, "error", err);
            invokeVoid(PjrtFunction.PJRT_Error_Destroy, d);
        }
    }

    private void invokeVoid(PjrtFunction f, MemorySegment args) {
        try {
            handle(f).invokeExact(args);
        } catch (Throwable t) {
            throw new PjrtException(f + " failed to run: " + t);
        }
    }

    /** Blocks until the event is ready, then destroys it; a failed event becomes a {@link PjrtException}. */
    public void awaitAndDestroy(MemorySegment event) {
        if (event.equals(MemorySegment.NULL)) return;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = PjrtStructs.EVENT_AWAIT.allocate(arena);
            PjrtStructs.EVENT_AWAIT.setPointer(a, "event", event);
            try {
                call(PjrtFunction.PJRT_Event_Await, a);
            } finally {
                MemorySegment d = PjrtStructs.EVENT_DESTROY.allocate(arena);
                PjrtStructs.EVENT_DESTROY.setPointer(d, "event", event);
                call(PjrtFunction.PJRT_Event_Destroy, d);
            }
        }
    }

    /** Reads a (pointer, size) string the plugin owns. */
    static String string(MemorySegment ptr, long size) {
        if (ptr.equals(MemorySegment.NULL)) return "";
        return new String(ptr.reinterpret(size).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }
}
