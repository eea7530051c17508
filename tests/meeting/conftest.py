"""Fixtures of the meeting tests: a generated 30 s meeting in AMI's layout (lip-mode close-ups), what was drawn for
it, and the tiny trained model loaded once (its words are junk: tests check structure and attribution, not WER)."""

import json
import os

import numpy as np
import pytest

from tests.support.training import trained_checkpoint

MEETING = "ES2004a"
#: the untrained tiny model emits junk up to the length limit: a short limit keeps each decode to milliseconds
FAST_SEARCH = dict(beam=1, max_len_a=0.0, max_len_b=4, batch_size=8)


@pytest.fixture(scope="session")
def ami_dir(tmp_path_factory):
    """A 30 s, 4-participant synthetic meeting (ES2004a) in AMI's layout, lip-mode close-ups (~15 s to make)."""
    pytest.importorskip("pyroomacoustics")
    pytest.importorskip("webrtcvad")
    from avhubert_ami.synth.meeting import MeetingConfig, generate_meetings

    root = tmp_path_factory.mktemp("ami_meeting")
    assert generate_meetings(str(root), MeetingConfig(seed=5, seconds=30.0, workers=2)) == [MEETING]
    return root


@pytest.fixture(scope="session")
def drawn(ami_dir):
    """What the generator drew (``OUT/ES2004a.synth.json``), plus ``truth``: {name: bool per 25 fps frame}."""
    doc = json.loads((ami_dir / f"{MEETING}.synth.json").read_text())
    n = int(round(doc["seconds"] * 25))
    truth = {p["name"]: np.zeros(n, bool) for p in doc["participants"]}
    for u in doc["utterances"]:
        truth[u["speaker"]][int(round(u["start_time"] * 25)) : int(round(u["end_time"] * 25))] = True
    doc["truth"] = truth
    return doc


@pytest.fixture(scope="session")
def media(ami_dir, drawn):
    """{name: (close-up path, headset path)} of the generated meeting, as meetings.xml maps them."""
    base = ami_dir / "amicorpus" / MEETING
    return {
        p["name"]: (
            str(base / "video" / f"{MEETING}.Closeup{p['camera']}.avi"),
            str(base / "audio" / f"{MEETING}.Headset-{p['channel']}.wav"),
        )
        for p in drawn["participants"]
    }


@pytest.fixture(scope="session")
def ckpt(tmp_path_factory):
    return str(trained_checkpoint(tmp_path_factory) / "checkpoints" / "checkpoint_best.pt")


@pytest.fixture(scope="session")
def recognizer(ckpt):
    from avhubert_ami.decoding.recognizer import Recognizer
    from avhubert_ami.decoding.settings import SearchSettings

    return Recognizer.from_checkpoint(ckpt, SearchSettings(**FAST_SEARCH), device="cpu")


@pytest.fixture
def fast_search():
    """:data:`FAST_SEARCH` as command-line flags (plus ``--cpu``)."""
    return [x for k, v in FAST_SEARCH.items() for x in (f"--{k}", str(v))] + ["--cpu"]


@pytest.fixture
def transcribe(recognizer, single_thread):
    """``transcribe(meeting, segments=None, **MeetingSettings fields)`` -> MeetingResult, with the shared model."""
    from avhubert_ami.meeting.transcriber import MeetingSettings, MeetingTranscriber

    def run(meeting, segments=None, activity=None, **settings):
        return MeetingTranscriber(recognizer, MeetingSettings(**settings), activity).transcribe(meeting, segments)

    return run


def frames_of(segments, n):
    """Bool per 25 fps frame covered by ``segments`` (MeetingSegment or ActiveSegment)."""
    out = np.zeros(n, bool)
    for s in segments:
        a, b = (s.start_time, s.end_time) if hasattr(s, "start_time") else (s.start, s.end)
        out[int(round(a * 25)) : int(round(b * 25))] = True
    return out


@pytest.fixture
def covered():
    """:func:`frames_of` as a fixture (test modules do not import each other or conftest)."""
    return frames_of


def link_meeting(src, dst):
    """A copy of the AMI tree ``src`` under ``dst`` whose media are symlinks (files may then be replaced)."""
    for d, _, files in os.walk(src):
        rel = os.path.relpath(d, src)
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for f in files:
            os.symlink(os.path.join(d, f), os.path.join(dst, rel, f))
    return dst


@pytest.fixture
def linked_copy():
    """:func:`link_meeting` as a fixture."""
    return link_meeting
