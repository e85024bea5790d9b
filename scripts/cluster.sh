#!/usr/bin/env bash
# A three-node Castle cluster on 127.0.0.1 for a laptop: every node a Raft voter and a broker,
# each with its own ports, data dir and log under one directory this script owns. It signals
# only the processes it started, by the pids it recorded (and only while that pid is still a
# Castle node on that data dir).
#
#   scripts/cluster.sh up           format (first time) and start the three nodes, wait until ready
#   scripts/cluster.sh status       pid, ready or not, and addresses of each node
#   scripts/cluster.sh kill N       SIGKILL node N (a crash)
#   scripts/cluster.sh stop N       SIGTERM node N (a clean shutdown)
#   scripts/cluster.sh start N      start node N again; restart N = stop N + start N
#   scripts/cluster.sh down         stop every node (data is kept; `up` resumes it)
#   scripts/cluster.sh clean        down, then delete the directory
#
# Environment (all optional):
#   CLUSTER_DIR            the directory (default: .castle-cluster in the repository)
#   CLUSTER_PORT_BASE      node N listens on base+3(N-1) (client), +1 (controller), +2 (http);
#                          default: the README's ports, N9092, N9093 and N9644
#   CLUSTER_READY_TIMEOUT  seconds to wait for /readyz (default 60)
#   CLUSTER_STOP_TIMEOUT   seconds after SIGTERM before SIGKILL (default 10)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLI="$REPO/packages/cli/dist/main.js"
DIR="${CLUSTER_DIR:-$REPO/.castle-cluster}"
NODES=(1 2 3)
HOST=127.0.0.1
READY_TIMEOUT="${CLUSTER_READY_TIMEOUT:-60}"
STOP_TIMEOUT="${CLUSTER_STOP_TIMEOUT:-10}"

die() { echo "cluster.sh: $*" >&2; exit 1; }

port() { # port N client|controller|http
  local n=$1 kind=$2 offset
  case "$kind" in client) offset=0 ;; controller) offset=1 ;; http) offset=2 ;; esac
  if [ -n "${CLUSTER_PORT_BASE:-}" ]; then
    echo $((CLUSTER_PORT_BASE + 3 * (n - 1) + offset))
  else
    case "$kind" in client) echo "${n}9092" ;; controller) echo "${n}9093" ;; http) echo "${n}9644" ;; esac
  fi
}

voters() {
  local list="" n
  for n in "${NODES[@]}"; do list="${list:+$list,}$n@$HOST:$(port "$n" controller)"; done
  echo "$list"
}

bootstrap() {
  local list="" n
  for n in "${NODES[@]}"; do list="${list:+$list,}$HOST:$(port "$n" client)"; done
  echo "$list"
}

check_node() {
  case "${1:-}" in 1 | 2 | 3) ;; *) die "no node '${1:-}': the nodes are 1, 2 and 3" ;; esac
}

# The pid of node N if it runs and is the process this script started, else nothing.
pid_of() {
  local n=$1 file="$DIR/node-$1.pid" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--data-dir $DIR/node-$n "; then
    echo "$pid"
  fi
}

