"""Smoke tests of ``python -m benchmarks``: the shape of its output and its statement counts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
N = 30
OPERATIONS = (
    "bulk_create",
    "bulk_update",
    "update_value",
    "update_pushdown",
    "update_f",
    "delete",
    "save_update",
    "save_create",
)
WITH_FLOOR = set(OPERATIONS)
COMMON = {"django", "none", "pair", "ten", "floor"}
EXTRA = {
    "bulk_update": {"fast"},
    "update_value": {"after", "pair_no_pushdown"},
    "update_pushdown": {"pair_no_pushdown"},
    "update_f": {"after"},
    "delete": {"after", "pair_no_pushdown", "after_no_pushdown", "bulk_hooks"},
    "save_update": {"pair_from_load", "lifecycle"},
}
PEERS = {"lifecycle", "bulk_hooks"}


def _env(tmp_path: Path, pythonpath: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "BULK_TRIGGERS_BENCH_DIR": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return env


def _in_benchmark(tmp_path: Path, code: str) -> Any:
    """Run ``code`` with the benchmark's Django settings; return the JSON it prints last."""
    script = "import django, json\ndjango.setup()\n" + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**_env(tmp_path), "DJANGO_SETTINGS_MODULE": "benchmarks.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _bench(
    tmp_path: Path, *args: str, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m benchmarks`` on SQLite, all files in ``tmp_path``; return the process."""
    env = _env(tmp_path, pythonpath)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--databases",
            "sqlite",
            "--output-dir",
            str(tmp_path),
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the whole benchmark once with tiny N and return its JSON and console output."""
    tmp_path = tmp_path_factory.mktemp("bench")
    done = _bench(tmp_path, "--sizes", str(N), "--repeat", "2")
    data: dict[str, Any] = json.loads((tmp_path / "benchmark.json").read_text())
    data["stdout"] = done.stdout
    data["files"] = sorted(path.name for path in tmp_path.iterdir())
    return data


def _measured(data: dict[str, Any], operation: str, variant: str) -> bool:
    return any(r["operation"] == operation and r["variant"] == variant for r in data["results"])


def _row(data: dict[str, Any], operation: str, variant: str) -> dict[str, Any]:
    (row,) = [r for r in data["results"] if r["operation"] == operation and r["variant"] == variant]
    return row


def test_every_operation_has_its_variants(run: dict[str, Any]) -> None:
    """Each operation has plain Django, the configurations, the floor and its own extras.

    The peers run where they are compared (installed with the bench extra): django-lifecycle
    for the save() loop of loaded rows, django-bulk-hooks for delete().
    """
    for operation in OPERATIONS:
        variants = {r["variant"] for r in run["results"] if r["operation"] == operation}
        skipped = {s["variant"] for s in run["skipped"] if s["operation"] == operation}
        assert not variants & skipped, operation
        assert variants | skipped == COMMON | EXTRA.get(operation, set()), operation
    # Only a peer is ever skipped, and never without its reason (in the console output too).
    for skip in run["skipped"]:
        assert skip["variant"] in PEERS and skip["reason"], skip
        assert skip["reason"] in run["stdout"]
    assert _measured(run, "save_update", "lifecycle")  # In the test extra.


def test_save_old_from_load_variant_reads_no_row(run: dict[str, Any]) -> None:
    """The SAVE_OLD_FROM_LOAD variant of the save() loop sends no SELECT; before+after does."""
    assert "SELECT" not in _row(run, "save_update", "pair_from_load")["statement_kinds"]
    assert _row(run, "save_update", "pair")["statement_kinds"]["SELECT"] == N


