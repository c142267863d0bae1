"""What one model's run on one study produced, before it is recorded. Imports no Django."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FindingResult:
    code: str
    display: str
    probability: float
    threshold: float

    @property
    def flagged(self) -> bool:
        return self.probability >= self.threshold


@dataclass
class RunOutcome:
    model_name: str
    model_version: str
    weights_sha256: str
    # "succeeded", "not_applicable" (the model was not made for this study), "low_confidence"
    # (made for it, but the images fall outside what it was validated on: its scores are kept
    # for the record and flag nothing) or "failed".
    status: str
    findings: list[FindingResult] = field(default_factory=list)
    series_instance_uid: str = ""
    sop_instance_uids: list[str] = field(default_factory=list)
    runtime_ms: float | None = None
    reason: str = ""
    detail: dict = field(default_factory=dict)

    @property
    def thresholds(self) -> dict[str, float]:
        return {f.code: f.threshold for f in self.findings}

    @property
    def probabilities(self) -> dict[str, float]:
        return {f.code: round(f.probability, 4) for f in self.findings}

    @property
    def flags(self) -> dict[str, bool]:
        # Only a run that passed the input checks may flag: a low-confidence score never
        # escalates a study, whatever its value.
        speaks = self.status == "succeeded"
        return {f.code: speaks and f.flagged for f in self.findings}


def draft_sentences(outcome: RunOutcome) -> list[str]:
    """One sentence per positive flag, marked as AI-generated and needing confirmation.

    Nothing is ever said about a finding the model did not flag: a triage model's silence is
    not a negative read, and a sentence like "no hemorrhage" must never reach a report.
    """
    if outcome.status != "succeeded":
        return []
    return [
        f"AI-generated, requires radiologist confirmation: findings suggestive of "
        f"{finding.display} (probability {finding.probability:.0%}; model "
        f"{outcome.model_name} {outcome.model_version})."
        for finding in outcome.findings
        if finding.flagged
    ]
