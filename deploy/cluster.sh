#!/usr/bin/env bash
# footfall's cluster engines as plain processes on 127.0.0.1, from Maven Central and PyPI only:
# Apache Cassandra 5.0 (one node), Apache Kafka 4.x (one KRaft node), Spark 3.5 standalone
# (master + one worker, from the pyspark package). See deploy/README.md.
#
#   deploy/cluster.sh up            fetch what is missing, write configs, start what is not running, wait until ready
#   deploy/cluster.sh down          stop everything (SIGTERM, then SIGKILL after a timeout); data is kept
#   deploy/cluster.sh down --wipe   stop, then delete data and logs (downloads are kept)
#   deploy/cluster.sh clean         stop, then delete the whole state dir (downloads too)
#   deploy/cluster.sh status        state, ports, versions and pids; exit 1 if anything is not running
#   deploy/cluster.sh stop ENGINE   stop one engine (cassandra, kafka, spark-master, spark-worker)
#   deploy/cluster.sh start ENGINE  start one engine again and wait until it is ready
#   deploy/cluster.sh fetch         only download (jars, venv, connector jars)
#   deploy/cluster.sh env           print `export ...` lines for Spark jobs (JAVA_HOME, SPARK_HOME, ...)
#   deploy/cluster.sh smoke [--connectors]   one real operation on each engine (deploy/smoke.py)
#
# Knobs (environment). Note: footfall's settings reject unknown FOOTFALL_* variables, so do not
# export these into the environment of a footfall process.
#   FOOTFALL_CLUSTER_DIR      state dir (default <repo>/build/cluster)
#   FOOTFALL_CLUSTER_TIMEOUT  seconds to wait for each engine to be ready (default 300)
#   FOOTFALL_CLUSTER_PYTHON   interpreter for the build venv (default python3.11)
#   FOOTFALL_CLUSTER_COMMITLOG_SYNC  Cassandra commitlog_sync: periodic (default) or batch
set -euo pipefail

DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$DEPLOY/.." && pwd)
STATE=$(realpath -m "${FOOTFALL_CLUSTER_DIR:-$REPO/build/cluster}")
READY_TIMEOUT=${FOOTFALL_CLUSTER_TIMEOUT:-300}
BUILD_PYTHON=${FOOTFALL_CLUSTER_PYTHON:-python3.11}
COMMITLOG_SYNC=${FOOTFALL_CLUSTER_COMMITLOG_SYNC:-periodic}

VENV=$STATE/venv
RUN=$STATE/run
LOGS=$STATE/logs
HOST=127.0.0.1

CASSANDRA_PORT=9042 CASSANDRA_STORAGE_PORT=7000 CASSANDRA_JMX_PORT=7199
KAFKA_PORT=9092 KAFKA_CONTROLLER_PORT=9093
SPK_MASTER_PORT=7077 SPK_MASTER_UI_PORT=8080 SPK_WORKER_PORT=7078 SPK_WORKER_UI_PORT=8081  # (not SPARK_*: Spark reads those)
SPARK_MASTER_URL=spark://$HOST:$SPK_MASTER_PORT
SPARK_MASTER_UI=http://$HOST:$SPK_MASTER_UI_PORT

# engine -> main class (also how a pid is recognised as ours), ports, stop timeout
ENGINES=(cassandra kafka spark-master spark-worker)
declare -A MAIN=(
  [cassandra]=org.apache.cassandra.service.CassandraDaemon
  [kafka]=kafka.Kafka
  [spark-master]=org.apache.spark.deploy.master.Master
  [spark-worker]=org.apache.spark.deploy.worker.Worker
)
declare -A PORTS=(
  [cassandra]="$CASSANDRA_PORT $CASSANDRA_STORAGE_PORT $CASSANDRA_JMX_PORT"
  [kafka]="$KAFKA_PORT $KAFKA_CONTROLLER_PORT"
  [spark-master]="$SPK_MASTER_PORT $SPK_MASTER_UI_PORT"
  [spark-worker]="$SPK_WORKER_PORT $SPK_WORKER_UI_PORT"
)
declare -A STOP_TIMEOUT=([cassandra]=90 [kafka]=60 [spark-master]=30 [spark-worker]=30)

