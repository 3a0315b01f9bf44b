"""The README a newcomer reads (issue 62): short, true, every time in it generated from a measurement.

``common.reporting.readme`` renders the README's blocks (claims per paper, the commands' measured times) and
docs/status.md's tables; ``--check`` fails while any is stale; ``--time`` logs a command's wall time."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from common.reporting import readme
from common.reporting.cost_table import item_scripts
from common.running.roots import REPO_ROOT

LOG_HEAD = (
    "<!-- measurements -->\n| date | command | setting | wall_s | parts | code | machine |\n"
    "|---|---|---|---|---|---|---|\n"
)
# a duration as prose states it: "18 min", "157 s", "26.9 h", "3-minute", "about 80 s"
TIME = re.compile(r"\b\d+(?:[.,]\d+)?(?:\s?-\s?|\s)?(?:s|sec|seconds?|min|minutes?|h|hours?)\b", re.I)


def _without_blocks(text: str) -> str:
    return readme._BLOCK.sub("", text)


def test_readme_is_short_and_has_its_generated_blocks():
    text = readme.README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150, f"README.md has {len(text.splitlines())} lines; at most 150"
    for name in ("status", "timing"):
        assert f"<!-- generated:{name} -->" in text and f"<!-- /generated:{name} -->" in text
    status = readme.STATUS.read_text(encoding="utf-8")
    for name in ("items", "item_times"):
        assert f"<!-- generated:{name} -->" in status


def test_readme_states_no_time_by_hand():
    """Outside the generated blocks the README names no duration: a time typed by hand goes stale."""
    hits = TIME.findall(_without_blocks(readme.README.read_text(encoding="utf-8")))
    assert not hits, f"times typed by hand in README.md (generate them in common/reporting/readme.py): {hits}"


def test_time_pattern_on_hand_written_examples():
    assert TIME.findall("took 18 min, install about 80 s, 26.9 h; a 3-minute budget") == [
        "18 min",
        "80 s",
        "26.9 h",
        "3-minute",
    ]
    assert not TIME.findall("2 seeds, 31 items, 1M SAC steps, Python >= 3.10, --jobs 2, 2-core, 150 lines")


def test_readme_links_and_commands_point_at_what_exists():
    text = readme.README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    assert links
    missing = [t for t in links if not (REPO_ROOT / t).exists()]
    scripts = re.findall(r"\b(papers/\w+/\w+\.py)\b", text)
    assert scripts
    missing += [s for s in scripts if not (REPO_ROOT / s).exists()]
    assert not missing, f"README.md names files that do not exist: {missing}"
    for line in text.splitlines():  # a script is run with the venv's interpreter, never the system's python
        if re.search(r"(^|\s)python3? papers/", line):
            pytest.fail(f"README.md runs a script without the venv: {line.strip()}")


def test_read_log_parses_rows_and_rejects_a_short_row():
    text = (
        LOG_HEAD + "| 2026-11-27 | `./run_tests.sh` | fresh clone | 1080 | install 157 s | abc1234 | AMD |\n"
        "<!-- /measurements -->\n"
    )
    (row,) = readme.read_log(text)
    assert row == {
        "date": "2026-11-27",
        "command": "./run_tests.sh",
        "setting": "fresh clone",
        "wall_s": 1080.0,
        "parts": "install 157 s",
        "code": "abc1234",
        "machine": "AMD",
    }
    with pytest.raises(ValueError, match="7 expected"):
        readme.read_log(LOG_HEAD + "| 2026-11-27 | `x` | 5 |\n<!-- /measurements -->\n")
    with pytest.raises(ValueError, match="no <!-- measurements -->"):
        readme.read_log("no log here")


def test_measured_shows_the_newest_current_row_else_not_measured_yet():
    cmd = readme.Command("./run_tests.sh", "fresh clone", "tests", "2026-11-28", "tests changed")
    old = {
        "date": "2026-11-27",
        "command": "./run_tests.sh",
        "setting": "fresh clone",
        "wall_s": 1080.0,
        "parts": "",
        "code": "c1",
        "machine": "m",
    }
    other = {**old, "date": "2026-11-29", "setting": "working tree", "wall_s": 60.0}
    assert readme._measured(cmd, []).startswith(f"**{readme.NOT_MEASURED}**")
    said = readme._measured(cmd, [old, other])  # the only row in the setting predates the change
    assert said.startswith(
        f"**{readme.NOT_MEASURED}** on the current code (changed 2026-11-28: tests changed)"
    )
    assert "18.0 min (2026-11-27, c1, m)" in said
    new = [
        {**old, "date": "2026-11-28", "wall_s": 600.0, "code": "c2"},
        {**old, "date": "2026-11-30", "wall_s": 720.0, "code": "c3"},
    ]
    assert readme._measured(cmd, [old, *new, other]) == "**12.0 min (2026-11-30, c3, m)**"


def test_timing_block_states_each_command_once_and_every_profile():
    block = readme.timing_block(status_text_=LOG_HEAD + "<!-- /measurements -->\n")
    for c in readme.COMMANDS:
        assert block.count(f"`{c.command}`") == 1
    assert block.count(readme.NOT_MEASURED) >= len(readme.COMMANDS)
    for prof in ("smoke", "quick", "full"):
        assert re.search(rf"^\| {prof}\s+\|", block, re.M)


def test_reference_totals_equal_run_all_list():
    """The README's per-profile sums are what ``./run_all.sh --list`` prints for the reference."""
    items = [f"papers/{p}/{i}.py" for p, i in item_scripts()]
    for prof, total, _ in readme.reference_totals():
        out = subprocess.run(
            [sys.executable, "scripts/list_items.py", "--profile", prof, "--", *items],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        m = re.search(rf"^\s*{prof}: .*reference (.+?) \((\d+)/(\d+) items\)", out, re.M)
        assert m, out
        if m.group(1) != "—":
            assert total.startswith(f"{m.group(1)} for {m.group(2)} of {m.group(3)} items"), (
                total,
                m.groups(),
            )


def test_check_fails_while_a_block_is_stale_and_the_rewrite_fixes_it(tmp_path, monkeypatch, capsys):
    page = tmp_path / "README.md"
    page.write_text("intro\n<!-- generated:demo -->\nold\n<!-- /generated:demo -->\nend\n", encoding="utf-8")
    monkeypatch.setattr(readme, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(readme, "FILES", (page,))
    monkeypatch.setattr(readme, "BLOCKS", {"demo": lambda: "new\n"})
    assert readme.main(["--check"]) == 1
    assert "README.md" in capsys.readouterr().err
    assert readme.main([]) == 0
    assert (
        page.read_text(encoding="utf-8")
        == "intro\n<!-- generated:demo -->\nnew\n<!-- /generated:demo -->\nend\n"
    )
    assert readme.main(["--check"]) == 0
    page.write_text("<!-- generated:nope -->\nx\n<!-- /generated:nope -->\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown generated block 'nope'"):
        readme.main(["--check"])


def test_time_logs_a_row_that_the_block_reads(tmp_path):
    status = tmp_path / "status.md"
    status.write_text("# log\n" + LOG_HEAD + "<!-- /measurements -->\n", encoding="utf-8")
    rc = readme.time_command([sys.executable, "-c", "import sys; sys.exit(3)"], status=status)
    assert rc == 3
    (row,) = readme.read_log(status.read_text(encoding="utf-8"))
    assert row["command"].endswith("-c 'import sys; sys.exit(3)'") and row["parts"] == "exit 3"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["date"]) and 0 <= row["wall_s"] < 60
    assert row["code"] and "cores" in row["machine"]


def test_committed_readme_and_status_page_are_current():
    assert readme.main(["--check"]) == 0, (
        "README.md or docs/status.md is stale: run `python -m common.reporting.readme`"
    )


def test_time_takes_the_command_after_a_double_dash(monkeypatch):
    """``python -m common.reporting.readme --time -- ./run_tests.sh`` (the documented form) hands the whole command over."""
    from common.reporting import readme

    seen = []
    monkeypatch.setattr(readme, "time_command", lambda cmd: seen.append(cmd) or 0)
    monkeypatch.setattr(readme, "FILES", [])
    assert readme.main(["--time", "--", "./run_all.sh", "--profile", "smoke", "--jobs", "2"]) == 0
    assert readme.main(["--time", "echo", "--check"]) == 0
    assert seen == [["./run_all.sh", "--profile", "smoke", "--jobs", "2"], ["echo", "--check"]]
    with pytest.raises(SystemExit):
        readme.main(["--time", "--"])


def test_paper_readmes_carry_their_generated_claims_with_links_that_resolve():
    from common.reporting.paper_readme import claims_block
    from common.reporting.published import load_published

    for paper in ("otc", "cast_bcq", "moma_ppo"):
        text = (REPO_ROOT / "papers" / paper / "README.md").read_text(encoding="utf-8")
        assert f"<!-- generated:claims_{paper} -->" in text and f"<!-- /generated:claims_{paper} -->" in text
    block = claims_block("otc")
    rows = [line for line in block.splitlines() if line.startswith("| [") or line.startswith("| table")]
    claims = load_published("otc").CLAIMS
    assert len(rows) == len(claims)  # one row per claim, in published.py's order
    assert all(f"(`{c.id}`)" in row for c, row in zip(claims, rows))
    links = re.findall(r"\]\((\.\./\.\./results/[^)]+)\)", block)
    assert links and all((REPO_ROOT / "papers" / "otc" / link).resolve().exists() for link in links)
