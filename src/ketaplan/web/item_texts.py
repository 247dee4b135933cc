"""What the patient reads on the questionnaire page: the PHQ-9 and GAD-7 wording.

The clinical module ships no item texts (it only scores). The patient page needs them: the
PHQ-9 and GAD-7 (Kroenke 2001; Spitzer 2006; developed with an educational grant from Pfizer)
may be reproduced, translated, displayed and distributed without permission. Other scales show
numbered items with their 0-to-max choices until a clinic adds licensed wording.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ItemTexts:
    stem: str
    items: tuple[str, ...]
    anchors: tuple[str, ...]


_FREQUENCY = ("Not at all", "Several days", "More than half the days", "Nearly every day")
_STEM = "Over the last 2 weeks, how often have you been bothered by any of the following problems?"

ITEM_TEXTS: dict[str, ItemTexts] = {
    "phq9": ItemTexts(
        _STEM,
        (
            "Little interest or pleasure in doing things",
            "Feeling down, depressed, or hopeless",
            "Trouble falling or staying asleep, or sleeping too much",
            "Feeling tired or having little energy",
            "Poor appetite or overeating",
            "Feeling bad about yourself, or that you are a failure or have let yourself or "
            "your family down",
            "Trouble concentrating on things, such as reading the newspaper or watching television",
            "Moving or speaking so slowly that other people could have noticed; or the "
            "opposite, being so fidgety or restless that you have been moving around a lot "
            "more than usual",
            "Thoughts that you would be better off dead, or of hurting yourself in some way",
        ),
        _FREQUENCY,
    ),
    "gad7": ItemTexts(
        _STEM,
        (
            "Feeling nervous, anxious, or on edge",
            "Not being able to stop or control worrying",
            "Worrying too much about different things",
            "Trouble relaxing",
            "Being so restless that it is hard to sit still",
            "Becoming easily annoyed or irritable",
            "Feeling afraid, as if something awful might happen",
        ),
        _FREQUENCY,
    ),
}