def test_rows_have_the_documented_fields(run: dict[str, Any]) -> None:
    """Every row carries its repetitions, median, ratios, statements and peak memory."""
    for row in run["results"]:
        assert row["db"] == "sqlite"
        assert row["n"] == N
        # --repeat 2; variants under 50 ms get three times as many rounds.
        short = sum(row["times"][:2]) / 2 < 0.05
        assert len(row["times"]) == (6 if short else 2), row["variant"]
        assert row["median_s"] > 0
        assert row["peak_kib"] > 0
        assert row["statements"] == sum(row["statement_kinds"].values())
        assert row["ratio_plain"] == pytest.approx(
            row["median_s"] / _row(run, row["operation"], "django")["median_s"]
        )
        has_floor = row["operation"] in WITH_FLOOR
        assert (row["ratio_floor"] is not None) == has_floor
    assert run["meta"]["limits"] == []  # Nothing is limited at N = 30.


def test_meta_names_the_run(run: dict[str, Any]) -> None:
    """The JSON says what the numbers depend on."""
    meta = run["meta"]
    assert meta["sizes"] == [N]
    assert meta["repeat"] == 2
    assert meta["chunk_size"] == 2000
    assert meta["databases"]["sqlite"].startswith("SQLite ")
    assert {"python", "django", "cpu", "date", "command"} <= set(meta)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_trigger_issues_plain_djangos_statements(run: dict[str, Any], operation: str) -> None:
    """The measured statements of the model without triggers are plain Django's, kind by kind."""
    assert (
        _row(run, operation, "none")["statement_kinds"]
        == _row(run, operation, "django")["statement_kinds"]
    )


@pytest.mark.parametrize(
    ("operation", "variant", "kinds"),
    [
        ("update_value", "django", {"UPDATE": 1}),
        ("update_f", "django", {"UPDATE": 1}),
        ("delete", "django", {"DELETE": 1, "transaction": 2}),
        ("save_update", "django", {"UPDATE": N}),
        ("save_create", "django", {"INSERT": N}),
        ("update_value", "floor", {"SELECT": 2, "UPDATE": 1, "transaction": 2}),
        ("update_pushdown", "django", {"UPDATE": 1}),
        ("update_pushdown", "floor", {"SELECT": 2, "UPDATE": 1, "transaction": 2}),
        # The count that decides to split, the key SELECT, Django's UPDATE, then the one
        # passing row's SELECT and UPDATE.
        ("update_pushdown", "pair", {"SELECT": 3, "UPDATE": 2, "transaction": 2}),
        # PUSHDOWN off: one locked SELECT of every row, one UPDATE (N is one chunk).
        ("update_pushdown", "pair_no_pushdown", {"SELECT": 1, "UPDATE": 1, "transaction": 2}),
        ("delete", "floor", {"SELECT": 1, "DELETE": 1, "transaction": 2}),
        ("bulk_update", "floor", {"SELECT": 1, "UPDATE": 1, "transaction": 2}),
        ("bulk_update", "fast", {"UPDATE": 1, "transaction": 2}),
        ("save_update", "floor", {"SELECT": N, "UPDATE": N, "transaction": 2 * N}),
        ("save_create", "floor", {"INSERT": N, "transaction": 2 * N}),
    ],
)
def test_statements_are_counted(
    run: dict[str, Any], operation: str, variant: str, kinds: dict[str, int]
) -> None:
    """Statement counts are measured per kind for code whose queries are known."""
    assert _row(run, operation, variant)["statement_kinds"] == kinds


@pytest.mark.parametrize("operation", ["bulk_update", "update_value", "update_f", "delete"])
def test_triggers_load_old_rows(run: dict[str, Any], operation: str) -> None:
    """With triggers, the engine's SELECT of the old rows shows in the statement counts."""
    assert _row(run, operation, "pair")["statement_kinds"].get("SELECT", 0) >= 1