T0=$SECONDS
log() { printf '[cluster %4ss] %s\n' "$((SECONDS - T0))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- java

java_major() {  # java_major /path/to/java -> 17
  "$1" -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1") ? v[2] : v[1]; exit }'
}

find_java() {
  local candidates=() c
  [[ -n ${JAVA_HOME:-} ]] && candidates+=("$JAVA_HOME/bin/java")
  c=$(command -v java || true) && [[ -n $c ]] && candidates+=("$c")
  candidates+=(/usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/*17*/bin/java)
  for c in "${candidates[@]}"; do
    if [[ -x $c && $(java_major "$c") == 17 ]]; then
      JAVA=$(readlink -f "$c")
      export JAVA_HOME=${JAVA%/bin/java}
      return 0
    fi
  done
  die "no Java 17 found (tried: ${candidates[*]}); Cassandra 5.0 runs on 11 or 17 only, Kafka 4 needs 17+"
}

# ---------------------------------------------------------------- processes and ports

pidfile() { echo "$RUN/$1.pid"; }

# running ENGINE: its pid file names a live process whose command line has the engine's main class
running() {
  local f pid
  f=$(pidfile "$1")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "${MAIN[$1]}"
}

# alive ENGINE: its pid file names a live process (right after start_bg it may not be java yet)
alive() {
  local f=$RUN/$1.pid
  [[ -f $f ]] && kill -0 "$(<"$f")" 2>/dev/null
}

engine_pid() { running "$1" && cat "$(pidfile "$1")"; }

listening() {  # listening PORT: something listens on PORT (any address)
  if command -v ss >/dev/null 2>&1; then
    [[ -n $(ss -Hltn "( sport = :$1 )" 2>/dev/null) ]]
  else
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
  fi
}

check_ports_free() {
  local p
  for p in ${PORTS[$1]}; do
    if listening "$p"; then
      die "$1 is not running from $STATE but port $p is in use: $(ss -Hltnp "( sport = :$p )" 2>/dev/null | head -1)"
    fi
  done
}

# start_bg ENGINE CWD CMD...: run CMD detached (own session), pid to run/ENGINE.pid, output to logs/ENGINE.log
start_bg() {
  local name=$1 cwd=$2
  shift 2
  mkdir -p "$RUN" "$LOGS" "$cwd"
  printf '\n===== %s starting %s =====\n' "$(date -Is)" "$name" >>"$LOGS/$name.log"
  # the subshell's pid survives `exec setsid` (not a group leader: no fork) and the engine's exec of java
  # 9>&-: the engine must not inherit the lock on $STATE/.lock (see with_lock)
  (cd "$cwd" && exec setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&-) &
  echo $! >"$(pidfile "$name")"
}

# wait_ready ENGINE CHECK...: poll CHECK every 2 s until it succeeds; fail if the process dies or on timeout
wait_ready() {
  local name=$1 start=$SECONDS out
  shift
  while true; do
    if ! alive "$name"; then
      log "$name exited during startup; last lines of $LOGS/$name.log:"
      tail -n 40 "$LOGS/$name.log" >&2 || true
      die "$name did not start"
    fi
    if out=$("$@" 2>&1); then
      log "$name ready after $((SECONDS - start))s: ${out//$'\n'/ }"
      return 0
    fi
    if ((SECONDS - start > READY_TIMEOUT)); then
      log "$name not ready after ${READY_TIMEOUT}s (last check: ${out//$'\n'/ }); last lines of $LOGS/$name.log:"
      tail -n 40 "$LOGS/$name.log" >&2 || true
      die "$name not ready (raise FOOTFALL_CLUSTER_TIMEOUT if the machine is just slow)"
    fi
    sleep 2
  done
}

stop_engine() {
  local name=$1 pid i
  if ! running "$name"; then
    rm -f "$(pidfile "$name")"
    return 0
  fi
  pid=$(<"$(pidfile "$name")")
  log "stopping $name (pid $pid): SIGTERM"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < ${STOP_TIMEOUT[$name]} * 2; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) still up after ${STOP_TIMEOUT[$name]}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
  fi
  rm -f "$(pidfile "$name")"
  log "$name stopped"
}

