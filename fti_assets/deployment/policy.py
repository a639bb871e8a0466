"""The promotion policy: one declarative file (``policy.yaml``) holding every promotion rule.

The file is validated when loaded; a bad value is refused with the line it is on. Its
content hash (of the validated values, so comments and layout do not change it) is recorded
beside every gate decision, so the history shows which policy allowed which model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_POLICY = Path(__file__).with_name("policy.yaml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChampionRules(_Section):
    min_improvement: float = Field(ge=0, le=1)
    min_test_rows: int = Field(ge=1)


class SliceRules(_Section):
    by: list[Literal["carrier", "origin", "dest"]] = Field(min_length=1)
    max_auc_drop: float = Field(ge=0, le=1)
    min_rows: int = Field(ge=1)


class LeakAlarm(_Section):
    auc: float = Field(gt=0.5, le=1)
    explained_margin: float = Field(ge=0, le=0.5)


class Floors(_Section):
    auc: float = Field(ge=0.5, le=1)
    max_brier: float = Field(gt=0, le=1)


class ShadowEvidence(_Section):
    required: bool
    min_rows: int = Field(ge=1)


class Force(_Section):
    allowed: list[str] = Field(description="Who may promote a challenger the gates refused.")


class PromotionPolicy(_Section):
    """The whole policy; every section is required, so a forgotten rule is an error, not a default."""

    champion: ChampionRules
    slices: SliceRules
    leak_alarm: LeakAlarm
    floors: Floors
    shadow_evidence: ShadowEvidence
    force: Force


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file, the line and the rule."""


@dataclass(frozen=True)
class LoadedPolicy:
    policy: PromotionPolicy
    path: Path
    hash: str

    def values(self) -> dict[str, Any]:
        return self.policy.model_dump(mode="json")


def content_hash(policy: PromotionPolicy) -> str:
    """SHA-256 of the validated values as canonical JSON."""
    return hashlib.sha256(json.dumps(policy.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def _line_of(root: Any, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    import yaml

    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == part), None)
            if found is None:
                break
            # An unknown key is reported where the key is written.
            node, line = found[1], found[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def parse_policy(text: str, path: Path | str = "<policy>") -> LoadedPolicy:
    """Validate policy text; raise ``PolicyError`` naming the line of each bad value."""
    import yaml

    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "an unknown line"
        raise PolicyError(f"{path}: {where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise PolicyError(
            f"{path}: line 1: the policy must be a mapping of sections, not {type(data).__name__}"
        )
    try:
        policy = PromotionPolicy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_url=False):
            field = ".".join(str(p) for p in e["loc"])
            line = _line_of(root, tuple(e["loc"]))
            value = (
                f" (got {e['input']!r})"
                if e["type"] != "missing" and not isinstance(e["input"], dict)
                else ""
            )
            problems.append(f"{path}: line {line}: {field}: {e['msg']}{value}")
        raise PolicyError("invalid promotion policy:\n" + "\n".join(problems)) from None
    return LoadedPolicy(policy, Path(path), content_hash(policy))


def load_policy(path: Path | str = DEFAULT_POLICY) -> LoadedPolicy:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyError(f"cannot read the promotion policy {path}: {exc}") from None
    return parse_policy(text, path)
