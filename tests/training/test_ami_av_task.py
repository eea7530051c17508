"""Task ``ami_av`` / ``av_hubert_pretraining``: config handling, loading, generation, validation WER."""

import logging
import os
import sys
from argparse import Namespace

import pytest
import torch
import torch.nn as nn
from fairseq import metrics, options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.models import FairseqDecoder, FairseqEncoder, FairseqEncoderDecoderModel
from omegaconf import OmegaConf

from avhubert_ami.data.manifest import write_dict
from avhubert_ami.scoring.wer import error_counts
from avhubert_ami.tasks.ami_av import AMIAVTask, AVHubertPretrainingTask, as_list
from avhubert_ami.testing.tiny_data import SENTENCES, make_tiny_split
from tests.support import REPO


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("taskdata"))
    make_tiny_split(d, n=4, split="train", frames=(20, 28, 24, 16))
    make_tiny_split(d, n=4, split="valid", frames=(12, 16, 20, 24), missing={1: "video"})
    return d


def task_from(data, name="ami_av", **over):
    cfg = OmegaConf.create({"_name": name, "data": data, **over})
    return tasks.setup_task(cfg)


# ---- a toy seq2seq model with the plugin's encoder API (the real one lives in models/) ----------
class ToyEncoder(FairseqEncoder):
    def __init__(self, dictionary):
        super().__init__(dictionary)
        self.audio, self.video = nn.Linear(104, 16), nn.Linear(1, 16)

    def forward(self, source, padding_mask=None, **kwargs):
        feats = 0
        if source.get("audio") is not None:
            feats = feats + self.audio(source["audio"].transpose(1, 2))
        if source.get("video") is not None:
            feats = feats + self.video(source["video"].mean((3, 4)).transpose(1, 2))
        return {"encoder_out": feats, "padding_mask": padding_mask}

    def reorder_encoder_out(self, encoder_out, new_order):
        pm = encoder_out["padding_mask"]
        return {
            "encoder_out": encoder_out["encoder_out"].index_select(0, new_order),
            "padding_mask": None if pm is None else pm.index_select(0, new_order),
        }


class ToyDecoder(FairseqDecoder):
    def __init__(self, dictionary):
        super().__init__(dictionary)
        self.embed, self.out = nn.Embedding(len(dictionary), 16), nn.Linear(16, len(dictionary))

    def forward(self, prev_output_tokens, encoder_out=None, incremental_state=None, **kwargs):
        ctx = encoder_out["encoder_out"].mean(1, keepdim=True)
        return self.out(torch.tanh(self.embed(prev_output_tokens) + ctx)), None

    def max_positions(self):
        return 1024


def toy_model(task):
    torch.manual_seed(0)
    d = task.target_dictionary
    return FairseqEncoderDecoderModel(ToyEncoder(d), ToyDecoder(d)).eval()


def first_batch(task, split="valid"):
    task.load_dataset(split)
    itr = task.get_batch_iterator(task.dataset(split), max_sentences=4).next_epoch_itr(shuffle=False)
    return next(iter(itr))


# ---- tests ------------------------------------------------------------------------------------
def test_load_split_and_batch(data):
    task = task_from(data)
    assert isinstance(task, AMIAVTask) and task.source_dictionary is None
    assert task.dictionaries == [task.target_dictionary]
    batch = first_batch(task, "train")
    src = batch["net_input"]["source"]
    assert src["audio"].shape[:2] == (4, 104) and src["video"].shape[:3] == (4, 1, 28)
    assert batch["target"].shape[0] == 4 and batch["ntokens"] == int(batch["target_lengths"].sum())
    assert task.data_options("train").image_aug and not task.data_options("valid").image_aug
    assert "target_dictionary" in task.state_dict()


def test_image_downsample_reaches_the_batch(data):
    batch = first_batch(task_from(data, image_downsample=2), "valid")
    assert batch["net_input"]["source"]["video"].shape[-2:] == (44, 44)


