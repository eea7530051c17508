"""A synthetic meeting's microphones: headsets with crosstalk, the room microphone, the headset mix.

Each utterance is synthesised once (its own random stream, so the result does not depend on how the meeting is
cut into blocks) and, while it sounds, added into fixed blocks of every channel, which are then written:

* ``Headset-<channel>``: the wearer's voice, every other participant's voice attenuated by the plan's
  ``crosstalk_db`` (drawn per meeting and headset/talker pair) and delayed by the distance between their seats,
  plus the headset's own low-level hiss;
* ``Array1-01``: every voice convolved with the room impulse response from its seat to the microphone on the table
  (pyroomacoustics' image-source shoebox at the plan's RT60), plus low-frequency room noise (ventilation);
* ``Mix-Headset``: the sum of the headsets (as AMI's).
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import Dict, List, Tuple

import numpy as np

from avhubert_ami.synth.audio import SAMPLE_RATE, SAMPLES_PER_FRAME, synthesize
from avhubert_ami.synth.conversation import MeetingPlan, Room, rng_for
from avhubert_ami.synth.streams import wav_writer

BLOCK_SECONDS = 10
VOICE_GAIN = 0.5  # -6 dB of headroom: overlapping voices, crosstalk and reverberation add up without clipping
_TAG_VOICE, _TAG_NOISE = 0x564F4943, 0x4E4F4953
ROOM_SPEC = "pyroomacoustics>=0.7"


def impulse_responses(room: Room) -> np.ndarray:
    """``(n_seats, L)`` float32 impulse responses from each seat to the room microphone, scaled together so that
    their mean energy is 1 (the room channel keeps the voices' level; nearer seats stay louder)."""
    try:
        import pyroomacoustics as pra
    except ImportError as e:
        raise ImportError(f"the room microphone of synthetic meetings needs pip install '{ROOM_SPEC}' ({e})") from None
    e_abs, max_order = pra.inverse_sabine(room.rt60, list(room.dims))
    box = pra.ShoeBox(list(room.dims), fs=SAMPLE_RATE, materials=pra.Material(e_abs), max_order=max_order)
    for seat in room.seats:
        box.add_source(list(seat))
    box.add_microphone(list(room.mic))
    box.compute_rir()
    rirs = [np.asarray(r, dtype=np.float64) for r in box.rir[0]]
    out = np.zeros((len(rirs), max(len(r) for r in rirs)))
    for i, r in enumerate(rirs):
        out[i, : len(r)] = r
    return (out / np.sqrt(np.mean(np.sum(out**2, axis=1)))).astype(np.float32)


class _Noise:
    """Gaussian noise through a one-pole low-pass (``pole`` 0: white), at ``level_db`` dBFS RMS, drawn block by
    block from one stream (the filter state carries over)."""

    def __init__(self, rng: np.random.Generator, level_db: float, pole: float) -> None:
        self.rng, self.pole = rng, pole
        self.gain = 10.0 ** (level_db / 20.0) / np.sqrt((1.0 - pole) / (1.0 + pole))
        self.state = np.zeros(1)

    def block(self, n: int) -> np.ndarray:
        from scipy.signal import lfilter

        white = self.rng.standard_normal(n)
        out, self.state = lfilter([1.0 - self.pole], [1.0, -self.pole], white, zi=self.state)
        return self.gain * out


def _add(block: np.ndarray, block_start: int, wave: np.ndarray, start: int, gain: float = 1.0) -> None:
    """Add ``gain * wave`` (starting at sample ``start`` of the meeting) into ``block``'s part of it."""
    a, b = max(start, block_start), min(start + len(wave), block_start + len(block))
    if a < b:
        block[a - block_start : b - block_start] += gain * wave[a - start : b - start]


def audio_paths(plan: MeetingPlan, audio_dir: str) -> Dict[str, str]:
    """``{"headset-<participant index>" | "array" | "mix": path}`` of the meeting's wavs."""
    m = plan.meeting_id
    paths = {
        f"headset-{i}": os.path.join(audio_dir, f"{m}.Headset-{p.channel}.wav") for i, p in enumerate(plan.participants)
    }
    paths["array"] = os.path.join(audio_dir, f"{m}.Array1-01.wav")
    paths["mix"] = os.path.join(audio_dir, f"{m}.Mix-Headset.wav")
    return paths


def render_audio(plan: MeetingPlan, audio_dir: str) -> None:
    """Write the meeting's headsets, room channel and headset mix into ``audio_dir``, block by block."""
    from scipy.signal import fftconvolve

    n = len(plan.participants)
    total = plan.n_frames * SAMPLES_PER_FRAME
    rirs = impulse_responses(plan.room)
    gain = 10.0 ** (-np.asarray(plan.crosstalk_db) / 20.0)
    delay = np.asarray(plan.crosstalk_delay)
    np.fill_diagonal(gain, 0.0)  # the wearer's own voice is added at unit gain, undelayed
    heads_noise = [_Noise(rng_for(*plan.key, _TAG_NOISE, k), plan.headset_noise_db[k], 0.5) for k in range(n)]
    room_noise = _Noise(rng_for(*plan.key, _TAG_NOISE, n), plan.room.noise_db, 0.97)
    paths = audio_paths(plan, audio_dir)
    block_len = BLOCK_SECONDS * SAMPLE_RATE
    utts = plan.utterances  # sorted by start
    active: List[Tuple[int, int, np.ndarray, np.ndarray]] = []  # (participant, start sample, dry, wet)
    nxt = 0
    with ExitStack() as stack:
        heads_out = [stack.enter_context(wav_writer(paths[f"headset-{k}"])) for k in range(n)]
        array_out = stack.enter_context(wav_writer(paths["array"]))
        mix_out = stack.enter_context(wav_writer(paths["mix"]))
        for b0 in range(0, total, block_len):
            b1 = min(total, b0 + block_len)
            while nxt < len(utts) and utts[nxt].start * SAMPLES_PER_FRAME < b1:
                u = utts[nxt]
                voice = plan.participants[u.participant].speaker.voice
                dry = VOICE_GAIN * synthesize(u.timeline, voice, rng_for(*plan.key, _TAG_VOICE, nxt))
                wet = fftconvolve(dry, rirs[u.participant]).astype(np.float32)
                active.append((u.participant, u.start * SAMPLES_PER_FRAME, dry, wet))
                nxt += 1
            heads = np.zeros((n, b1 - b0))
            room = np.zeros(b1 - b0)
            for p, start, dry, wet in active:
                _add(heads[p], b0, dry, start)
                for k in range(n):
                    if k != p:
                        _add(heads[k], b0, dry, start + int(delay[k, p]), float(gain[k, p]))
                _add(room, b0, wet, start)
            reach = int(delay.max()) if n > 1 else 0
            active = [a for a in active if max(a[1] + len(a[2]) + reach, a[1] + len(a[3])) > b1]
            for k in range(n):
                heads[k] += heads_noise[k].block(b1 - b0)
                heads_out[k].write(heads[k])
            array_out.write(room + room_noise.block(b1 - b0))
            mix_out.write(heads.sum(axis=0))
