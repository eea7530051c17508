"""A tiny AMI corpus in the real layout (``amicorpus/`` media + NXT annotations) for tests and benchmarks."""

from __future__ import annotations

import os
from typing import Callable, Optional

from avhubert_ami.data.video import write_video
from avhubert_ami.testing.media import astronaut_frames, tone

NXT = 'xmlns:nite="http://nite.sourceforge.net/"'
# meeting -> [(agent, global name, channel, camera attribute or None, [(start, end, words)])]
# Words are spread evenly over a segment; punctuation is zero-length at the previous word's end and
# "word-" is a truncated word, as in AMI's words.xml. ES2004a's segment holds a full stop mid-way
# (lhotse's segmentation splits it into two utterances).
AMI_MEETINGS = {
    "ES2002a": [
        ("A", "MEE006", 1, "Closeup1", [(0.5, 1.7, "Okay , um let's start"), (2.2, 3.4, "the remote con- control")]),
        ("B", "FEE005", 2, "2", [(1.8, 2.1, "mm-hmm")]),
    ],
    "ES2011a": [("A", "MEE040", 1, "Closeup1", [(0.4, 1.6, "Hello everybody .")])],
    "ES2004a": [("C", "MEE012", 3, "Closeup3", [(0.6, 3.0, "So the design is done . Any questions ?")])],
    "XX9999a": [("A", "MEE000", 1, "Closeup1", [(0.5, 1.5, "not in the partition")])],
}


def ami_words(mid: str, agent: str, segs: list) -> tuple:
    """``(words.xml lines, segments.xml lines)`` of one speaker, NXT-style."""
    words = [f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<nite:root nite:id="{mid}.{agent}.words" {NXT}>']
    seg_xml = [f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<nite:root nite:id="{mid}.{agent}.segs" {NXT}>']
    wid = 0
    for si, (start, end, text) in enumerate(segs):
        toks = text.split()
        step = (end - start) / sum(tok not in ".,?" for tok in toks)
        first, t = wid, start
        for tok in toks:
            if tok in ".,?":
                ws = we = t
                attrs = ' punc="true"'
            else:
                ws, we = t, t + step
                t, attrs = we, ""
            if tok.endswith("-"):
                tok, attrs = tok[:-1], ' trunc="true"'
            words.append(
                f'  <w nite:id="{mid}.{agent}.words{wid}" starttime="{ws:.2f}" endtime="{we:.2f}"{attrs}>{tok}</w>'
            )
            wid += 1
            if tok == "um":
                words.append(f'  <disfmarker nite:id="{mid}.{agent}.words{wid}"/>')
                wid += 1
        words.append(
            f'  <vocalsound nite:id="{mid}.{agent}.words{wid}" starttime="{end:.2f}" endtime="{end:.2f}" type="laugh"/>'
        )
        wid += 1
        seg_xml.append(
            f'  <segment nite:id="{mid}.sync.{si}" transcriber_start="{start}" transcriber_end="{end}">\n'
            f'    <nite:child href="{mid}.{agent}.words.xml#id({mid}.{agent}.words{first})'
            f'..id({mid}.{agent}.words{wid - 2})"/>\n'
            "  </segment>"
        )
    return words, seg_xml


def make_ami_tree(
    root: str,
    seconds: float = 4.0,
    zip_annotations: bool = False,
    drop_camera: bool = False,
    meetings: Optional[dict] = None,
    write_closeup: Optional[Callable[[str], None]] = None,
) -> str:
    """A tiny AMI corpus in the real layout under ``root``: ``amicorpus/<meeting>/{audio,video}`` with
    headset wavs (16 kHz), a mixed array wav and 25 fps 352x288 close-ups of the astronaut's face,
    plus hand-written NXT annotations in ``ami_public_manual_1.6.2/`` (or its ``.zip``). Returns ``root``.

    ``meetings`` replaces :data:`AMI_MEETINGS` (same form); ``write_closeup(path)`` replaces the close-up
    writer (default: the same short FFV1 clip for every camera), e.g. for long MPEG-4 benchmark clips."""
    import zipfile

    from avhubert_ami.data.audio import write_audio

    ann = os.path.join(root, "ami_public_manual_1.6.2")
    for sub in ("words", "segments", "corpusResources"):
        os.makedirs(os.path.join(ann, sub), exist_ok=True)
    if write_closeup is None:
        rgb, _ = astronaut_frames(int(seconds * 25))

        def write_closeup(path: str) -> None:
            write_video(path, rgb, fps=25.0)

    meetings_xml = [f'<?xml version="1.0" encoding="UTF-8"?>\n<nite:root {NXT}>']
    for mid, speakers in (AMI_MEETINGS if meetings is None else meetings).items():
        mdir = os.path.join(root, "amicorpus", mid)
        meetings_xml.append(f'  <meeting observation="{mid}" duration="{seconds}">')
        array = 0.0  # the room mix of all headsets
        for k, (agent, name, channel, camera, segs) in enumerate(speakers):
            cam = "" if camera is None or (drop_camera and agent == "B") else f' camera="{camera}"'
            meetings_xml.append(f'    <speaker nxt_agent="{agent}" global_name="{name}" channel="{channel}"{cam}/>')
            headset = tone(seconds, 16000, 180 + 40 * k)
            write_audio(os.path.join(mdir, "audio", f"{mid}.Headset-{channel}.wav"), headset)
            array = array + headset / len(speakers)
            if camera is not None:
                n = camera[-1]
                write_closeup(os.path.join(mdir, "video", f"{mid}.Closeup{n}.avi"))
            words, seg_xml = ami_words(mid, agent, segs)
            for sub, lines, kind in (("words", words, "words"), ("segments", seg_xml, "segments")):
                with open(os.path.join(ann, sub, f"{mid}.{agent}.{kind}.xml"), "w") as f:
                    f.write("\n".join(lines + ["</nite:root>"]) + "\n")
        if mid != "ES2011a":  # one meeting without its array recording
            write_audio(os.path.join(mdir, "audio", f"{mid}.Array1-01.wav"), array)
        meetings_xml.append("  </meeting>")
    with open(os.path.join(ann, "corpusResources", "meetings.xml"), "w") as f:
        f.write("\n".join(meetings_xml + ["</nite:root>"]) + "\n")
    if zip_annotations:
        import shutil

        with zipfile.ZipFile(ann + ".zip", "w") as z:
            for d, _, files in os.walk(ann):
                for fn in files:
                    full = os.path.join(d, fn)
                    z.write(full, os.path.relpath(full, ann))  # the real zip has no top folder
        shutil.rmtree(ann)
    return root
