package dev.jvllm.launcher;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code ./jvllm}: the product's command line, shaped like {@code vllm}. */
@Command(name = "jvllm",
        mixinStandardHelpOptions = true,
        versionProvider = Version.class,
        description = "LLM inference server: OpenAI-compatible API, continuous batching, paged KV cache.",
        subcommands = {ServeCommand.class, dev.jvllm.launcher.bench.BenchCommand.class})
public final class Main implements Runnable {

    public static void main(String[] args) {
        configureLogging();
        int code = new CommandLine(new Main())
                .setCaseInsensitiveEnumValuesAllowed(true)
                .setExecutionExceptionHandler(Main::reportStartupFailure)
                .execute(args);
        if (code != 0) {
            System.exit(code);
        }
    }

    static void configureLogging() {
        setIfAbsent("org.slf4j.simpleLogger.defaultLogLevel", "info");
        setIfAbsent("org.slf4j.simpleLogger.showDateTime", "true");
        setIfAbsent("org.slf4j.simpleLogger.dateTimeFormat", "MM-dd HH:mm:ss");
        setIfAbsent("org.slf4j.simpleLogger.showShortLogName", "true");
        setIfAbsent("org.slf4j.simpleLogger.levelInBrackets", "true");
        setIfAbsent("org.slf4j.simpleLogger.logFile", "System.err");
        // DJL probes for CUDA at load and warns on machines without a driver; the tokenizer never uses it.
        setIfAbsent("org.slf4j.simpleLogger.log.ai.djl.util.cuda.CudaUtils", "error");
    }

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }

    /**
     * A model that cannot load or a flag that cannot work is the user's to fix: say what and where in one line
     * (with its causes), not a stack trace. JVLLM_DEBUG=1 prints the trace too.
     */
    private static int reportStartupFailure(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
        StringBuilder message = new StringBuilder("jvllm: error: ").append(e.getMessage());
        for (Throwable cause = e.getCause(); cause != null; cause = cause.getCause()) {
            if (cause.getMessage() != null && !message.toString().contains(cause.getMessage())) {
                message.append(": ").append(cause.getMessage());
            }
        }
        cmd.getErr().println(message);
        if ("1".equals(System.getenv("JVLLM_DEBUG"))) {
            e.printStackTrace(cmd.getErr());
        }
        return 1;
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }
}