def test_targets_are_checked(run: dict[str, Any]) -> None:
    """Each target of issue 14 gets a verdict and a detail naming the numbers.

    On SQLite, the after-only update's one statement per chunk is PostgreSQL's target
    (n/a, with the figure), and condition pushdown is its own operation (measured when
    the run has it).
    """
    targets = {t["target"]: t for t in run["targets"]}
    assert len(targets) == len(run["targets"]) == 13
    for name, target in targets.items():
        assert target["detail"], name
        if "on PostgreSQL" in name:
            assert target["met"] is None and target["detail"].startswith("PostgreSQL only"), name
        elif "ChangesTo" in name:
            pushdown = any(r["operation"] == "update_pushdown" for r in run["results"])
            assert (target["met"] is not None) == pushdown, name
        elif target["met"] is None:
            # Only a peer that did not run leaves a target without a verdict, saying why
            # (django-bulk-hooks is installed by make bench, not by the test extra).
            assert "no slower than" in name and target["detail"].startswith("skipped: "), name
        else:
            assert target["met"] in (True, False), name
    assert "no slower than django-bulk-hooks" in " ".join(targets)
    assert "no slower than django-lifecycle" in " ".join(targets)
    assert "Targets" in run["stdout"]
    assert "Load average" in run["stdout"]


def test_after_only_and_peer_variants_run(run: dict[str, Any]) -> None:
    """The after-only configuration and the peers' models do what their rows claim.

    django-lifecycle compares with the values as loaded: its save() loop issues plain
    Django's statements (each save in a transaction of its own). The after-only trigger needs
    no more statements than before+after.
    """
    lifecycle = dict(_row(run, "save_update", "lifecycle")["statement_kinds"])
    assert lifecycle.pop("transaction") == 2 * N
    assert lifecycle == _row(run, "save_update", "django")["statement_kinds"]
    if _measured(run, "delete", "bulk_hooks"):  # Where it installs (Django 5.2, Python 3.11+).
        assert _row(run, "delete", "bulk_hooks")["statement_kinds"].get("DELETE", 0) >= 1
    for operation in ("update_value", "update_f", "delete"):
        after, pair = _row(run, operation, "after"), _row(run, operation, "pair")
        assert after["statements"] <= pair["statements"], operation


def test_outputs_go_to_the_output_directory(run: dict[str, Any]) -> None:
    """A measuring run writes its JSON and Markdown (and chart, with matplotlib) to --output-dir."""
    assert {"benchmark.json", "benchmark.md"} <= set(run["files"])


def test_from_json_renders_markdown(run: dict[str, Any], tmp_path: Path) -> None:
    """An earlier JSON file renders as Markdown without measuring again."""
    source = tmp_path / "in.json"
    source.write_text(json.dumps({k: v for k, v in run.items() if k not in ("stdout", "files")}))
    page = tmp_path / "bench.md"
    _bench(tmp_path, "--from-json", str(source), "--markdown", str(page))
    text = page.read_text()
    assert "## Targets" in text
    assert "QuerySet.update(amount=F()+1)" in text


def test_chart_is_a_png(run: dict[str, Any], tmp_path: Path) -> None:
    """The chart is written as a PNG file (matplotlib comes with the bench extra)."""
    pytest.importorskip("matplotlib")
    source = tmp_path / "in.json"
    source.write_text(json.dumps({k: v for k, v in run.items() if k not in ("stdout", "files")}))
    chart = tmp_path / "bench.png"
    _bench(tmp_path, "--from-json", str(source), "--chart", str(chart))
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scale_check_counts_statements(tmp_path: Path) -> None:
    """The scale check reports peak memory and statements per size; more chunks, more statements."""
    _bench(tmp_path, "--scale", "2500", "--scale-base", "500")
    runs = json.loads((tmp_path / "benchmark.json").read_text())["scale"]["runs"]
    assert {(r["operation"], r["n"]) for r in runs} == {
        (op, n) for op in ("update_f", "delete") for n in (500, 2500)
    }
    for op in ("update_f", "delete"):
        small, large = sorted((r for r in runs if r["operation"] == op), key=lambda r: r["n"])
        assert small["peak_kib"] > 0
        assert large["statements"] > small["statements"]


