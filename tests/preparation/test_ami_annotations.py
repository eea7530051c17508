"""AMI annotation reading: meetings.xml speakers/cameras and lhotse's segmentation, on hand-written NXT."""

from __future__ import annotations

import os
import sys
import zipfile

import pytest

from avhubert_ami.errors import PreparationError
from avhubert_ami.prep.ami_annotations import Annotations, read_segments, read_speakers
from avhubert_ami.testing.ami_tree import NXT, ami_words

pytest.importorskip("lhotse")


def _tree(root, speakers_xml=None, segs=((0.5, 2.0, "Right . So , we- we start ?"),)):
    ann = os.path.join(root, "ami_public_manual_1.6.2")
    for sub in ("words", "segments", "corpusResources"):
        os.makedirs(os.path.join(ann, sub), exist_ok=True)
    speakers_xml = speakers_xml or '<speaker nxt_agent="B" global_name="FEE005" channel="0" camera="Closeup4"/>'
    with open(os.path.join(ann, "corpusResources", "meetings.xml"), "w") as f:
        f.write(f'<nite:root {NXT}><meeting observation="ES2002a">{speakers_xml}</meeting></nite:root>')
    words, seg_xml = ami_words("ES2002a", "B", list(segs))
    for sub, lines in (("words", words), ("segments", seg_xml)):
        with open(os.path.join(ann, sub, f"ES2002a.B.{sub}.xml"), "w") as f:
            f.write("\n".join(lines + ["</nite:root>"]))
    return ann


def test_segments_follow_lhotse_and_speakers_carry_cameras(tmp_path):
    ann = Annotations(_tree(str(tmp_path)))
    speakers = read_speakers(ann, {})
    spk = speakers[("ES2002a", "B")]
    assert (spk.name, spk.channel, spk.camera) == ("FEE005", 0, 4)
    notes = []
    segs = read_segments(ann, speakers, {"ES2002a"}, notes)
    # split at the full stop; punctuation kept attached, truncation marked, times from the words
    assert [s.text for s in segs] == ["Right", "So, we-  we start?"]  # (lhotse drops the splitting '.')
    assert segs[0].start == pytest.approx(0.5) and segs[1].end == pytest.approx(2.0)
    assert segs[0].end == pytest.approx(segs[1].start)
    assert all(s.speaker is spk for s in segs)
    assert read_segments(ann, speakers, {"ES2003a"}) == []  # other meetings are filtered out
    assert notes == []


def test_zip_is_read_through_a_temporary_copy(tmp_path):
    ann_dir = _tree(str(tmp_path / "src"))
    zpath = str(tmp_path / "ami_public_manual_1.6.2.zip")
    with zipfile.ZipFile(zpath, "w") as z:
        for d, _, files in os.walk(ann_dir):
            for fn in files:
                z.write(os.path.join(d, fn), os.path.relpath(os.path.join(d, fn), ann_dir))
    before = sorted(os.listdir(tmp_path))
    ann = Annotations(zpath)
    segs = read_segments(ann, read_speakers(ann, {}), {"ES2002a"})
    assert len(segs) == 2 and sorted(os.listdir(tmp_path)) == before


def test_zero_duration_words_are_counted_not_logged(tmp_path, caplog):
    ann_dir = _tree(str(tmp_path))
    path = os.path.join(ann_dir, "words", "ES2002a.B.words.xml")
    text = open(path).read().replace('endtime="1.10">So', 'endtime="0.80">So')
    open(path, "w").write(text)
    ann = Annotations(ann_dir)
    notes = []
    segs = read_segments(ann, read_speakers(ann, {}), {"ES2002a"}, notes)
    assert notes == ["note: 1 zero-duration words left out of transcripts (lhotse)"]
    assert "zero or negative duration" not in caplog.text
    assert [s.text for s in segs] == ["Right", ", we-  we start?"]


@pytest.mark.parametrize(
    "speaker,message",
    [
        ('<speaker nxt_agent="B" channel="0"/>', "meeting ES2002a: a <speaker> lacks global_name"),
        ('<speaker nxt_agent="B" global_name="F" channel="left"/>', "agent B: channel 'left' is not a number"),
        ('<speaker nxt_agent="B" global_name="F" channel="0" camera="room"/>', "camera 'room' is not Closeup1..4"),
    ],
)
def test_bad_meetings_xml_is_named(tmp_path, speaker, message):
    ann = Annotations(_tree(str(tmp_path), speakers_xml=speaker))
    with pytest.raises(PreparationError, match=message):
        read_speakers(ann, {})


def test_malformed_words_file_is_named(tmp_path):
    ann_dir = _tree(str(tmp_path))
    with open(os.path.join(ann_dir, "words", "ES2002a.B.words.xml"), "a") as f:
        f.write("<w unclosed")
    ann = Annotations(ann_dir)
    with pytest.raises(PreparationError, match=r"words/ES2002a\.B\.words\.xml: malformed XML"):
        read_segments(ann, read_speakers(ann, {}), {"ES2002a"})


def test_missing_lhotse_says_how_to_install(tmp_path, monkeypatch):
    ann = Annotations(_tree(str(tmp_path)))
    monkeypatch.setitem(sys.modules, "lhotse.recipes.ami", None)
    with pytest.raises(PreparationError, match=r"pip install -e '\.\[ami\]'"):
        read_segments(ann, read_speakers(ann, {}), {"ES2002a"})
