"""Write the synthetic AMI-like corpus: a thin command line over :func:`avhubert_ami.synth.ami.generate`, or,
with ``--meetings N``, synthetic meetings in AMI's own layout (:func:`avhubert_ami.synth.meeting.generate_meetings`).

    avhubert-synth-ami --output_dir DIR [--seed S] [--n_train N --n_valid N --n_test N]
    avhubert-synth-ami --output_dir DIR --meetings N [--meeting_minutes M] [--closeup lip|face]

The corpus's layout and settings: :mod:`avhubert_ami.synth.ami`; the
meetings': :mod:`avhubert_ami.synth.meeting`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Optional, Sequence

from avhubert_ami.cli.boundary import command_parser, run_main
from avhubert_ami.errors import UsageError
from avhubert_ami.prep.flags import add_num_workers_arg
from avhubert_ami.synth.ami import SPLITS, SynthConfig, generate
from avhubert_ami.synth.grammar import TEXT_MODES
from avhubert_ami.synth.meeting import CLOSEUP_MODES, MEETING_SPLITS, MeetingConfig
from avhubert_ami.synth.noise import NOISE_TYPES

PROG = "avhubert-synth-ami"

#: SynthConfig's whole-number fields: flags of the same name and default (with their help, where one is needed)
_INT_FLAGS = {
    "seed": "random seed of everything generated: the same seed and settings write the same corpus",
    "n_train": "training utterances",
    "n_valid": "validation utterances (spoken by held-out speakers, see --heldout_speakers)",
    "n_test": "test utterances (held-out speakers, like --n_valid)",
    "n_speakers": "speakers of the corpus (babble noise uses other voices)",
    "heldout_speakers": "speakers reserved for each of validation and test (0: all splits share all speakers)",
    "min_words": "fewest words in an utterance",
    "max_words": "most words in an utterance",
    "n_noise_files": "noise recordings per split, for --snr mixing and --write_noise",
}
#: flags of the utterance corpus alone (refused with --meetings, which writes no utterance corpus)
_CORPUS_ONLY = (
    "n_train",
    "n_valid",
    "n_test",
    "text_mode",
    "snr",
    "noise_type",
    "noise_splits",
    "write_noise",
    "splits",
)
#: flags of the meetings alone (refused without --meetings)
_MEETING_ONLY = (
    "meeting_minutes",
    "meeting_split",
    "closeup",
    "participants",
    "overlap",
    "backchannels",
    "nonspeech_motion",
    "talkativeness",
)

_MEETINGS_HELP = """\
--meetings N writes N synthetic meetings instead of the utterance corpus, in AMI's own layout, so that
`avhubert-ami-corpus --ami_dir DIR` prepares them like real AMI and the meeting transcriber
reads them: DIR/amicorpus/<MEETING>/audio/<MEETING>.{Headset-<channel>,Array1-01,Mix-Headset}.wav,
DIR/amicorpus/<MEETING>/video/<MEETING>.Closeup<camera>.avi, DIR/ami_public_manual_1.6.2/ (meetings.xml,
words/, segments/), and the references DIR/<MEETING>.seglst.json and DIR/<MEETING>.rttm. Meeting ids are
real AMI full-corpus-ASR eval (--meeting_split test: ES2004a, ES2004b, ...) or dev ids. Shared with the
corpus: --seed, --num_workers, --min_words/--max_words, and --n_speakers/--heldout_speakers (the corpus's
training speakers, whose voices the meeting participants stay clear of)."""


def build_parser() -> argparse.ArgumentParser:
    """The flags of ``avhubert-synth-ami``: :class:`SynthConfig`'s fields with its defaults."""
    d = SynthConfig()
    p = command_parser(
        PROG, "Generate a synthetic AMI-like audio-visual corpus (Hugging Face dataset saved at --output_dir)."
    )
    p.add_argument("--output_dir", required=True, help="dataset folder (load_from_disk(DIR)); media under DIR/media")
    for name, help in _INT_FLAGS.items():
        p.add_argument(f"--{name}", type=int, default=getattr(d, name), help=help)
    add_num_workers_arg(p, d.workers, "worker processes that render utterances (or meetings) side by side")
    p.add_argument(
        "--text_mode",
        choices=TEXT_MODES,
        default=d.text_mode,
        help="grammar: meeting phrases with word order (default); words: independent words (old mode)",
    )
    p.add_argument("--snr", type=float, default=None, help="corrupt the audio with noise at this SNR (dB)")
    p.add_argument("--noise_type", choices=NOISE_TYPES, default=d.noise_type, help="kind of noise --snr mixes in")
    p.add_argument(
        "--noise_splits", nargs="+", choices=SPLITS, default=list(d.noise_splits), help="splits that --snr corrupts"
    )
    p.add_argument(
        "--write_noise",
        action="store_true",
        help="also write noise wavs + DIR/noise/{train,valid,test}.tsv (for the task's noise_wav)",
    )
    p.add_argument("--splits", nargs="+", choices=SPLITS, default=list(d.splits), help="splits to generate")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    m = MeetingConfig()
    g = p.add_argument_group("synthetic meetings (--meetings N)", _MEETINGS_HELP)
    g.add_argument("--meetings", type=int, default=0, help="write this many meetings instead of the utterance corpus")
    g.add_argument(
        "--meeting_minutes", type=float, default=m.seconds / 60, help="length of each meeting (default: %(default)g)"
    )
    g.add_argument(
        "--meeting_split",
        choices=tuple(MEETING_SPLITS),
        default=m.split,
        help="AMI partition list the meeting ids come from (test: the recipe's test split; dev: its valid split)",
    )
    g.add_argument(
        "--closeup",
        choices=CLOSEUP_MODES,
        default=m.closeup,
        help="lip: 96x96 gray mouth clips, as --lip_video reads (fast); face: the mouth on a face photo, AMI's "
        "352x288 close-up, for mouth-ROI detection on the fly",
    )
    g.add_argument(
        "--participants",
        type=int,
        default=m.n_participants,
        help="participants per meeting, 1-4 (default: %(default)s)",
    )
    g.add_argument(
        "--overlap",
        type=float,
        default=m.overlap,
        help="share of speech time with two or more talkers (default: %(default)s)",
    )
    g.add_argument(
        "--backchannels",
        type=float,
        default=m.backchannels,
        help="chance of a backchannel inside an utterance >= 2 s (default: %(default)s)",
    )
    g.add_argument(
        "--nonspeech_motion",
        type=float,
        default=m.nonspeech_motion,
        help="share of each participant's silent time with a smile, chew or nod: lips are a cue, not an oracle "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--talkativeness",
        type=float,
        nargs="+",
        default=None,
        help="one weight per participant for taking the floor (default: drawn per meeting); 0: never speaks",
    )
    return p


