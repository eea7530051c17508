"""The basic / kaldi / whisper text normalisers and where they are wired (scorers, task, avhubert-decode)."""

import unicodedata

import pytest

import avhubert_ami  # noqa: F401  (registers the scorers)
from avhubert_ami.scoring.text import NORMALIZERS, TextNormalization, normalize_text
from avhubert_ami.scoring.wer import error_counts


@pytest.mark.parametrize(
    "text, basic, kaldi, whisper",
    [
        # AMI filled pauses: kept (and scored) by basic and kaldi, dropped by whisper
        ("Um, the remote control.", "um the remote control", "UM THE REMOTE CONTROL", "the remote control"),
        ("Uh mm-hmm yeah", "uh mm hmm yeah", "UH MM HMM YEAH", "yeah"),
        # hyphenated words: kaldi splits them, basic drops the hyphen as punctuation
        (
            "The user-friendly re-design",
            "the user friendly re design",
            "THE USER FRIENDLY RE DESIGN",
            "the user friendly re design",
        ),
        # apostrophes stay inside words; numbers and spellings are standardised by whisper only
        (
            "It's twelve euro, don't you think? Colour!",
            "it's twelve euro don't you think colour",
            "IT'S TWELVE EURO DON'T YOU THINK COLOUR",
            "it is €12 do not you think color",
        ),
        ("", "", "", ""),
    ],
)
def test_normalizers_on_hand_written_examples(text, basic, kaldi, whisper):
    assert normalize_text(text) == basic  # basic is the default
    assert normalize_text(text, "basic") == basic
    assert normalize_text(text, "kaldi") == kaldi
    assert normalize_text(text, "whisper") == whisper


def test_filled_pauses_count_under_kaldi_not_whisper():
    ref, hyp = "um so the design", "so the design"
    assert error_counts(hyp, ref, normalizer="kaldi") == (1, 4)
    assert error_counts(hyp, ref, normalizer="whisper") == (0, 3)
    # case and a hyphen are not errors under kaldi
    assert error_counts("mm hmm okay", "Mm-hmm, okay.", normalizer="kaldi") == (0, 3)


def test_unknown_normalizer_is_a_clear_error():
    with pytest.raises(ValueError, match="basic, kaldi, whisper"):
        normalize_text("a", "nope")


@pytest.mark.parametrize("name", NORMALIZERS)
def test_scorers_take_the_normalizer(name):
    from fairseq.scoring import build_scorer
    from omegaconf import OmegaConf

    wer = build_scorer(OmegaConf.create({"_name": "ami_wer", "ami_wer_normalizer": name}), None)
    cer = build_scorer(OmegaConf.create({"_name": "cer", "cer_keep_case_punct": False, "cer_normalizer": name}), None)
    for s in (wer, cer):
        s.add_string("\u2581um \u2581the \u2581cat", "\u2581the \u2581cat")  # sentencepiece pieces, as generate gives
    assert wer.score() == pytest.approx(0.0 if name == "whisper" else 100 / 3)
    assert f"({name} normalizer)" in wer.result_string() and f"({name} normalizer)" in cer.result_string()


def test_scorer_options_reach_fairseq_generate_argparse():
    from fairseq import options

    parser = options.get_generation_parser(default_task="translation")
    args = options.parse_args_and_arch(parser, ["/tmp", "--scoring", "ami_wer", "--ami-wer-normalizer", "kaldi"])
    assert args.scoring == "ami_wer" and args.ami_wer_normalizer == "kaldi"


def test_task_validation_uses_its_normalizer():
    from avhubert_ami.tasks.ami_av import AMIAVConfig, AMIAVTask

    assert AMIAVConfig().eval_wer_normalizer == "basic"
    with pytest.raises(ValueError, match="unknown normalizer"):
        AMIAVTask(AMIAVConfig(data="/absent", eval_wer_normalizer="nope"))


def test_ami_id_breakdown():
    from avhubert_ami.data.utterance_ids import ami_id_parts
    from avhubert_ami.decoding.split import Utterance, breakdown

    assert ami_id_parts("ES2002a_MEE006_0000050_0000170") == ("ES2002a", "MEE006")
    assert ami_id_parts("test_000") is None
    utts = [
        Utterance("ES2002a_MEE006_0000050_0000170", "a b", "a", 1, 2, 1, 2),
        Utterance("ES2002a_FEE005_0000180_0000210", "c d", "c d", 0, 2, 0, 2),
        Utterance("IS1009b_MEE006_0000100_0000200", "e f g h", "e f g h", 0, 4, 0, 4),
    ]
    meetings, speakers = breakdown(utts)
    assert meetings["ES2002a"]["wer"] == pytest.approx(25.0) and meetings["IS1009b"]["wer"] == 0.0
    assert speakers["MEE006"]["wer"] == pytest.approx(100 / 6) and speakers["MEE006"]["n_utterances"] == 2
    assert breakdown(utts + [Utterance("x", "a", "a", 0, 1, 0, 1)]) == ({}, {})


