package dev.jvllm.scheduler;

import dev.jvllm.proto.CompletionOutput;
import dev.jvllm.proto.EngineStats;
import dev.jvllm.proto.FinishReason;
import dev.jvllm.proto.GenerateRequest;
import dev.jvllm.proto.GenerateResponse;
import dev.jvllm.proto.SamplingParams;
import dev.jvllm.proto.ScheduledSeq;
import dev.jvllm.proto.SeqOutput;
import dev.jvllm.proto.SeqSampling;
import dev.jvllm.proto.StepRequest;
import dev.jvllm.proto.StepResponse;
import dev.jvllm.proto.TokenLogprobs;
import dev.jvllm.proto.Usage;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.LongSupplier;

/**
 * The engine's brain, after vLLM v1's scheduler: pure, synchronous and deterministic. {@link #schedule()}
 * turns the queues into one step under the token budget; {@link #update} applies the worker's answer and
 * returns what each request's stream should receive. No I/O, no threads: one owner thread drives it.
 *
 * <p>Each step serves running sequences first (decodes before unfinished chunked prefills, so a long
 * prompt never stalls streams that are already generating), then admits waiting ones into what is left
 * of the budget. When a running sequence needs a block and none is free, the lowest-priority,
 * latest-arrived running sequence is preempted: its blocks are freed and it goes back to the front of the
 * waiting queue, to be recomputed later (the prefix cache often makes that cheap).
 */
public final class Scheduler {
    private final SchedulerOptions options;
    private final ModelSpec model;
    private KvCacheManager kv;
    private final LongSupplier nanoClock;
    /** min(max model length, KV capacity): a sequence that can always finish once it has the cache to itself. */
    private int maxSeqLen;
    /** --max-num-seqs, capped at --max-num-batched-tokens. */
    private final int maxNumSeqs;
    /**
     * Prompt logprobs need a full row of logits per fed token on the worker; cap those rows per step
     * (2^26 floats = 256 MiB) so a long prompt asking for them is chunked instead of exhausting memory.
     */
    private final int promptLogprobRowsPerStep;

    private final Map<String, EngineRequest> requests = new LinkedHashMap<>();
    private final List<Sequence> running = new ArrayList<>();
    private final List<Sequence> waiting = new ArrayList<>();
    private final Comparator<Sequence> priorityOrder = Comparator
            .<Sequence>comparingInt(s -> s.request.priority)
            .thenComparingLong(s -> s.request.arrivalOrder)
            .thenComparingInt(s -> s.index);
    /** Sequences the worker holds state for that ended or were preempted since the last step. */
    private final List<Long> finishedSeqIds = new ArrayList<>();
    private StepPlan inFlight;
    private long nextSeqId = 1;
    private long nextArrival;
    private long nextStepId = 1;

    // Counters for EngineStats.
    private long prefixQueries;
    private long prefixHits;
    private long numPreemptions;
    private long promptTokensTotal;
    private long generationTokensTotal;
    private long numSteps;
    private long prefillTokensLastStep;
    private long decodeTokensLastStep;
    private final Map<String, Long> requestSuccess = new TreeMap<>();

    public Scheduler(SchedulerOptions options, ModelSpec model, int numBlocks, LongSupplier nanoClock) {
        // Every running sequence needs a token of budget per step, or the tail of the running list starves.
        this.maxNumSeqs = Math.min(options.maxNumSeqs(), options.maxNumBatchedTokens());
        this.promptLogprobRowsPerStep = Math.max(1, (1 << 26) / model.vocabSize());
        this.options = options;
        this.model = model;
        this.nanoClock = nanoClock;
        layOutCache(numBlocks);
    }

    private void layOutCache(int numBlocks) {
        String cacheNamespace = options.modelName().isEmpty() ? model.modelName() : options.modelName();
        kv = new KvCacheManager(numBlocks, options.blockSize(), options.enablePrefixCaching(), cacheNamespace);
        maxSeqLen = (int) Math.min(model.maxModelLen(), (long) numBlocks * options.blockSize());
    }

