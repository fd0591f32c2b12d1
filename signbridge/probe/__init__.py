"""Probing lab: layer-wise linear probes of sign information.

Asks how much sign identity is linearly readable at each layer of a
vision-language model (and of our own recogniser), and how that compares with
what the model says when asked. Activations are captured with forward hooks,
cached, then probed with standardised L2 logistic regression over repeated
stratified splits, against chance, majority and shuffled-label controls.

Modules: ``data`` (labelled inputs), ``hooks`` (per-layer pooled activations),
``vlm`` / ``recognizer`` (model adapters), ``cache``, ``probes`` (fitting),
``report`` (plots, tables, HTML), ``tiny`` (random-weight VLM for smoke tests),
``run`` (the pipeline the CLI and tests call).
"""
