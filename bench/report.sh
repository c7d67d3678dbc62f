#!/bin/bash
# report.sh -- write RESULTS.md and the SVG plots from the data that
# bench.sh left in a results directory.
#
#   bash bench/report.sh [RESULTS-DIR]
#
# Every figure is computed from the *.tsv files of one run, so the
# report can be made again (or changed) without measuring again.  Plots
# need gnuplot; without it the report says so and has only tables.

# Markdown's code spans (`...`) are written in single quotes.
# shellcheck disable=SC2016
set -u
export LC_ALL=C
RESULTS=${1:-$(dirname "$0")/results}
cd "$RESULTS" || exit 1
out=RESULTS.md

fact() { awk -F'\t' -v k="$1" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }' "$2"; }

# median, min and max of the numbers on standard input
stats() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "-\t-\t-"; exit }
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%g\t%g\t%g\n", m, v[1], v[NR] }'
}

# nearest-rank percentile P of the numbers on standard input
percentile() {
  sort -g | awk -v p="$1" '{ v[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    r = int(p / 100 * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR
    print v[r] }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "-" || b == "-") print "-"; else printf "%.2f", a / b }'; }
fmt() { awk -v x="$1" -v d="${2:-1}" 'BEGIN { if (x == "-") print "-"; else printf "%.*f", d, x }'; }

start_us=$(fact start_us run.tsv)
end_us=$(fact end_us run.tsv)
minutes=-
[ -n "$start_us" ] && [ -n "$end_us" ] &&
  minutes=$(awk -v a="$start_us" -v b="$end_us" 'BEGIN { printf "%.1f", (b - a) / 60e6 }')

plots=yes
command -v gnuplot >/dev/null 2>&1 || plots=no

# ---------------------------------------------------------------------
# Figures used in several places.

# Spawn: per case, the median over rounds of the per-round ratio.
spawn_ratio() { awk -F'\t' -v c="$1" '$2 == c { print $4 }' spawn.tsv | stats | cut -f1; }
# One holding without a process (holding.tsv): for PLACE (scratch,
# tmpfs or ext4j) and KIND (lockdir or flock), the medians of the rounds.
holding_us() {
  [ -f holding.tsv ] || { printf -- '-\t-\t-\n'; return; }
  awk -F'\t' -v p="$1" -v k="$2" '$2 == p && $3 == k { print $4 }' holding.tsv | stats
}
# The places other than the scratch directory where bench.sh measured
# some cases again; a case there is named 'NAME (PLACE)'.
other_places=(tmpfs ext4j)
declare -A place_label=([tmpfs]='in tmpfs' [ext4j]='in a journaled ext4')
# in_places FIGURE OURS THEIRS: for each other place where FIGURE (a
# function of a case's name) measured both case OURS and case THEIRS,
# their ratio there, in place_ratio (for the verdict) and as text in
# places_text ("; in tmpfs: 0.98x").
declare -A place_ratio=()
places_text=
in_places() {
  local figure=$1 ours=$2 theirs=$3 place a b
  place_ratio=() places_text=
  for place in "${other_places[@]}"; do
    a=$($figure "$ours ($place)") b=$($figure "$theirs ($place)")
    if [ "$a" = - ] || [ "$b" = - ]; then continue; fi
    place_ratio[$place]=$(ratio "$a" "$b")
    places_text="$places_text; ${place_label[$place]}: ${place_ratio[$place]}x"
  done
}
# The locale the cost of one call was measured in again (bench.sh), if
# it was: the reference case there is named 'true (LOCALE)'.
utf8_locale=$(cut -f2 spawn.tsv | sed -n 's/^true (\(.*\))$/\1/p' | head -n 1)
# in_utf8 CASE PEER: the ratio of two cases of one call in that locale.
in_utf8() {
  [ -n "$utf8_locale" ] || return 0
  local a b
  a=$(spawn_ratio "$1 ($utf8_locale)") b=$(spawn_ratio "$2 ($utf8_locale)")
  [ "$a" != - ] && [ "$b" != - ] && printf '; in the %s locale: %sx' "$utf8_locale" "$(ratio "$a" "$b")"
}
# Contention: per lock, ms per acquisition in each valid round.
contention_ms_per_acq() {
  awk -F'\t' -v l="$1" '$2 == l && $8 ~ /^ok:0$/ && $6 == $7 { print $5 / $7 }' contention.tsv
}
handoff_ms() { awk -F'\t' -v l="$1" '$1 == l && $2 ~ /^[0-9]+$/ { print $2 / 1000 }' handoff.tsv; }
contention_median() { contention_ms_per_acq "$1" | stats | cut -f1; }
handoff_p50() { handoff_ms "$1" | percentile 50; }
append_mbs() {   # writer [file: append.tsv, or append-pipe.tsv]
  [ -f "${2:-append.tsv}" ] || return 0
  awk -F'\t' -v w="$1" '$2 == w && $5 == $4 && $3 > 0 { print $4 / 1048576 / ($3 / 1e6) }' "${2:-append.tsv}"
}