    // ---------------------------------------------------------------- admission and abort

    /**
     * Admits a request into the waiting queue; returns its id (generated when the request has none).
     *
     * @throws RequestRejectedException INVALID_ARGUMENT (bad field, prompt too long), ALREADY_EXISTS
     *                                  (live duplicate id) or RESOURCE_EXHAUSTED (waiting queue full).
     */
    public String addRequest(GenerateRequest req, long arrivalNanos) throws RequestRejectedException {
        String problem = RequestValidator.check(req, model, maxNumSeqs);
        if (problem != null) throw new RequestRejectedException(RequestRejectedException.Reason.INVALID_ARGUMENT, problem);
        int promptLen = req.getPromptTokenIdsCount();
        if (promptLen >= maxSeqLen)
            throw new RequestRejectedException(RequestRejectedException.Reason.INVALID_ARGUMENT,
                    "prompt has " + promptLen + " tokens and needs " + kv.blocksFor(promptLen + 1)
                            + " KV blocks, but the whole KV cache has " + kv.pool().numBlocks() + " blocks of "
                            + options.blockSize() + " tokens");
        String id = req.getRequestId().isEmpty() ? "req-" + nextArrival : req.getRequestId();
        if (requests.containsKey(id))
            throw new RequestRejectedException(RequestRejectedException.Reason.ALREADY_EXISTS,
                    "request_id '" + id + "' is already in use by a live request");
        if (options.maxWaitingRequests() > 0 && waiting.size() >= options.maxWaitingRequests())
            throw new RequestRejectedException(RequestRejectedException.Reason.RESOURCE_EXHAUSTED,
                    "the engine is overloaded: " + waiting.size() + " sequences are waiting (max waiting requests "
                            + options.maxWaitingRequests() + "); retry later");

        SamplingParams p = req.getSampling();
        int room = maxSeqLen - promptLen;
        int maxTokens = p.getMaxTokens() == 0 ? room : Math.min(p.getMaxTokens(), room);
        int minTokens = Math.min(p.getMinTokens(), maxTokens);
        Set<Integer> eos = p.getIgnoreEos() ? Set.of() : Set.copyOf(model.eosTokenIds());
        Set<Integer> stops = Set.copyOf(p.getStopTokenIdsList());
        LinkedHashSet<Integer> stopIds = new LinkedHashSet<>(eos);
        stopIds.addAll(p.getStopTokenIdsList());
        SeqSampling template = SeqSampling.newBuilder()
                .setParams(p).setNumPromptTokens(promptLen).addAllStopIds(stopIds).build();
        int[] prompt = new int[promptLen];
        for (int i = 0; i < promptLen; i++) prompt[i] = req.getPromptTokenIds(i);
        EngineRequest r = new EngineRequest(id, prompt, p, req.getPriority(), nextArrival++, arrivalNanos,
                req.getCacheSalt(), maxTokens, minTokens, eos, stops, template);
        int n = Math.max(1, p.getN());
        for (int i = 0; i < n; i++) {
            Long seed = p.hasSeed() ? p.getSeed() + i : null;
            Sequence s = new Sequence(nextSeqId++, r, i, seed, prompt, promptLen + maxTokens);
            r.seqs.add(s);
            addWaiting(s, false);
        }
        requests.put(id, r);
        return id;
    }

    /** Aborts a queued or running request, freeing its blocks now. Null when the id is not live. */
    public RequestOutput abort(String requestId) {
        EngineRequest r = requests.get(requestId);
        if (r == null) return null;
        for (Sequence s : r.seqs) if (!s.isFinished()) finishSeq(s, FinishReason.FINISH_REASON_ABORT);
        return buildOutput(r);
    }

    /** Aborts every live request (shutdown). */
    public List<RequestOutput> abortAll() {
        List<RequestOutput> out = new ArrayList<>();
        for (String id : List.copyOf(requests.keySet())) out.add(abort(id));
        return out;
    }

