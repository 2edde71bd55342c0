#!/usr/bin/env bash
# Image entrypoint: `docker run IMAGE serve --model /models/x --role gateway ...` runs `jvllm serve ...`.
# Also records what this container serves, so the image's HEALTHCHECK (jvllm-health) knows what to probe.
set -euo pipefail
home="${JVLLM_HOME:-/opt/jvllm}"

role=all port=8000 grpc_port=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  a="${args[i]}" next="${args[i + 1]:-}"
  case "$a" in
    --role) role="$next" ;;      --role=*) role="${a#*=}" ;;
    --port) port="$next" ;;      --port=*) port="${a#*=}" ;;
    --grpc-port) grpc_port="$next" ;; --grpc-port=*) grpc_port="${a#*=}" ;;
  esac
done
case "$role" in
  scheduler) target="grpc://127.0.0.1:${grpc_port:-50051}" ;;
  tokenizer) target="grpc://127.0.0.1:${grpc_port:-50052}" ;;
  worker)    target="grpc://127.0.0.1:${grpc_port:-50053}" ;;
  *)         target="http://127.0.0.1:${port}/health" ;;
esac
if [ "${1:-}" = serve ]; then
  echo "$target" > "${TMPDIR:-/tmp}/jvllm-health-target" 2>/dev/null || true
fi

# JAVA_OPTS is split into words on purpose (several -X options).
# shellcheck disable=SC2086
exec "$JAVA_HOME/bin/java" \
  --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \
  -XX:+ExitOnOutOfMemoryError ${JAVA_OPTS:-} \
  -cp "$home/app/*:$home/lib/*" dev.jvllm.launcher.Main "$@"