def test_guide_normalizer_flag_sets_the_validation_normalizer():
    from avhubert_ami.training.flags import parse_args
    from tests.support.training import guide_overrides

    out = guide_overrides("--output_dir /out --dataset_name /data --do_train --normalizer kaldi".split())
    assert "++task.eval_wer_normalizer=kaldi" in out
    with pytest.raises(SystemExit):
        parse_args("--output_dir /out --do_train --normalizer nope".split())


# Outputs of the two former homes (prep.text.normalize_transcript with its defaults and with
# keep_disfluencies=False; scoring.normalize_text basic / kaldi / whisper), recorded before they became one function.
_TRICKY = [
    # text, preparation, preparation dropping disfluencies, basic, kaldi, whisper
    (
        "Mm-hmm it's th- the",
        "mm-hmm it's th the",
        "it's the",
        "mm hmm it's th the",
        "MM HMM IT'S TH THE",
        "it is th the",
    ),
    (
        "  'quoted' words, JAMES' hat  ",
        *["'quoted' words james' hat"] * 3,
        "QUOTED WORDS JAMES' HAT",
        "quoted words james hat",
    ),
    ("a - b -- c - -d e- -", "a b c d e", "a b c d", "a b c d e", "A B C D E", "a b c d e"),
    (
        "[laughter] (cough) <vocalsound> uh-huh UM",
        "laughter cough vocalsound uh-huh um",
        "",
        "laughter cough vocalsound uh huh um",
        "LAUGHTER COUGH VOCALSOUND UH HUH UM",
        "huh",
    ),
    ("''' ' - '", "''' ' '", "''' ' '", "''' ' '", "", ""),
    ("'tis the 'end'", *["'tis the 'end'"] * 3, "TIS THE END", "tis the end"),
    ("ﬁne ½ Straße", *["fine 1 2 straße"] * 3, "FINE 1 2 STRASSE", "fine one 2 strasse"),
    ("tab\there\nnew\u00a0line", *["tab here new line"] * 3, "TAB HERE NEW LINE", "tab here new line"),
    ("Mm-mm, erm... HMM? uhm!", "mm-mm erm hmm uhm", "", "mm mm erm hmm uhm", "MM MM ERM HMM UHM", "erm uhm"),
    (
        "naïve café — em-dash",
        "naïve café em-dash",
        "naïve café em-dash",
        "naïve café em dash",
        "NAÏVE CAFÉ EM DASH",
        "naive cafe em dash",
    ),
    (
        "rock'n'roll O'Neil-Smith's",
        "rock'n'roll o'neil-smith's",
        "rock'n'roll o'neil-smith's",
        "rock'n'roll o'neil smith's",
        "ROCK'N'ROLL O'NEIL SMITH'S",
        "rock n roll 0 neil smith is",
    ),
]


def test_preparation_and_scoring_share_one_normalize_text():
    from avhubert_ami.prep import ami as ami_recipe
    from avhubert_ami.prep import hf_dataset
    from avhubert_ami.scoring import wer as scoring

    assert hf_dataset.normalize_text is ami_recipe.normalize_text is scoring.normalize_text is normalize_text


@pytest.mark.parametrize("text, prep, prep_drop, basic, kaldi, whisper", _TRICKY)
def test_one_function_keeps_both_homes_outputs(text, prep, prep_drop, basic, kaldi, whisper):
    from avhubert_ami.prep.runtime.options import WriterOptions

    assert normalize_text(text, WriterOptions().text_normalization()) == prep
    assert normalize_text(text, WriterOptions(keep_disfluencies=False).text_normalization()) == prep_drop
    kept = WriterOptions(lowercase=False, strip_punctuation=False).text_normalization()
    assert normalize_text(text, kept) == " ".join(unicodedata.normalize("NFKC", text).split())
    assert [normalize_text(text, name) for name in NORMALIZERS] == [basic, kaldi, whisper]


def test_text_normalization_rejects_an_unknown_case():
    with pytest.raises(ValueError, match="lower, upper, keep"):
        TextNormalization(case="title")
