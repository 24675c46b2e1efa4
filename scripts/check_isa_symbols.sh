#!/usr/bin/env bash
# Checks the ODR hazard of the per-ISA CPU loops (ops/cpu/isa.h) on the built libraries.
#
# The loop sources are compiled once per ISA variant (base, avx2, avx512), one static archive
# each, and all three sets of objects are linked into libunravel.so (link_whole).
# A weak (COMDAT) symbol — an inline function or template
# instantiation — that two objects define under the same mangled name is kept ONCE by the
# linker, so if an avx512 object's copy contained AVX-512 instructions, baseline code could end
# up running it (SIGILL on an AVX2 machine), or an avx512 loop could run a baseline copy.
# Our own kernel headers therefore put everything in a per-variant namespace, and std::, fmt::
# and engine/ code keeps the baseline target. This script verifies both on the archives:
#
#  1. every code symbol (T/t/W) a variant defines either carries its own namespace in its
#     mangled name (isa_<variant>, also as part of a template argument: then no other object
#     can define that name) or — when it does not, i.e. may be shared with any other object —
#     contains no instruction beyond the baseline ISA (checked on the disassembly: VEX/EVEX
#     encodings, the 0F38/0F3A opcode maps, POPCNT/LZCNT/TZCNT/MOVBE, SSE3...);
#  2. no variant's objects name another variant's namespace, and the baseline objects (the rest of
#     libunravel.so, libunravel_vae.a) define no isa_* symbol;
#  3. no strong (T) symbol outside the variant namespace is defined twice (a link error anyway);
#  4. (--linked) in the linked shared library, after the linker merged the COMDAT copies, every
#     function outside the avx2 / avx512 namespaces stays within the baseline ISA, and every
#     variant's kernel_table is there.
# It also reports how many of the non-namespaced weak symbols the baseline code really defines
# too (the COMDATs the linker merges).
#
# Usage: check_isa_symbols.sh [-v] --baseline LEVEL --variant NAME=LIB... [--other LIB|DIR]...
#                             [--linked LIB.so]
#   LEVEL: the baseline code's -march: x86-64 (the default build), x86-64-v2, x86-64-v3 (with
#          -Dcpu_isa=...); for x86-64-v4 or anything else (e.g. native) step 1's instruction check
#          is skipped and steps 2-3 still run.
#   --other LIB|DIR: an archive or a folder of objects of baseline code (libunravel.so.p,
#          libunravel_vae.a).
#   --linked LIB.so: the shared library the variants are linked into (check 4).
set -euo pipefail

verbose=0
baseline=x86-64
variants=()
others=()
linked=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -v) verbose=1 ;;
    --baseline) baseline="$2"; shift ;;
    --variant) variants+=("$2"); shift ;;
    --other) others+=("$2"); shift ;;
    --linked) linked="$2"; shift ;;
    *) echo "check_isa_symbols: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[[ ${#variants[@]} -gt 0 ]] || { echo "check_isa_symbols: no --variant given" >&2; exit 2; }

case "$baseline" in
  x86-64|'') level=0 ;;
  x86-64-v2) level=1 ;;
  x86-64-v3) level=2 ;;
  x86-64-v4) level=3 ;;
  *) level=-1 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# Defined symbols of an archive, an object or a folder of objects as "name type" lines (one per
# definition).
defs() {
  if [[ -d "$1" ]]; then
    find "$1" -name '*.o' -print0 | xargs -0 -r nm -P --defined-only 2>/dev/null
  else
    nm -P --defined-only "$1" 2>/dev/null
  fi | awk 'NF >= 2 && $1 !~ /:$/ {print $1, $2}'
}

# Mangled form of a namespace name as it appears inside symbols: <length><name>.
mangled_ns() { local n="isa_$1"; echo "${#n}${n}"; }

all_ns_re=""
for v in "${variants[@]}"; do
  name=${v%%=*}
  all_ns_re+="${all_ns_re:+|}$(mangled_ns "$name")"
done

# Definitions by baseline (non-variant) code: the --other archives and folders.
: > "$tmp/other_all"
for o in "${others[@]}"; do defs "$o" >> "$tmp/other_all"; done
awk '{n[$1]++} END {for (s in n) print s, n[s]}' "$tmp/other_all" > "$tmp/baseline_defs"

