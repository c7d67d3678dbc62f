# examples_helper.bash -- find the example commands the documentation
# shows, and run them as printed in a sandbox.  Used by tests/docs.bats.
#
# Examples come from three places, each cut into blocks that run as one
# script (so that "old=$(...)" on one line and "$old" on the next work
# together, and a for/case spanning lines stays whole):
#   - README.md: each ```sh block;
#   - TOOL --help: the lines after "Examples:";
#   - man/TOOL.x: each .nf/.fi block of the [EXAMPLES] section, and
#     of any other section where a line starts with a tool's name as a
#     command (or with a misspelling of one, to be reported), with the
#     roff escapes undone and a crontab line's schedule removed.
# A block runs only if it calls one of the tools (the README's build
# commands are run by CI itself).
#
# The sandbox: a private mount namespace (unshare) with fresh tmpfs on
# /srv, /run, /var/log and /usr/local/bin, so the absolute paths of the
# examples (/run/lock/backup, /srv/app/DEPLOYED, /var/log/cron.log)
# exist and nothing outside is touched; a scratch current directory
# with a small deploy tree (releases/41, current -> releases/41,
# build.tmp, site, site.new); stub programs for the commands that only
# stand for the user's own (backup.sh, ./deploy.sh, build,
# /usr/local/bin/backup, ...); and values for the variables the
# examples use ($LOCK, $REV, $VERSION, $HOST, $USER).  Blocks that take
# a lock in etcd (LOCKDIR_ETCD, --etcd) run in a network namespace of
# their own, where etcd1, etcd2 and etcd3 name this host and a private
# etcd listens on 127.0.0.1:2379; where etcd (or ip) is not installed
# they are left out, and examples_check says so (docs.bats skips).
#
# Each tool runs through a shell function that records its exit status,
# the script line it was called from and the call as printed (bash's
# $BASH_COMMAND, unexpanded).  So do the programs that run a command
# given them (EXAMPLE_RUNNERS: timeout, xargs, env, nice, nohup,
# setsid, stdbuf, ionice, chrt, sudo, sh -c, bash -c) when they run a
# tool: their status is the tool's (xargs: 123 for any failure), and a
# lockdir's status is its COMMAND's.  A line counts as reached only
# where a tool itself ran, not where a runner exited (xargs -r with no
# input, a stub standing for sudo).  A block fails when a call exits
# with a status other than the one expected of it -- 0, unless
# EXAMPLE_STATUSES names the few calls meant to show another (a "no", a
# busy lock): a usage error, a system error, a command not found, or an
# example broken into a mere "no" --, when a line that calls a tool is
# never reached, when the block hangs
# ($EXAMPLE_TIMEOUT, 60 s), or when a file appears whose name is an
# option's value (a duration such as '10s', a format with '%'): the
# mark of an option that took its value as an operand; or when a
# program given a stub is within two edits of a tool's name (a misspelt
# tool would run as a stub, and succeed; a block that is not run at all
# is checked for that too).  The sandbox needs root, or user namespaces
# (then the tools run as root of a user namespace of their own).

# The tools whose calls are checked (docs.bats sets it from man/*.x).
EXAMPLE_TOOLS=${EXAMPLE_TOOLS:-atomic-swap excl-create lockdir safe-append}
# The programs that run a command given them, recorded when it is a
# tool (their status is the tool's; xargs' 123 for any failure).  One
# not listed would reach the tool through the wrapper on PATH, and its
# status, the tool's, would go unchecked.
EXAMPLE_RUNNERS='timeout xargs env nice nohup'
EXAMPLE_RUNNERS+=' setsid stdbuf ionice chrt sudo sh bash'
# How long a block may run.
EXAMPLE_TIMEOUT=${EXAMPLE_TIMEOUT:-60}
# The calls expected to exit with a status other than 0 where they run,
# each "WHERE: STATUS CALL": WHERE as examples_check names the source
# ("README", "lockdir --help", "lockdir man"), CALL the one simple
# command as the example prints it (the tool and its arguments, without
# what a '|', '||' or '&&' adds): the status is expected of that call
# only, not of the other calls on its line (docs.bats sets them).
if ! declare -p EXAMPLE_STATUSES >/dev/null 2>&1; then
  EXAMPLE_STATUSES=()