    /**
     * The worker lost its state (stream broke, process restarted). Like a preemption of everything at once:
     * each running sequence drops its blocks and goes back to the front of the waiting queue, keeping the
     * tokens it already streamed, to be recomputed on the next worker. A request that has already been
     * through {@code maxLosses} such losses is dropped instead (it may be what kills the worker); the ids
     * of those are returned so their clients get an error. The prefix cache is forgotten: a reconnected
     * worker starts from an empty KV cache.
     */
    public List<String> requeueAfterWorkerLoss(int maxLosses) {
        inFlight = null;
        Set<EngineRequest> lost = new LinkedHashSet<>();
        for (Sequence s : running) lost.add(s.request);
        List<String> failed = new ArrayList<>();
        for (EngineRequest r : lost) {
            if (++r.workerLosses <= maxLosses) continue;
            for (Sequence s : r.seqs) if (!s.isFinished()) finishSeq(s, FinishReason.FINISH_REASON_ABORT);
            requests.remove(r.id);
            failed.add(r.id);
        }
        for (Sequence s : running.reversed()) requeue(s);
        running.clear();
        finishedSeqIds.clear(); // the worker that held them is gone
        for (Sequence s : waiting) s.needsNewSeq = true;
        kv.pool().resetCache();
        return failed;
    }

    /**
     * Replaces the block pool with {@code numBlocks} empty blocks: a restarted worker may offer a different
     * capacity, and its cache holds nothing we had. Only valid while no sequence holds blocks.
     *
     * @throws IllegalStateException when a sequence is running, or the new cache cannot hold one sequence
     *                               of max model length
     */
    public void resetKvCache(int numBlocks) {
        if (!running.isEmpty() || inFlight != null)
            throw new IllegalStateException("cannot replace the KV cache while " + running.size() + " sequences run");
        if ((long) numBlocks * options.blockSize() < model.maxModelLen())
            throw new IllegalStateException("the worker now offers " + numBlocks + " KV blocks of " + options.blockSize()
                    + " tokens, fewer than one sequence of max model length " + model.maxModelLen());
        layOutCache(numBlocks);
    }

    public boolean hasWork() {
        return !running.isEmpty() || !waiting.isEmpty();
    }

    public boolean isLive(String requestId) {
        return requests.containsKey(requestId);
    }

    // ---------------------------------------------------------------- schedule

