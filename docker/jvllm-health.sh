#!/usr/bin/env bash
# jvllm-health [http://HOST:PORT/PATH | grpc://HOST:PORT | tcp://HOST:PORT]
# Without an argument, probes what the entrypoint recorded for this container's role.
# http: expects a 200 status line (bash /dev/tcp; the image carries no curl).
# grpc: grpc.health.v1.Health/Check must answer SERVING (a small Java probe built into the image).
set -uo pipefail
target="${1:-$(cat "${TMPDIR:-/tmp}/jvllm-health-target" 2>/dev/null || echo http://127.0.0.1:8000/health)}"
home="${JVLLM_HOME:-/opt/jvllm}"

hostport() { local rest="${1#*://}"; rest="${rest%%/*}"; echo "$rest"; }
case "$target" in
  http://*)
    hp="$(hostport "$target")" host="${hp%:*}" port="${hp##*:}" path="/${target#http://*/}"
    exec 3<>"/dev/tcp/$host/$port" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hp" >&3
    IFS= read -r -t 5 status <&3 || exit 1
    exec 3<&-
    case "$status" in "HTTP/1."[01]" 200"*) exit 0 ;; *) echo "unhealthy: $status" >&2; exit 1 ;; esac ;;
  grpc://*)
    exec "$JAVA_HOME/bin/java" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx64m --enable-native-access=ALL-UNNAMED \
      -cp "$home/app/grpc-health-probe.jar:$home/lib/*" GrpcHealthProbe "$(hostport "$target")" ;;
  tcp://*)
    hp="$(hostport "$target")"
    exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}" ;;
  *) echo "usage: jvllm-health [http://HOST:PORT/PATH | grpc://HOST:PORT | tcp://HOST:PORT]" >&2; exit 2 ;;
esac
