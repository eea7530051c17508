"""Scoring: text normalisation (:mod:`.text`), word/character error rates (:mod:`.wer`), the fairseq-generate
scorers ``cer`` and ``ami_wer`` (:mod:`.scorers`, registered on import). ``text`` and ``wer`` need no fairseq."""
