#!/bin/bash
# Lists and search at district scale (issue 16; docs/PERFORMANCE.md): BIN
# serves an existing database, cmd/loadgen drives MIX (lists or search) at
# 8 clients for 20 s after a 5 s warm-up, and the server's and Postgres's
# CPU per request are counted from /proc.
#
#   DATABASE_URL=… scripts/listbench.sh BIN [MIX]
#
# The database is one seeded by the binary under test (seed --residents
# 1000000). Run by hand on a quiet machine, never in CI; alternate binaries,
# because a machine's speed drifts from one minute to the next.
set -u
BIN=${1:?server binary}; MIX=${2:-lists}
: "${DATABASE_URL:?the database to serve}"
PIDFILE=/tmp/listbench-serve.pid; OUT=/tmp/listbench.out
go build -o /tmp/loadgen ./cmd/loadgen || exit 1
(HTTP_ADDR=:8206 $BIN serve > /tmp/listbench-serve.log 2>&1 & echo $! > $PIDFILE); sleep 3
SP=$(cat $PIDFILE)
trap 'kill $SP 2>/dev/null' EXIT
/tmp/loadgen -url http://127.0.0.1:8206 -mix "$MIX" -concurrency 8 -duration 5s > /dev/null 2>&1
ticks() { # server, postgres
  local p=0 t pid
  for pid in $(pgrep -x postgres); do t=$(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null); p=$((p+${t:-0})); done
  echo "$(awk '{print $14+$15}' /proc/$SP/stat) $p"
}
read -r s0 p0 < <(ticks)
/tmp/loadgen -url http://127.0.0.1:8206 -mix "$MIX" -concurrency 8 -duration 20s > $OUT 2>&1
read -r s1 p1 < <(ticks)
grep -E "^(operation|list|search|nameContains)" $OUT
N=$(grep -E "^(list|search|nameContains)" $OUT | awk '{s += $(NF-5)} END {print s}')
HZ=$(getconf CLK_TCK)
ms() { echo "scale=2; ($1) * 1000 / $HZ / $N" | bc; }
echo "requests $N; CPU ms per request: server $(ms "$s1-$s0"), postgres $(ms "$p1-$p0")"