# Check 2b: baseline code defines no variant-namespace symbol.
if [[ -n "$all_ns_re" ]]; then
  bad=$(grep -E "$all_ns_re" "$tmp/baseline_defs" | head -5 || true)
  if [[ -n "$bad" ]]; then
    echo "FAIL: baseline code (outside the variants' objects) defines ISA-namespace symbols:"
    echo "$bad" | sed 's/^/  /'
    fail=1
  fi
fi

# Instruction-set level an instruction needs (0 = x86-64 baseline ... 3 = x86-64-v4), from the
# raw bytes and mnemonic of an `objdump -d` line.
cat > "$tmp/level.awk" <<'AWK'
function insn_level(bytes, mnem,    b, n, i, op) {
  n = split(bytes, b, " ")
  i = 1
  while (i <= n && b[i] ~ /^(66|67|f2|f3|f0|2e|3e|26|36|64|65|4[0-9a-f])$/) i++
  op = b[i]
  if (op == "62") return 3                        # EVEX: AVX-512
  if (op == "c4" || op == "c5") return 2          # VEX: AVX, AVX2, FMA, BMI1/2, F16C
  if (mnem ~ /^(movbe|lzcnt|tzcnt)$/) return 2
  if (op == "0f" && (b[i + 1] == "38" || b[i + 1] == "3a")) return 1   # SSSE3, SSE4.1/4.2
  if (mnem ~ /^(popcnt|addsubp[sd]|haddp[sd]|hsubp[sd]|lddqu|movddup|movshdup|movsldup|fisttp[sl]?|cmpxchg16b|lahf|sahf|monitor|mwait)$/) return 1
  return 0
}
AWK