# Per round, the figure of case OURS over that of case THEIRS, for the
# rounds that have both, on standard input as "ROUND<tab>CASE<tab>VALUE"
# lines; printed as "LOWEST-HIGHEST" ("-" if no round has both).
round_range() {
  awk -F'\t' -v a="$1" -v b="$2" '
    $2 == a { ours[$1] = $3 } $2 == b { theirs[$1] = $3 }
    END {
      for (r in ours) if ((r in theirs) && theirs[r] > 0) {
        x = ours[r] / theirs[r]
        if (!n++ || x < lo) lo = x
        if (n == 1 || x > hi) hi = x
      }
      if (n) printf "%.2f-%.2f\n", lo, hi; else print "-" }'
}
# The same for the goals' figures: the cost of one call (its ratio to
# /bin/true in each round), ms per acquisition under contention, MB/s
# of an append.
spawn_range() { awk -F'\t' '{ print $1 "\t" $2 "\t" $4 }' spawn.tsv | round_range "$1" "$2"; }
contention_range() {
  awk -F'\t' '$8 ~ /^ok:0$/ && $6 == $7 { print $1 "\t" $2 "\t" $5 / $7 }' contention.tsv |
    round_range "$1" "$2"
}
append_range() {   # writer, peer [file: append.tsv, or append-pipe.tsv]
  [ -f "${3:-append.tsv}" ] || { echo -; return; }
  awk -F'\t' '$5 == $4 && $3 > 0 { print $1 "\t" $2 "\t" $4 / $3 }' "${3:-append.tsv}" |
    round_range "$1" "$2"
}

