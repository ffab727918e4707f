#!/usr/bin/env bash
# The installed package as a user meets it: build the wheel, install it with the book
# extra into a fresh venv (pinned by the constraints file), then work from a temporary
# folder outside the repository:
#   - the wheel holds exactly the tracked files of the package, plan, book and dictionary;
#   - validate the folder `simulate` wrote; run the packaged default plan (two analyses);
#   - `init` an editable copy, run its plan (cut to quick settings) and build the packaged
#     book and the copy's book; nothing may be written into the repository.
# Run by `make installed-check` (and so by .ci/run). Usage: check_installed.sh PYTHON
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
python="${1:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
before="$(git -C "$repo" status --porcelain --untracked-files=all)"
t0=$SECONDS
step() { printf '[installed-check %4ds] %s\n' "$((SECONDS - t0))" "$*"; }

step "build the wheel"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$repo"
wheel="$(ls "$work"/dist/soteria_eval-*.whl)"
"$python" - "$wheel" "$repo" <<'PY'
import subprocess, sys, zipfile
wheel, repo = sys.argv[1], sys.argv[2]
names = {n for n in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in n}
tracked = subprocess.run(["git", "-C", repo, "ls-files", "soteria_eval", "analyses", "book", "data_dictionary"],
                         capture_output=True, text=True, check=True).stdout.split()
where = {"analyses": "soteria_eval/_analyses", "book": "soteria_eval/_book",
         "data_dictionary": "soteria_eval/_data_dictionary"}
want = {where.get(f.split("/")[0], f.split("/")[0]) + f[len(f.split("/")[0]):] for f in tracked}
extra, missing = sorted(names - want), sorted(want - names)
assert not extra and not missing, f"wheel differs from the tracked files: extra {extra[:10]}, missing {missing[:10]}"
print(f"wheel holds the {len(names)} tracked files")
PY

step "install it into a fresh venv"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet -c "$repo/requirements/constraints.txt" "${wheel}[book]"
bin="$work/venv/bin"
cd "$work"
mkdir user && cd user

step "import time of the README's import"
"$bin/python" -c "import time; t=time.perf_counter(); from soteria_eval.did import twfe; print(f'from soteria_eval.did import twfe: {time.perf_counter()-t:.2f} s')"

step "simulate and validate a small data folder"
"$bin/soteria-eval" simulate --out data --scale 0.05 --seed 7
"$bin/soteria-eval" validate data >/dev/null

step "run the packaged default plan (two analyses)"
"$bin/soteria-eval" run --data data --out quick --only published_outcomes --only volume --quiet
"$bin/python" - <<'PY'
import json
m = json.load(open("quick/manifest.json"))
assert m["plan_source"] == "packaged default", m["plan"]
assert m["installed_from"] == "installed package"
roles = {(i["role"], i["source"]) for i in m["inputs"]}
assert ("published_outcomes", "bundled") in roles and ("panel", "user") in roles, roles
print("manifest:", m["plan_source"], "plan;", len(m["inputs"]), "inputs by role")
PY

step "init an editable copy and run its plan (quick settings)"
"$bin/soteria-eval" init ws >/dev/null
test -f ws/analyses/plan.yaml && test -f ws/book/_config.yml
sed -i -e 's/reps: 1000/reps: 60/' -e 's/reps_slow: 200/reps_slow: 12/' -e 's/seeds: 200/seeds: 2/' \
       -e '/id: recovery/,/id: placebo/ s/jobs: 2/jobs: 1\n      scale: 0.05\n      draws: 49/' \
       -e 's/draws: 1000/draws: 40/' -e 's/boot: 399/boot: 19/' ws/analyses/plan.yaml
grep -q "draws: 40" ws/analyses/plan.yaml && grep -q "scale: 0.05" ws/analyses/plan.yaml
"$bin/soteria-eval" run --plan ws/analyses/plan.yaml --data data --out results --quiet

step "build the packaged book"
"$bin/soteria-eval" book --results results --out site
test -f site/index.html

step "build the copy's book (with an edited page)"
printf '\nEdited by the installed-package check.\n' >> ws/book/limitations.md
"$bin/soteria-eval" book --book-dir ws/book --results results --out site2
grep -q "Edited by the installed-package check" site2/limitations.html
test ! -e ws/book/_build && test ! -e ws/book/_generated

after="$(git -C "$repo" status --porcelain --untracked-files=all)"
[ "$before" = "$after" ] || { echo "the repository changed:"; diff <(echo "$before") <(echo "$after"); exit 1; }
step "ok: nothing written outside the temporary folder"