total_fail_insn=0
for v in "${variants[@]}"; do
  name=${v%%=*}; lib=${v#*=}
  ns=$(mangled_ns "$name")
  defs "$lib" > "$tmp/$name.defs"
  # Check 2a: no other variant's namespace in this variant's symbols.
  for w in "${variants[@]}"; do
    other=${w%%=*}
    [[ "$other" == "$name" ]] && continue
    ons=$(mangled_ns "$other")
    if grep -q "$ons" "$tmp/$name.defs"; then
      echo "FAIL: variant $name ($lib) defines symbols of namespace isa_$other:"
      grep "$ons" "$tmp/$name.defs" | head -3 | sed 's/^/  /'
      fail=1
    fi
  done
  # Code symbols without this variant's namespace: may be shared with any other object.
  awk -v ns="$ns" '($2 == "W" || $2 == "T") && index($1, ns) == 0 {print $1, $2}' \
    "$tmp/$name.defs" | sort -u > "$tmp/$name.free"
  n_code=$(awk '$2 ~ /^[TtW]$/' "$tmp/$name.defs" | wc -l)
  n_weak=$(awk '$2 == "W"' "$tmp/$name.defs" | wc -l)
  n_free=$(wc -l < "$tmp/$name.free")
  # Check 3: strong symbols outside the namespace (would be multiple definitions).
  strong=$(awk '$2 == "T"' "$tmp/$name.free" | head -5)
  if [[ -n "$strong" ]]; then
    echo "FAIL: variant $name defines strong symbols outside namespace isa_$name:"
    echo "$strong" | sed 's/^/  /'
    fail=1
  fi
  n_shared=$(awk 'FNR == NR {b[$1] = 1; next} ($1 in b)' "$tmp/baseline_defs" "$tmp/$name.free" | wc -l)
  # Check 1: the disassembly of every such symbol stays within the baseline level.
  hits=0
  if [[ $level -ge 0 && $level -lt 3 ]]; then
    cat "$tmp/level.awk" - > "$tmp/scan.awk" <<'AWK'
      FNR == NR {free[$1] = 1; next}
      /^[0-9a-f]+ <.*>:$/ {
        sym = $2; sub(/^</, "", sym); sub(/>:$/, "", sym)
        check = (sym in free); next
      }
      check && /^ *[0-9a-f]+:\t/ {
        split($0, f, "\t")
        mnem = f[3]; sub(/^ +/, "", mnem); split(mnem, m, " ")
        lv = insn_level(f[2], m[1])
        if (lv > maxlevel) {
          bad[sym]++
          if (!(sym in first)) first[sym] = m[1]
        }
      }
      END {
        for (s in bad) { printf "%s %d %s\n", s, bad[s], first[s] }
      }
AWK
    objdump -d -w "$lib" 2>/dev/null |
      awk -v maxlevel="$level" -f "$tmp/scan.awk" "$tmp/$name.free" - > "$tmp/$name.hits"
    hits=$(wc -l < "$tmp/$name.hits")
  fi
  echo "variant $name: $n_code code symbols ($n_weak weak/COMDAT); $n_free outside namespace" \
       "isa_$name (may be merged with any other object's copy; $n_shared of them are also" \
       "defined by the baseline libraries); $( [[ $level -ge 0 && $level -lt 3 ]] && echo "$hits of those contain instructions beyond $baseline" || echo "instruction check skipped for baseline '$baseline'")"
  if [[ $hits -gt 0 ]]; then
    echo "FAIL: symbols of variant $name outside its namespace with instructions beyond $baseline:"
    while read -r s c m; do
      echo "  $(echo "$s" | c++filt) — $c instructions, first: $m"
    done < <(head -20 "$tmp/$name.hits")
    fail=1
  fi
  if [[ $verbose -eq 1 ]]; then
    echo "  outside the namespace (demangled; * = also defined by baseline libraries):"
    awk 'FNR == NR {b[$1] = 1; next} {print (($1 in b) ? "* " : "  ") $1}' \
      "$tmp/baseline_defs" "$tmp/$name.free" | c++filt | sed 's/^/    /'
  fi
done

# Check 4: the linked library. The linker kept one copy of every COMDAT; whatever it picked, no
# function outside the avx2 / avx512 namespaces may use more than the baseline ISA.
if [[ -n "$linked" ]]; then
  vec_re=""
  nm -P --defined-only "$linked" > "$tmp/linked.defs"
  for v in "${variants[@]}"; do
    name=${v%%=*}
    grep -q "$(mangled_ns "$name")12kernel_tableEv" "$tmp/linked.defs" || {
      echo "FAIL: $linked lacks the kernel table of variant $name"; fail=1; }
    [[ "$name" == base ]] || vec_re+="${vec_re:+|}$(mangled_ns "$name")"
  done
  if [[ $level -ge 0 && $level -lt 3 ]]; then
    cat "$tmp/level.awk" - > "$tmp/linked.awk" <<'AWK'
      /^[0-9a-f]+ <.*>:$/ {
        sym = $2; sub(/^</, "", sym); sub(/>:$/, "", sym)
        check = (nsre == "" || sym !~ nsre); if (check) nsyms++; next
      }
      check && /^ *[0-9a-f]+:\t/ {
        split($0, f, "\t")
        mnem = f[3]; sub(/^ +/, "", mnem); split(mnem, m, " ")
        if (insn_level(f[2], m[1]) > maxlevel) { bad[sym]++; if (!(sym in first)) first[sym] = m[1] }
      }
      END {
        for (s in bad) printf "%s %d %s\n", s, bad[s], first[s]
        printf "%d\n", nsyms > "/dev/stderr"
      }
AWK
    objdump -d -w "$linked" 2>/dev/null |
      awk -v maxlevel="$level" -v nsre="$vec_re" -f "$tmp/linked.awk" > "$tmp/linked.hits" \
        2> "$tmp/linked.n"
    lhits=$(wc -l < "$tmp/linked.hits")
    echo "linked $(basename "$linked"): $(cat "$tmp/linked.n") functions outside the avx2/avx512" \
         "namespaces; $lhits of them contain instructions beyond $baseline"
    if [[ $lhits -gt 0 ]]; then
      echo "FAIL: functions of $linked outside the vector variants' namespaces with instructions beyond $baseline:"
      while read -r s c m; do
        echo "  $(echo "$s" | c++filt) — $c instructions, first: $m"
      done < <(head -20 "$tmp/linked.hits")
      fail=1
    fi
  fi
fi

if [[ $fail -ne 0 ]]; then
  echo "check_isa_symbols: FAILED"
  exit 1
fi
echo "check_isa_symbols: OK"