{
# ---------------------------------------------------------------------
echo "# atomicutils benchmark report"
echo
echo "Made by \`make bench\` (bench/bench.sh, then bench/report.sh) on"
echo "$(fact date run.tsv), $(fact mode run.tsv) run.  Every comparison is made within"
echo "this one run (interleaved, or in alternating rounds): on a shared machine"
echo "absolute times wander between minutes, so read the ratios and the spread"
echo "of the rounds, and compare runs only by their ratios."
echo
echo "| fact | value |"
echo "| --- | --- |"
echo "| machine | $(fact cpus machine.tsv) CPUs, $(fact cpu machine.tsv), $(fact memory machine.tsv) |"
echo "| system | $(fact os machine.tsv); $(fact kernel machine.tsv) |"
journal=$(fact journal machine.tsv)
echo "| filesystem of the scratch directory | $(fact filesystem machine.tsv)${journal:+ (journal: $journal)} |"
[ -n "$(fact tmpfs machine.tsv)" ] &&
  echo "| tmpfs directory (the cost of one call, flock and lockdir measured again there) | $(fact tmpfs machine.tsv) |"
[ -n "$(fact ext4j machine.tsv)" ] &&
  echo "| journaled ext4, a loop image mounted with its defaults (the same cases measured a third time there) | $(fact ext4j machine.tsv) |"
echo "| load average (1, 5, 15 min) | $(fact load_start run.tsv) at the start, $(fact load_end run.tsv) at the end |"
durations=
[ -s sections.tsv ] && durations=$(awk -F'\t' '
  NR > 1 { printf "%s%s %.0f s", (n++ ? ", " : " ("), name, ($1 - t) / 1e6 }
  { t = $1; name = $2 } END { if (n) printf ")" }' sections.tsv)
echo "| duration | $minutes min$durations |"
echo "| sizes | $(fact sizes run.tsv) |"
printf '| versions | %s; %s; %s; bash %s' "$(fact atomicutils machine.tsv)" \
  "$(fact coreutils machine.tsv)" "$(fact util-linux machine.tsv)" "$(fact bash machine.tsv)"
for p in busybox s6 daemontools moreutils liblockfile-bin lockfile-progs; do
  printf '; %s %s' "$p" "$(fact "$p" machine.tsv)"
done
echo " |"
echo

if [ -s notes.txt ]; then
  echo "Notes from the run:"
  echo
  sed 's/^/- /' notes.txt
  echo
fi

# ---------------------------------------------------------------------
echo "## Goals (issue 15), as measured in this run"
echo
echo "Judged in the scratch directory.  Where a figure was measured in a tmpfs"
echo "directory or in a journaled ext4 too, its ratio there follows, and"
echo "whether the goal is met there: a lock's files cost less in both than on"
echo "an ext4 without a journal mounted with \`discard\`.  The ratio of each"
echo "round alone (ours over the peer's, in the scratch directory) shows the"
echo "noise: where the rounds fall on both sides of the bound, the verdict"
echo "says so, and another run may turn it."
echo
flock_spawn=$(spawn_ratio 'flock L true')
lockdir_spawn=$(spawn_ratio 'lockdir L true')
flock_acq=$(contention_median flock)
lockdir_acq=$(contention_median lockdir)
flock_h=$(handoff_p50 flock)
lockdir_h=$(handoff_p50 lockdir)
cat_mbs=$(append_mbs 'cat >>' | stats | cut -f1)
sa_mbs=$(append_mbs safe-append | stats | cut -f1)
cat_pipe_mbs=$(append_mbs 'cat >>' append-pipe.tsv | stats | cut -f1)
sa_pipe_mbs=$(append_mbs safe-append append-pipe.tsv | stats | cut -f1)
sa_torn=$(awk -F'\t' '$1 == "safe-append" { print $5 }' torn.tsv | sed -n 's/.*torn=\([0-9]*\).*/\1/p')
meets() {   # ratio, comparison (le|ge), bound
  awk -v r="$1" -v b="$3" -v c="$2" 'BEGIN { exit !(c == "le" ? r <= b : r >= b) }'
}
# goal GOAL MEASURED RATIO COMPARISON BOUND ROUNDS: one row; ROUNDS is
# the lowest and highest ratio of the rounds ("-" if not measured in
# rounds); the verdict in the other places is taken from place_ratio,
# which the caller sets (with in_places) or empties.
goal() {
  local met=no place where='' lo hi
  if [ "$3" = - ]; then met='not measured'
  elif meets "$3" "$4" "$5"; then met=yes
  fi
  if [ "$6" != - ] && [ "$3" != - ]; then
    lo=${6%-*} hi=${6#*-}
    if [ "$(meets "$lo" "$4" "$5" && echo y)" != "$(meets "$hi" "$4" "$5" && echo y)" ]; then
      met="$met (the rounds fall on both sides)"
    fi
  fi
  for place in "${other_places[@]}"; do
    case ${place_ratio[$place]:--} in -) continue ;; esac
    if meets "${place_ratio[$place]}" "$4" "$5"; then
      where="$where; ${place_label[$place]}: yes"
    else
      where="$where; ${place_label[$place]}: no"
    fi
  done
  echo "| $1 | $2 | $6 | $met$where |"
  place_ratio=()
}
echo "| goal | measured | ratio in each round, lowest-highest | met |"
echo "| --- | --- | --- | --- |"
r=$(ratio "$lockdir_spawn" "$flock_spawn")
hold=
hold_lockdir=$(holding_us scratch lockdir | cut -f1)
hold_flock=$(holding_us scratch flock | cut -f1)
[ "$hold_lockdir" != - ] && [ "$hold_flock" != - ] &&
  hold="; the lock's own part (one holding, no process, section 1): $(fmt "$hold_lockdir" 0) vs $(fmt "$hold_flock" 0) µs"
in_places spawn_ratio 'lockdir L true' 'flock L true'
goal '`lockdir L true` at most 1.0x `flock L true`' "${r}x ($(fmt "$lockdir_spawn" 2)x vs $(fmt "$flock_spawn" 2)x /bin/true)$places_text$(in_utf8 'lockdir L true' 'flock L true')$hold" "$r" le 1.0 \
  "$(spawn_range 'lockdir L true' 'flock L true')"
r=$(ratio "$lockdir_h" "$flock_h")
in_places handoff_p50 lockdir flock
goal 'hand-off at most flock'"'"'s (p50)' "lockdir $(fmt "$lockdir_h") ms, flock $(fmt "$flock_h") ms (${r}x)$places_text" "$r" le 1.0 -
r=$(ratio "$lockdir_acq" "$flock_acq")
nq_acq=$(contention_median 'lockdir --no-queue')
nq=
[ "$nq_acq" != - ] && nq="; without the queue (\`--no-queue\`): $(ratio "$nq_acq" "$flock_acq")x"
in_places contention_median lockdir flock
goal 'contention at most 1.0x flock' "${r}x ($(fmt "$lockdir_acq") vs $(fmt "$flock_acq") ms per acquisition)$nq$places_text" "$r" le 1.0 \
  "$(contention_range lockdir flock)"
r=$(ratio "$(spawn_ratio 'excl-create f')" "$(spawn_ratio 'sh set -C')")
in_places spawn_ratio 'excl-create f' 'sh set -C'
goal '`excl-create` at most `set -C`' "${r}x$places_text$(in_utf8 'excl-create f' 'sh set -C')" "$r" le 1.0 \
  "$(spawn_range 'excl-create f' 'sh set -C')"
r=$(ratio "$(spawn_ratio 'atomic-swap -s')" "$(spawn_ratio 'ln -sfn')")
in_places spawn_ratio 'atomic-swap -s' 'ln -sfn'
goal '`atomic-swap -s` at most `ln -sfn`' "${r}x$places_text$(in_utf8 'atomic-swap -s' 'ln -sfn')" "$r" le 1.0 \
  "$(spawn_range 'atomic-swap -s' 'ln -sfn')"
r=$(ratio "$sa_pipe_mbs" "$cat_pipe_mbs")
if [ "${sa_torn:-x}" != 0 ]; then r=-; fi
goal 'streaming safe-append at least 1.0x `cat >>`, 0 torn lines: from a producer (`producer | writer`)' \
  "$(fmt "$sa_pipe_mbs" 0) vs $(fmt "$cat_pipe_mbs" 0) MB/s (${r}x); torn lines: ${sa_torn:-not measured}" "$r" ge 1.0 \
  "$(append_range safe-append 'cat >>' append-pipe.tsv)"
r=$(ratio "$sa_mbs" "$cat_mbs")
if [ "${sa_torn:-x}" != 0 ]; then r=-; fi
goal '... and from a file (`writer <file`)' \
  "$(fmt "$sa_mbs" 0) vs $(fmt "$cat_mbs" 0) MB/s (${r}x)" "$r" ge 1.0 \
  "$(append_range safe-append 'cat >>')"
echo

# ---------------------------------------------------------------------
echo "## 1. Cost of one call"
echo
echo "Each case spawned directly (no shell unless shown), all cases in turn in"
echo "every iteration; the ratio is to /bin/true in the same iteration, median"
echo "over the iterations of a round; the spread is over the rounds."
echo
echo "| case | x /bin/true (median of rounds) | spread over rounds | median µs |"
echo "| --- | ---: | --- | ---: |"
: >spawn.dat
cut -f2 spawn.tsv | awk '!seen[$0]++' | while IFS= read -r c; do
  read -r m lo hi < <(awk -F'\t' -v c="$c" '$2 == c { print $4 }' spawn.tsv | stats)
  us=$(awk -F'\t' -v c="$c" '$2 == c { print $3 }' spawn.tsv | stats | cut -f1)
  echo "| \`$c\` | $(fmt "$m" 2) | $(fmt "$lo" 2)-$(fmt "$hi" 2) | $(fmt "$us" 0) |"
  printf '%s\t%s\t%s\t%s\n' "$c" "$m" "$lo" "$hi" >>spawn.dat
done
[ "$plots" = yes ] && echo && echo '![cost of one call](spawn.svg)'
echo

if [ -f holding.tsv ]; then
  echo "### The lock's own part: one holding without a process"
  echo
  echo "\`lockdir L true\` and \`flock L true\` both start a process and run"
  echo "\`true\` in another; bench/holdbench leaves that out.  In a loop it"
  echo "takes the lock and releases it with lockdir's own code (the filesystem"
  echo "check, the owner record in a new directory renamed to the lock, the"
  echo "token from \`LOCK.last\`, the command's pid added to the record, the"
  echo "record renamed over \`LOCK.last\`, the directory removed), then the"
  echo "way flock(1) does (open the lock file, flock(2) it, close it), in"
  echo "turn, each holding 1 ms after the last one, about the time a command"
  echo "takes.  The difference is the lock's own part of one call: mostly what"
  echo "the filesystem does with the lock's files.  The rest of the gap"
  echo "between the two calls comes with their processes: lockdir's does more"
  echo "around its command than flock's (a pipe for the command's exit, signal"
  echo "handlers), and its files are touched from a new process each time."
  echo
  echo "| where | lockdir µs (median of rounds) | spread over rounds | flock µs | spread over rounds |"
  echo "| --- | ---: | --- | ---: | --- |"
  for place in scratch "${other_places[@]}"; do
    read -r lm llo lhi < <(holding_us "$place" lockdir)
    read -r fm flo fhi < <(holding_us "$place" flock)
    [ "$lm" = - ] && continue
    case $place in
      scratch) label='the scratch directory' ;;
      tmpfs) label='the tmpfs directory' ;;
      ext4j) label='the journaled ext4' ;;
    esac
    echo "| $label | $(fmt "$lm") | $(fmt "$llo")-$(fmt "$lhi") | $(fmt "$fm") | $(fmt "$flo")-$(fmt "$fhi") |"
  done
  echo
