"""One spelling of the worker count on every command that has one, ``--num_workers``; the older ``--num-workers``
and ``--workers`` still work but are not shown."""

from __future__ import annotations

import pytest

from avhubert_ami.cli import ami_corpus, hf_to_manifest, mouth_roi, synth_ami

REQUIRED = {
    hf_to_manifest: ["--dataset_name", "d", "--output_dir", "o"],
    ami_corpus: ["--ami_dir", "a", "--output_dir", "o"],
    mouth_roi: ["--input", "i", "--output", "o"],
    synth_ami: ["--output_dir", "o"],
}


@pytest.mark.parametrize("cli", list(REQUIRED), ids=lambda m: m.PROG)
@pytest.mark.parametrize("flag", ["--num_workers", "--num-workers", "--workers"])
def test_every_spelling_sets_num_workers(cli, flag):
    assert cli.build_parser().parse_args(REQUIRED[cli] + [flag, "3"]).num_workers == 3


@pytest.mark.parametrize("cli", list(REQUIRED), ids=lambda m: m.PROG)
def test_help_shows_one_spelling_and_refuses_zero(cli, capsys):
    text = cli.build_parser().format_help()
    assert "--num_workers" in text
    assert "--num-workers" not in text and "--workers" not in text
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(REQUIRED[cli] + ["--num_workers", "0"])
    assert "--num_workers: must be >= 1" in capsys.readouterr().err


def test_synthetic_corpus_and_meetings_get_the_worker_count(monkeypatch, tmp_path):
    seen = {}

    def generate(cfg, out_dir, progress=True):
        seen["workers"] = cfg.workers
        return {}

    monkeypatch.setattr(synth_ami, "generate", generate)
    assert synth_ami.main(["--output_dir", str(tmp_path / "o"), "--workers", "3", "--quiet"]) == 0
    assert seen["workers"] == 3
    args = synth_ami.build_parser().parse_args(["--output_dir", "o", "--meetings", "1", "--num_workers", "4"])
    assert synth_ami.meeting_config(args).workers == 4
