/**
 * The GGUF container format (llama.cpp's single-file models): metadata and tensor infos, shared by the worker
 * (weights) and the tokenizer service (the {@code tokenizer.ggml.*} vocabulary and the chat template).
 */
package dev.jvllm.common.gguf;
