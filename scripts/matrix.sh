#!/usr/bin/env bash
# The ansible-core version matrix: sanity, units and functional tests per version.
#   scripts/matrix.sh              all of 2.17 2.18 2.19 2.20 2.21
#   scripts/matrix.sh 2.17 2.21    the oldest and the newest (what `make test` runs)
#   MATRIX_PARTS="functional" scripts/matrix.sh 2.20    some parts only (sanity units functional)
#   MATRIX_REPORT_ONLY=1 scripts/matrix.sh ...          only the table, from the results of earlier runs
#
# The sessions are noxfile.py's (one per version, Python per version there).
# nox itself is installed, pinned, into .nox/_nox/ on the first run; each
# version's environment lives in .nox/ansible-core-<version>/ and is reused
# while tests/constraints/ does not change. MATRIX_ENVDIR puts the
# environments elsewhere (e.g. a directory that outlives a fresh clone).
#
# Prints version x Python x part -> passed/failed and seconds, also written to
# build/matrix/summary.md. Exit status non-zero when any part failed or did not run.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
NOX_VERSION=2026.10.20
all=(2.17 2.18 2.19 2.20 2.21)
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=("${all[@]}")
for v in "${versions[@]}"; do
  case " ${all[*]} " in *" $v "*) ;; *) echo "matrix.sh: unknown ansible-core version $v (known: ${all[*]})" >&2; exit 2;; esac
done
read -r -a parts <<<"${MATRIX_PARTS:-sanity units functional}"
envdir="${MATRIX_ENVDIR:-$repo/.nox}"
out="$repo/build/matrix"

# --- nox, pinned, in its own venv (not .venv: requirements-test.txt is frozen) ----------
tool="$envdir/_nox"
if [ ! -x "$tool/bin/nox" ] || [ ! -e "$tool/.stamp-$NOX_VERSION" ]; then
  rm -rf "$tool"
  python3 -m venv "$tool"
  "$tool/bin/pip" install --quiet --disable-pip-version-check "nox==$NOX_VERSION"
  touch "$tool/.stamp-$NOX_VERSION"
fi

# --- the sessions --------------------------------------------------------------------------
started=$(date +%s)
status=0
if [ -z "${MATRIX_REPORT_ONLY:-}" ]; then
  rm -rf "$out/results"
  mkdir -p "$out"
  sessions=()
  for v in "${versions[@]}"; do sessions+=("ansible-core-$v"); done
  "$tool/bin/nox" --envdir "$envdir" --no-color -s "${sessions[@]}" -- "${parts[@]}" || status=$?
fi
elapsed=$(( $(date +%s) - started ))

# --- the table -----------------------------------------------------------------------------
python3 - "$out" "$elapsed" "${parts[*]}" "${versions[@]}" <<'PY' || status=1
import json, os, sys

out, elapsed, parts, versions = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4:]
results = {}
for name in os.listdir(os.path.join(out, "results")) if os.path.isdir(os.path.join(out, "results")) else []:
    with open(os.path.join(out, "results", name), encoding="utf-8") as fh:
        r = json.load(fh)
    results[(r["version"], r["part"])] = r

lines = ["| ansible-core | Python | set-up | " + " | ".join(parts) + " |",
         "|---|---|---|" + "---|" * len(parts)]
bad = 0
for v in versions:
    setup = results.get((v, "setup"))
    python = setup["python"] if setup else "?"
    cells = []
    for part in parts:
        r = results.get((v, part))
        if r is None:
            bad += 1
            cells.append("not run")
        else:
            bad += not r["passed"]
            cells.append("%s %.0f s" % ("passed" if r["passed"] else "**FAILED**", r["seconds"]))
    lines.append("| %s | %s | %s | %s |" % (v, python, "%.0f s" % setup["seconds"] if setup else "failed",
                                           " | ".join(cells)))
lines.append("")
lines.append("%d of %d parts passed; %d s in all (scripts/matrix.sh %s)."
             % (len(versions) * len(parts) - bad, len(versions) * len(parts), elapsed, " ".join(versions)))
text = "\n".join(lines) + "\n"
with open(os.path.join(out, "summary.md"), "w", encoding="utf-8") as fh:
    fh.write(text)
print()
print(text, end="")
sys.exit(1 if bad else 0)
PY
exit "$status"
