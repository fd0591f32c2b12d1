"""Review and revise: a person checks and corrects what was recognised, and only what changed is re-rendered.

``revisions`` stores reviewed gloss tracks next to a video's results (the machine's
``gloss_track.json`` is never overwritten); ``revise`` recomposes, re-captions,
re-narrates and re-muxes one result folder from a reviewed track; ``app`` is the
browser page over a run's results; ``feedback`` turns reviewed spans into few-shot
vocabulary and a labelled landmark dataset.
"""