def test_missing_peer_is_skipped_with_its_reason(tmp_path: Path) -> None:
    """A peer that does not import is reported as skipped, with why, never left out silently.

    ``--variants`` narrows the run to the comparison (plain Django stays, as the baseline).
    """
    blocked = tmp_path / "blocked"
    (blocked / "django_lifecycle").mkdir(parents=True)
    (blocked / "django_lifecycle" / "__init__.py").write_text(
        "raise ImportError('blocked by the test')\n"
    )
    page = tmp_path / "bench.md"
    done = _bench(
        tmp_path,
        "--sizes",
        "5",
        "--repeat",
        "1",
        "--no-memory",
        "--operations",
        "save_update,delete",
        "--variants",
        "pair,lifecycle,bulk_hooks",
        "--markdown",
        str(page),
        pythonpath=blocked,
    )
    data = json.loads((tmp_path / "benchmark.json").read_text())
    measured = {(r["operation"], r["variant"]) for r in data["results"]}
    skipped = {(s["operation"], s["variant"]): s["reason"] for s in data["skipped"]}
    assert measured | set(skipped) == {
        ("save_update", "django"),
        ("save_update", "pair"),
        ("save_update", "lifecycle"),
        ("delete", "django"),
        ("delete", "pair"),
        ("delete", "bulk_hooks"),
    }
    assert "blocked by the test" in skipped.pop(("save_update", "lifecycle"))
    assert set(skipped) <= {("delete", "bulk_hooks")}  # Not where it does not install.
    (target,) = [t for t in data["targets"] if "django-lifecycle" in t["target"]]
    assert target["met"] is None
    assert "blocked by the test" in target["detail"]
    assert "blocked by the test" in done.stdout
    assert "Skipped" in page.read_text()


def test_variant_sets_and_limits(tmp_path: Path) -> None:
    """Which variants run where: per operation, narrowed by --variants, capped by MAX_N."""
    result = _in_benchmark(
        tmp_path,
        """
        from benchmarks.operations import BY_NAME
        from benchmarks.variants import limited_rows, variants_of
        from benchmarks.run import _large_limits

        def names(op, n, wanted=None):
            return [v.name for v in variants_of(BY_NAME[op], n, wanted)]

        print(json.dumps({
            "bulk_update_10k": names("bulk_update", 10_000),
            "bulk_update_100k": names("bulk_update", 100_000),
            "delete_narrowed": names("delete", 1_000, ("after", "floor")),
            "limits": limited_rows([BY_NAME["bulk_update"], BY_NAME["delete"]], [1_000, 100_000]),
            "large": _large_limits([1_000, 100_000], 5, 1, False),
            "small": _large_limits([1_000, 10_000], 5, 1, False),
        }))
        """,
    )
    assert result["bulk_update_10k"] == ["django", "none", "fast", "pair", "ten", "floor"]
    assert result["bulk_update_100k"] == ["django", "fast", "pair", "ten"]
    assert result["delete_narrowed"] == ["django", "floor", "after"]
    assert len(result["limits"]) == 2
    assert all("bulk_update" in line and "10,000" in line for line in result["limits"])
    assert len(result["large"]) == 2 and "100,000" in result["large"][0]
    assert result["small"] == []


