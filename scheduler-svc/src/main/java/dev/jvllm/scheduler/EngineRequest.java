package dev.jvllm.scheduler;

import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.SeqSampling;
import dev.jvllm.proto.TokenLogprobs;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** A Generate call as the scheduler tracks it: n sequences sharing a prompt, limits and timestamps. */
final class EngineRequest {
    final String id;
    final int[] prompt;
    final SamplingParams params;
    final int priority;
    /** Admission order; breaks ties between equal priorities (earlier first). */
    final long arrivalOrder;
    final long arrivalNanos;
    final String cacheSalt;
    /** max_tokens after clipping to the model length. */
    final int maxTokens;
    final int minTokens;
    final Set<Integer> eosIds;
    final Set<Integer> stopTokenIds;
    /** Sampling state sent in new_seq, without the per-sequence seed. */
    final SeqSampling samplingTemplate;
    final List<Sequence> seqs = new ArrayList<>();

    /** Sequence 0 has computed its whole prompt: siblings can now take its blocks from the prefix cache. */
    boolean leaderPrefilled;
    long firstScheduledNanos = -1;
    long firstTokenNanos = -1;
    int numCachedPromptTokens;
    final List<TokenLogprobs> promptLogprobs = new ArrayList<>();
    boolean promptLogprobsDone;
    boolean promptLogprobsSent;
    /** Times a worker was lost while this request ran on it (each time it was requeued for recompute). */
    int workerLosses;

    EngineRequest(String id, int[] prompt, SamplingParams params, int priority, long arrivalOrder, long arrivalNanos,
                  String cacheSalt, int maxTokens, int minTokens, Set<Integer> eosIds, Set<Integer> stopTokenIds,
                  SeqSampling samplingTemplate) {
        this.id = id;
        this.prompt = prompt;
        this.params = params;
        this.priority = priority;
        this.arrivalOrder = arrivalOrder;
        this.arrivalNanos = arrivalNanos;
        this.cacheSalt = cacheSalt;
        this.maxTokens = maxTokens;
        this.minTokens = minTokens;
        this.eosIds = eosIds;
        this.stopTokenIds = stopTokenIds;
        this.samplingTemplate = samplingTemplate;
    }

    boolean wantsPromptLogprobs() {
        return params.hasPromptLogprobs() && !promptLogprobsDone;
    }

    boolean allFinished() {
        for (Sequence s : seqs) if (!s.isFinished()) return false;
        return true;
    }
}