# ---------------------------------------------------------------- downloads


mvn_quiet() {  # mvn -q prints only escape codes on success; show its output on failure only
  local out rc=0
  out=$(mvn -q -B "$@" 2>&1) || rc=$?
  ((rc == 0)) || printf '%s\n' "$out" >&2
  return $rc
}

# maven_fetch POM DEST [MVN ARGS...]: the POM's runtime classpath into DEST, once per POM content + args
maven_fetch() {
  local pom=$1 dest=$2 stamp
  shift 2
  stamp=$( (cat "$pom"; echo "$*") | sha256sum | cut -c1-16)
  if [[ -f $dest/.stamp && $(<"$dest/.stamp") == "$stamp" ]]; then
    return 0
  fi
  log "fetching jars of $(realpath --relative-to="$REPO" "$pom") from Maven Central"
  rm -rf "$dest" "$dest.tmp"
  mvn_quiet -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dest.tmp" "$@" \
    || die "mvn could not fetch $pom"
  mv "$dest.tmp" "$dest"
  echo "$stamp" >"$dest/.stamp"
}

spark_home() {
  local d
  for d in "$VENV"/lib/python3*/site-packages/pyspark; do
    [[ -f $d/bin/spark-class ]] && { echo "$d"; return 0; }
  done
  return 1
}

pyspark_version() {
  local d
  for d in "$VENV"/lib/python3*/site-packages/pyspark-*.dist-info; do
    [[ -d $d ]] && { basename "$d" .dist-info | sed 's/^pyspark-//'; return 0; }
  done
  return 1
}

fetch_venv() {
  local stamp
  stamp=$( (cat "$DEPLOY/requirements.txt"; "$BUILD_PYTHON" --version 2>&1) | sha256sum | cut -c1-16)
  if [[ -f $VENV/.stamp && $(<"$VENV/.stamp") == "$stamp" ]]; then
    return 0
  fi
  command -v "$BUILD_PYTHON" >/dev/null || die "$BUILD_PYTHON not found (set FOOTFALL_CLUSTER_PYTHON)"
  log "building venv $VENV (pyspark, confluent-kafka, cassandra-driver) from PyPI"
  rm -rf "$VENV"
  "$BUILD_PYTHON" -m venv "$VENV"
  # PYSPARK_HADOOP_VERSION must stay unset: with it, pyspark's setup downloads a Spark distribution
  env -u PYSPARK_HADOOP_VERSION "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -r "$DEPLOY/requirements.txt" || die "pip could not install deploy/requirements.txt"
  spark_home >/dev/null || die "pyspark installed but $VENV has no pyspark/bin/spark-class"
  echo "$stamp" >"$VENV/.stamp"
}

