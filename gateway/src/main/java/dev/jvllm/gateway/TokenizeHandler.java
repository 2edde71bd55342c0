package dev.jvllm.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jvllm.proto.DecodeRequest;
import dev.jvllm.proto.DecodeResponse;
import dev.jvllm.proto.EncodeRequest;
import dev.jvllm.proto.EncodeResponse;
import dev.jvllm.proto.TokenizerGrpc;
import io.netty.handler.codec.http.HttpResponseStatus;

import java.util.List;
import java.util.concurrent.TimeUnit;

/** vLLM's POST /tokenize and POST /detokenize. */
final class TokenizeHandler {
    private final Services services;
    private final HttpExchange exchange;
    private final TokenizerGrpc.TokenizerStub tokenizer;

    TokenizeHandler(Services services, HttpExchange exchange) {
        this.services = services;
        this.exchange = exchange;
        this.tokenizer = services.tokenizer(exchange.eventLoop())
                .withDeadlineAfter(services.options().controlTimeout().toMillis(), TimeUnit.MILLISECONDS);
    }

    void tokenize(byte[] body) {
        EncodeRequest req;
        String model;
        try {
            RequestParser p = RequestParser.parse(body);
            model = p.string("model", null);
            if (p.has("prompt") == p.has("messages")) {
                throw OpenAiException.badRequest("Exactly one of `prompt` or `messages` is required.", p.has("prompt") ? "messages" : "prompt");
            }
            if (p.has("prompt")) {
                String prompt = p.string("prompt", null);
                req = EncodeRequest.newBuilder().setText(prompt).setAddSpecialTokens(p.bool("add_special_tokens", true)).build();
            } else {
                req = EncodeRequest.newBuilder().setChat(ChatCompletionsHandler.parseChatInput(p))
                        .setAddSpecialTokens(p.bool("add_special_tokens", false)).build();
            }
            p.bool("return_token_strs", false);
        } catch (OpenAiException e) {
            exchange.sendError(e);
            return;
        }
        services.models().model().thenComposeAsync(m -> {
            checkModel(m, model);
            return GrpcCalls.<EncodeResponse>unary(o -> tokenizer.encode(req, o)).thenApply(r -> {
                ObjectNode out = JsonNodeFactory.instance.objectNode();
                out.put("count", r.getIdsCount());
                out.put("max_model_len", m.maxModelLen());
                out.set("tokens", GenerationHandler.ints(r.getIdsList()));
                return out;
            });
        }, exchange.eventLoop()).whenCompleteAsync(this::reply, exchange.eventLoop());
    }

    void detokenize(byte[] body) {
        DecodeRequest req;
        String model;
        try {
            RequestParser p = RequestParser.parse(body);
            model = p.string("model", null);
            if (!p.has("tokens")) throw OpenAiException.badRequest("`tokens` is required.", "tokens");
            List<Integer> tokens = p.optIntList("tokens", 0, Integer.MAX_VALUE);
            req = DecodeRequest.newBuilder().addAllIds(tokens).setSkipSpecialTokens(false).build();
        } catch (OpenAiException e) {
            exchange.sendError(e);
            return;
        }
        services.models().model().thenComposeAsync(m -> {
            checkModel(m, model);
            for (int id : req.getIdsList()) {
                if (m.vocabSize() > 0 && id >= m.vocabSize()) {
                    throw OpenAiException.badRequest("Token id " + id + " is out of vocabulary.", "tokens");
                }
            }
            return GrpcCalls.<DecodeResponse>unary(o -> tokenizer.decode(req, o)).thenApply(r -> {
                ObjectNode out = JsonNodeFactory.instance.objectNode();
                out.put("prompt", r.getText());
                return out;
            });
        }, exchange.eventLoop()).whenCompleteAsync(this::reply, exchange.eventLoop());
    }

    private static void checkModel(ModelRegistry.Model m, String model) {
        if (model != null && !m.serves(model)) {
            throw OpenAiException.notFound("The model `" + model + "` does not exist.", "model");
        }
    }

    private void reply(JsonNode out, Throwable error) {
        if (error != null) exchange.sendError(OpenAiErrors.from(error));
        else exchange.sendJson(HttpResponseStatus.OK, out);
    }

}
