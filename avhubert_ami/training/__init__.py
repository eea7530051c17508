"""Fine-tuning with the users' guide's flags: the presets (:mod:`.presets`), the one flag table and its mapping onto
hydra overrides (:mod:`.flags`), ``--dataset_name`` resolution (:mod:`.data_source`), and the driver that plans,
trains (``fairseq-hydra-train`` children) and evaluates (:mod:`.run`). The command line is
:mod:`avhubert_ami.cli.finetune`."""
