#!/usr/bin/env bash
# Run Django's own test suites for the ORM write paths, unmodified, with every plain
# models.Manager handing out bulk_triggers' TriggerQuerySet.
#
#   tests/compat/run.sh              # SQLite (the CI step)
#   tests/compat/run.sh postgresql   # opt-in: PostgreSQL at 127.0.0.1:5432
#   tests/compat/run.sh mysql        # opt-in: MariaDB/MySQL at 127.0.0.1:3306
#   tests/compat/run.sh [VENDOR] --with-triggers
#   tests/compat/run.sh [VENDOR] [--with-triggers] LABEL ...
#       only the named suites (each one of SUITES or a module/class/test inside one)
#       opt-in second pass: a catch-all trigger on every test model, so that the writes
#       go through the trigger engine; assertNumQueries reports instead of failing
#       (triggers cost queries by design); see compat_settings/triggers.py
#
# Environment:
#   COMPAT_PARALLEL   worker processes for runtests.py (default 2)
#   COMPAT_PYTHON     interpreter to build the venv with (default: see find_python)
#   BULK_TRIGGERS_DB_SUFFIX  suffix of the server databases' names (default _compat)
#   BULK_TRIGGERS_PG_* / BULK_TRIGGERS_MYSQL_*  server coordinates, as for the main suite
#
# Everything downloaded or built lives in .compat/ (gitignored) and is reused: the venv
# is rebuilt only when the pinned Django version or the interpreter changes.
set -euo pipefail

# The newest Django series bulk_triggers supports, at its latest release (bump it when a
# 6.1.x or a newer supported series comes out: the suites below exist since Django 4.2).
DJANGO_VERSION=6.1.3
MIN_PYTHON=3.12
SUITES=(
    bulk_create
    update
    delete
    delete_regress
    queries.test_bulk_update
    basic
    get_or_create
    save_delete_hooks
    proxy_models
    select_for_update
    model_inheritance
    async
    generic_relations
    many_to_many
    m2m_through
    m2m_regress
    one_to_one
    model_inheritance_regress
    composite_pk
    admin_views.tests.AdminViewDeletedObjectsTest
    admin_views.test_actions
)

VENDOR=sqlite
export COMPAT_TRIGGERS=0
LABELS=()
for arg in "$@"; do
    case "$arg" in
        sqlite | postgresql | mysql) VENDOR=$arg ;;
        --with-triggers) COMPAT_TRIGGERS=1 ;;
        [a-z]*) LABELS+=("$arg") ;;
        *)
            echo "usage: $0 [sqlite|postgresql|mysql] [--with-triggers] [LABEL ...]" >&2
            exit 2
            ;;
    esac
