# tidy.awk -- finish a manual page made by help2man.
#
#   awk -v date=YYYY-MM-DD [-v help=HELP] -f man/tidy.awk PAGE.1-t > PAGE.1
#
# help2man keeps the "Exit status:" paragraph of --help as a subsection
# of DESCRIPTION, so a page whose .x file adds an [EXIT STATUS] section
# would have two, and a page without one none.  This script makes the
# paragraph (and all that follows it in DESCRIPTION) the start of the
# page's one EXIT STATUS section: the text
# --help prints comes first, then what the .x file adds; a page with no
# [EXIT STATUS] in its .x gets the section right after DESCRIPTION (and
# OPTIONS).  help2man puts the sections it does not know (BUGS among
# them) before ENVIRONMENT; BUGS moves to its usual place, just before
# EXAMPLES (man-pages(7)).  It also writes the date in .TH as
# YYYY-MM-DD, which mandoc parses ("November 2026" it does not), and
# folds text lines longer than 80 bytes at a space (outside no-fill
# blocks and .TP tags), so that 'mandoc -Tlint' has nothing to say.
#
# help2man fills the "Examples:" lines of --help into one paragraph (or
# splits them into .TP tags at their comments), so that a comment runs
# into the next command.  Given HELP, a file holding the tool's --help,
# the script puts those lines back into the page's EXAMPLES section as
# printed, in a no-fill block.

{ line[++n] = $0 }

