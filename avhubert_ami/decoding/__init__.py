"""Decoding: one :class:`~avhubert_ami.decoding.recognizer.Recognizer` loaded once and called per batch, the one
home of the search settings and their flags (:mod:`.settings`), the joint CTC/attention generator and its prefix
scorer (:mod:`.generator`, :mod:`.ctc_prefix_score`), a split decoded and scored (:mod:`.split`) and the weight grid
(:mod:`.weight_grid`). Imports go one way: settings <- recognizer <- split <- weight_grid; the task builds the
generator."""