fi

# An awk function: the edit distance between strings A and B (a word
# within two edits of a tool's name is taken for a misspelt tool).
EXAMPLES_AWK_DISTANCE='
  function distance(a, b,    i, j, la, lb, d, cost) {
    la = length(a); lb = length(b)
    for (i = 0; i <= la; i++) d[i, 0] = i
    for (j = 0; j <= lb; j++) d[0, j] = j
    for (i = 1; i <= la; i++)
      for (j = 1; j <= lb; j++) {
        cost = substr(a, i, 1) != substr(b, j, 1)
        d[i, j] = d[i - 1, j - 1] + cost
        if (d[i - 1, j] + 1 < d[i, j]) d[i, j] = d[i - 1, j] + 1
        if (d[i, j - 1] + 1 < d[i, j]) d[i, j] = d[i, j - 1] + 1
      }
    return d[la, lb]
  }'

# Remove a shell comment (an unquoted '#' after a blank) from each line
# of standard input and drop empty lines; "@@" lines pass unchanged.
examples_strip_comments() {
  awk '$0 == "@@" { print; next }
  {
    s = $0; out = ""; q = ""
    for (i = 1; i <= length(s); i++) {
      c = substr(s, i, 1)
      if (q == "" && c == "#" && (i == 1 || substr(s, i - 1, 1) ~ /[ \t]/))
        break
      if (q == "" && (c == "\"" || c == "\047")) q = c
      else if (q != "" && c == q) q = ""
      out = out c
    }
    sub(/[ \t]+$/, "", out)
    if (out ~ /[^ \t]/) print out
  }'
}

