package dev.jvllm.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What tokenizer_config.json (plus generation_config.json / config.json) says about special tokens, the chat
 * template and the context length. Missing files mean "not specified"; malformed ones fail with their path.
 */
record TokenizerConfig(Map<String, Object> specialTokens, String chatTemplate, long modelMaxLength,
                       List<Long> generationEosIds, Long generationBosId) {

    private static final List<String> SPECIAL_TOKEN_KEYS = List.of("bos_token", "eos_token", "unk_token",
            "sep_token", "pad_token", "cls_token", "mask_token");

    static TokenizerConfig read(Path tokenizerDir, Path modelDir) {
        Path configFile = tokenizerDir.resolve("tokenizer_config.json");
        if (!Files.isRegularFile(configFile) && modelDir != null) {
            configFile = modelDir.resolve("tokenizer_config.json");
        }
        Map<?, ?> tok = readJsonObject(configFile);
        Map<String, Object> special = new LinkedHashMap<>();
        for (String key : SPECIAL_TOKEN_KEYS) {
            String content = tokenContent(tok.get(key));
            if (content != null) {
                special.put(key, content);
            }
        }
        if (tok.get("additional_special_tokens") instanceof List<?> extra) {
            List<Object> contents = new ArrayList<>();
            for (Object o : extra) {
                String c = tokenContent(o);
                if (c != null) {
                    contents.add(c);
                }
            }
            special.put("additional_special_tokens", contents);
        }
        String template = chatTemplateOf(tok.get("chat_template"));
        if (template == null) {
            template = readChatTemplateFile(tokenizerDir);
        }
        long maxLen = tok.get("model_max_length") instanceof Number n ? clampToInt(n.doubleValue()) : 0;

        Set<Long> eos = new LinkedHashSet<>();
        Long bos = null;
        Path base = modelDir != null ? modelDir : tokenizerDir;
        for (String file : new String[] {"generation_config.json", "config.json"}) {
            Map<?, ?> cfg = readJsonObject(base.resolve(file));
            addIds(eos, cfg.get("eos_token_id"));
            if (bos == null && cfg.get("bos_token_id") instanceof Number n) {
                bos = n.longValue();
            }
        }
        return new TokenizerConfig(special, template, maxLen, List.copyOf(eos), bos);
    }

    private static long clampToInt(double v) {
        return v > Integer.MAX_VALUE ? Integer.MAX_VALUE : (long) v;
    }

    private static void addIds(Set<Long> into, Object v) {
        if (v instanceof Number n) {
            into.add(n.longValue());
        } else if (v instanceof List<?> list) {
            list.forEach(o -> addIds(into, o));
        }
    }

    /** Special tokens may be plain strings or AddedToken dicts ({"content": ..., ...}). */
    static String tokenContent(Object v) {
        if (v instanceof String s) {
            return s;
        }
        if (v instanceof Map<?, ?> m && m.get("content") instanceof String s) {
            return s;
        }
        return null;
    }

    /** A string, or a list of named templates of which "default" is the one applied. */
    private static String chatTemplateOf(Object v) {
        if (v instanceof String s) {
            return s;
        }
        if (v instanceof List<?> named) {
            for (Object o : named) {
                if (o instanceof Map<?, ?> m && "default".equals(m.get("name")) && m.get("template") instanceof String s) {
                    return s;
                }
            }
        }
        return null;
    }

    /** Newer transformers save the template beside the config as chat_template.jinja or chat_template.json. */
    private static String readChatTemplateFile(Path dir) {
        try {
            Path jinja = dir.resolve("chat_template.jinja");
            if (Files.isRegularFile(jinja)) {
                return Files.readString(jinja);
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + dir.resolve("chat_template.jinja") + ": " + e.getMessage(), e);
        }
        return chatTemplateOf(readJsonObject(dir.resolve("chat_template.json")).get("chat_template"));
    }

    static Map<?, ?> readJsonObject(Path file) {
        if (!Files.isRegularFile(file)) {
            return Map.of();
        }
        try {
            Object v = Json.parse(Files.readString(file), file.toString());
            if (!(v instanceof Map<?, ?> m)) {
                throw new IllegalArgumentException(file + " is not a JSON object");
            }
            return m;
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
