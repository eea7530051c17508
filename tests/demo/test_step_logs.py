"""Each demo step's output -- prints, log records and child processes' output -- is kept in its log and shown."""

import logging
import subprocess
import sys

from scripts import demo_report


def test_step_log_keeps_prints_logs_and_child_output(tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(sys, "stdout", sys.__stdout__)  # capfd swaps sys.stdout; the demo writes to the real one
    handler = logging.StreamHandler(sys.__stderr__)
    logging.getLogger().addHandler(handler)
    log = demo_report.StepLog(str(tmp_path / "logs"))
    try:
        with log.step("probe", "how it runs"):
            print("printed line")
            logging.getLogger("avhubert_ami.decoding.weight_grid").warning("grid point")
            child = "import sys; print('child out'); print('child err', file=sys.stderr)"
            subprocess.run([sys.executable, "-c", child])
            print("Saving the dataset (1/1 shards)")  # chatter: log only
    finally:
        logging.getLogger().removeHandler(handler)
    text = (tmp_path / "logs" / "probe.log").read_text()
    for line in ("probe: how it runs", "printed line", "grid point", "child out", "child err", "Saving the dataset"):
        assert line in text, line
    console = capfd.readouterr().out
    assert "printed line" in console and "child err" in console and "probe: done in" in console
    assert "Saving the dataset" not in console
    assert log.timings["probe"] >= 0 and "probe" in log.cpu_times


def test_a_helper_process_outliving_its_step_neither_holds_the_step_nor_loses_its_output(tmp_path, capfd):
    """A process started during a step (the preparation's fork server) keeps the step's pipe open: the step still
    ends once its output is drained, and what the helper writes later reaches the console."""
    import time

    log = demo_report.StepLog(str(tmp_path / "logs"))
    late = "import sys, time; print('early', flush=True); time.sleep(3); print('late', flush=True)"
    start = time.time()
    with log.step("probe", "a helper"):
        helper = subprocess.Popen([sys.executable, "-c", late])
        time.sleep(1.5)  # the helper has printed "early"
    assert time.time() - start < 2.9  # not held until the helper exits
    helper.wait()
    time.sleep(0.5)  # the pump forwards what the helper wrote after the step
    text = (tmp_path / "logs" / "probe.log").read_text()
    assert "early" in text and "late" not in text
    assert "late" in capfd.readouterr().out