# Of the .nf blocks of a man page on standard input (each opened by
# "@@ex" or "@@other" and closed by "@@"), print those of EXAMPLES, and
# those of other sections where a line starts with a tool's name as a
# command (not "TOOL: message", nor a name in a configuration file), or
# with a word within two edits of one: a misspelt tool, which
# examples_check then reports.
examples_man_commands() {
  awk -v tools="$EXAMPLE_TOOLS" "$EXAMPLES_AWK_DISTANCE"'
    function near_tool(word,    k) {
      if (word !~ /^[A-Za-z_.\/][-A-Za-z0-9_.\/+]*$/) return 0
      sub(/.*\//, "", word)
      for (k = 1; k <= ntools; k++)
        if (distance(word, tool[k]) <= 2) return 1
      return 0
    }
    BEGIN { ntools = split(tools, tool, / +/)
            gsub(/ +/, "|", tools); cmd = "^[ \t]*(" tools ")([ \t]|$)" }
    /^@@(ex|other)$/ { keep = ($0 == "@@ex"); n = 0; next }
    $0 == "@@" { if (keep) { for (i = 1; i <= n; i++) print line[i]; print "@@" }
                 next }
    { line[++n] = $0; if ($0 ~ cmd || near_tool($1)) keep = 1 }'
}

# Print the blocks of example commands of SOURCE, each followed by a line
# holding only "@@".  SOURCE is README, or a tool's name: "TOOL --help"
# or "TOOL man".
examples_blocks() {
  local source=$1 kind=${2:-}
  case $source:$kind in
    README:)
      awk '/^```sh[ \t]*$/ { on = 1; next }
           on && /^```/ { on = 0; print "@@"; next }
           on' "$SRCDIR/README.md"
      ;;
    *:--help)
      "$source" --help | awk '/^Examples:[ \t]*$/ { on = 1; next }
                              on && /^[ \t]*$/ { exit }
                              on'
      echo "@@"
      ;;
    *:man)
      # Each block opens with "@@ex" in EXAMPLES, "@@other" elsewhere.
      awk '/^\[/ { ex = ($0 == "[EXAMPLES]"); next }
           /^\.nf/ { on = 1; print (ex ? "@@ex" : "@@other"); next }
           on && /^\.fi/ { on = 0; print "@@"; next }
           on && !/^\.(RS|RE)([ \t]|$)/' "$SRCDIR/man/$source.x" |
        sed -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\(dq/"/g' \
            -e 's/\\e/\\/g' -e 's/\\&//g' -e 's/\\f[BIRP]//g' |
        sed -E 's/^([-*0-9\/,]+[ \t]+){5}//' |
        examples_man_commands
      ;;
  esac | examples_strip_comments
}

# True if the text on standard input calls one of the tools.
examples_calls_tool() {
  grep -Eq "(^|[^-[:alnum:]_./])($(echo "$EXAMPLE_TOOLS" | tr ' ' '|'))([[:space:]]|$)"
}

# The words of the script on standard input that stand for a program of
# the user's,
# and which therefore get a stub: the first word of each simple command
# that is not a shell word or an installed program, and any word that
# looks like a script (*.sh, ./X, /usr/local/bin/X).
examples_stub_names() {
  local block word
  block=$(cat)
  {
    # Command positions: line starts and after | || && ; & $( do then.
    printf '%s\n' "$block" |
      sed -E 's/\$\(/\n/g; s/(\|\||&&|[|;&]|\bdo\b|\bthen\b)/\n/g' |
      awk '{ for (i = 1; i <= NF; i++) if ($i !~ /=/ && $i != "!") { print $i; break } }'
    printf '%s\n' "$block" | tr -s ' \t"' '\n' |
      grep -E '^(\./[^/]+|/usr/local/bin/[^/]+|[^/$]+\.sh)$'
  } | sort -u | grep -E '^[A-Za-z_./][-A-Za-z0-9_./+]*$' |
  while IFS= read -r word; do
    case $word in
      *'$'* | '' ) continue ;;
      ./* | /usr/local/bin/*) echo "$word" ;;
      *) type -t "$word" >/dev/null 2>&1 || echo "$word" ;;
    esac
  done
}

# Does the block on standard input take a lock in etcd?
examples_uses_etcd() {
  grep -Eq 'LOCKDIR_ETCD|--etcd'
}

# Can blocks that use etcd run here?
examples_etcd_available() {
  command -v etcd >/dev/null 2>&1 && command -v ip >/dev/null 2>&1
}

# The unshare options that make the sandbox here, or nothing: as root a
# mount namespace is enough; anyone else needs a user namespace too.
# Return 1 if no sandbox can be made.
examples_sandbox_args() {
  if [ "$(id -u)" -eq 0 ] &&
     unshare --mount --propagation private --pid --fork --mount-proc true 2>/dev/null; then
    return 0
  fi
  if unshare --user --map-root-user --mount --propagation private \
       --pid --fork --mount-proc true 2>/dev/null; then
    echo --user --map-root-user
    return 0
  fi
  return 1
}

# Run the N blocks DIR/block.1... (each a script of example lines, from
# the source WHERE) one after the other in one sandbox, so that a later
# block can use what an earlier one made (a man page's deploy, then its
# rollback).  Print one line per problem found, nothing if every block
# ran as documented.
examples_run_blocks() {
  local dir=$1 n=$2 where=${3:-} i t
  mkdir "$dir/cwd" "$dir/stubs"
  local etcd=
  if cat "$dir"/block.* | examples_uses_etcd; then
    etcd=yes
  fi

  # Stubs: succeed; "-o PATH" (as in "build -o DIR") makes DIR.
  local stubs=()
  mapfile -t stubs < <(cat "$dir"/block.* | examples_stub_names)

  # The prelude: values, and the functions that record each tool's
  # status with the line of the example that called it (line 1 of a
  # script sources the prelude, so example line N is script line N+1)
  # and the call, "STATUS LINE TOOL CALL".  A DEBUG trap, inherited by
  # subshells and functions (set -T) but not run inside the recording
  # functions, keeps the line in DOCS_LINE and the simple command about
  # to run in DOCS_CALL.  A tool run by another program (timeout, env,
  # lockdir's COMMAND) goes through a wrapper on PATH instead, which
  # records the line with status "-": reached.  It must exec the tool:
  # a process in between would change the tool's parent, which lockdir's
  # script form and excl-create --pid take for the owner.  Its status is
  # checked where it comes out: EXAMPLE_RUNNERS are recorded too when
  # they run a tool, and lockdir exits with its COMMAND's status.
  local t real recorders runs_tool
  recorders=$(echo "docs_record $EXAMPLE_RUNNERS $EXAMPLE_TOOLS" | tr ' ' '|')
  # shellcheck disable=SC2086 # one pattern per tool
  runs_tool=$(printf "*' %s '*|" $EXAMPLE_TOOLS)
  mkdir "$dir/wrappers"
  {
    echo 'LOCK=/run/lock/script.lock REV=1a2b3c VERSION=1.2 HOST=web1 USER=deployer'
    echo 'set -T'
    # On one line: in a trap's text, LINENO counts its lines too.
    # shellcheck disable=SC2016 # for the example's shell
    echo 'trap '"'"'case ${FUNCNAME[0]-} in '"$recorders"') ;;' \
      '*) export DOCS_LINE=$((LINENO - 1)); DOCS_CALL=$BASH_COMMAND ;;' \
      'esac'"'"' DEBUG'
    # docs_record STATUS TOOL WORDS...: one line of the log, with the
    # line its caller was called from.  A trap's command (line 0) runs
    # where DOCS_CALL is stale: its call is then the WORDS it ran with.
    # shellcheck disable=SC2016,SC1003 # for the example's shell
    printf '%s\n' 'docs_record() {' \
      '  local line=$((BASH_LINENO[1] - 1)) call=$DOCS_CALL' \
      '  ((line > 0)) || call="${*:3}"' \
      '  printf "%s %s %s %s\n" "$1" "$line" "$2" \' \
      '    "${call//$'"'"'\n'"'"'/ }" >>"$DOCS_LOG"; }'
    for t in $EXAMPLE_RUNNERS; do
      # Recorded only when they run a tool.
      echo "$t() { command $t \"\$@\"; local st=\$?;"
      echo "  case \" \$* \" in ${runs_tool%|})"
      echo "    docs_record \$st $t $t \"\$@\" ;; esac; return \$st; }"
    done
    for t in $EXAMPLE_TOOLS; do
      real=$(command -v "$t") || continue
      echo "$t() { '$real' \"\$@\"; local st=\$?;"
      echo "  docs_record \$st $t $t \"\$@\"; return \$st; }"
      printf '%s\n' '#!/bin/sh' \
        "echo \"- \${DOCS_LINE:-0} $t\" >>\"\$DOCS_LOG\"" \
        "exec '$real' \"\$@\"" >"$dir/wrappers/$t"
      chmod +x "$dir/wrappers/$t"
    done
  } >"$dir/prelude"
  for ((i = 1; i <= n; i++)); do
    { echo "source '$dir/prelude'"; cat "$dir/block.$i"; } >"$dir/script.$i"
  done

  # shellcheck disable=SC2016 # expanded by the sandbox's shell
  # As root, a private mount namespace; otherwise one inside a user
  # namespace of our own, where we are root too (examples_sandbox_args).
  # A PID namespace of its own too: whatever an example leaves running
  # in the background ends with the sandbox.
  # shellcheck disable=SC2046 # the words are options
  EXAMPLE_TIMEOUT=$EXAMPLE_TIMEOUT \
    unshare $(examples_sandbox_args) --mount --propagation private \
      --pid --fork --mount-proc ${etcd:+--net} bash -c '
    set -e
    dir=$1 n=$2 etcd=$3; shift 3
    for m in /srv /run /var/log /usr/local/bin; do
      mount -t tmpfs -o mode=755 tmpfs "$m"
    done
    etcd_pid=
    if [ -n "$etcd" ]; then
      ip link set lo up
      printf "%s\n" "127.0.0.1 localhost etcd1 etcd2 etcd3" >"$dir/hosts"
      mount --bind "$dir/hosts" /etc/hosts
      etcd --data-dir /run/etcd --listen-client-urls http://127.0.0.1:2379 \
        --advertise-client-urls http://127.0.0.1:2379 \
        --listen-peer-urls http://127.0.0.1:2380 >"$dir/etcd.log" 2>&1 &
      etcd_pid=$!
      for ((w = 0; w < 600; w++)); do
        st=0
        lockdir --etcd=http://127.0.0.1:2379 --status x >/dev/null 2>&1 || st=$?
        [ "$st" -le 1 ] && break
        sleep 0.1
      done
    fi
    mkdir -p /run/lock /srv/app /srv/shared /srv/releases/1 /srv/www
    [ -d /var/lock ] || mkdir -p /var/lock
    cd "$dir/cwd"
    mkdir -p releases/41 build.tmp site site.new
    ln -s releases/41 current
    for stub in "$@"; do
      case $stub in
        ./* | /*) path=$stub ;;
        *) path=$dir/stubs/$stub ;;
      esac
      printf "%s\n" "#!/bin/sh" "# a stub for the documentation examples" \
        "[ \"\$1\" = -o ] && mkdir -p \"\$2\"" "exit 0" >"$path"
      chmod +x "$path"
    done
    set +e
    for ((i = 1; i <= n; i++)); do
      find . /srv /run /var/log -print 2>/dev/null | sort >"$dir/before.$i"
      # (An example that runs make must not see the make running us.)
      env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        DOCS_LOG=$dir/log.$i PATH=$dir/wrappers:$dir/stubs:$PATH \
        timeout -s KILL "$EXAMPLE_TIMEOUT" bash "$dir/script.$i" \
          </dev/null >"$dir/out.$i" 2>&1
      echo $? >"$dir/status.$i"
      find . /srv /run /var/log -print 2>/dev/null | sort >"$dir/after.$i"
    done
    if [ -n "$etcd_pid" ]; then kill "$etcd_pid"; wait "$etcd_pid" || true; fi
  ' sandbox "$dir" "$n" "$etcd" "${stubs[@]}" </dev/null ||
    { echo "the sandbox could not be set up"; return; }

  for ((i = 1; i <= n; i++)); do
    examples_judge "$dir" "$i" "$where" | sed "s/^/block $i, /"
  done
}

# For each word on standard input (a program given a stub) that is no
# tool but within two edits of a tool's name, say so: a misspelt tool
# in an example would otherwise run as a stub, and succeed.
examples_misspelt_tools() {
  awk -v tools="$EXAMPLE_TOOLS" "$EXAMPLES_AWK_DISTANCE"'
    BEGIN { n = split(tools, tool, / +/) }
    { word = $0; sub(/.*\//, "", word)
      for (k = 1; k <= n; k++)
        if (word != tool[k] && distance(word, tool[k]) <= 2) {
          printf "\047%s\047 is no tool: %s misspelt?\n", $0, tool[k]
          break
        } }'
}

# Print each entry of EXAMPLE_STATUSES whose CALL is not a whole
# command on a line of an example of its source: one left behind when
# its example changed, or one naming part of a call, matches no call,
# and would wait, unseen, to excuse a new one printed the same.
examples_stale_statuses() {
  local entry call line found
  # What may stand before a command, and what may end one.
  local before='[[:space:](;|&!]' end='[;|&)]'
  for entry in "${EXAMPLE_STATUSES[@]}"; do
    call=${entry#*: } found=
    call=${call#* }
    # shellcheck disable=SC2053,SC2086 # $before and $end are patterns;
    # "TOOL KIND" is two words
    while IFS= read -r line; do
      if [[ " $line" == *$before"$call" ||
            " $line" == *$before"$call"$end* ||
            " $line" == *$before"$call"[[:space:]]$end* ||
            " $line" == *$before"$call"[[:space:]]\#* ]]; then
        found=1
        break
      fi
    done < <(examples_blocks ${entry%%: *})
    [ -n "$found" ] || printf '%s\n' "$entry"
  done
}

# The status the call CALL (as printed) of an example of WHERE is
# expected to exit with: 0, unless EXAMPLE_STATUSES says otherwise.
examples_expected_status() {
  local where=$1 call=$2 entry rest
  for entry in "${EXAMPLE_STATUSES[@]}"; do
    rest=${entry#*: }
    if [ "${entry%%: *}" = "$where" ] && [ "${rest#* }" = "$call" ]; then
      echo "${rest%% *}"
      return
    fi
  done
  echo 0
}

# Print the problems of block I of the run in DIR, of the source WHERE.
examples_judge() {
  local dir=$1 i=$2 where=$3 st line tool call text name want n=0 tools
  tools=$(echo "$EXAMPLE_TOOLS" | tr ' ' '|')
  [ "$(cat "$dir/status.$i")" = 137 ] &&
    echo "hung (killed after $EXAMPLE_TIMEOUT s)"
  # Statuses of the calls ("-": a tool run by another program, whose
  # status is that program's).
  touch "$dir/log.$i"
  while read -r st line tool call; do
    [ "$st" = - ] && continue
    # (A trap's command run at exit is said to be on line 0.)
    text='(a trap'"'"'s command)'
    if ((line > 0)); then
      text=$(sed -n "${line}p" "$dir/block.$i")
      text=${text#"${text%%[![:space:]]*}"}
    fi
    want=$(examples_expected_status "$where" "$call")
    # (Which call, where the line has more.)
    [ "$call" = "$text" ] || text+=" (the call: $call)"
    [ "$st" = "$want" ] ||
      echo "line $line: $tool exited with status $st (expected $want): $text"
  done <"$dir/log.$i"
  # Every line that calls a tool was reached (a trap's command runs
  # later, from wherever the script is then): a tool recorded it, or
  # the wrapper on PATH did; a runner's record is no proof, as a runner
  # may exit without running its command.
  while IFS= read -r text; do
    n=$((n + 1))
    printf '%s\n' "$text" | examples_calls_tool || continue
    case $text in trap\ *) continue ;; esac
    grep -Eq "^[-0-9]+ $n ($tools)( |$)" "$dir/log.$i" ||
      echo "line $n never ran: $text"
  done <"$dir/block.$i"
  # No stub stands for a tool whose name is misspelt.
  examples_stub_names <"$dir/block.$i" | examples_misspelt_tools
  # No file named like an option's value.
  comm -13 "$dir/before.$i" "$dir/after.$i" | while IFS= read -r name; do
    name=${name##*/}
    if [[ $name == *%* || $name =~ ^[0-9.]+(ms|s|m|h|d)$|^inf$ ]]; then
      echo "a file named '$name' appeared (an option's value taken as a file?)"
    fi
  done
  if [ -n "${EXAMPLES_VERBOSE:-}" ] && [ -s "$dir/out.$i" ]; then
    sed 's/^/  | /' "$dir/out.$i"
  fi
}

# Run the blocks of SOURCE [KIND] that call a tool; print the problems,
# each prefixed with where the block comes from.
examples_check() {
  local source=$1 kind=${2:-} where dir n=0 line block=
  where=$source${kind:+ $kind}
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/examples.XXXXXX")
  while IFS= read -r line; do
    if [ "$line" = "@@" ]; then
      if [ -n "$block" ] && printf '%s\n' "$block" | examples_calls_tool &&
         printf '%s\n' "$block" | examples_uses_etcd &&
         ! examples_etcd_available; then
        echo "$where: a block left out (it needs etcd and ip, not" \
          "installed here): ${block%%$'\n'*}"
      elif [ -n "$block" ] && printf '%s\n' "$block" | examples_calls_tool
      then
        n=$((n + 1))
        printf '%s\n' "$block" >"$dir/block.$n"
      elif [ -n "$block" ]; then
        # Not run: unless it is because a tool's name is misspelt.
        printf '%s\n' "$block" | examples_stub_names |
          examples_misspelt_tools | sed "s|^|$where: a block not run: |"
      fi
      block=
    else
      block=${block:+$block$'\n'}$line
    fi
  done < <(examples_blocks "$source" "$kind")
  if ((n == 0)); then
    echo "$where: no examples found"
    return
  fi
  examples_run_blocks "$dir" "$n" "$where" | sed "s|^|$where: |"
}
