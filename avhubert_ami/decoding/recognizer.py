"""The recogniser: a fine-tuned ``av_hubert_seq2seq`` checkpoint loaded once, then called per batch.

    >>> r = Recognizer.from_checkpoint("checkpoint_best.pt", SearchSettings(beam=5, ctc_weight=0.5))
    >>> hyps = r.decode(sample)               # a fairseq batch: {"net_input": {"source": ..., "padding_mask": ...}}
    >>> hyps[0].text

:meth:`Recognizer.from_checkpoint` loads safely (the allowlist of :mod:`avhubert_ami.checkpoints.safe_load`): the
task with its dictionary and sentencepiece tokenizer, the model with its CTC head, the device; an
``avhubert-train-lm`` language model is loaded with it and checked against the recogniser's dictionary
(:func:`avhubert_ami.lm.task.load_lm`: mapped by symbol when its order differs, refused when a symbol is missing). The
checkpoint's training-time noise augmentation is switched off (decode the audio as it is). :meth:`decode` runs the
task's beam search -- joint CTC/attention when ``ctc_weight`` > 0, shallow fusion when ``lm_weight`` != 0 -- with
the weights given per call or the settings' own, so one loaded model serves a whole weight grid. Everything that
decodes builds on it: ``avhubert-decode`` and its weight grid (:mod:`avhubert_ami.decoding.split`,
:mod:`avhubert_ami.decoding.weight_grid`), the guide's ``--do_eval``, transcription and meetings.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

from avhubert_ami.decoding.precision import AppliedPrecision, apply_precision
from avhubert_ami.decoding.settings import SearchSettings
from avhubert_ami.errors import UsageError

logger = logging.getLogger(__name__)


@dataclass
class Hypothesis:
    """The best hypothesis of one batch row."""

    text: str
    tokens: Any  # IntTensor of target-dictionary ids (without eos)
    score: float


class Recognizer:
    """A fine-tuned checkpoint, its task and (optionally) a language model, loaded once on one device."""

    def __init__(self, models, task, trained_task_cfg, checkpoint: str, settings: SearchSettings, device: str) -> None:
        self.models, self.task, self.checkpoint, self.settings, self.device = models, task, checkpoint, settings, device
        self.trained_task_cfg = trained_task_cfg  # the task config as trained (before the decoding overrides)
        self.dictionary = task.target_dictionary
        # a checkpoint saved before ctc_weight existed has none: 0, as it was trained and validated
        self.default_ctc_weight = float(getattr(task.cfg, "ctc_weight", 0.0) or 0.0)
        self._lm = None
        self._generators: Dict[Tuple, Any] = {}
        # set by from_checkpoint (decoding.precision); a recogniser built around given models runs them as they are
        self.precision = AppliedPrecision(requested="fp32", used="fp32", device=str(device))

    # ---- loading ----------------------------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(
        cls,
        path: str,
        settings: Optional[SearchSettings] = None,
        *,
        data_dir: Optional[str] = None,
        modalities: Optional[Sequence[str]] = None,
        device: Optional[str] = None,
    ) -> "Recognizer":
        """Load a fine-tuned checkpoint. ``data_dir``: a manifest folder (``dict.wrd.txt``, ``spm.model``, splits)
        that replaces the data paths saved in the checkpoint; ``modalities``: what the task feeds (default: what the
        model was trained with); ``device``: ``cuda``/``cpu`` (default: a GPU when there is one).

        A missing file, a pretraining checkpoint (no decoder) or a checkpoint whose dictionary cannot be found
        raise :class:`UsageError` naming the flag; a refused or unreadable file raises the safe loader's errors.
        """
        import torch
        from fairseq import checkpoint_utils
        from fairseq.dataclass.utils import overwrite_args_by_name

        import avhubert_ami
        from avhubert_ami.checkpoints.inspect import inspect_checkpoint

        avhubert_ami.load_plugin()
        settings = (settings or SearchSettings()).check()
        if not os.path.isfile(path):
            raise UsageError(f"--path {path}: no such checkpoint file")
        info = inspect_checkpoint(path, flag="--path")
        if info.kind != "seq2seq":
            raise UsageError(
                f"--path {path}: this is a pretraining checkpoint (model av_hubert, no decoder), not a fine-tuned "
                "one: it cannot recognise speech. Fine-tune it first (avhubert-finetune --model_name_or_path "
                f"{path} ...) and pass the resulting checkpoint_best.pt"
            )
        overrides: Dict[str, Any] = {"noise_prob": 0.0, "noise_wav": None}
        if data_dir:
            data_dir = os.path.abspath(data_dir)
            overrides.update(data=data_dir, label_dir=data_dir, tokenizer_bpe_model=os.path.join(data_dir, "spm.model"))
        if modalities:
            overrides["modalities"] = list(modalities)
        state = checkpoint_utils.load_checkpoint_to_cpu(path)
        trained_task_cfg = copy.deepcopy(state["cfg"]["task"])
        overwrite_args_by_name(state["cfg"], overrides)
        try:
            models, _cfg, task = checkpoint_utils.load_model_ensemble_and_task([path], state=state)
        except FileNotFoundError as err:
            raise UsageError(
                f"--path {path}: {err} (pass --data DIR, the manifest folder of its dict.wrd.txt)"
            ) from err
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        for m in models:
            m.eval()
            m.to(dev)
        recognizer = cls(models, task, trained_task_cfg, os.path.abspath(path), settings, dev)
        recognizer.resolved_ctc_weight(settings.ctc_weight)  # a CTC weight the model cannot use fails here, not mid-run
        recognizer.precision = apply_precision(models, settings.precision, dev)  # once, after loading
        if settings.lm_path:
            recognizer.language_model()  # so does an LM that cannot serve this dictionary
        return recognizer

    @property
    def model_modalities(self) -> Tuple[str, ...]:
        """The modalities the task feeds (sorted)."""
        return tuple(sorted(self.task.cfg.modalities))

    def resolved_ctc_weight(self, weight: Optional[float] = None) -> float:
        """The CTC weight a search uses: ``weight``, else the settings', else the checkpoint's own."""
        w = self.settings.ctc_weight if weight is None else weight
        w = self.default_ctc_weight if w is None else float(w)
        if w > 0 and not all(getattr(m, "has_ctc_head", False) for m in self.models):
            raise UsageError(
                f"--ctc_weight {w}: {self.checkpoint} has no CTC head (trained without --ctc_weight); decode with "
                "--ctc_weight 0"
            )
        return w

    def language_model(self):
        """The settings' ``avhubert-train-lm`` model, loaded (and checked against the dictionary) once."""
        if self._lm is None:
            import torch

            from avhubert_ami.lm.task import load_lm

            path = self.settings.lm_path
            try:
                self._lm = load_lm(path, self.dictionary, self.task.get_label_dir(), torch.device(self.device))
            except FileNotFoundError as err:
                raise UsageError(f"--lm_path {path}: {err}") from err
        return self._lm

    # ---- search -----------------------------------------------------------------------------------------------
    def generator(self, ctc_weight: Optional[float] = None, lm_weight: Optional[float] = None, **search):
        """The task's beam search at these weights (cached per weights and search settings); ``search``: other
        :class:`SearchSettings` fields that differ from the recogniser's (``beam``, ``max_len_a``, ``max_len_b``)."""
        from fairseq.dataclass.configs import GenerationConfig

        s = replace(self.settings, **search) if search else self.settings
        ctc = self.resolved_ctc_weight(ctc_weight)
        lm_w = s.lm_weight if lm_weight is None else float(lm_weight)
        use_lm = bool(s.lm_path) and lm_w != 0  # weight 0: decode exactly as without an LM
        key = (s.beam, s.max_len_a, s.max_len_b, ctc, lm_w if use_lm else 0.0)
        if key not in self._generators:
            extra: Dict[str, Any] = {"ctc_weight": ctc}
            if use_lm:
                extra.update(lm_model=self.language_model(), lm_weight=lm_w)
            generator = self.task.build_generator(
                self.models,
                GenerationConfig(beam=s.beam, max_len_a=s.max_len_a, max_len_b=s.max_len_b),
                extra_gen_cls_kwargs=extra,
            )
            generator.context = f"checkpoint {self.checkpoint}"  # named in the generator's errors
            self._generators[key] = generator
        return self._generators[key]

    def decode(
        self, sample: Dict[str, Any], ctc_weight: Optional[float] = None, lm_weight: Optional[float] = None, **search
    ) -> List[Hypothesis]:
        """The best hypothesis of every row of a fairseq batch (``net_input``, and ``utt_id`` naming rows in errors),
        moved to the recogniser's device here."""
        import torch
        from fairseq import utils

        generator = self.generator(ctc_weight, lm_weight, **search)
        if self.device != "cpu":
            sample = utils.move_to_cuda(sample, device=torch.device(self.device))
        with torch.no_grad():
            hypos = self.task.inference_step(generator, self.models, sample)
        d = self.dictionary
        ignore = {d.eos(), d.pad(), d.bos()}
        out = []
        for h in hypos:
            tokens = h[0]["tokens"].int().cpu()
            out.append(
                Hypothesis(
                    d.string(tokens, "sentencepiece", extra_symbols_to_ignore=ignore), tokens, float(h[0]["score"])
                )
            )
        return out

    def record(self, ctc_weight: Optional[float] = None, lm_weight: Optional[float] = None) -> Dict[str, Any]:
        """What result files record of a search: model, device, modalities, the settings and the precision as
        used."""
        s = self.settings if lm_weight is None else replace(self.settings, lm_weight=float(lm_weight))
        out = {"model": self.checkpoint, "model_modalities": list(self.model_modalities), "device": self.device}
        out.update(s.record(self.resolved_ctc_weight(ctc_weight)))
        out["precision"] = self.precision.record()  # requested, used, fallback note, how each part runs
        if out["lm_path"]:
            out["lm_path"] = os.path.abspath(out["lm_path"])
        return out
