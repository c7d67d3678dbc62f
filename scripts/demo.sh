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
run excl-create --pid pidfile
run cat pidfile
say "excl-create --wait: blocks until the file is removed, woken by dnotify"
run "(sleep 0.3; rm claim) & excl-create -v --wait=5s -c carol claim; cat claim"
run excl-create --wait=200ms claim
say "excl-create --check-fs: what this filesystem guarantees"
run excl-create --check-fs .

say "safe-append: 4 writers, 2000 long lines each, into one log -- no line torn"
cat >tear.sh <<'SH'
# Lines of 5000 bytes: 'tee -a' writes 8 KiB pieces, cutting lines in two.
line() { awk -v w="$1" 'BEGIN { s = sprintf("%4990s", ""); gsub(/ /, w, s);
  for (i = 0; i < 2000; i++) print w "-" s }'; }
count_torn() { awk '{ c = substr($0, 1, 1); if ($0 !~ ("^" c "-" c "+$") || length($0) != 4992) t++ }
  END { print t + 0 }' "$1"; }
for w in a b c d; do line $w | tee -a tee.log >/dev/null & done; wait
for w in a b c d; do line $w | safe-append safe.log & done; wait
echo "tee -a:      $(wc -l <tee.log) lines, $(count_torn tee.log) torn"
echo "safe-append: $(wc -l <safe.log) lines, $(count_torn safe.log) torn"
SH
run sh tear.sh
say "safe-append: one record with -c; prefixes become part of the write"
run 'safe-append -c "deployed v1.2 to web1" deploy.log; printf "step 1\nstep 2" | safe-append -t rfc3339 --prefix=job deploy.log; cat deploy.log'
say "safe-append: a record longer than --max-record is refused, nothing of it written"
run "printf 'ok\n%0300d\nnever\n' 0 | safe-append --max-record=200 limits.log; cat limits.log"
say "safe-append: the file size limit is checked before writing"
run "(ulimit -f 1; seq 1000 | safe-append --prefix=n sized.log); wc -c sized.log; tail -n 1 sized.log"
say "safe-append: a symlink planted in a sticky directory is not followed"
run "mkdir -m 1777 shared; ln -s ../secret shared/log; chown -h nobody shared/log 2>/dev/null && safe-append -c hello shared/log"
say "atomic-swap -s: repoint a release symlink in one step, and roll back"
mkdir -p releases/41 releases/42
echo "release 41" >releases/41/index.html
echo "release 42" >releases/42/index.html
run atomic-swap -v -s releases/41 current
# shellcheck disable=SC2016 # expanded by the shell that run() starts
run 'old=$(atomic-swap -p -s releases/42 current); echo "was: $old"; cat current/index.html'
run 'atomic-swap -v -s releases/41 current; cat current/index.html'
run ls -A releases/41
say "atomic-swap --expect: compare-and-swap -- of two deployers expecting 41, one wins"
cat >deploy-race.sh <<'SH'
mkfifo go2
for who in 42 43; do
  ( read x <go2; if atomic-swap -q -s --expect=releases/41 "releases/$who" current; then echo "deployer $who won"; else echo "deployer $who lost (status $?)"; fi ) &
done
exec 3<>go2; printf '\n\n' >&3; wait; exec 3>&-
echo "current -> $(readlink current)"
SH
mkdir -p releases/43
run sh deploy-race.sh
say "atomic-swap: refuses to replace a real directory; --exchange-dir keeps it"
mkdir www && echo "old site" >www/index.html
run atomic-swap -s releases/42 www
run 'atomic-swap -v -s --exchange-dir releases/42 www; ls -d www*; cat www.atomic-swap-backup.*/index.html'
say "atomic-swap PATH1 PATH2 and -n: exchange two directories, publish without clobbering"
mkdir -p site site.new && echo old >site/v && echo new >site.new/v
run 'atomic-swap -v site site.new; cat site/v site.new/v'
run atomic-swap -n site.new site

say "lockdir: one command at a time; the second waits, woken by dnotify"
run "lockdir job sh -c 'echo first holds token \$LOCKDIR_TOKEN; sleep 0.5' & sleep 0.1; lockdir -w 5s job sh -c 'echo second holds token \$LOCKDIR_TOKEN'; wait"
say "lockdir -n: busy is status 75 with a command (1 without); the owner is visible"
run "lockdir job sleep 1 & sleep 0.2; lockdir -n job true; echo status \$?; lockdir --status job | grep -E '^(pid|child_pid|command|token)='; wait"
say "lockdir: SIGKILLed while its command runs -- held until the command exits, then broken"
run "lockdir job sh -c 'kill -KILL \$PPID; sleep 0.5' 2>/dev/null; lockdir --status job | grep stale=; lockdir -n job true; sleep 0.6; lockdir --status job | grep stale; lockdir -v -n job echo got it"
say "lockdir: five waiters on one dead lock -- exactly one breaks it"
cat >stale.sh <<'SH'
sh -c 'lockdir job && :'            # the owner, a shell, exits at once
mkfifo go5
for i in 1 2 3 4 5; do ( read x <go5; lockdir -v -n job sh -c "echo waiter $i holds it; sleep 0.3" ) & done
exec 3<>go5; printf '\n\n\n\n\n' >&3; wait; exec 3>&-
SH
run "sh stale.sh 2>&1 | sed 's/ since .*//'"
say "lockdir --status --json, for scripts and monitoring"
run "lockdir job sleep 0.5 & sleep 0.2; lockdir --status --json job; wait"

# Filesystem truth on a FUSE mount: needs root and bindfs, else skipped.
say "--check-fs and refusals on a FUSE mount (bindfs)"
if [ "$(id -u)" -eq 0 ] && command -v bindfs >/dev/null 2>&1 \
   && mkdir -p fuse-src fuse && bindfs fuse-src fuse 2>/dev/null; then
  trap 'umount "$demo_dir/fuse" 2>/dev/null; rm -rf "$demo_dir"' EXIT
  run "grep ' $demo_dir/fuse ' /proc/self/mountinfo | sed 's/.* - //'"
  run excl-create --check-fs fuse/log
  run 'echo a >fuse/a; echo b >fuse/b; atomic-swap fuse/a fuse/b; echo "status $?"; cat fuse/a fuse/b'
  run "safe-append -c 'one record' fuse/log"
  run "safe-append --force -c 'one record' fuse/log"
  run excl-create fuse/pid
  umount fuse
else
  echo "(skipped: needs root, bindfs and /dev/fuse)"
fi