fi

# ---------------------------------------------------------------------
echo "## 2. Lock contention"
echo
echo "Workers each take the lock K times around a critical section that is a"
echo "process (\`sh -c 'read n <c; echo \$((n+1)) >c'\`); the counter must end at"
echo "workers x K, else the lock is **broken**, whatever its speed.  Pollers run"
echo "fewer acquisitions and one round.  The no-lock control shows the harness"
echo "does lose updates without a lock."
echo
echo "| lock | ms per acquisition (median) | spread over rounds | x flock | counters | verdict |"
echo "| --- | ---: | --- | ---: | --- | --- |"
: >contention.dat
cut -f2 contention.tsv | awk '!seen[$0]++' | while IFS= read -r l; do
  counters=$(awk -F'\t' -v l="$l" '$2 == l { printf "%s%s/%s", (n++ ? ", " : ""), $6, $7 }' contention.tsv)
  bad=$(awk -F'\t' -v l="$l" '$2 == l && ($6 != $7 || $8 !~ /^ok:0$/) { print $8 ":" $6 "/" $7 }' contention.tsv | head -n 1)
  read -r m lo hi < <(contention_ms_per_acq "$l" | stats)
  if [ -z "$bad" ]; then verdict=exact
  else
    case $bad in
      timeout*) verdict="**timeout** ($bad)" ;;
      ok:0:*) verdict="**BROKEN**: lost updates" ;;
      *) verdict="tool failures ($bad)" ;;
    esac
    m=- lo=- hi=-
  fi
  case $l in
    none*)
      if [ -n "$bad" ]; then
        verdict="lost updates, as a control must"
      else
        verdict="**no update lost**: the harness showed no race this time (too few workers?)"
      fi ;;
  esac
  echo "| $l | $(fmt "$m" 1) | $(fmt "$lo" 1)-$(fmt "$hi" 1) | $(ratio "$m" "$flock_acq") | $counters | $verdict |"
  [ "$m" != - ] && printf '%s\t%s\t%s\t%s\n' "$l" "$m" "$lo" "$hi" >>contention.dat