def _given(parser: argparse.ArgumentParser, args: argparse.Namespace, names: Sequence[str]) -> list:
    """``--name`` of each of ``names`` set to something other than its default."""
    return [f"--{n}" for n in names if getattr(args, n) != parser.get_default(n)]


def meeting_config(args: argparse.Namespace) -> MeetingConfig:
    """The :class:`MeetingConfig` of the command line's meeting flags."""
    return MeetingConfig(
        seed=args.seed,
        n_meetings=args.meetings,
        seconds=args.meeting_minutes * 60,
        split=args.meeting_split,
        n_participants=args.participants,
        closeup=args.closeup,
        overlap=args.overlap,
        backchannels=args.backchannels,
        nonspeech_motion=args.nonspeech_motion,
        talkativeness=tuple(args.talkativeness or ()),
        min_words=args.min_words,
        max_words=args.max_words,
        workers=args.num_workers,
    )


def _meetings(parser: argparse.ArgumentParser, args: argparse.Namespace, corpus: SynthConfig) -> int:
    from avhubert_ami.synth.ami import corpus_speakers, split_speakers
    from avhubert_ami.synth.meeting import generate_meetings

    refused = _given(parser, args, _CORPUS_ONLY)
    cfg = meeting_config(args)
    if refused:
        raise UsageError(f"{', '.join(refused)}: only for the utterance corpus, which --meetings does not write")
    cfg.validate()
    corpus.validate()
    avoid = split_speakers(corpus, corpus_speakers(corpus))["train"]
    ids = generate_meetings(args.output_dir, cfg, avoid, progress=not args.quiet)
    shares = []
    for m in ids:  # the overlap as generated (the reference RTTM's), next to the one asked for
        with open(os.path.join(args.output_dir, f"{m}.synth.json"), encoding="utf-8") as f:
            shares.append(f"{m} {100 * json.load(f)['overlap_share']:.1f} %")
    print(
        f"{PROG}: wrote meetings {', '.join(ids)} ({args.meeting_minutes:g} min each) to {args.output_dir}; "
        f"overlapped speech: {', '.join(shares)}"
    )
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console entry point (``avhubert-synth-ami``); exit status 2 for inconsistent settings."""
    parser = build_parser()
    args = parser.parse_args(argv)
    fields = {f.name for f in dataclasses.fields(SynthConfig)}
    kw = {k: v for k, v in vars(args).items() if k in fields}
    kw["workers"] = args.num_workers
    kw["noise_splits"], kw["splits"] = tuple(kw["noise_splits"]), tuple(kw["splits"])
    cfg = SynthConfig(**kw)

    def work() -> int:
        if args.meetings:
            return _meetings(parser, args, cfg)
        refused = _given(parser, args, _MEETING_ONLY)
        if refused:
            raise UsageError(f"{', '.join(refused)}: only for synthetic meetings; add --meetings N")
        cfg.validate()
        dsd = generate(cfg, args.output_dir, progress=not args.quiet)
        sizes = ", ".join(f"{k}={len(v)}" for k, v in dsd.items())
        print(f"{PROG}: wrote {sizes} to {args.output_dir}")
        return 0

    return run_main(PROG, work)


if __name__ == "__main__":
    sys.exit(main())
