#!/bin/sh
# demo.sh -- show each atomicutils tool doing its one job, for real.
# Run by 'make demo' with the freshly built tools first on PATH.

set -u
demo_dir=$(mktemp -d "${TMPDIR:-/tmp}/atomicutils-demo.XXXXXX")
trap 'rm -rf "$demo_dir"' EXIT
cd "$demo_dir" || exit 1

say() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; sh -c "$*"; printf '[exit %s]\n' "$?"; }

say "excl-create: two racers, one file -- exactly one wins"
cat >race.sh <<'SH'
# Both wait on one FIFO, so they start together.
mkfifo go
for who in alice bob; do
  ( read x <go; if excl-create -q -c "$who" claim; then echo "$who won"; else echo "$who lost (status $?)"; fi ) &
done
exec 3<>go; printf '\n\n' >&3; wait; exec 3>&-
echo "claim holds: $(cat claim)"
SH
run sh race.sh
run excl-create claim
run excl-create --pid=4242 pidfile
run cat pidfile
say "excl-create --wait: blocks until the file is removed, woken by inotify"
run "(sleep 0.3; rm claim) & excl-create -v --wait=5s -c carol claim; cat claim"
run excl-create --wait=200ms claim
say "excl-create --check-fs: what this filesystem guarantees"
run excl-create --check-fs .
