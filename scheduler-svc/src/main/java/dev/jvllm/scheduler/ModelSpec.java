package dev.jvllm.scheduler;

import java.util.List;

/**
 * What the scheduler needs to know about the model: taken from the worker's Describe, with
 * {@code maxModelLen} already resolved against --max-model-len.
 */
public record ModelSpec(String modelName, int vocabSize, int maxModelLen, List<Integer> eosTokenIds) {
    public ModelSpec {
        if (vocabSize < 1) throw new IllegalArgumentException("vocab size must be >= 1, got " + vocabSize);
        if (maxModelLen < 2) throw new IllegalArgumentException("max model length must be >= 2, got " + maxModelLen);
        eosTokenIds = List.copyOf(eosTokenIds);
        if (modelName == null) modelName = "";
    }
}