def test_decoding_follows_the_checkpoints_input_settings(data):
    """fairseq-generate builds the task from the command line, then passes the checkpoint's task config."""
    from omegaconf import OmegaConf

    task = task_from(data, modalities=["video"])
    saved = OmegaConf.create({"image_downsample": 2, "modalities": ["audio", "video"], "data": "/elsewhere"})
    task.load_dataset("valid", task_cfg=saved)
    batch = task.dataset("valid").collater([task.dataset("valid")[0]])
    assert batch["net_input"]["source"]["video"].shape[-2:] == (44, 44)  # the model's input size
    assert batch["net_input"]["source"]["audio"] is None  # modalities and data stay as asked
    assert task.cfg.data == data


def test_unknown_keys_are_ignored_with_warning(data, caplog):
    with caplog.at_level(logging.WARNING):
        task = task_from(data, some_legacy_key=3, another_one="x")
    assert "ignoring unknown config keys ['another_one', 'some_legacy_key']" in caplog.text
    assert task.cfg.data == data


def test_alias_accepts_upstream_finetune_cfg(data):
    # the task section of upstream's conf/finetune/base_vox_30h.yaml, plus every other upstream field
    upstream = dict(
        is_s2s=True,
        label_dir=data,
        tokenizer_bpe_model=os.path.join(data, "spm.model"),
        normalize=True,
        labels=["wrd"],
        single_target=True,
        fine_tuning=True,
        stack_order_audio=4,
        tokenizer_bpe_name="sentencepiece",
        max_sample_size=500,
        modalities=["video"],
        image_aug=True,
        pad_audio=True,
        random_crop=False,
        label_rate=-1,
        sample_rate=25,
        enable_padding=False,
        min_sample_size=None,
        max_trim_sample_size=500,
        pdb=False,
        skip_verify=False,
        image_crop_size=88,
        image_mean=0.421,
        image_std=0.165,
        noise_wav=None,
        noise_prob=0.0,
        noise_snr="0",
        noise_num=1,
    )
    task = task_from(data, "av_hubert_pretraining", **upstream)
    assert type(task) is AVHubertPretrainingTask
    batch = first_batch(task)
    assert batch["net_input"]["source"]["audio"] is None
    assert batch["net_input"]["source"]["video"].shape[0] == 3  # the audio-only valid row is skipped


def test_alias_pretraining_dictionaries(data):
    write_dict(os.path.join(data, "dict.km.txt"), [(str(i), 10) for i in range(5)])
    task = task_from(data, "av_hubert_pretraining", labels=["km"])
    assert not task.cfg.fine_tuning and task.target_dictionary is None
    assert len(task.dictionaries) == 1 and len(task.dictionaries[0]) == 4 + 5
    with pytest.raises(NotImplementedError, match="fine_tuning=true"):
        task.load_dataset("train")


def test_missing_dictionary_and_tokenizer_messages(tmp_path, data):
    with pytest.raises(FileNotFoundError, match="dict.wrd.txt: dictionary not found"):
        _ = task_from(str(tmp_path)).target_dictionary
    with pytest.raises(FileNotFoundError, match="nope.model: sentencepiece model not found"):
        task_from(data, tokenizer_bpe_model=str(tmp_path / "nope.model")).load_dataset("train")


def test_as_list():
    assert as_list("audio") == ["audio"] and as_list("audio,video") == ["audio", "video"]
    assert as_list("['audio', 'video']") == ["audio", "video"] and as_list(["video"]) == ["video"]


def test_fairseq_generate_argparse(data, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["fairseq-generate"])
    user_dir = str(REPO / "avhubert_ami")
    parser = options.get_generation_parser()
    args = options.parse_args_and_arch(
        parser,
        [
            data,
            "--user-dir",
            user_dir,
            "--task",
            "ami_av",
            "--modalities",
            "audio",
            "--gen-subset",
            "valid",
            "--path",
            "x.pt",
            "--noise-snr=-5,5",
        ],
    )
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    task.load_dataset("valid")
    item = task.dataset("valid")[0]
    assert item["video"] is None and item["audio"].shape[1] == 104


