#!/usr/bin/env bash
# Fetch the local streaming engines into one cache folder, with the ordinary clients only
# (Maven Central via mvn, the Go module proxy via `go install`). Idempotent: a component whose
# manifest (sha256 of every file) still checks out is skipped. Nothing downloads at run time afterwards.
#
#   deploy/engines/install-engines.sh            # fetch what is missing, verify what is there
#   PILOTZONE_ENGINES=/some/dir deploy/engines/install-engines.sh
#   FORCE=1 deploy/engines/install-engines.sh    # refetch everything
#
# Cache layout (see README.md beside this file):
#   $CACHE/kafka-$KAFKA_VERSION/lib/*.jar                     KRaft broker + tools (java -cp 'lib/*' kafka.Kafka ...)
#   $CACHE/beam-$BEAM_VERSION/expansion-service/lib/*.jar     Java expansion service (KafkaIO) + Java SDK harness
#   $CACHE/beam-$BEAM_VERSION/bin/prism                       Prism runner (go install .../go/cmd/prism)
#   $CACHE/beam-$BEAM_VERSION/bin/java-boot                   Java SDK boot (go install .../java/container)
#   $CACHE/beam-$BEAM_VERSION/bin/beam-java-worker            PROCESS-environment command wrapping java-boot
#   $CACHE/bin/{prism,java-boot,beam-java-worker}             symlinks to the current Beam version
#   $CACHE/engines.env                                        shell-sourceable paths
#
# Beam version: the Python SDK must be the same version. Maven Central (as reachable here) serves Beam's
# Java artifacts only up to 2.73.0 (beam-model-pipeline / beam-sdks-java-harness 2.74.0+ are missing), and
# serves no Flink runner / job-server and no shaded beam-sdks-java-io-expansion-service jar at any version.
set -Eeuo pipefail

BEAM_VERSION="${BEAM_VERSION:-2.73.0}"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
CACHE="${PILOTZONE_ENGINES:-$HOME/.cache/pilotzone/engines}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FORCE="${FORCE:-0}"

