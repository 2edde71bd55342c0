/**
 * jvllm's OpenAI-compatible HTTP gateway on Netty.
 *
 * <p>{@link dev.jvllm.gateway.GatewayServer} serves {@code /v1/completions}, {@code /v1/chat/completions} (JSON or
 * SSE), {@code /v1/models}, {@code /tokenize}, {@code /detokenize}, {@code /health}, {@code /ping},
 * {@code /version} and {@code /metrics}. It never tokenizes or runs a model: each request becomes async calls to the
 * Tokenizer service (Encode, DecodeStream, IdsToTokens) and the Engine service (Generate), all of whose callbacks run
 * on the HTTP connection's event loop, so per-request state needs no locks and no thread waits for a reply.
 *
 * <p>Request flow: {@code HttpRouter} (request id, API key, routing) → {@code CompletionsHandler} /
 * {@code ChatCompletionsHandler} (validation via {@code RequestParser} and {@code SamplingParamsParser}) →
 * {@code GenerationHandler} (model, tokenization, context length, one {@code GenerationStream} per prompt) →
 * {@code HttpExchange} (one JSON body, or SSE events ending with {@code data: [DONE]}).
 *
 * <p>{@code GenerationStream} follows vLLM's output processing: incremental detokenization, stop strings matched on
 * the text (across token boundaries, with the stream held back by the longest stop string minus one), stop tokens
 * left out of the text unless {@code include_stop_str_in_output}, and the engine call cancelled once every sequence
 * is done or the client disconnects. Generate messages are requested one at a time, only while the socket is
 * writable.
 */
package dev.jvllm.gateway;