@pytest.mark.parametrize("beam", [1, 3])
def test_generator_on_dict_sources(data, beam):
    task = task_from(data)
    model = toy_model(task)
    batch = first_batch(task)
    gen = task.build_generator([model], Namespace(beam=beam, max_len_a=0.5, max_len_b=2, min_len=1))
    hyps = task.inference_step(gen, [model], batch)
    assert len(hyps) == 4 and all(len(h) == beam for h in hyps)
    max_len = int(0.5 * batch["net_input"]["padding_mask"].shape[1] + 2)
    for h in hyps:
        toks = h[0]["tokens"]
        assert toks[-1] == task.target_dictionary.eos() and len(toks) <= max_len + 1
    # video-only and audio-only batches also decode
    batch["net_input"]["source"]["audio"] = None
    assert len(task.inference_step(gen, [model], batch)) == 4


def test_valid_wer_counts_and_metrics(data, monkeypatch):
    task = task_from(data, eval_wer=True)
    model = toy_model(task)
    batch = first_batch(task)
    pad = task.target_dictionary.pad()
    refs = [t[t != pad] for t in batch["target"]]
    hyps = [[{"tokens": r.clone()}] for r in refs]
    hyps[0] = [{"tokens": refs[0][2:]}]  # damage one hypothesis
    monkeypatch.setattr(task, "inference_step", lambda gen, models, sample: hyps)
    counts = task.wer_counts(batch, model)
    ref_texts = [task.decode_tokens(r) for r in refs]
    assert set(ref_texts) <= set(SENTENCES) and len(set(ref_texts)) == 4
    e, n = error_counts(task.decode_tokens(refs[0][2:]), ref_texts[0])
    total_words = sum(len(t.split()) for t in ref_texts)
    assert counts["_wer_errors"] == e > 0 and counts["_wer_words"] == total_words
    assert counts["_cer_chars"] == sum(len(t.replace(" ", "")) for t in ref_texts)

    class Crit:
        def __call__(self, model, sample):
            return torch.tensor(0.0), 1, {"loss": 0.0, "ntokens": sample["ntokens"], "nsentences": 4, "sample_size": 1}

        @classmethod
        def reduce_metrics(cls, logs):
            pass

    _, _, log = task.valid_step(batch, model, Crit())
    with metrics.aggregate() as agg:
        task.reduce_metrics([log, log], Crit())
        values = agg.get_smoothed_values()
    assert values["wer"] == pytest.approx(round(100.0 * e / total_words, 3))
    assert 0 < values["cer"] < values["wer"]


def test_valid_step_decodes_with_real_generator(data):
    task = task_from(data, eval_wer=True, eval_wer_max_len_a=0.0, eval_wer_max_len_b=5)
    model = toy_model(task)
    batch = first_batch(task)
    counts = task.wer_counts(batch, model)
    assert counts["_wer_words"] > 0 and counts["_wer_errors"] > 0  # an untrained model is wrong


def test_dataloader_workers(data):
    task = task_from(data)
    task.load_dataset("train")
    itr = task.get_batch_iterator(task.dataset("train"), max_sentences=2, num_workers=1, seed=3)
    batches = list(itr.next_epoch_itr(shuffle=True))
    assert sum(len(b["id"]) for b in batches) == 4
    assert all(b["net_input"]["source"]["video"].shape[1:][2:] == (88, 88) for b in batches)


def test_noise_config(data, tmp_path):
    from avhubert_ami.data.audio import write_audio

    write_audio(str(tmp_path / "n1.wav"), 0.3 * torch.randn(8000).clamp(-3, 3).numpy() / 3)
    (tmp_path / "valid.tsv").write_text("n1.wav\n")
    clean = task_from(data)
    clean.load_dataset("valid")
    assert clean.dataset("valid").noise is None
    for noise_wav in (str(tmp_path), str(tmp_path / "valid.tsv")):  # upstream folder layout, or one list
        noisy = task_from(data, noise_wav=noise_wav, noise_prob=1.0, noise_snr="-5,5")
        noisy.load_dataset("valid")
        ds = noisy.dataset("valid")
        assert ds.noise.snr == (-5.0, 5.0) and ds.noise.paths == [str(tmp_path / "n1.wav")]
        assert not torch.allclose(ds[0]["audio"], clean.dataset("valid")[0]["audio"])
    with pytest.raises(ValueError, match="noise_wav"):
        task_from(data, noise_prob=0.5).load_dataset("valid")
