#!/bin/sh
# build-aux/conf2scd.sh FRAME CONF: prints otpgate.conf(5) in scdoc.
#
# CONF (etc/otpgate.conf) is the one source of what each key means, its
# default and its range: the page takes its DESCRIPTION from the file's
# opening comment and, section by section, each key (or group of keys
# written one after the other) with its default and the comment above it.
# FRAME (man/otpgate.conf.5.scd.in) is the rest of the page, with a line
# @PREAMBLE@ and a line @KEYS@ where those go.
#
# The file's layout, which etc/otpgate.conf keeps: a comment line is "; "
# and text (";" alone ends a paragraph), a key is ";name = default" (no
# space after ';'), a section is "[name]". tests/check_confdoc checks that
# every key of src/conf.c is in both, with its default and range.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 FRAME CONF" >&2; exit 2; }
frame=$1 conf=$2
[ -r "$frame" ] && [ -r "$conf" ] || { echo "$0: cannot read $frame or $conf" >&2; exit 1; }

awk -v conf="$conf" '
# scdoc formatting characters, taken literally.
function esc(s) {
  gsub(/\\/, "\\\\", s)
  gsub(/\*/, "\\\\*", s)
  gsub(/_/, "\\\\_", s)
  return s
}
function add_text(t) {
  if (t == "") {                  # ";" alone: a paragraph ends
    if (para != "") { paras[npara++] = para; para = "" }
  } else {
    para = (para == "") ? t : para " " t
  }
}
function take_paras(indent,    out, i) {
  if (para != "") { paras[npara++] = para; para = "" }
  out = ""
  for (i = 0; i < npara; i++)
    out = out (i ? "\n\n" : "") indent esc(paras[i])
  npara = 0
  return out
}
function flush_keys() {
  if (nkeys == 0) return
  if (npara == 0 && para == "") {
    printf "%s: line %d: key %s has no comment above it\n", conf, FNR, keys[0] > "/dev/stderr"
    failed = 1
  }
  for (i = 0; i < nkeys; i++)
    body = body keys[i] (i < nkeys - 1 ? "++" : "") "\n"
  body = body take_paras("\t") "\n\n"
  nkeys = 0
}
FILENAME == conf {
  line = $0
  sub(/[ \t\r]+$/, "", line)
  if (line ~ /^\[[a-z_]+\]$/) {
    flush_keys()
    if (!insection) preamble = take_paras("")
    insection = 1
    body = body "## " line "\n\n"
    next
  }
  if (line ~ /^;[a-z_]+ *=/) {
    if (!insection) { printf "%s: line %d: a key before any section\n", conf, FNR > "/dev/stderr"; failed = 1 }
    name = line; sub(/^;/, "", name); sub(/ *=.*/, "", name)
    value = line; sub(/^;[a-z_]+ *= */, "", value)
    keys[nkeys++] = "*" esc(name) "* = " (value == "" ? "_(empty)_" : esc(value))
    count++
    next
  }
  flush_keys()
  if (line == ";") { add_text(""); next }
  if (line ~ /^; /) { t = line; sub(/^; +/, "", t); add_text(t); next }
  if (line == "") next
  printf "%s: line %d: not a comment, key or section: %s\n", conf, FNR, line > "/dev/stderr"
  failed = 1
  next
}
{
  if (!done) { flush_keys(); done = 1
    if (count == 0) { printf "%s: no keys\n", conf > "/dev/stderr"; failed = 1 } }
  if ($0 == "@PREAMBLE@") printf "%s\n", preamble
  else if ($0 == "@KEYS@") printf "%s", body
  else print
}
END { exit failed }
' "$conf" "$frame"