done
[ "$plots" = yes ] && echo && echo '![lock contention](contention.svg)'
echo

# ---------------------------------------------------------------------
echo "## 3. Hand-off latency"
echo
echo "A holder releases the lock while a waiter has been blocked on it for"
echo "100 ms; latency = the time the waiter's command runs minus the time"
echo "the holder's command ended (both include one process start)."
echo
echo "| lock | samples | p50 ms | p99 ms | max ms | failed samples |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
: >handoff.dat
cut -f1 handoff.tsv | awk '!seen[$0]++' | while IFS= read -r l; do
  n=$(awk -F'\t' -v l="$l" '$1 == l' handoff.tsv | wc -l)
  failed=$(awk -F'\t' -v l="$l" '$1 == l && $2 !~ /^[0-9]+$/' handoff.tsv | wc -l)
  p50=$(handoff_ms "$l" | percentile 50)
  p99=$(handoff_ms "$l" | percentile 99)
  max=$(handoff_ms "$l" | percentile 100)
  echo "| $l | $n | $(fmt "$p50") | $(fmt "$p99") | $(fmt "$max") | $failed |"
  [ "$p50" != - ] && printf '%s\t%s\t%s\n' "$l" "$p50" "$p99" >>handoff.dat
done
[ "$plots" = yes ] && echo && echo '![hand-off latency](handoff.svg)'
echo

