/**
 * Models from the Hugging Face hub: {@link dev.jvllm.common.hub.HubModelResolver} turns {@code --model org/name}
 * (or {@code --tokenizer}) into a local snapshot folder, downloading only the files jvllm reads into the hub's
 * standard cache layout, shared with Python tools. Configured by {@link dev.jvllm.common.hub.HubOptions}
 * (HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE); failures are
 * {@link dev.jvllm.common.hub.HubException}s whose messages are meant for the user.
 */
package dev.jvllm.common.hub;