    /** Decides the next step. Must be followed by {@link #update} (or {@link #requeueAfterWorkerLoss}) before the next call. */
    public StepPlan schedule() {
        if (inFlight != null) throw new IllegalStateException("schedule() called while step " + inFlight.request().getStepId() + " is in flight");
        int budget = options.maxNumBatchedTokens();
        int logitRowsLeft = promptLogprobRowsPerStep;
        List<StepPlan.Entry> entries = new ArrayList<>();
        Map<Sequence, StepPlan.Entry> scheduled = new IdentityHashMap<>();
        boolean preempted = false;

        // Running: sequences waiting for their next token first, then unfinished chunked prefills.
        List<Sequence> order = new ArrayList<>(running.size());
        for (Sequence s : running) if (s.numTokens() - s.numComputed == 1) order.add(s);
        for (Sequence s : running) if (s.numTokens() - s.numComputed > 1) order.add(s);
        for (Sequence s : order) {
            if (budget == 0) break;
            if (s.status != Sequence.Status.RUNNING) continue; // preempted for an earlier one
            int numNew = Math.min(s.numTokens() - s.numComputed, budget);
            boolean promptLogprobs = wantsPromptLogprobs(s);
            if (promptLogprobs) {
                if (logitRowsLeft == 0) continue;
                numNew = Math.min(numNew, logitRowsLeft);
            }
            boolean fits = true;
            while (!kv.allocateSlots(s, List.of(), numNew)) {
                Sequence victim = pickVictim();
                preempt(victim);
                preempted = true;
                StepPlan.Entry undone = scheduled.remove(victim);
                if (undone != null) {
                    entries.remove(undone);
                    budget += undone.numNew();
                    if (undone.wantPromptLogprobs()) logitRowsLeft += undone.numNew();
                }
                if (victim == s) {
                    fits = false;
                    break;
                }
            }
            if (!fits) break;
            StepPlan.Entry e = entry(s, numNew);
            entries.add(e);
            scheduled.put(s, e);
            budget -= numNew;
            if (promptLogprobs) logitRowsLeft -= numNew;
        }

        // Waiting: admit in queue order while budget, sequence slots and blocks last. Not after a
        // preemption: the freed blocks belong to the running sequences that needed them.
        if (!preempted) {
            int i = 0;
            while (i < waiting.size() && budget > 0 && running.size() < maxNumSeqs) {
                Sequence s = waiting.get(i);
                if (s.index > 0 && kv.usesCache(s) && !s.request.leaderPrefilled) {
                    i++; // wait for sequence 0's prompt blocks to land in the prefix cache, then share them
                    continue;
                }
                boolean promptLogprobs = wantsPromptLogprobs(s);
                if (promptLogprobs && logitRowsLeft == 0) break;
                // Cached positions are never fed, so they would get no prompt logprobs: compute them all.
                boolean lookup = !promptLogprobs;
                List<KvBlock> hits = lookup ? kv.findCachedPrefix(s) : List.of();
                int numCached = hits.size() * options.blockSize();
                int numNew = Math.min(s.numTokens() - numCached, budget);
                if (promptLogprobs) numNew = Math.min(numNew, logitRowsLeft);
                if (!kv.allocateSlots(s, hits, numNew)) break;
                waiting.remove(i);
                s.numComputed = numCached;
                s.status = Sequence.Status.RUNNING;
                running.add(s);
                if (lookup && kv.prefixCaching()) {
                    prefixQueries += s.numTokens();
                    prefixHits += numCached;
                }
                EngineRequest r = s.request;
                if (r.firstScheduledNanos < 0) {
                    r.firstScheduledNanos = nanoClock.getAsLong();
                    r.numCachedPromptTokens = numCached;
                    promptTokensTotal += r.prompt.length;
                }
                StepPlan.Entry e = entry(s, numNew);
                entries.add(e);
                budget -= numNew;
                if (promptLogprobs) logitRowsLeft -= numNew;
            }
        }

        StepRequest.Builder req = StepRequest.newBuilder().setStepId(nextStepId).addAllFinishedSeqIds(finishedSeqIds);
        finishedSeqIds.clear();
        int prefill = 0, decode = 0;
        for (StepPlan.Entry e : entries) {
            Sequence s = e.seq();
            ScheduledSeq.Builder ss = ScheduledSeq.newBuilder()
                    .setSeqId(s.seqId).setStartPos(e.start()).setDoSample(e.sample())
                    .setWantPromptLogprobs(e.wantPromptLogprobs());
            for (int p = e.start(); p < e.start() + e.numNew(); p++) ss.addTokenIds(s.token(p));
            for (KvBlock b : s.blockTable) ss.addBlockTable(b.id);
            if (s.needsNewSeq) {
                SeqSampling.Builder nb = s.request.samplingTemplate.toBuilder();
                if (s.seed != null) nb.setSeed(s.seed);
                // Cached positions are never fed, but penalties and bad_words need the whole history.
                for (int p = 0; p < e.start(); p++) nb.addPrefixTokenIds(s.token(p));
                ss.setNewSeq(nb);
                s.needsNewSeq = false;
            }
            req.addSeqs(ss);
            if (e.decode()) decode += e.numNew();
            else prefill += e.numNew();
        }
        StepPlan plan = new StepPlan(req.build(), entries, prefill, decode);
        if (!plan.isEmpty()) {
            nextStepId++;
            inFlight = plan;
            numSteps++;
            prefillTokensLastStep = prefill;
            decodeTokensLastStep = decode;
        } else {
            finishedSeqIds.addAll(req.getFinishedSeqIdsList()); // nothing to send: keep them for the next step
        }
        return plan;
    }