# ---------------------------------------------------------------------
echo "## 4. FIFO order"
echo
echo "Waiters arrive one after the other (the next starts once the previous"
echo "has started, plus the gap) at a lock that is held, then the lock is"
echo "released; inversions count the pairs served in the opposite order of"
echo "their arrival (0: first come, first served)."
echo
echo "| lock | inversions per round | orders served |"
echo "| --- | --- | --- |"
cut -f2 fifo.tsv | awk '!seen[$0]++' | while IFS= read -r l; do
  inv=$(awk -F'\t' -v l="$l" '$2 == l { printf "%s%s", (n++ ? ", " : ""), $3 }' fifo.tsv)
  orders=$(awk -F'\t' -v l="$l" '$2 == l { sub(/ $/, "", $4); printf "%s%s", (n++ ? "; " : ""), $4 }' fifo.tsv)
  echo "| $l | $inv | $orders |"
done
echo

# ---------------------------------------------------------------------
echo "## 5. Reading through a symbolic link while it is switched"
echo
echo "Readers open and read \`current/VERSION\` in a loop while \`current\` is"
echo "switched between two releases again and again; a failed read is an"
echo "error or an empty file.  Any failure means readers see a gap."
echo
echo "| method | switches | switches/s | reads | failed reads | failed per switch | final target | verdict |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"
while IFS=$'\t' read -r m n ms reads failed final; do
  verdict=ok
  [ "$failed" != 0 ] && verdict="**readers saw gaps**"
  echo "| \`$m\` | $n | $(awk -v n="$n" -v ms="$ms" 'BEGIN { printf "%.0f", ms ? n / (ms / 1000) : 0 }') | $reads | $failed | $(ratio "$failed" "$n") | $final | $verdict |"
done <symlink.tsv
echo

# ---------------------------------------------------------------------
echo "## 6. Torn lines"
echo
echo "Writers append self-checking lines (1 byte to 64 KiB, mostly short) to"
echo "one file at once, each fed through a pipe in chunks that do not follow"
echo "line boundaries (the stdio writer writes through a 4093-byte buffer);"
echo "\`tear-lines check\` then counts intact, torn, missing and duplicated lines."
echo
echo "| writer | writers x lines | ms | intact | torn | missing | duplicated | verdict |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
while IFS=$'\t' read -r w n lines ms result; do
  if [ "$n" = timeout ]; then
    echo "| \`$w\` | | | | | | | **timeout** |"
    continue
  fi
  get() { printf '%s\n' "$result" | sed -n "s/.*$1=\([0-9]*\).*/\1/p"; }
  verdict=intact
  [ "$(get torn)" != 0 ] || [ "$(get missing)" != 0 ] || [ "$(get duplicate)" != 0 ] &&
    verdict="**damaged**"
  echo "| \`$w\` | $n x $lines | $ms | $(get intact) | $(get torn) | $(get missing) | $(get duplicate) | $verdict |"
done <torn.tsv
echo

# ---------------------------------------------------------------------
echo "## 7. Streaming append throughput"
echo
echo "One writer appends a file of lines (20-300 bytes) from the page cache;"
echo "the writers take turns, and the one that goes first rotates each round."
echo
echo "| writer | MB/s (median) | spread over rounds | x \`cat >>\` | complete |"
echo "| --- | ---: | --- | ---: | --- |"
: >append.dat
cut -f2 append.tsv | awk '!seen[$0]++' | while IFS= read -r w; do
  read -r m lo hi < <(append_mbs "$w" | stats)
  complete=$(awk -F'\t' -v w="$w" '$2 == w && $5 != $4 { bad = 1 } END { print bad ? "**no**" : "yes" }' append.tsv)
  echo "| \`$w\` | $(fmt "$m" 0) | $(fmt "$lo" 0)-$(fmt "$hi" 0) | $(ratio "$m" "$cat_mbs") | $complete |"
  [ "$m" != - ] && printf '%s\t%s\t%s\t%s\n' "$w" "$m" "$lo" "$hi" >>append.dat
