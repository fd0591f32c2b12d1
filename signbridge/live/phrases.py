"""Phrases: the signs since the last pause, shown as provisional glosses, then committed as English.

A phrase is committed when a sign ends with a pause (:attr:`~signbridge.live.endpoint.Sign.closes_phrase`)
or reaches ``max_signs``. Its English comes from the rules composer (instant and faithful: it only
rearranges and inflects what the signs say) with the batch caption marks (the low-confidence marker,
``[unclear sign]``), and is never edited afterwards: later signs only start new phrases. The committed
phrases, as one transcript with their gloss track, give the SRT at the end, through the batch caption writer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from signbridge.compose.gloss import UNCLEAR
from signbridge.compose.grouping import DEFAULT_MAX_SPANS
from signbridge.records import UNKNOWN, GlossSpan, GlossTrack, Sentence, Transcript
from signbridge.settings import Settings


@dataclass
class Committed:
    index: int
    text: str  # the caption, with the low-confidence marks
    spoken: str  # what the voice says
    start_s: float
    end_s: float
    glosses: list[str]
    sentences: list[Sentence] = field(default_factory=list)


def gloss_text(span: GlossSpan, marker: str) -> str:
    """How a provisional caption shows one sign: its gloss, marked when uncertain, or ``[unclear sign]``."""
    if span.kind == "unknown" or span.label == UNKNOWN:
        return UNCLEAR
    label = span.label[3:].upper() if span.kind == "fingerspelling" else span.label.upper()
    return label + (marker if span.tier != "plain" and marker else "")


class Phrases:
    """The open phrase's spans and every committed phrase, in order."""

    def __init__(self, settings: Settings, max_signs: int = DEFAULT_MAX_SPANS):
        self.settings = settings.replace(composer="rules")
        self.max_signs = max_signs
        self.open: list[GlossSpan] = []
        self.spans: list[GlossSpan] = []  # every committed span (the stream's gloss track)
        self.committed: list[Committed] = []

    def add(self, span: GlossSpan) -> str:
        """Add a finished sign to the open phrase; returns the provisional caption of the phrase so far."""
        self.open.append(span)
        return " ".join(gloss_text(s, self.settings.low_confidence_marker) for s in self.open)

    @property
    def full(self) -> bool:
        return len(self.open) >= self.max_signs

    def commit(self) -> Committed | None:
        """Compose the open phrase into English and close it (None when it is empty)."""
        if not self.open:
            return None
        from signbridge.captions.marking import mark_low_confidence
        from signbridge.compose import compose_tracks
        from signbridge.speech import spoken_text

        track = GlossTrack(source_uri="live", sha256="0" * 64, model_name="live", model_version="0",
                           spans=list(self.open))
        (tr,) = compose_tracks([track], self.settings, use_cache=False)
        text = " ".join(mark_low_confidence(s, self.settings, track) for s in tr.sentences)
        spoken = " ".join(spoken_text(s.text) for s in tr.sentences)
        base = len(self.spans)
        sentences = [Sentence(start_ms=s.start_ms, end_ms=s.end_ms, text=s.text, confidence=s.confidence,
                              uncertain=s.uncertain, glosses=s.glosses,
                              span_indices=[base + i for i in s.span_indices]) for s in tr.sentences]
        c = Committed(len(self.committed), text, spoken, self.open[0].start_ms / 1000.0,
                      self.open[-1].end_ms / 1000.0, [gloss_text(s, "") for s in self.open], sentences)
        self.spans += self.open
        self.open = []
        self.committed.append(c)
        return c

    def transcript(self) -> tuple[Transcript, GlossTrack]:
        """The committed phrases as one transcript and its gloss track (for the SRT)."""
        track = GlossTrack(source_uri="live", sha256="0" * 64, model_name="live", model_version="0",
                           spans=list(self.spans))
        sentences = [s for c in self.committed for s in c.sentences]
        return Transcript(source_uri="live", sha256="0" * 64, backend="rules", model="signbridge-rules",
                          prompt_version="r1", sentences=sentences), track

    def srt(self) -> str:
        from signbridge.captions.writers import to_srt

        tr, track = self.transcript()
        if not tr.sentences:
            return ""
        end = max(s.end_ms for s in track.spans) + 5000.0
        return to_srt(tr, self.settings, track=track, duration_ms=end)
