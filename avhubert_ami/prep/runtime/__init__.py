"""The preparation runtime the recipes share: where jobs run (:mod:`.engine`, :mod:`.workers`), the resume journal
(:mod:`.journal`), output-folder locks (:mod:`.locking`), shards (:mod:`.shards`), the run summary (:mod:`.summary`),
writer options (:mod:`.options`), file names (:mod:`.naming`) and output-folder hygiene (:mod:`.filesystem`)."""