    private static boolean wantsPromptLogprobs(Sequence s) {
        return s.index == 0 && s.request.wantsPromptLogprobs() && s.numComputed < s.numPromptTokens;
    }

    private StepPlan.Entry entry(Sequence s, int numNew) {
        int start = s.numComputed;
        boolean sample = start + numNew == s.numTokens();
        boolean wantPromptLogprobs = wantsPromptLogprobs(s);
        boolean decode = numNew == 1 && start >= s.numPromptTokens && !s.needsNewSeq;
        return new StepPlan.Entry(s, start, numNew, sample, wantPromptLogprobs, decode);
    }

    private Sequence pickVictim() {
        if (!options.priorityPolicy()) return running.getLast();
        Sequence worst = running.getFirst();
        for (Sequence s : running) if (priorityOrder.compare(s, worst) > 0) worst = s;
        return worst;
    }

    private void preempt(Sequence s) {
        running.remove(s);
        if (!s.needsNewSeq) finishedSeqIds.add(s.seqId);
        requeue(s);
        numPreemptions++;
    }

    /** Drops the sequence's blocks and puts it back at the front of the waiting queue, to be recomputed. */
    private void requeue(Sequence s) {
        kv.free(s);
        s.numComputed = 0;
        s.status = Sequence.Status.WAITING;
        s.needsNewSeq = true;
        if (s.index == 0 && !s.request.promptLogprobsDone) s.request.promptLogprobs.clear();
        addWaiting(s, true);
    }

