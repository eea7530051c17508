"""Fine-tuning with the users' guide's flags: the presets (:mod:`.presets`), the one flag table and its mapping onto
hydra overrides (:mod:`.flags`), ``--dataset_name`` resolution (:mod:`.data_source`), and the driver that plans,
trains and evaluates (:mod:`.run`). The ``fairseq-hydra-train`` processes it and ``avhubert-train-lm`` start, with their
one-line errors: :mod:`.trainer_processes`; step records of resumable runs: :mod:`.stamps`. The command line is
:mod:`avhubert_ami.cli.finetune`."""