die() { printf '\ninstall-engines: ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf 'install-engines: %s\n' "$*"; }
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

for tool in java mvn go sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on PATH (need Java 17+, Maven, Go, coreutils)"
done
java_major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
[ "${java_major%%.*}" -ge 17 ] 2>/dev/null || die "Java 17+ required, found '${java_major}'"

mkdir -p "$CACHE"
FETCHED=()
SKIPPED=()

# A component directory is complete when $dir/.manifest exists and every file in it matches its sha256.
verified() {
  local dir=$1
  [ "$FORCE" != 1 ] && [ -f "$dir/.manifest" ] && (cd "$dir" && sha256sum --quiet --strict -c .manifest >/dev/null 2>&1)
}
seal() {  # write the manifest of a freshly filled staging dir
  local dir=$1
  (cd "$dir" && find . -type f ! -name .manifest -print0 | sort -z | xargs -0 sha256sum > .manifest)
  [ -s "$dir/.manifest" ] || die "nothing was fetched into $dir"
}
install_dir() {  # atomically replace $2 by staging dir $1
  local staging=$1 final=$2
  rm -rf "$final.old"
  [ -e "$final" ] && mv "$final" "$final.old"
  mv "$staging" "$final"
  rm -rf "$final.old"
}

maven_libs() {  # maven_libs NAME POM DEST [-Dprop=value ...]
  local name=$1 pom=$2 dest=$3; shift 3
  if verified "$dest"; then SKIPPED+=("$name"); return; fi
  log "fetching $name with Maven ($pom) ..."
  local staging="$dest.partial"
  rm -rf "$staging"; mkdir -p "$staging/lib"
  if ! mvn -B -q -f "$pom" "$@" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$staging/lib" > "$staging/mvn.log" 2>&1; then
    cat "$staging/mvn.log" >&2
    die "Maven could not resolve $name (see output above; is Maven Central reachable? is the version served?)"
  fi
  rm -f "$staging/mvn.log"
  seal "$staging"
  install_dir "$staging" "$dest"
  FETCHED+=("$name")
}

go_binary() {  # go_binary NAME PACKAGE@VERSION DEST_FILE
  local name=$1 pkg=$2 dest=$3
  if [ "$FORCE" != 1 ] && [ -x "$dest" ] && [ -f "$dest.sha256" ] \
     && (cd "$(dirname "$dest")" && sha256sum --quiet --strict -c "$(basename "$dest").sha256" >/dev/null 2>&1); then
    SKIPPED+=("$name"); return
  fi
  log "building $name with go install $pkg ..."
  local gobin; gobin=$(mktemp -d "$CACHE/.gobin.XXXXXX")
  if ! GOBIN="$gobin" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" go install "$pkg" > "$gobin.log" 2>&1; then
    cat "$gobin.log" >&2; rm -rf "$gobin" "$gobin.log"
    die "go install $pkg failed (see output above; is the Go module proxy reachable?)"
  fi
  local built; built=$(find "$gobin" -type f -perm -u+x | head -n1)
  [ -n "$built" ] || die "go install $pkg produced no binary"
  mkdir -p "$(dirname "$dest")"
  mv -f "$built" "$dest"
  rm -rf "$gobin" "$gobin.log"
  (cd "$(dirname "$dest")" && sha256sum "$(basename "$dest")" > "$(basename "$dest").sha256")
  FETCHED+=("$name")
}

BEAM_DIR="$CACHE/beam-$BEAM_VERSION"
KAFKA_DIR="$CACHE/kafka-$KAFKA_VERSION"

# 1. Kafka broker (KRaft) + tools
maven_libs "kafka $KAFKA_VERSION (org.apache.kafka:kafka_2.13 + kafka-tools)" \
  "$HERE/kafka/pom.xml" "$KAFKA_DIR" "-Dkafka.version=$KAFKA_VERSION"
[ -f "$KAFKA_DIR/lib/kafka_2.13-$KAFKA_VERSION.jar" ] || die "kafka_2.13-$KAFKA_VERSION.jar missing in $KAFKA_DIR/lib"

# 2. Beam Java expansion service for KafkaIO + the Java SDK harness (for PROCESS environments)
maven_libs "beam $BEAM_VERSION expansion service (expansion-service + io-kafka + sdks-java-harness)" \
  "$HERE/beam-expansion-service/pom.xml" "$BEAM_DIR/expansion-service" "-Dbeam.version=$BEAM_VERSION"
for j in beam-sdks-java-expansion-service beam-sdks-java-io-kafka beam-sdks-java-harness; do
  [ -f "$BEAM_DIR/expansion-service/lib/$j-$BEAM_VERSION.jar" ] || die "$j-$BEAM_VERSION.jar missing in $BEAM_DIR/expansion-service/lib"
done

# 3. Prism and the Java SDK boot, from the Beam Go module at the same version
go_binary "prism v$BEAM_VERSION" "github.com/apache/beam/sdks/v2/go/cmd/prism@v$BEAM_VERSION" "$BEAM_DIR/bin/prism"
go_binary "java-boot v$BEAM_VERSION" "github.com/apache/beam/sdks/v2/java/container@v$BEAM_VERSION" "$BEAM_DIR/bin/java-boot"

# 4. PROCESS-environment command for Java transforms (generated; no download)
cat > "$BEAM_DIR/bin/beam-java-worker.tmp" <<'EOF'
#!/bin/sh
# PROCESS-environment command for Beam Java transforms (cross-language KafkaIO) without Docker.
# Give it to the expansion service:
#   --defaultEnvironmentType=PROCESS --defaultEnvironmentConfig='{"command":"<this file>"}'
# and run the Python pipeline with --experiments=disable_jamm_agent (the boot otherwise adds
# -javaagent:/opt/apache/beam/jars/jamm.jar, which exists only in the Docker image).
# 1) Prism passes --id='<id>' with literal single quotes; the boot would send the quoted id back and
#    get "worker_id ... not registered in worker pool": strip them.
# 2) The boot writes pathing.jar into its working directory and stages jars under --semi_persist_dir:
#    use a private temp dir.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
n=$#
while [ "$n" -gt 0 ]; do
  a=$1; shift; n=$((n - 1))
  case $a in
    --id=\'*\') a=${a#--id=\'}; a="--id=${a%\'}" ;;
  esac
  set -- "$@" "$a"
done
# 3) Each worker stages the expansion service's jars (~140 MB) into its dir; Prism ends workers with SIGKILL,
#    so remove the dirs of dead workers here instead of on exit.
tmp=${TMPDIR:-/tmp}
for d in "$tmp"/beam-java-worker.*; do
  [ -f "$d/pid" ] || continue
  kill -0 "$(cat "$d/pid")" 2>/dev/null || rm -rf "$d"
done
work=$(mktemp -d "$tmp/beam-java-worker.XXXXXX")
echo $$ > "$work/pid"
cd "$work"
exec "$here/java-boot" --semi_persist_dir="$work" "$@"
EOF
chmod +x "$BEAM_DIR/bin/beam-java-worker.tmp"
mv -f "$BEAM_DIR/bin/beam-java-worker.tmp" "$BEAM_DIR/bin/beam-java-worker"

mkdir -p "$CACHE/bin"
for b in prism java-boot beam-java-worker; do ln -sfn "../beam-$BEAM_VERSION/bin/$b" "$CACHE/bin/$b"; done

cat > "$CACHE/engines.env.tmp" <<EOF
# generated by deploy/engines/install-engines.sh
PILOTZONE_ENGINES='$CACHE'
PILOTZONE_BEAM_VERSION='$BEAM_VERSION'
PILOTZONE_KAFKA_VERSION='$KAFKA_VERSION'
PILOTZONE_KAFKA_LIB='$KAFKA_DIR/lib'
PILOTZONE_PRISM='$BEAM_DIR/bin/prism'
PILOTZONE_EXPANSION_LIB='$BEAM_DIR/expansion-service/lib'
PILOTZONE_JAVA_WORKER='$BEAM_DIR/bin/beam-java-worker'
EOF
mv -f "$CACHE/engines.env.tmp" "$CACHE/engines.env"

# Non-fatal: the Python SDK must match the Java/Go side.
py=${PYTHON:-python3}
if pyv=$("$py" -c 'import apache_beam; print(apache_beam.__version__)' 2>/dev/null); then
  [ "$pyv" = "$BEAM_VERSION" ] || log "WARNING: $py has apache-beam $pyv but the engines are Beam $BEAM_VERSION: pin apache-beam==$BEAM_VERSION"
fi

trap - ERR
log "cache: $CACHE"
for f in "${FETCHED[@]+"${FETCHED[@]}"}"; do log "  fetched: $f"; done
for s in "${SKIPPED[@]+"${SKIPPED[@]}"}"; do log "  present, verified: $s"; done
log "  $(du -sh "$KAFKA_DIR" | cut -f1)  $KAFKA_DIR ($(ls "$KAFKA_DIR/lib" | wc -l) jars)"
log "  $(du -sh "$BEAM_DIR/expansion-service" | cut -f1)  $BEAM_DIR/expansion-service ($(ls "$BEAM_DIR/expansion-service/lib" | wc -l) jars)"
log "  $(du -sh "$BEAM_DIR/bin" | cut -f1)  $BEAM_DIR/bin (prism, java-boot, beam-java-worker)"
log "total $(du -sh "$CACHE" | cut -f1) in $CACHE"