    private void addWaiting(Sequence s, boolean front) {
        if (options.priorityPolicy()) {
            int lo = 0, hi = waiting.size();
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (priorityOrder.compare(waiting.get(mid), s) <= 0) lo = mid + 1;
                else hi = mid;
            }
            waiting.add(lo, s);
        } else if (front) {
            waiting.addFirst(s);
        } else {
            waiting.addLast(s);
        }
    }

    // ---------------------------------------------------------------- update

    /** Applies the worker's answer to {@code plan}; returns one output per request that has news. */
    public List<RequestOutput> update(StepPlan plan, StepResponse response) {
        if (plan != inFlight) throw new IllegalStateException("update() for a step that is not in flight");
        if (response.getStepId() != plan.request().getStepId())
            throw new IllegalStateException("worker answered step " + response.getStepId() + " but step "
                    + plan.request().getStepId() + " was sent");
        Map<Long, SeqOutput> outs = new HashMap<>();
        for (SeqOutput o : response.getOutputsList()) outs.put(o.getSeqId(), o);
        for (StepPlan.Entry e : plan.entries) { // validate before mutating anything
            if (!e.sample() || e.seq().status != Sequence.Status.RUNNING) continue;
            SeqOutput o = outs.get(e.seq().seqId);
            if (o == null || o.getTokenId() < 0 || o.getTokenId() >= model.vocabSize())
                throw new IllegalStateException("worker answered step " + response.getStepId() + " without a valid token for seq "
                        + e.seq().seqId + (o == null ? "" : " (got " + o.getTokenId() + ")"));
        }
        inFlight = null;
        long now = nanoClock.getAsLong();
        Set<EngineRequest> touched = new LinkedHashSet<>();
        for (StepPlan.Entry e : plan.entries) {
            Sequence s = e.seq();
            if (s.status != Sequence.Status.RUNNING) continue; // aborted while the step ran
            EngineRequest r = s.request;
            s.numComputed += e.numNew();
            kv.cacheComputedBlocks(s);
            SeqOutput o = outs.get(s.seqId);
            if (e.wantPromptLogprobs() && o != null) r.promptLogprobs.addAll(o.getPromptLogprobsList());
            if (s.numComputed >= s.numPromptTokens) {
                if (s.index == 0) r.leaderPrefilled = true;
                if (e.wantPromptLogprobs()) {
                    r.promptLogprobsDone = true;
                    touched.add(r);
                }
            }
            if (!e.sample()) continue;
            int token = o.getTokenId();
            s.append(token);
            s.pendingTokens.add(token);
            if (o.hasLogprobs()) s.pendingLogprobs.add(o.getLogprobs());
            generationTokensTotal++;
            if (r.firstTokenNanos < 0) r.firstTokenNanos = now;
            touched.add(r);
            FinishReason reason = checkStop(s, token);
            if (reason != null) finishSeq(s, reason);
        }
        List<RequestOutput> result = new ArrayList<>(touched.size());
        for (EngineRequest r : touched) result.add(buildOutput(r));
        return result;
    }

    /** vLLM v1 order: length limits first, then (once min_tokens are out) EOS and stop tokens. */
    private FinishReason checkStop(Sequence s, int token) {
        EngineRequest r = s.request;
        if (s.numOutputs() >= r.maxTokens || s.numTokens() >= maxSeqLen) return FinishReason.FINISH_REASON_LENGTH;
        if (s.numOutputs() < r.minTokens) return null;
        if (r.eosIds.contains(token) || r.stopTokenIds.contains(token)) {
            s.stopTokenId = token;
            return FinishReason.FINISH_REASON_STOP;
        }
        return null;
    }

    private void finishSeq(Sequence s, FinishReason reason) {
        if (s.status == Sequence.Status.RUNNING) running.remove(s);
        else if (s.status == Sequence.Status.WAITING) waiting.remove(s);
        kv.free(s);
        if (!s.needsNewSeq) finishedSeqIds.add(s.seqId);
        s.needsNewSeq = true;
        s.status = Sequence.Status.FINISHED;
        s.finishReason = reason;
    }

    private RequestOutput buildOutput(EngineRequest r) {
        GenerateResponse.Builder b = GenerateResponse.newBuilder().setRequestId(r.id);
        int completion = 0;
        for (Sequence s : r.seqs) {
            completion += s.numOutputs();
            boolean finishNews = s.isFinished() && !s.finishReported;
            if (s.pendingTokens.isEmpty() && !finishNews) continue;
            CompletionOutput.Builder c = CompletionOutput.newBuilder().setIndex(s.index)
                    .addAllTokenIds(s.pendingTokens).addAllLogprobs(s.pendingLogprobs)
                    .setNumGeneratedTokens(s.numOutputs()).setFinishReason(s.finishReason);
            if (s.stopTokenId != null && s.isFinished()) c.setStopTokenId(s.stopTokenId);
            b.addOutputs(c);
            s.pendingTokens.clear();
            s.pendingLogprobs.clear();
            if (s.isFinished()) s.finishReported = true;
        }
        if (r.promptLogprobsDone && !r.promptLogprobsSent) {
            b.addPromptLogprobs(TokenLogprobs.getDefaultInstance());
            b.addAllPromptLogprobs(r.promptLogprobs);
            r.promptLogprobsSent = true;
        }
        b.setUsage(Usage.newBuilder().setPromptTokens(r.prompt.length).setCompletionTokens(completion)
                .setCachedPromptTokens(r.numCachedPromptTokens));
        if (r.firstScheduledNanos >= 0) b.setQueuedSeconds((r.firstScheduledNanos - r.arrivalNanos) / 1e9);
        if (r.firstTokenNanos >= 0) b.setFirstTokenSeconds((r.firstTokenNanos - r.arrivalNanos) / 1e9);
        boolean finished = r.allFinished();
        b.setFinished(finished);
        if (finished && requests.remove(r.id) != null) {
            requestSuccess.merge(reasonName(r.seqs.getFirst().finishReason), 1L, Long::sum);
        }
        return new RequestOutput(r.id, b.build(), finished);
    }

    static String reasonName(FinishReason reason) {
        return switch (reason) {
            case FINISH_REASON_STOP -> "stop";
            case FINISH_REASON_LENGTH -> "length";
            case FINISH_REASON_ABORT -> "abort";
            default -> "unknown";
        };
    }

    // ---------------------------------------------------------------- stats and introspection

    public EngineStats stats() {
        return statsBuilder().build();
    }

    /** {@link #stats()} left open, so the engine loop adds its own fields without a second copy. */
    EngineStats.Builder statsBuilder() {
        int total = kv.pool().numBlocks();
        int free = kv.pool().numFree();
        return EngineStats.newBuilder()
                .setNumRunning(running.size())
                .setNumWaiting(waiting.size())
                .setKvCacheUsage((total - free) / (double) total)
                .setNumFreeBlocks(free)
                .setNumTotalBlocks(total)
                .setPrefixCacheQueries(prefixQueries)
                .setPrefixCacheHits(prefixHits)
                .setNumPreemptions(numPreemptions)
                .setPromptTokensTotal(promptTokensTotal)
                .setGenerationTokensTotal(generationTokensTotal)
                .setNumSteps(numSteps)
                .setPrefillTokensLastStep(prefillTokensLastStep)
                .setDecodeTokensLastStep(decodeTokensLastStep)
                .putAllRequestSuccessTotal(requestSuccess);
    }

    public int numRunning() {
        return running.size();
    }

    public int numWaiting() {
        return waiting.size();
    }

    public int numFreeBlocks() {
        return kv.pool().numFree();
    }

    public int numTotalBlocks() {
        return kv.pool().numBlocks();
    }

    public int numLiveRequests() {
        return requests.size();
    }

    /** Sequence ids the next step will tell the worker to drop. */
    int numPendingFinishedSeqIds() {
        return finishedSeqIds.size();
    }

    /** Effective --max-num-seqs (capped at --max-num-batched-tokens). */
    public int maxNumSeqs() {
        return maxNumSeqs;
    }

    public int maxSeqLen() {
        return maxSeqLen;
    }

    public SchedulerOptions options() {
        return options;
    }

    /**
     * Verifies the accounting invariants; throws IllegalStateException naming the first violation.
     * Cheap enough for tests to call after every step.
     */
    public void checkInvariants() {
        kv.pool().checkConsistency();
        Map<KvBlock, Integer> holders = new IdentityHashMap<>();
        for (Sequence s : running) {
            if (s.status != Sequence.Status.RUNNING) throw new IllegalStateException("running list holds " + s);
            if ((long) s.blockTable.size() * options.blockSize() < s.numComputed)
                throw new IllegalStateException("block table too short for computed tokens: " + s);
            for (int i = 0; i < s.blockTable.size(); i++) {
                KvBlock b = s.blockTable.get(i);
                holders.merge(b, 1, Integer::sum);
                // Blocks the worker may still write (at or after numComputed) must not be shared.
                if (i >= s.numComputed / options.blockSize() && b.refCount != 1)
                    throw new IllegalStateException("writable block " + b + " is shared, in " + s);
            }
        }
        for (Sequence s : waiting) {
            if (s.status != Sequence.Status.WAITING) throw new IllegalStateException("waiting list holds " + s);
            if (!s.blockTable.isEmpty()) throw new IllegalStateException("waiting sequence holds blocks: " + s);
        }
        int used = 0;
        for (int id = 0; id < kv.pool().numBlocks(); id++) {
            KvBlock b = kv.pool().block(id);
            int h = holders.getOrDefault(b, 0);
            if (b.refCount != h) throw new IllegalStateException(b + " is held by " + h + " block tables");
            if (h > 0) used++;
        }
        if (used + kv.pool().numFree() != kv.pool().numBlocks())
            throw new IllegalStateException("leaked blocks: used " + used + " + free " + kv.pool().numFree());
        if (running.size() > maxNumSeqs) throw new IllegalStateException("more running than --max-num-seqs");
        int live = 0;
        for (EngineRequest r : requests.values()) for (Sequence s : r.seqs) if (!s.isFinished()) live++;
        if (live != running.size() + waiting.size())
            throw new IllegalStateException("live sequences " + live + " != running " + running.size() + " + waiting " + waiting.size());
    }
}