def test_targets_judge_statements_and_peers(tmp_path: Path) -> None:
    """The targets read the right rows: one statement per chunk on PostgreSQL, the peer's time."""
    result = _in_benchmark(
        tmp_path,
        """
        from benchmarks.report import rows_with_ratios
        from benchmarks.targets import check_targets

        def row(db, op, variant, seconds, kinds, n=10_000):
            return {
                "db": db, "operation": op, "n": n, "variant": variant, "median_s": seconds,
                "statements": sum(kinds.values()), "statement_kinds": kinds,
            }

        rows = []
        for db, after_kinds in (
            ("postgresql", {"UPDATE": 5, "transaction": 2}),
            ("mysql", {"SELECT": 5, "UPDATE": 5, "transaction": 2}),
        ):
            rows += [
                row(db, "update_value", "django", 0.01, {"UPDATE": 1}),
                row(db, "update_value", "floor", 1.0, {"SELECT": 2, "UPDATE": 1}),
                row(db, "update_value", "pair", 0.4, {"SELECT": 5, "UPDATE": 5}),
                row(db, "update_value", "after", 0.3, after_kinds),
                row(db, "delete", "django", 0.01, {"DELETE": 1}),
                row(db, "delete", "floor", 1.0, {"SELECT": 1, "DELETE": 1}),
                row(db, "delete", "pair", 0.9, {"SELECT": 5, "DELETE": 5}),
                row(db, "delete", "bulk_hooks", 0.6, {"SELECT": 1, "DELETE": 1}),
                row(db, "update_pushdown", "django", 0.1, {"UPDATE": 1}, n=100_000),
                row(db, "update_pushdown", "pair", 0.2, {"SELECT": 1, "UPDATE": 2}, n=100_000),
            ]
        skipped = [{
            "db": "mysql", "operation": "save_update", "n": 1_000, "variant": "lifecycle",
            "reason": "no such thing",
        }]
        rows += [
            row("mysql", "save_update", "django", 1.0, {"UPDATE": 1000}, n=1_000),
            row("mysql", "save_update", "pair", 1.5, {"UPDATE": 1000}, n=1_000),
            row("postgresql", "save_update", "django", 1.0, {"UPDATE": 1000}, n=1_000),
            row(
                "postgresql", "save_update", "pair", 1.5,
                {"UPDATE": 1000, "transaction": 2000}, n=1_000,
            ),
            row("postgresql", "save_update", "lifecycle", 1.1, {"UPDATE": 1000}, n=1_000),
        ]
        checked = check_targets(rows_with_ratios(rows), 2000, skipped)
        print(json.dumps([t.as_dict() for t in checked]))
        """,
    )
    by = {(t["db"], t["target"].split(":")[0]): t for t in result}

    def target(db: str, start: str) -> dict[str, Any]:
        (found,) = [t for (d, name), t in by.items() if d == db and name.startswith(start)]
        return found

    after = "QuerySet.update(amount=7) with an after trigger only"
    assert target("postgresql", after)["met"] is True
    assert target("mysql", after)["met"] is None
    assert "10 statements for 5 chunk(s)" in target("mysql", after)["detail"]
    assert target("postgresql", "QuerySet.update(amount=7) with before+after")["met"] is True
    peer = target("postgresql", "QuerySet.delete() with before+after")
    assert peer["met"] is False and "before+after 1.50x django-bulk-hooks" in peer["detail"]
    assert target("postgresql", "update(status=…)")["met"] is True
    assert "N = 100,000" in target("postgresql", "update(status=…)")["detail"]
    lifecycle = target("mysql", "save() loop, existing rows with before+after")
    assert lifecycle["met"] is None and "no such thing" in lifecycle["detail"]
    unlike = target("postgresql", "save() loop, existing rows with before+after")
    assert unlike["met"] is False
    assert "not like for like" in unlike["detail"] and "0 transaction" in unlike["detail"]
    assert target("mysql", "bulk_update with triggers")["detail"] == "not measured"


def test_pushdown_shares_times_every_route(tmp_path: Path) -> None:
    """``python -m benchmarks.pushdown_shares``, which the split shares quote, runs each way.

    The triggers must fire, and the forced routes must differ: statement counts, not times.
    """
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.pushdown_shares",
            "--databases",
            "sqlite",
            "--n",
            "2000",
            "--repeat",
            "1",
            "--shares",
            "1,100",
        ],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 * 4, done.stdout
    pattern = r"off +[0-9.]+ ms \(([0-9]+) st\) +split +[0-9.]+ ms \(([0-9]+) st\) +unsplit"
    for line in lines:
        found = re.search(pattern, line)
        assert found, line
        # The triggered path ran: more than Django's one statement, and the split (a
        # count, the locked key read, Django's write, then the passing rows) differs.
        off, split = int(found.group(1)), int(found.group(2))
        assert off > 1 and split != off, line
