"""Language models for shallow fusion: the ``ami_av_lm`` task and :func:`~avhubert_ami.lm.task.load_lm`
(:mod:`.task`, registered on import), and the training pipeline of ``avhubert-train-lm`` (:mod:`.train`)."""