done
# Labels narrow the run to some of the suites (a new label on a server vendor, say); each
# must be one of SUITES or inside one, so that the pass never tests what CI does not.
if ((${#LABELS[@]})); then
    for label in "${LABELS[@]}"; do
        known=0
        for suite in "${SUITES[@]}"; do
            if [[ $label == "$suite" || $label == "$suite".* ]]; then
                known=1
            fi
        done
        if ((!known)); then
            echo "compat: ERROR: $label is not one of the suites: ${SUITES[*]}" >&2
            exit 2
        fi
    done
    SUITES=("${LABELS[@]}")
fi
MODE="no trigger"
LOG_NAME=$VENDOR
if [[ $COMPAT_TRIGGERS == 1 ]]; then
    MODE="with catch-all triggers"
    LOG_NAME=$VENDOR-triggers
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK="$ROOT/.compat"
VENV="$WORK/venv"
SOURCE="$WORK/django-$DJANGO_VERSION"
LOG="$WORK/$LOG_NAME.log"
PARALLEL=${COMPAT_PARALLEL:-2}
export BULK_TRIGGERS_DB_SUFFIX=${BULK_TRIGGERS_DB_SUFFIX:-_compat}

say() { echo "compat: $*"; }
die() {
    echo "compat: ERROR: $*" >&2
    exit 1
}

# Print a command that runs Python >= MIN_PYTHON, preferring pyenv's pinned builds.
find_python() {
    local candidate
    local -a candidates=(
        "env PYENV_VERSION=3.13.0 python3.13"
        "env PYENV_VERSION=3.12.1 python3.12"
        python3.14 python3.13 python3.12 python3
    )
    if [[ -n "${COMPAT_PYTHON:-}" ]]; then
        candidates=("$COMPAT_PYTHON")
    fi
    for candidate in "${candidates[@]}"; do
        # shellcheck disable=SC2086  # the candidate is a command line on purpose
        if $candidate -c "import sys; sys.exit(sys.version_info < (${MIN_PYTHON/./, }))" \
            >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

build_venv() {
    local python stamp wanted
    local tried="pyenv 3.13.0 and 3.12.1, then python3.14/3.13/3.12/python3 on PATH"
    python=$(find_python) || die "Django $DJANGO_VERSION needs Python >= $MIN_PYTHON;" \
        "none found (tried ${COMPAT_PYTHON:-$tried}; set COMPAT_PYTHON to choose one)"
    # shellcheck disable=SC2086
    wanted="django=$DJANGO_VERSION python=$($python -c 'import sys; print(sys.version.split()[0])')"
    stamp="$VENV/.compat-stamp"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
        return 0
    fi
    say "building $VENV ($wanted)"
    rm -rf "$VENV"
    mkdir -p "$WORK"
    # shellcheck disable=SC2086
    $python -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "Django==$DJANGO_VERSION" tblib -e "$ROOT"
    echo "$wanted" >"$stamp"
}

# The database driver is installed on first use of a server vendor only.
install_driver() {
    local module package
    case "$VENDOR" in
        postgresql) module=psycopg package="psycopg[binary]>=3.1" ;;
        mysql) module=MySQLdb package="mysqlclient>=2.2" ;;
        *) return 0 ;;
    esac
    if ! "$VENV/bin/python" -c "import $module" >/dev/null 2>&1; then
        say "installing $package"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$package"
    fi
}

# Django's test suite ships only in the source distribution, not in the wheel.
fetch_tests() {
    local archive="$WORK/django-$DJANGO_VERSION.tar.gz"
    if [[ -f "$SOURCE/tests/runtests.py" ]]; then
        return 0
    fi
    if [[ ! -f "$archive" ]]; then
        say "downloading Django $DJANGO_VERSION's source distribution"
        "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check \
            --no-deps --no-binary :all: --dest "$WORK" "Django==$DJANGO_VERSION"
    fi
    [[ -f "$archive" ]] || die "pip download did not produce $archive"
    rm -rf "$SOURCE"
    tar -xzf "$archive" -C "$WORK"
    [[ -f "$SOURCE/tests/runtests.py" ]] || die "$archive has no tests/runtests.py"
}

# Read runtests.py's closing lines and the runner's; print the summary; fail unless green.
summarize() {
    local status=$1 seconds=$2 ran outcome skipped expected unexpected failing tolerated
    local passed differences
    grep -q '^compat: [0-9]* managers hand out TriggerQuerySet' "$LOG" ||
        die "the run never confirmed that managers hand out TriggerQuerySet; see $LOG"
    ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' "$LOG" | tail -n 1)
    outcome=$(grep -E '^(OK|FAILED)( \(|$)' "$LOG" | tail -n 1 || true)
    [[ -n "$ran" && -n "$outcome" ]] ||
        die "runtests.py exited $status without its closing lines; see $LOG"
    count() { sed -n "s/.*[(, ]$1=\([0-9]*\).*/\1/p" <<<"$outcome"; }
    skipped=$(count skipped) expected=$(count "expected failures")
    unexpected=$(count "unexpected successes")
    skipped=${skipped:-0} expected=${expected:-0} unexpected=${unexpected:-0}
    # Distinct tests: a test whose subtests fail is one failing test.
    failing=$(sed -nE 's/^(ERROR|FAIL): [^ ]+ \(([^)]*)\).*/\2/p' "$LOG" | sort -u | wc -l)
    tolerated=$(sed -nE 's/^compat:   tolerated \([a-z ]+\): ([^ ]+).*/\1/p' "$LOG" | sort -u | wc -l)
    # Workers write these between unittest's progress dots: do not anchor at line start.
    differences=$(grep -c 'compat: query count: ' "$LOG" || true)
    passed=$((ran - skipped - expected - unexpected - failing))
    say "Django $DJANGO_VERSION on $VENDOR, $MODE, ${#SUITES[@]} suites, ${seconds}s:" \
        "ran $ran tests: $passed passed, $skipped skipped, $expected expected failures," \
        "$((failing - tolerated)) failed, $unexpected unexpected successes"
    if [[ $COMPAT_TRIGGERS == 1 ]]; then
        grep -q '^compat: with triggers, ' "$LOG" ||
            die "runtests.py exited $status before the runner judged the failures; see $LOG"
        say "  $tolerated tests fail only because they read the statements one by one" \
            "(tolerated); assertNumQueries saw a different count $differences times (in $LOG)"
    fi
    if [[ "$status" -ne 0 || ($COMPAT_TRIGGERS == 0 && "$outcome" != OK*) ]]; then
        # Each failure's traceback, as runtests.py printed it, capped for the console.
        sed -n '/^======/,/^Ran [0-9]/p' "$LOG" | awk 'NR <= 400' # awk: no SIGPIPE
        grep -E '^(ERROR|FAIL|UNEXPECTED SUCCESS):' "$LOG" | sed 's/^/compat:   /' || true
        echo "compat: $passed passed, $((failing - tolerated + unexpected)) failed, $skipped skipped"
        die "Django's suites fail with TriggerQuerySet, $MODE (runtests.py exited $status);" \
            "see $LOG"
    fi
    echo "compat: $passed passed, 0 failed, $skipped skipped"
}

main() {
    local started status
    build_venv
    install_driver
    fetch_tests
    say "running Django $DJANGO_VERSION's ${SUITES[*]} on $VENDOR, $MODE" \
        "(--parallel $PARALLEL)"
    started=$SECONDS
    status=0
    (
        cd "$SOURCE/tests"
        PYTHONPATH="$ROOT/tests/compat" exec "$VENV/bin/python" runtests.py \
            --settings="compat_settings.$VENDOR" --parallel "$PARALLEL" --noinput "${SUITES[@]}"
    ) >"$LOG" 2>&1 || status=$?
    # The verbose log stays in .compat/; the console gets what a reader needs.
    grep -E '^(compat:|Testing against|Found|Ran|OK|FAILED)' "$LOG" | grep -v 'compat: query count: ' ||
        true
    summarize "$status" "$((SECONDS - started))"
}

main
