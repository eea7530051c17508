"""RESULTS.md and the README's demo table are what scripts/render_results.py renders from docs/measurements/."""

import json
import os
import shutil

import pytest

from scripts import demo_config, render_results

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_committed_results_md_is_the_render_of_the_measurements():
    with open(os.path.join(REPO, "RESULTS.md"), encoding="utf-8") as f:
        committed = f.read()
    assert committed == render_results.render_results(render_results.load(REPO)), (
        "RESULTS.md differs from docs/measurements/: run python scripts/render_results.py"
    )


def test_readme_demo_table_is_the_render_of_the_newest_demo_run():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    if render_results.BEGIN not in readme:
        pytest.skip("README.md has no <!-- demo-table:begin/end --> markers yet (the README rewrite adds them)")
    assert readme == render_results.with_block(readme, render_results.readme_block(render_results.load(REPO)))


def _root(tmp_path, readme):
    """A checkout with the committed measurements, a measured demo run of 2099-01-01 and the given README."""
    measurements = tmp_path / "docs" / "measurements"
    shutil.copytree(os.path.join(REPO, "docs", "measurements"), measurements)
    run = json.loads((measurements / "demo" / "2026-11-30_seed0.json").read_text())  # its rows, as if measured
    del run["source"], run["title"], run["notes"]
    point = {"ctc_weight": 0.5, "lm_weight": 0.0}
    run.update(date="2099-01-01", config=vars(demo_config.DemoConfig()), commit="0123456789abcdef")
    run.update(weights={"by_modalities": {"audio+video": {"joint": point, "chosen": point}}})
    run.update(test_overlap_percent={"in_train_transcripts": 24.0, "in_lm_extra_text": 38.0})
    run.update(timings_s={"train": 300.0}, cpu_s={"train": 500.0}, total_s=720.0)
    run.update(machine={"cpu": "a CPU", "cores": 2, "torch": "2.13.0", "python": "3.11"})
    (measurements / "demo" / "2099-01-01_seed0.json").write_text(json.dumps(run), encoding="utf-8")
    (tmp_path / "README.md").write_text(readme, encoding="utf-8")
    return tmp_path


def test_check_fails_on_a_stale_file_and_writing_replaces_only_the_block(tmp_path, capsys):
    root = _root(tmp_path, f"intro\n{render_results.BEGIN}\nold table\n{render_results.END}\nrest\n")
    assert render_results.main(["--check", "--root", str(root)]) == 1  # no RESULTS.md, stale README block
    assert render_results.main(["--root", str(root)]) == 0
    assert render_results.main(["--check", "--root", str(root)]) == 0
    readme = (root / "README.md").read_text()
    assert readme.startswith("intro\n<!-- demo-table:begin -->\n")
    assert readme.endswith("<!-- demo-table:end -->\nrest\n")
    assert "old table" not in readme and "| chance (most frequent word) |" in readme
    caption = (
        "`/usr/bin/time -v make demo` (the table `make demo` gives), seed 0, 2099-01-01, commit `0123456789`, "
        "12 min 0 s wall"
    )
    assert caption in readme  # the newest measured run
    newest = render_results.load(str(root))[0]
    path = root / newest["_path"]
    changed = json.loads(path.read_text())
    changed["command"] += " --beam 6"
    path.write_text(json.dumps(changed))
    capsys.readouterr()
    assert render_results.main(["--check", "--root", str(root)]) == 1
    assert "RESULTS.md differs" in capsys.readouterr().out


def test_missing_markers_are_named_and_fail_the_check(tmp_path, capsys):
    root = _root(tmp_path, "a README without markers\n")
    assert render_results.main(["--root", str(root)]) == 0  # RESULTS.md is still written
    assert "has no <!-- demo-table:begin -->" in capsys.readouterr().err
    assert render_results.main(["--check", "--root", str(root)]) == 1
    assert (root / "README.md").read_text() == "a README without markers\n"


def test_transcribed_sections_are_labelled_and_numbers_come_from_the_file(tmp_path):
    root = _root(tmp_path, "")
    records = render_results.load(str(root))
    text = render_results.render_results(records)
    transcribed = [r for r in records if render_results.transcribed(r)]
    assert transcribed and text.count(f"({render_results.TRANSCRIBED})") == len(transcribed)
    spread = next(r for r in records if r["kind"] == "demo_spread")
    row = spread["rows"][0]
    row["wer"]["mean"] = 12.5
    assert "| 12.50 |" in render_results.render_results(records)


def test_a_file_named_for_another_date_is_refused(tmp_path):
    root = _root(tmp_path, "")
    src = next((root / "docs" / "measurements").glob("*/*.json"))
    shutil.copy(src, src.parent / "2020-01-01_copy.json")
    with pytest.raises(ValueError, match="2020-01-01"):
        render_results.load(str(root))