# connector jars for Spark jobs: spark-sql-kafka at the pyspark version + spark-cassandra-connector,
# minus every artifact that $SPARK_HOME/jars already has (in any version)
fetch_spark_jars() {
  local sh version dest=$STATE/spark/jars stamp list line a v c jar n=0 dropped=0
  sh=$(spark_home) || die "no pyspark in $VENV"
  version=$(pyspark_version) || die "no pyspark version in $VENV"
  stamp=$( (cat "$DEPLOY/spark/pom.xml"; echo "$version") | sha256sum | cut -c1-16)
  if [[ -f $dest/.stamp && $(<"$dest/.stamp") == "$stamp" ]]; then
    return 0
  fi
  log "fetching Spark connector jars for Spark $version from Maven Central"
  rm -rf "$dest" "$dest.tmp"
  mkdir -p "$STATE/spark"
  list=$STATE/spark/connector-deps.txt
  mvn_quiet -f "$DEPLOY/spark/pom.xml" -Dspark.version="$version" dependency:copy-dependencies dependency:list \
    -DincludeScope=runtime -DoutputDirectory="$dest.tmp" -DoutputFile="$list" \
    || die "mvn could not fetch the Spark connectors (spark.version=$version)"
  # lines look like "   group:artifact:jar[:classifier]:version:scope"
  while read -r line; do
    IFS=: read -r -a f <<<"$line"
    ((${#f[@]} >= 5)) || continue
    a=${f[1]}
    if ((${#f[@]} == 6)); then c=-${f[3]} v=${f[4]}; else c="" v=${f[3]}; fi
    jar=$dest.tmp/$a-$v$c.jar
    [[ -f $jar ]] || continue
    if compgen -G "$sh/jars/$a-[0-9]*.jar" >/dev/null; then
      rm -f "$jar"
      dropped=$((dropped + 1))
    else
      n=$((n + 1))
    fi
  done < <(sed 's/^[[:space:]]*//' "$list" | grep -E '^[^: ]+:[^: ]+:jar:')
  mv "$dest.tmp" "$dest"
  echo "$stamp" >"$dest/.stamp"
  log "connector jars: kept $n in $dest, dropped $dropped that SPARK_HOME/jars already has"
}

fetch_all() {
  command -v mvn >/dev/null || die "mvn not found (Maven fetches the engines' jars)"
  mkdir -p "$STATE"
  maven_fetch "$DEPLOY/cassandra/pom.xml" "$STATE/cassandra/lib"
  maven_fetch "$DEPLOY/kafka/pom.xml" "$STATE/kafka/lib"
  fetch_venv
  fetch_spark_jars
}

# ---------------------------------------------------------------- configs

write_configs() {
  local sync_setting jars
  mkdir -p "$STATE"/{cassandra,kafka,spark}/conf "$LOGS"/{cassandra,kafka} "$STATE/cassandra/data" "$STATE/cassandra/triggers" "$STATE/kafka/data"

  case $COMMITLOG_SYNC in
    periodic) sync_setting="commitlog_sync_period: 10000ms" ;;
    batch) sync_setting="# batch: every write is fsynced to the commit log before it is acknowledged" ;;
    *) die "FOOTFALL_CLUSTER_COMMITLOG_SYNC must be periodic or batch, not $COMMITLOG_SYNC" ;;
  esac
  sed -e "s|@COMMITLOG_SYNC@|$COMMITLOG_SYNC|" -e "s|@COMMITLOG_SYNC_SETTING@|$sync_setting|" \
    "$DEPLOY/cassandra/cassandra.yaml.in" >"$STATE/cassandra/conf/cassandra.yaml"
  cp "$DEPLOY/cassandra/logback.xml" "$STATE/cassandra/conf/logback.xml"

  sed -e "s|@KAFKA_DATA@|$STATE/kafka/data|" "$DEPLOY/kafka/server.properties.in" >"$STATE/kafka/conf/server.properties"
  cp "$DEPLOY/kafka/log4j2.xml" "$STATE/kafka/conf/log4j2.xml"

  # spark-defaults.conf: read by every driver that runs with SPARK_CONF_DIR set (see `cluster.sh env`)
  jars=$(find "$STATE/spark/jars" -name '*.jar' 2>/dev/null | sort | paste -sd, -)
  cat >"$STATE/spark/conf/spark-defaults.conf" <<EOF
# written by deploy/cluster.sh: defaults for jobs on the local standalone cluster (2 cores)
spark.master                    $SPARK_MASTER_URL
spark.cores.max                 1
spark.executor.memory           512m
spark.driver.memory             1g
spark.sql.shuffle.partitions    4
spark.ui.showConsoleProgress    false
spark.jars                      $jars
EOF
}

# ---------------------------------------------------------------- engines

start_cassandra() {
  local lib=$STATE/cassandra/lib opts jamm
  # upstream's file says "--add-opens X" (its launcher splits on blanks); one java argument is "--add-opens=X"
  mapfile -t opts < <(grep -vE '^[[:space:]]*(#|$)' "$DEPLOY/cassandra/jvm17-server.options" | sed -E 's/^(--add-[a-z]+) +/\1=/')
  jamm=$(compgen -G "$lib/jamm-*.jar" | head -1) || die "no jamm jar in $lib"
  start_bg cassandra "$STATE/cassandra" "$JAVA" \
    -Xms1g -Xmx1g "${opts[@]}" \
    -javaagent:"$jamm" \
    -XX:ErrorFile="$LOGS/cassandra/hs_err_%p.log" \
    -Dcassandra.config="file://$STATE/cassandra/conf/cassandra.yaml" \
    -Dcassandra.storagedir="$STATE/cassandra/data" \
    -Dcassandra.logdir="$LOGS/cassandra" \
    -Dlogback.configurationFile="$STATE/cassandra/conf/logback.xml" \
    -Dcassandra-foreground=yes \
    -Dcassandra.jmx.local.port=$CASSANDRA_JMX_PORT -Dcom.sun.management.jmxremote.rmi.port=$CASSANDRA_JMX_PORT \
    -Dcassandra.triggers_dir="$STATE/cassandra/triggers" \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -cp "$lib/*" "${MAIN[cassandra]}"
}

start_kafka() {
  local lib=$STATE/kafka/lib conf=$STATE/kafka/conf id
  if [[ ! -f $STATE/kafka/data/meta.properties ]]; then
    if [[ ! -s $STATE/kafka/cluster.id ]]; then
      # same shape as `kafka-storage random-uuid`: 16 random bytes, base64url, no padding, no leading '-'
      id=-
      while [[ $id == -* ]]; do
        id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
      done
      echo "$id" >"$STATE/kafka/cluster.id"
    fi
    log "formatting Kafka storage (cluster id $(<"$STATE/kafka/cluster.id"))"
    "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$conf/log4j2.xml" -Dkafka.logs.dir="$LOGS/kafka" \
      -cp "$lib/*" kafka.tools.StorageTool format -t "$(<"$STATE/kafka/cluster.id")" \
      -c "$conf/server.properties" --ignore-formatted >>"$LOGS/kafka.log" 2>&1 \
      || { tail -n 20 "$LOGS/kafka.log" >&2; die "kafka storage format failed"; }
  fi
  start_bg kafka "$STATE/kafka" "$JAVA" \
    -Xms512m -Xmx512m \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -XX:+ExitOnOutOfMemoryError -XX:ErrorFile="$LOGS/kafka/hs_err_%p.log" \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$conf/log4j2.xml" -Dkafka.logs.dir="$LOGS/kafka" \
    -cp "$lib/*" "${MAIN[kafka]}" "$conf/server.properties"
}

spark_env() {  # the environment of the Spark daemons
  local sh
  sh=$(spark_home)
  export SPARK_HOME=$sh
  export SPARK_CONF_DIR=$STATE/spark/conf
  export SPARK_LOCAL_IP=$HOST
  export SPARK_LOCAL_DIRS=$STATE/spark/tmp
  export SPARK_DAEMON_MEMORY=512m
  export SPARK_WORKER_OPTS="-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.appDataTtl=86400"
  export PYSPARK_PYTHON=$VENV/bin/python
  unset PYSPARK_HADOOP_VERSION SPARK_MASTER_HOST SPARK_MASTER_PORT SPARK_WORKER_PORT SPARK_WORKER_CORES SPARK_WORKER_MEMORY
  mkdir -p "$SPARK_LOCAL_DIRS" "$STATE/spark/work"
}

start_spark_master() {
  (spark_env && start_bg spark-master "$STATE/spark" bash "$SPARK_HOME/bin/spark-class" "${MAIN[spark-master]}" \
    --host $HOST --port $SPK_MASTER_PORT --webui-port $SPK_MASTER_UI_PORT)
}

start_spark_worker() {
  (spark_env && start_bg spark-worker "$STATE/spark" bash "$SPARK_HOME/bin/spark-class" "${MAIN[spark-worker]}" \
    --host $HOST --port $SPK_WORKER_PORT --webui-port $SPK_WORKER_UI_PORT \
    --cores 4 --memory 3g --work-dir "$STATE/spark/work" "$SPARK_MASTER_URL")
}

probe() { "$VENV/bin/python" "$DEPLOY/probe.py" "$@"; }

ready_cassandra() { listening $CASSANDRA_PORT && probe cassandra $HOST:$CASSANDRA_PORT; }
ready_kafka() { listening $KAFKA_PORT && probe kafka $HOST:$KAFKA_PORT; }
ready_spark_master() { listening $SPK_MASTER_PORT && probe spark-master "$SPARK_MASTER_UI"; }
ready_spark_worker() { probe spark-worker "$SPARK_MASTER_UI" $SPK_WORKER_PORT; }

up_engine() {  # up_engine NAME START_FN READY_FN
  local name=$1 start_fn=$2 ready_fn=$3 t=$SECONDS
  if running "$name"; then
    log "$name already running (pid $(engine_pid "$name")), checking it"
  else
    check_ports_free "$name"
    log "starting $name"
    "$start_fn"
  fi
  wait_ready "$name" "$ready_fn"
  TIMINGS+=("$name=$((SECONDS - t))s")
}

# ---------------------------------------------------------------- commands

with_lock() {  # one up/down at a time per state dir
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock -w 600 9 || die "another cluster.sh has held $STATE/.lock for 10 minutes: $(fuser "$STATE/.lock" 2>&1 || true)"
}

cmd_up() {
  local t=$SECONDS
  TIMINGS=()
  with_lock
  find_java
  fetch_all
  TIMINGS+=("fetch=$((SECONDS - t))s")
  write_configs
  up_engine cassandra start_cassandra ready_cassandra
  up_engine kafka start_kafka ready_kafka
  up_engine spark-master start_spark_master ready_spark_master
  up_engine spark-worker start_spark_worker ready_spark_worker
  log "cluster up in $((SECONDS - t))s (${TIMINGS[*]})"
  cmd_status
}

cmd_down() {
  local wipe=${1:-}
  [[ -z $wipe || $wipe == --wipe ]] || die "down takes no argument but --wipe (got $wipe)"
  with_lock
  local i
  for ((i = ${#ENGINES[@]} - 1; i >= 0; i--)); do
    stop_engine "${ENGINES[i]}"
  done
  if [[ $wipe == --wipe ]]; then
    log "wiping data and logs under $STATE (downloads kept)"
    rm -rf "${STATE:?}/cassandra/data" "$STATE/kafka/data" "$STATE/kafka/cluster.id" \
      "$STATE/spark/work" "$STATE/spark/tmp" "$LOGS" "$RUN"
  fi
}

cmd_stop() {  # stop one engine (fault tests): stop kafka
  local name=${1:-}
  [[ -n ${MAIN[$name]:-} ]] || die "stop takes an engine: ${ENGINES[*]}"
  with_lock
  stop_engine "$name"
}

cmd_start() {  # start one engine again and wait until it is ready: start kafka
  local name=${1:-}
  [[ -n ${MAIN[$name]:-} ]] || die "start takes an engine: ${ENGINES[*]}"
  TIMINGS=()
  with_lock
  find_java
  local fn=${name//-/_}
  up_engine "$name" "start_$fn" "ready_$fn"
}

cmd_clean() {
  cmd_down
  [[ $STATE != / && -n $STATE ]] || die "refusing to delete STATE=$STATE"
  log "deleting $STATE"
  rm -rf "${STATE:?}"
}

version_of() {
  case $1 in
    cassandra) compgen -G "$STATE/cassandra/lib/cassandra-all-*.jar" | head -1 | sed 's/.*cassandra-all-//; s/\.jar$//' ;;
    kafka) compgen -G "$STATE/kafka/lib/kafka_2.13-*.jar" | head -1 | sed 's/.*kafka_2.13-//; s/\.jar$//' ;;
    spark-*) pyspark_version ;;
  esac
}

cmd_status() {
  local name state pid p ports bad=0 v
  printf '%-13s %-9s %-8s %-28s %s\n' ENGINE STATE PID "PORTS (127.0.0.1)" VERSION
  for name in "${ENGINES[@]}"; do
    pid=- ports=
    if running "$name"; then
      pid=$(engine_pid "$name") state=running
      for p in ${PORTS[$name]}; do
        if listening "$p"; then ports+="$p "; else ports+="$p(closed) " state=starting; fi
      done
    else
      state=stopped
      [[ -f $(pidfile "$name") ]] && state=dead
      ports=${PORTS[$name]}
    fi
    [[ $state == running ]] || bad=1
    v=$(version_of "$name" 2>/dev/null || true)
    printf '%-13s %-9s %-8s %-28s %s\n' "$name" "$state" "$pid" "$ports" "${v:-not fetched}"
  done
  echo "state dir:      $STATE"
  echo "logs:           $LOGS"
  echo "java:           ${JAVA:-$(command -v java)} ($(java_major "${JAVA:-java}" 2>/dev/null || echo '?'))"
  if spark_home >/dev/null 2>&1; then
    echo "venv python:    $VENV/bin/python"
    echo "SPARK_HOME:     $(spark_home)"
  fi
  if [[ -d $STATE/spark/jars ]]; then
    echo "spark jars:     $STATE/spark/jars ($(find "$STATE/spark/jars" -name '*.jar' | wc -l) jars, in $STATE/spark/conf/spark-defaults.conf)"
  fi
  echo "endpoints:      kafka $HOST:$KAFKA_PORT  cassandra $HOST:$CASSANDRA_PORT  spark $SPARK_MASTER_URL (UI $SPARK_MASTER_UI)"
  return $bad
}

cmd_env() {
  find_java
  local sh
  sh=$(spark_home) || die "no pyspark in $VENV: run \`deploy/cluster.sh up\` (or fetch) first"
  cat <<EOF
export JAVA_HOME=$JAVA_HOME
export SPARK_HOME=$sh
export SPARK_CONF_DIR=$STATE/spark/conf
export SPARK_LOCAL_IP=$HOST
export PYSPARK_PYTHON=$VENV/bin/python
export PYSPARK_DRIVER_PYTHON=$VENV/bin/python
unset PYSPARK_HADOOP_VERSION
# kafka $HOST:$KAFKA_PORT  cassandra $HOST:$CASSANDRA_PORT  spark $SPARK_MASTER_URL
EOF
}

cmd_smoke() {
  eval "$(cmd_env)"
  "$VENV/bin/python" "$DEPLOY/smoke.py" "$@"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case ${1:-} in
  up) cmd_up ;;
  down) shift; cmd_down "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  start) shift; cmd_start "$@" ;;
  clean) cmd_clean ;;
  status) find_java 2>/dev/null || true; cmd_status ;;
  fetch) with_lock; find_java; fetch_all; write_configs ;;
  env) cmd_env ;;
  smoke) shift; cmd_smoke "$@" ;;
  *) usage ;;
esac
