# Sourced by ./mvnw and ./jvllm: points JAVA_HOME at a JDK >= 25 when the current one is older.
# The machine's default java may be 17; a JDK 25 is usually installed beside it under /usr/lib/jvm.
jvllm_java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}
jvllm_find_jdk25() {
  if [ -n "${JAVA_HOME-}" ] && [ -x "$JAVA_HOME/bin/javac" ]; then
    v=$(jvllm_java_major "$JAVA_HOME")
    [ "${v:-0}" -ge 25 ] 2>/dev/null && return 0
  fi
  for d in /usr/lib/jvm/*25* /usr/lib/jvm/*2[6-9]* /usr/lib/jvm/* /opt/java/* /opt/jdk* "$HOME"/.sdkman/candidates/java/* "$HOME"/.jdks/*; do
    [ -x "$d/bin/javac" ] || continue
    v=$(jvllm_java_major "$d")
    if [ "${v:-0}" -ge 25 ] 2>/dev/null; then
      export JAVA_HOME="$d"
      return 0
    fi
  done
  echo "jvllm: no JDK 25 or newer found (JAVA_HOME=${JAVA_HOME-unset}). Install one (e.g. Temurin 25) under /usr/lib/jvm or set JAVA_HOME." >&2
  return 1
}
case $- in *f*) jvllm_noglob=1; set +f;; *) jvllm_noglob=0;; esac
jvllm_find_jdk25 || exit 1
if [ "$jvllm_noglob" = 1 ]; then set -f; fi