done
if [ -s append-pipe.tsv ]; then
  echo
  echo "The same lines from a producer through a pipe (\`cat FILE | writer\`):"
  echo
  echo "| writer | MB/s (median) | spread over rounds | x \`cat >>\` | complete |"
  echo "| --- | ---: | --- | ---: | --- |"
  cut -f2 append-pipe.tsv | awk '!seen[$0]++' | while IFS= read -r w; do
    read -r m lo hi < <(append_mbs "$w" append-pipe.tsv | stats)
    complete=$(awk -F'\t' -v w="$w" '$2 == w && $5 != $4 { bad = 1 } END { print bad ? "**no**" : "yes" }' append-pipe.tsv)
    echo "| \`$w\` | $(fmt "$m" 0) | $(fmt "$lo" 0)-$(fmt "$hi" 0) | $(ratio "$m" "$cat_pipe_mbs") | $complete |"
  done
fi
if [ -s append-loop.tsv ]; then
  echo
  awk -F'\t' '{ ms[$1] = $3; n = $2 } END {
    printf "A shell loop writing one line per write, on %d lines: `while read; echo >>` %d ms, safe-append %d ms (%.0fx faster).\n",
      n, ms["while read; echo >>"], ms["safe-append"], ms["while read; echo >>"] / (ms["safe-append"] ? ms["safe-append"] : 1) }' append-loop.tsv
fi
[ "$plots" = yes ] && echo && echo '![append throughput](append.svg)'
echo

# ---------------------------------------------------------------------
for extra in extra-*.txt; do
  [ -f "$extra" ] || continue
  name=${extra#extra-}
  echo "## Also measured: ${name%.txt}"
  echo
  echo '```'
  cat "$extra"
  echo '```'
  echo
done

if [ "$plots" = no ]; then
  echo "(No plots: gnuplot is not installed; \`scripts/install-deps --bench\` installs it.)"
fi
} >"$out"

# ---------------------------------------------------------------------
# Plots: bars for the median, error bars for the spread over rounds.
if [ "$plots" = yes ]; then
  gnuplot <<'EOF' 2>gnuplot.log || echo "report.sh: gnuplot failed (see $RESULTS/gnuplot.log)" >&2
set terminal svg size 900,450 dynamic font "sans,11"
set datafile separator "\t"
set style fill solid 0.5 border -1
set grid ytics
set xtics rotate by -30 scale 0 nomirror
set key top left
set boxwidth 0.7
set yrange [0:*]

set output "spawn.svg"
set title "Cost of one call, as a multiple of /bin/true (bars: spread over rounds)"
set ylabel "x /bin/true"
set style data histograms
set style histogram errorbars gap 1 lw 1
plot "spawn.dat" using 2:3:4:xtic(1) title "median of rounds" lc rgb "#4a7ebb"

set output "contention.svg"
set title "Lock contention: ms per acquisition (log scale; bars: spread over rounds)"
set ylabel "ms per acquisition"
set logscale y
set yrange [*:*]
plot "contention.dat" using 2:3:4:xtic(1) title "median of rounds" lc rgb "#4a7ebb"

set output "handoff.svg"
set title "Lock hand-off latency (log scale)"
set ylabel "ms"
set style histogram clustered gap 1
plot "handoff.dat" using 2:xtic(1) title "p50" lc rgb "#4a7ebb", \
     "" using 3 title "p99" lc rgb "#d9822b"
unset logscale y

set output "append.svg"
set title "Streaming append throughput (bars: spread over rounds)"
set ylabel "MB/s"
set yrange [0:*]
set style histogram errorbars gap 1 lw 1
plot "append.dat" using 2:3:4:xtic(1) title "median of rounds" lc rgb "#4a7ebb"
EOF
  [ -s gnuplot.log ] || rm -f gnuplot.log
fi
rm -f ./*.dat

echo "report: $RESULTS/$out"