ready() { # ready N: /readyz answers 200
  node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(1000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
    "http://$HOST:$(port "$1" http)/readyz" 2>/dev/null
}

wait_ready() { # wait_ready N...
  local deadline=$((SECONDS + READY_TIMEOUT)) n
  for n in "$@"; do
    until ready "$n"; do
      [ -n "$(pid_of "$n")" ] || die "node $n exited; its log ($DIR/node-$n.log) ends with:
$(tail -n 20 "$DIR/node-$n.log" 2>/dev/null)"
      [ "$SECONDS" -lt "$deadline" ] || die "node $n not ready after ${READY_TIMEOUT}s; see $DIR/node-$n.log"
      sleep 0.2
    done
  done
}

# The node flags the castle executable's shebang carries (#!/usr/bin/env -S node FLAGS).
node_flags() {
  sed -n '1s/^#!.*env -S node//p' "$CLI"
}

start_node() {
  local n=$1
  if [ -n "$(pid_of "$n")" ]; then echo "node $n already runs (pid $(pid_of "$n"))"; return; fi
  # shellcheck disable=SC2046 # the executable's node flags, one word each
  nohup node $(node_flags) "$CLI" server start --node-id "$n" --data-dir "$DIR/node-$n" --host "$HOST" \
    --client-port "$(port "$n" client)" --http-port "$(port "$n" http)" \
    --override controller.port="$(port "$n" controller)" --override controller.quorum.voters="$(voters)" \
    --override advertised.host="$HOST" >>"$DIR/node-$n.log" 2>&1 </dev/null &
  echo $! >"$DIR/node-$n.pid"
}

# stop_node N TERM|KILL: signal node N and wait until it has exited.
stop_node() {
  local n=$1 signal=$2 pid deadline
  pid="$(pid_of "$n")"
  if [ -z "$pid" ]; then rm -f "$DIR/node-$n.pid"; return; fi
  kill "-$signal" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    sleep 0.1
  done
  rm -f "$DIR/node-$n.pid"
}

cmd_up() {
  [ -f "$CLI" ] || die "$CLI is missing: run npm run build first"
  mkdir -p "$DIR"
  if [ ! -f "$DIR/cluster-id" ]; then node "$CLI" storage random-uuid >"$DIR/cluster-id"; fi
  local id n
  id="$(cat "$DIR/cluster-id")"
  for n in "${NODES[@]}"; do
    node "$CLI" storage format --data-dir "$DIR/node-$n" --cluster-id "$id" --node-id "$n" >/dev/null
  done
  for n in "${NODES[@]}"; do start_node "$n"; done
  wait_ready "${NODES[@]}"
  echo "Castle cluster $id is up: three nodes, each a voter and a broker."
  for n in "${NODES[@]}"; do
    echo "  node $n: pid $(pid_of "$n"), client $HOST:$(port "$n" client), metrics http://$HOST:$(port "$n" http)/metrics, log $DIR/node-$n.log"
  done
  echo "Use it with:"
  echo "  export CASTLE_BOOTSTRAP=$(bootstrap)"
  echo "  npx castle topic create orders --partitions 3 --replication-factor 3"
  echo "  printf 'a\nb\n' | npx castle produce --topic orders"
  echo "  npx castle consume --topic orders --from-beginning --timeout-ms 2000"
  echo "Stop it with: scripts/cluster.sh down"
}

cmd_status() {
  local n pid state running=0
  for n in "${NODES[@]}"; do
    pid="$(pid_of "$n")"
    if [ -z "$pid" ]; then state="stopped"
    elif ready "$n"; then state="ready"; running=$((running + 1))
    else state="running, not ready"; running=$((running + 1))
    fi
    echo "node $n: $state${pid:+ (pid $pid)}, client $HOST:$(port "$n" client), http $HOST:$(port "$n" http), data $DIR/node-$n"
  done
  echo "CASTLE_BOOTSTRAP=$(bootstrap)"
  [ "$running" -gt 0 ]
}

cmd_down() {
  local n
  for n in "${NODES[@]}"; do stop_node "$n" TERM & done
  wait
  echo "stopped; data kept in $DIR (scripts/cluster.sh clean deletes it)"
}

case "${1:-}" in
  up) cmd_up ;;
  status) cmd_status ;;
  down) cmd_down ;;
  clean) cmd_down && rm -rf "$DIR" && echo "deleted $DIR" ;;
  kill) check_node "${2:-}"; stop_node "$2" KILL; echo "node $2 killed" ;;
  stop) check_node "${2:-}"; stop_node "$2" TERM; echo "node $2 stopped" ;;
  start) check_node "${2:-}"; [ -f "$DIR/cluster-id" ] || die "no cluster in $DIR: run up first"; start_node "$2"; wait_ready "$2"; echo "node $2 ready" ;;
  restart) check_node "${2:-}"; [ -f "$DIR/cluster-id" ] || die "no cluster in $DIR: run up first"; stop_node "$2" TERM; start_node "$2"; wait_ready "$2"; echo "node $2 restarted and ready" ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
