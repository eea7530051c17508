"""Users'-guide command line (HF Trainer-style flags) on top of fairseq's hydra training.

``trainer_args`` holds the one flag table (flag -> hydra overrides) and its validation,
``data_source`` resolves ``--dataset_name``, ``checkpoints`` inspects ``--model_name_or_path``,
``run`` drives training (fairseq-hydra-train subprocesses) and evaluation.
"""
