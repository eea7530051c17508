"""One real-time factor (issue 24 item 12): wall-clock seconds of transcription (model loading and writing excluded)
per second of media transcribed -- the same number in NAME.json, the log line and the summary; and the settings as
used in NAME.json (item 5: the CTC weight the search used, not null)."""

from __future__ import annotations

import json
import re

import pytest

from avhubert_ami.data.audio import write_audio
from avhubert_ami.testing.recordings import speech_with_pauses
from tests.support.training import trained_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")


def test_real_time_factor_definition():
    from avhubert_ami.transcribe.transcriber import Stats, format_rtf, real_time_factor

    assert real_time_factor(3.0, 12.0) == 0.25 and real_time_factor(3.0, 0.0) is None
    assert format_rtf(0.25) == "0.250" and format_rtf(None) == "n/a"
    stats = Stats(media_s=9.0, decoded_s=6.0, wall_s=3.0, decode=1.5)
    assert stats.rtf()["total"] == 0.5 and stats.rtf()["decode"] == 0.25


def test_json_log_and_summary_show_one_real_time_factor(tmp_path_factory, tmp_path, capsys, caplog):
    from avhubert_ami.cli.transcribe import main
    from avhubert_ami.transcribe.transcriber import format_rtf

    run_dir = trained_checkpoint(tmp_path_factory)
    (tmp_path / "in").mkdir()
    for i, pauses in enumerate(([0.5, 1.0], [0.3])):
        wave, _, _ = speech_with_pauses(pauses, [40] * len(pauses), seed=i)
        write_audio(str(tmp_path / "in" / f"r{i}.wav"), wave)
    out = tmp_path / "out"
    argv = ["--path", str(run_dir / "checkpoints" / "checkpoint_best.pt"), str(tmp_path / "in")]
    with caplog.at_level("INFO"):
        assert main([*argv, "--output_dir", str(out), "--cpu", "--beam", "1", "--format", "json"]) == 0
    docs = [json.loads((out / f"r{i}.json").read_text()) for i in range(2)]
    for name, doc in zip(("r0", "r1"), docs):
        assert doc["rtf"]["total"] == pytest.approx(doc["wall_s"] / doc["decoded_s"], abs=3e-4)  # wall_s: ms
        logged = re.search(rf"{name}: \d+ segment\(s\), .* \(real-time factor ([0-9.]+)\)", caplog.text).group(1)
        assert logged == format_rtf(doc["rtf"]["total"])
        # the settings as used: the checkpoint's own CTC weight when none is given
        assert isinstance(doc["decoding"]["ctc_weight"], float) and doc["decoding"]["lm_weight"] == 0.0
    summary = re.search(r"in ([0-9.]+) s \(real-time factor ([0-9.]+)\)", capsys.readouterr().out)
    wall, decoded = sum(d["wall_s"] for d in docs), sum(d["decoded_s"] for d in docs)
    assert float(summary.group(1)) == pytest.approx(wall, abs=0.06)
    assert float(summary.group(2)) == pytest.approx(wall / decoded, abs=0.002)