END {
  take_exit_status_paragraph()
  place_exit_status_section()
  move_section_before("BUGS", "EXAMPLES")
  if (help != "")
    verbatim_examples()
  nofill = 0
  for (i = 1; i <= n; i++) {
    s = line[i]
    if (s ~ /^\.TH /)
      sub(/"[A-Z][a-z]+ [0-9][0-9][0-9][0-9]"/, "\"" date "\"", s)
    if (s ~ /^\.(nf|EX)([ \t]|$)/)
      nofill = 1
    else if (s ~ /^\.(fi|EE)([ \t]|$)/)
      nofill = 0
    if (nofill || s ~ /^[.']/ || (i > 1 && line[i - 1] ~ /^\.TP/))
      print s
    else
      fold(s)
  }
}

# Move the "Exit status:" subsection out of the page into ES[1..es]:
# everything up to the end of DESCRIPTION, since --help prints the exit
# statuses last, just before "Examples:" (which help2man makes a section
# of its own); a subsection inside it ("With COMMAND, ...:") goes along.
function take_exit_status_paragraph(    i, j, k, m) {
  es = 0
  for (i = 1; i <= n; i++)
    if (line[i] ~ /^\.SS "?Exit status:?"?$/)
      break
  if (i > n)
    return
  for (j = i + 1; j <= n && line[j] !~ /^\.SH /; j++)
    es_line[++es] = line[j]
  # Close the gap.
  m = j - i
  for (k = i; k + m <= n; k++)
    line[k] = line[k + m]
  n -= m
}

function place_exit_status_section(    i, at, k, head, sep, m,
                                   seen_description) {
  if (es == 0)
    return
  at = 0
  for (i = 1; i <= n; i++)
    if (line[i] == ".SH \"EXIT STATUS\"") {
      at = i + 1
      break
    }
  head = 0
  if (!at) {
    # After DESCRIPTION and OPTIONS, before whatever comes next.
    for (i = 1; i <= n; i++)
      if (line[i] ~ /^\.SH / \
          && line[i] !~ /^\.SH (NAME|SYNOPSIS|DESCRIPTION|OPTIONS)$/ \
          && seen_description)
        break
      else if (line[i] == ".SH DESCRIPTION")
        seen_description = 1
    at = i
    head = 1
  }
  # Open a gap of HEAD + ES (+ 1 for a paragraph break before the .x
  # file's own text, unless that starts with a paragraph macro).
  sep = (!head && at <= n && line[at] !~ /^\.(PP|LP|P|TP|IP|HP)([ \t]|$)/)
  m = head + es + sep
  for (k = n; k >= at; k--)
    line[k + m] = line[k]
  n += m
  k = at
  if (head)
    line[k++] = ".SH \"EXIT STATUS\""
  for (i = 1; i <= es; i++)
    line[k++] = es_line[i]
  if (sep)
    line[k++] = ".PP"
}

# Move section NAME, if the page has one, to just before section NEXT
# (or, without NEXT, before AUTHOR).
function move_section_before(name, next_name,    i, j, k, from, to, len,
                             moved, dest) {
  from = 0
  for (i = 1; i <= n; i++)
    if (line[i] == ".SH " name || line[i] == ".SH \"" name "\"") {
      from = i
      break
    }
  if (!from)
    return
  for (to = from + 1; to <= n && line[to] !~ /^\.SH /; to++)
    ;
  len = to - from
  for (i = 0; i < len; i++)
    moved[i] = line[from + i]
  for (k = from; k + len <= n; k++)
    line[k] = line[k + len]
  n -= len
  dest = 0
  for (i = 1; i <= n; i++)
    if (line[i] == ".SH " next_name || line[i] == ".SH \"" next_name "\"")
      dest = i
  if (!dest)
    for (i = 1; i <= n; i++)
      if (line[i] == ".SH AUTHOR")
        dest = i
  if (!dest)
    dest = n + 1
  for (k = n; k >= dest; k--)
    line[k + len] = line[k]
  n += len
  for (i = 0; i < len; i++)
    line[dest + i] = moved[i]
}

# Print text line S in pieces of at most 80 bytes, breaking at a space
# that is not escaped and is not followed by a control character.
function fold(s,    cut, i) {
  while (length(s) > 80) {
    cut = 0
    for (i = 81; i > 1; i--)
      if (substr(s, i, 1) == " " && substr(s, i - 1, 1) != "\\" \
          && substr(s, i + 1, 1) !~ /^[.' ]$/ && substr(s, i + 1, 1) != "") {
        cut = i
        break
      }
    if (!cut)
      break
    print substr(s, 1, cut - 1)
    s = substr(s, cut + 1)
  }
  print s
}

# The "Examples:" lines of the --help in file HELP, in EX[1..ex], less
# the indentation they share.
function read_help_examples(    s, on, i, indent, lead) {
  ex = 0
  on = 0
  while ((getline s < help) > 0) {
    if (s ~ /^Examples:[ \t]*$/)
      on = 1
    else if (on && s ~ /^[ \t]*$/)
      break
    else if (on)
      ex_line[++ex] = s
  }
  close(help)
  indent = -1
  for (i = 1; i <= ex; i++) {
    match(ex_line[i], /^ */)
    if (indent < 0 || RLENGTH < indent)
      indent = RLENGTH
  }
  for (i = 1; i <= ex; i++)
    ex_line[i] = substr(ex_line[i], indent + 1)
}

# Replace what help2man made of the --help examples (all that follows
# the .x file's text in EXAMPLES, from help2man's first .TP or .IP: the
# .x files use neither there) by the lines of --help in a no-fill block.
# The words must be the same, or the page would silently lose some.
function verbatim_examples(    i, from, to, k, m, got, want, blk) {
  read_help_examples()
  if (ex == 0)
    return
  for (i = 1; i <= n && line[i] != ".SH EXAMPLES"; i++)
    ;
  for (from = i + 1; from <= n && line[from] !~ /^\.(TP|IP)([ \t]|$)/ \
       && line[from] !~ /^\.SH /; from++)
    ;
  for (to = from; to <= n && line[to] !~ /^\.SH /; to++)
    ;
  got = ""
  for (k = from; k < to; k++)
    if (line[k] !~ /^[.']/)
      got = got " " roff_words(line[k])
  want = ""
  for (i = 1; i <= ex; i++)
    want = want " " ex_line[i]
  if (words(got) != words(want)) {
    printf "tidy.awk: the EXAMPLES help2man made differ from --help's:\n" \
           "  page: %s\n  help: %s\n", words(got), words(want) > "/dev/stderr"
    exit 1
  }
  m = 0
  if (line[from - 1] !~ /^\.SH /)
    blk[++m] = ".PP"
  blk[++m] = ".nf"
  blk[++m] = ".RS"
  for (i = 1; i <= ex; i++)
    blk[++m] = roff_text(ex_line[i])
  blk[++m] = ".RE"
  blk[++m] = ".fi"
  # Put BLK in place of lines FROM..TO-1.
  shift_lines(to, m - (to - from))
  for (i = 1; i <= m; i++)
    line[from + i - 1] = blk[i]
}

# Move lines AT..N by D (D < 0 closes a gap, D > 0 opens one).
function shift_lines(at, d,    k) {
  if (d > 0)
    for (k = n; k >= at; k--)
      line[k + d] = line[k]
  else if (d < 0)
    for (k = at; k <= n; k++)
      line[k + d] = line[k]
  n += d
}

# Text line S of help2man's output as plain text.
function roff_words(s) {
  gsub(/\\f[BIRP]/, "", s)
  gsub(/\\-/, "-", s)
  gsub(/\\\(aq/, "'", s)
  gsub(/\\\(dq/, "\"", s)
  gsub(/\\&/, "", s)
  gsub(/\\e/, "\\", s)
  return s
}

# S with its blanks squeezed: the words, in order.
function words(s) {
  gsub(/[ \t]+/, " ", s)
  sub(/^ /, "", s)
  sub(/ $/, "", s)
  return s
}

# Plain text S as a roff text line, as help2man writes it.
function roff_text(s) {
  gsub(/\\/, "\\e", s)
  gsub(/-/, "\\-", s)
  if (s ~ /^[.']/)
    s = "\\&" s
  return s
}
