"""--engine dask [--scheduler ADDRESS]: the per-utterance jobs on a Dask cluster, the journal and manifests
still written by the preparing process, with the same result as this machine's process pool."""

from __future__ import annotations

import os
import sys

import pytest

from avhubert_ami.data.errors import PreparationError
from avhubert_ami.prep import engine as engine_lib
from avhubert_ami.prep.constants import SPLITS
from avhubert_ami.prep.engine import Engine
from preprocess import ami_corpus, hf_to_manifest, mouth_roi
from preprocess.cli_args import engine_from_args, writer_options


def test_every_worker_pool_cli_takes_the_engine_flags():
    flags = ["--engine", "dask", "--scheduler", "tcp://10.0.0.1:8786"]
    for parser, required in (
        (hf_to_manifest.build_parser(), ["--dataset_name", "d", "--output_dir", "o"]),
        (ami_corpus.build_parser(), ["--ami_dir", "a", "--output_dir", "o"]),
        (mouth_roi.build_parser(), ["--input", "i", "--output", "o"]),
    ):
        assert engine_from_args(parser.parse_args(required)) == Engine("local")
        assert engine_from_args(parser.parse_args(required + flags)) == Engine("dask", "tcp://10.0.0.1:8786")
        with pytest.raises(SystemExit):
            parser.parse_args(required + ["--engine", "ray"])
    args = hf_to_manifest.build_parser().parse_args(["--dataset_name", "d", "--output_dir", "o", "--engine", "dask"])
    assert writer_options(args).engine == Engine("dask")  # no --scheduler: a local cluster of --num_workers


def test_scheduler_needs_the_dask_engine(tmp_path):
    (tmp_path / "in").mkdir()
    with pytest.raises(SystemExit, match=r"^error: --scheduler .*needs --engine dask$"):
        mouth_roi.main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--scheduler", "x:1"])


def test_missing_distributed_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed: import raises ImportError
    (tmp_path / "in").mkdir()
    msg = r"^error: --engine dask needs Dask distributed: pip install 'avhubert-ami\[cluster\]'"
    with pytest.raises(SystemExit, match=msg):
        mouth_roi.main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--engine", "dask"])
    with pytest.raises(SystemExit, match=msg):
        hf_to_manifest.main(["--dataset_name", str(tmp_path), "--output_dir", str(tmp_path / "o"), "--engine", "dask"])
    assert not os.path.exists(tmp_path / "out") and not os.path.exists(tmp_path / "o")  # refused before any work


def test_workers_running_several_threads_are_refused():
    class Client:  # what distributed.Client.nthreads() answers for a default `dask worker` on a 4-core machine
        def nthreads(self):
            return {"tcp://10.0.0.2:40000": 1, "tcp://10.0.0.3:40000": 4}

    with pytest.raises(PreparationError, match=r"10\.0\.0\.3:40000 runs 4 threads.*--nthreads 1"):
        engine_lib._refuse_threaded_workers(Client(), "tcp://10.0.0.1:8786")


def _manifest_text(out):
    """Every split's tsv/wrd with the output folder (the tsv root line, absolute paths) made neutral."""
    texts = {}
    for split in SPLITS:
        for ext in ("tsv", "wrd"):
            with open(os.path.join(out, f"{split}.{ext}"), encoding="utf-8") as f:
                texts[f"{split}.{ext}"] = f.read().replace(os.path.abspath(out), "<out>")
    return texts


def _journaled(out):
    """Utterances the journals of ``out`` hold (written or dropped by a worker)."""
    progress = os.path.join(out, ".progress")
    return sum(len(open(os.path.join(progress, f)).read().splitlines()) - 1 for f in os.listdir(progress))


@pytest.mark.slow  # a 2-worker Dask cluster and a 2-process pool on 2 cores: ~60 s
def test_local_dask_cluster_of_two_workers_gives_the_local_pools_manifests(tmp_path):
    distributed = pytest.importorskip("distributed")
    from tests.preprocess_fixtures import make_hf_dataset

    hf = make_hf_dataset(str(tmp_path / "src"), bad_rows=True)
    local, on_dask = str(tmp_path / "local"), str(tmp_path / "dask")

    def convert(out, *flags):
        argv = ["--dataset_name", hf, "--output_dir", out, *flags]
        return hf_to_manifest.convert(hf_to_manifest.build_parser().parse_args(argv))

    pool = convert(local, "--num_workers", "2")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, distributed.Client(cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)  # worker address -> process id
        with distributed.get_task_stream(client) as stream:
            summary = convert(on_dask, "--engine", "dask", "--scheduler", cluster.scheduler_address)
        again = convert(on_dask, "--engine", "dask", "--scheduler", cluster.scheduler_address)

    assert _manifest_text(on_dask) == _manifest_text(local)
    assert (summary.written, summary.already_done, dict(summary.dropped)) == (
        pool.written,
        pool.already_done,
        dict(pool.dropped),
    )
    assert sorted(summary.failed) == sorted(pool.failed)  # the same rows with the same messages
    assert again.written == 0 and again.already_done == pool.written  # the journal resumes as with the pool
    jobs = [t for t in stream.data if t["key"].startswith("call_job-")]
    assert len(jobs) == _journaled(on_dask) + len(summary.failed)  # every job ran on the cluster
    ran_on = {pids[t["worker"]] for t in jobs}
    assert ran_on == set(pids.values()) and os.getpid() not in ran_on  # both worker processes, not this one
