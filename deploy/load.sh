#!/usr/bin/env bash
# Load generator, shaped like the GKE vLLM tutorial's load.sh but bounded: N parallel streams, each
# sending REQUESTS completions one after another with curl, then it stops and prints a summary.
#   HOST=34.1.2.3 PORT=8000 N=16 REQUESTS=20 deploy/load.sh
#   HOST=$(kubectl -n jvllm get svc jvllm -o jsonpath='{.status.loadBalancer.ingress[0].ip}') deploy/load.sh
# Watch the HPA react: kubectl -n jvllm get hpa jvllm-hpa -w
set -euo pipefail

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
N="${N:-8}"                       # parallel streams
REQUESTS="${REQUESTS:-10}"        # requests per stream
MODEL="${MODEL:-stories260K}"
PROMPT="${PROMPT:-Once upon a time}"
MAX_TOKENS="${MAX_TOKENS:-128}"
STREAM="${STREAM:-true}"          # true: SSE (exercises Envoy's streaming path)
TIMEOUT="${TIMEOUT:-300}"         # seconds per request
API_KEY="${API_KEY:-${VLLM_API_KEY:-}}"

for v in N REQUESTS MAX_TOKENS TIMEOUT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "load.sh: $v must be a number, got '${!v}'" >&2; exit 2; }
done
command -v curl >/dev/null || { echo "load.sh: curl is required" >&2; exit 2; }

url="http://${HOST}:${PORT}/v1/completions"
json_escape() { local s="${1//\\/\\\\}"; s="${s//\"/\\\"}"; printf '%s' "$s"; }
body=$(printf '{"model":"%s","prompt":"%s","max_tokens":%d,"temperature":0.8,"stream":%s}' \
  "$(json_escape "$MODEL")" "$(json_escape "$PROMPT")" "$MAX_TOKENS" "$STREAM")
auth=()
[ -n "$API_KEY" ] && auth=(-H "Authorization: Bearer ${API_KEY}")

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT

stream() {
  local id="$1" ok=0 failed=0 code
  for ((r = 0; r < REQUESTS; r++)); do
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time "$TIMEOUT" \
      -H 'Content-Type: application/json' "${auth[@]}" -d "$body" "$url" 2>/dev/null) || code=000
    if [ "$code" = 200 ]; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
  done
  echo "$ok $failed" > "$results/$id"
}

echo "load.sh: $N streams x $REQUESTS requests -> $url (model $MODEL, max_tokens $MAX_TOKENS, stream $STREAM)"
start=$(date +%s)
for ((i = 0; i < N; i++)); do stream "$i" & done
wait
elapsed=$(( $(date +%s) - start ))

ok=0 failed=0
for f in "$results"/*; do read -r o fl < "$f"; ok=$((ok + o)); failed=$((failed + fl)); done
echo "load.sh: $ok ok, $failed failed in ${elapsed}s"
[ "$failed" -eq 0 ]
