"""--engine dask [--scheduler ADDRESS]: the per-utterance jobs on a Dask cluster, the journal and manifests
still written by the preparing process, with the same result as this machine's process pool."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from avhubert_ami.cli import ami_corpus, hf_to_manifest, mouth_roi
from avhubert_ami.errors import PreparationError
from avhubert_ami.prep.constants import SPLITS
from avhubert_ami.prep.flags import engine_from_args, writer_options
from avhubert_ami.prep.runtime import engine as engine_lib
from avhubert_ami.prep.runtime.engine import Engine
from avhubert_ami.prep.runtime.workers import run_jobs
from tests.support import REPO
from tests.support.preparation import convert_hf, make_hf_dataset


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


def test_scheduler_needs_the_dask_engine(tmp_path, cli_error):
    (tmp_path / "in").mkdir()
    rc, msg = cli_error(
        mouth_roi.main, ["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--scheduler", "x:1"]
    )
    assert rc == 2 and re.search(r": error: --scheduler .*needs --engine dask$", msg)


def test_missing_distributed_is_one_line_naming_the_extra(tmp_path, monkeypatch, cli_error):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed: import raises ImportError
    (tmp_path / "in").mkdir()
    msg = r": error: --engine dask needs Dask distributed: pip install 'avhubert-ami\[cluster\]'"
    for main, argv in (
        (mouth_roi.main, ["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--engine", "dask"]),
        (
            hf_to_manifest.main,
            ["--dataset_name", str(tmp_path), "--output_dir", str(tmp_path / "o"), "--engine", "dask"],
        ),
    ):
        rc, line = cli_error(main, argv)
        assert rc == 2 and re.search(msg, line), line
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


@pytest.fixture(scope="module")
def pool_run(tmp_path_factory):
    """A small HF dataset (with bad rows) prepared by the local process pool: (dataset, output, summary)."""
    root = tmp_path_factory.mktemp("engine")
    hf = make_hf_dataset(str(root), bad_rows=True)
    return hf, str(root / "pool"), convert_hf(hf, str(root / "pool"), "--num_workers", "2")


@pytest.mark.slow  # a 2-worker Dask cluster and a 2-process pool on 2 cores: ~45 s
def test_local_dask_cluster_of_two_workers_gives_the_local_pools_manifests(pool_run, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    hf, local, pool = pool_run
    on_dask = str(tmp_path / "dask")
    connect, connections = engine_lib._connect, []
    monkeypatch.setattr(engine_lib, "_connect", lambda *a: connections.append(a) or connect(*a))
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, distributed.Client(cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)  # worker address -> process id
        with distributed.get_task_stream(client) as stream:
            summary = convert_hf(hf, on_dask, "--engine", "dask", "--scheduler", cluster.scheduler_address)
        again = convert_hf(hf, on_dask, "--engine", "dask", "--scheduler", cluster.scheduler_address)
        assert len(connections) == 2  # one client per run, for all three splits
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "note.txt").write_text("relative")
        monkeypatch.chdir(tmp_path / "elsewhere")  # the workers started in another directory
        engine = Engine("dask", cluster.scheduler_address)
        relative = list(run_jobs(_read, [("note", "note.txt")], 1, "read", engine=engine))

    assert _manifest_text(on_dask) == _manifest_text(local)
    assert (summary.written, summary.already_done, dict(summary.dropped)) == (
        pool.written,
        pool.already_done,
        dict(pool.dropped),
    )
    assert sorted(summary.failed) == sorted(pool.failed)  # the same rows with the same messages
    assert again.written == 0 and again.already_done == pool.written  # the journal resumes as with the pool
    assert relative == [("note", "relative", None)]  # a relative path means what it means in this process
    jobs = stream.data  # the tasks the cluster ran during the first run
    assert len(jobs) == _journaled(on_dask) + len(summary.failed)  # every job ran on the cluster
    ran_on = {pids[t["worker"]] for t in jobs}
    assert ran_on == set(pids.values()) and os.getpid() not in ran_on  # both worker processes, not this one


@pytest.mark.slow  # a command line starting its own 2-worker Dask cluster: ~25 s
def test_command_line_on_its_own_local_dask_cluster(pool_run, tmp_path):
    pytest.importorskip("distributed")
    hf, local, pool = pool_run
    out = str(tmp_path / "dask")
    cmd = [sys.executable, "-X", "importtime", "-m", "preprocess.hf_to_manifest", "--dataset_name", hf]
    cmd += ["--output_dir", out, "--engine", "dask", "--num_workers", "2"]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == (1 if pool.failed else 0), done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert _manifest_text(out) == _manifest_text(local)
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    assert imported.count("distributed.worker") >= 3  # this process and its two worker processes (-X inherited)
    assert "fairseq" not in imported  # the workers start without fairseq, as the command line does


def _read(path):
    with open(path) as f:
        return f.read()


def _crash_on_b(payload):
    """A job that ends its worker process for payload "b", as a segfault or the OOM killer would."""
    if payload == "b":
        os._exit(1)
    return payload.upper()


@pytest.mark.slow  # a 1-worker Dask cluster whose worker dies once: ~30 s
def test_a_job_that_kills_its_worker_is_a_failed_row_and_the_cluster_goes_on():
    distributed = pytest.importorskip("distributed")
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # the scheduler runs in this process
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
        with cluster:
            engine = Engine("dask", cluster.scheduler_address)
            (crashed,) = run_jobs(_crash_on_b, [("utt-b", "b")], 1, "crash", engine=engine)
            after = list(run_jobs(_crash_on_b, [("utt-a", "a")], 1, "after", engine=engine))  # a restarted worker
    assert crashed[:2] == ("utt-b", None) and crashed[2].startswith("KilledWorker: every Dask worker process")
    assert after == [("utt-a", "A", None)]
