#!/bin/bash
# Home-care visits, confirmation to redemption (issue 18; docs/PERFORMANCE.md):
# prepare once, then time the confirmations on fresh copies of the prepared
# database, with each process's CPU per confirmation counted from /proc.
#
#   scripts/visitbench.sh prep BIN [VISITS]   a fresh database seeded with 20,000 residents, VISITS (15,000)
#                                             visits prepared through check-out, kept as a template
#   scripts/visitbench.sh run BIN             the template cloned, BIN serving it, every visit confirmed
#                                             with card and PIN at CONC (16) clients
#
# BIN is a built server (go build -o /tmp/residents .); the generator is
# built to /tmp/loadgen. Postgres at 127.0.0.1 as postgres (trust), Redis as
# configured. Run by hand on a quiet machine, never in CI.
set -u
MODE=${1:?prep or run}; BIN=${2:?server binary}; N=${3:-15000}
DB=residents_visit; TPL=${TPL:-residents_visit_tpl}; STATE=${STATE:-/tmp/visit-state.json}
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable
P="psql -qAtX -h 127.0.0.1 -U postgres"
PIDFILE=/tmp/visitbench-serve.pid
go build -o /tmp/loadgen ./cmd/loadgen || exit 1
stop() { [ -f $PIDFILE ] && kill "$(cat $PIDFILE)" 2>/dev/null; sleep 1; }
start() { (HTTP_ADDR=:8204 $BIN serve > /tmp/visitbench-serve.log 2>&1 & echo $! > $PIDFILE); sleep 2; }
stop
if [ "$MODE" = prep ]; then
  $P -c "DROP DATABASE IF EXISTS $DB" -c "DROP DATABASE IF EXISTS $TPL" -c "CREATE DATABASE $DB" || exit 1
  $BIN seed --residents 20000 > /dev/null 2>&1 || { echo "seed failed"; exit 1; }
  start; rm -f $STATE
  /tmp/loadgen -url http://127.0.0.1:8204 -mix visit -concurrency 16 -residents "$N" -visit-state $STATE | grep prepared
  stop
  $P -c "CHECKPOINT" -c "CREATE DATABASE $TPL TEMPLATE $DB" && echo "template $TPL made"
  exit
fi
$P -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB TEMPLATE $TPL" -c "CHECKPOINT" || exit 1
start
SP=$(cat $PIDFILE)
ticks() { # server, postgres, generator, whole machine (user+nice+system+irq+softirq), in clock ticks
  local s p=0 l=0 t pid
  s=$(awk '{print $14+$15}' /proc/$SP/stat)
  for pid in $(pgrep -x postgres); do t=$(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null); p=$((p+${t:-0})); done
  for pid in $(pgrep -x loadgen); do t=$(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null); l=$((l+${t:-0})); done
  echo "$s $p $l $(head -1 /proc/stat | awk '{print $2+$3+$4+$7+$8}')"
}
/tmp/loadgen -url http://127.0.0.1:8204 -mix visit -concurrency "${CONC:-16}" -duration 300s -visit-state $STATE |
  while IFS= read -r line; do
    case "$line" in "mix visit"*) ticks > /tmp/visitbench.t1 ;; esac
    case "$line" in prepared*) ticks > /tmp/visitbench.t0 ;; esac
    echo "$line"
  done | grep -v '^$'
N=$(python3 -c "import json; print(len(json.load(open('$STATE'))['Orders']))")
HZ=$(getconf CLK_TCK)
read -r s0 p0 l0 m0 < /tmp/visitbench.t0; read -r s1 p1 l1 m1 < /tmp/visitbench.t1
ms() { echo "scale=3; ($1) * 1000 / $HZ / $N" | bc; }
echo "CPU ms per confirmation: server $(ms "$s1-$s0"), postgres $(ms "$p1-$p0"), generator $(ms "$l1-$l0"), whole machine $(ms "$m1-$m0")"
stop
