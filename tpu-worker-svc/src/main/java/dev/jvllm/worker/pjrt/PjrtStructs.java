package dev.jvllm.worker.pjrt;

import static dev.jvllm.worker.pjrt.CStruct.CType.ENUM;
import static dev.jvllm.worker.pjrt.CStruct.CType.INT;
import static dev.jvllm.worker.pjrt.CStruct.CType.POINTER;
import static dev.jvllm.worker.pjrt.CStruct.CType.SIZE_T;

/**
 * The argument structs of {@code xla/pjrt/c/pjrt_c_api.h} that jvllm uses, field for field in header order.
 * Written against the header with {@code PJRT_API_MINOR 33}; later minors only append fields, which a plugin
 * treats as absent because our {@code struct_size} stops before them.
 */
public final class PjrtStructs {
    private PjrtStructs() {}

    public static final CStruct API_VERSION = CStruct.args("PJRT_Api_Version", "major_version", INT, "minor_version", INT);

    public static final CStruct ERROR_DESTROY = CStruct.args("PJRT_Error_Destroy_Args", "error", POINTER);
    public static final CStruct ERROR_MESSAGE = CStruct.args("PJRT_Error_Message_Args",
            "error", POINTER, "message", POINTER, "message_size", SIZE_T);
    public static final CStruct ERROR_GET_CODE = CStruct.args("PJRT_Error_GetCode_Args", "error", POINTER, "code", ENUM);

    public static final CStruct PLUGIN_INITIALIZE = CStruct.args("PJRT_Plugin_Initialize_Args");

    public static final CStruct EVENT_DESTROY = CStruct.args("PJRT_Event_Destroy_Args", "event", POINTER);
    public static final CStruct EVENT_AWAIT = CStruct.args("PJRT_Event_Await_Args", "event", POINTER);

    public static final CStruct CLIENT_CREATE = CStruct.args("PJRT_Client_Create_Args",
            "create_options", POINTER, "num_options", SIZE_T,
            "kv_get_callback", POINTER, "kv_get_user_arg", POINTER,
            "kv_put_callback", POINTER, "kv_put_user_arg", POINTER,
            "client", POINTER);
    public static final CStruct CLIENT_DESTROY = CStruct.args("PJRT_Client_Destroy_Args", "client", POINTER);
    public static final CStruct CLIENT_PLATFORM_NAME = CStruct.args("PJRT_Client_PlatformName_Args",
            "client", POINTER, "platform_name", POINTER, "platform_name_size", SIZE_T);
    public static final CStruct CLIENT_PLATFORM_VERSION = CStruct.args("PJRT_Client_PlatformVersion_Args",
            "client", POINTER, "platform_version", POINTER, "platform_version_size", SIZE_T);
    public static final CStruct CLIENT_DEVICES = CStruct.args("PJRT_Client_Devices_Args",
            "client", POINTER, "devices", POINTER, "num_devices", SIZE_T);
    public static final CStruct CLIENT_ADDRESSABLE_DEVICES = CStruct.args("PJRT_Client_AddressableDevices_Args",
            "client", POINTER, "addressable_devices", POINTER, "num_addressable_devices", SIZE_T);

    public static final CStruct PROGRAM = CStruct.args("PJRT_Program",
            "code", POINTER, "code_size", SIZE_T, "format", POINTER, "format_size", SIZE_T);
    public static final CStruct CLIENT_COMPILE = CStruct.args("PJRT_Client_Compile_Args",
            "client", POINTER, "program", POINTER, "compile_options", POINTER, "compile_options_size", SIZE_T,
            "executable", POINTER);

    public static final CStruct CLIENT_BUFFER_FROM_HOST = CStruct.args("PJRT_Client_BufferFromHostBuffer_Args",
            "client", POINTER, "data", POINTER, "type", ENUM,
            "dims", POINTER, "num_dims", SIZE_T,
            "byte_strides", POINTER, "num_byte_strides", SIZE_T,
            "host_buffer_semantics", ENUM,
            "device", POINTER, "memory", POINTER, "device_layout", POINTER,
            "done_with_host_buffer", POINTER, "buffer", POINTER);

    public static final CStruct BUFFER_DESTROY = CStruct.args("PJRT_Buffer_Destroy_Args", "buffer", POINTER);
    public static final CStruct BUFFER_TO_HOST = CStruct.args("PJRT_Buffer_ToHostBuffer_Args",
            "src", POINTER, "host_layout", POINTER, "dst", POINTER, "dst_size", SIZE_T, "event", POINTER);

    public static final CStruct EXECUTE_OPTIONS = CStruct.args("PJRT_ExecuteOptions",
            "send_callbacks", POINTER, "recv_callbacks", POINTER, "num_send_ops", SIZE_T, "num_recv_ops", SIZE_T,
            "launch_id", INT);
    public static final CStruct LOADED_EXECUTABLE_EXECUTE = CStruct.args("PJRT_LoadedExecutable_Execute_Args",
            "executable", POINTER, "options", POINTER, "argument_lists", POINTER, "num_devices", SIZE_T,
            "num_args", SIZE_T, "output_lists", POINTER, "device_complete_events", POINTER, "execute_device", POINTER);
    public static final CStruct LOADED_EXECUTABLE_DESTROY = CStruct.args("PJRT_LoadedExecutable_Destroy_Args", "executable", POINTER);
    public static final CStruct LOADED_EXECUTABLE_GET_EXECUTABLE = CStruct.args("PJRT_LoadedExecutable_GetExecutable_Args",
            "loaded_executable", POINTER, "executable", POINTER);

    public static final CStruct EXECUTABLE_DESTROY = CStruct.args("PJRT_Executable_Destroy_Args", "executable", POINTER);
    public static final CStruct EXECUTABLE_NUM_OUTPUTS = CStruct.args("PJRT_Executable_NumOutputs_Args",
            "executable", POINTER, "num_outputs", SIZE_T);
    public static final CStruct EXECUTABLE_SERIALIZE = CStruct.args("PJRT_Executable_Serialize_Args",
            "executable", POINTER, "serialized_bytes", POINTER, "serialized_bytes_size", SIZE_T,
            "serialized_executable", POINTER, "serialized_executable_deleter", POINTER);
    public static final CStruct EXECUTABLE_DESERIALIZE_AND_LOAD = CStruct.args("PJRT_Executable_DeserializeAndLoad_Args",
            "client", POINTER, "serialized_executable", POINTER, "serialized_executable_size", SIZE_T,
            "loaded_executable", POINTER);

    /** Start of the function table: {@code size_t struct_size; void* extension_start; PJRT_Api_Version pjrt_api_version;}. */
    public static final CStruct API_HEADER = CStruct.plain("PJRT_Api(header)",
            "struct_size", SIZE_T, "extension_start", POINTER,
            // PJRT_Api_Version inlined: its own struct_size, priv, major, minor.
            "version_struct_size", SIZE_T, "version_priv", POINTER, "major_version", INT, "minor_version", INT);
}
