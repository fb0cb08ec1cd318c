"""Diagnosis: from a failed or stuck launch's logs to its cause, with the evidence (pure).

``classify`` maps log text to typed ``Cause``s by the rule table in ``rules``; ``combine``
puts the causes of all servers together (who failed first, who are victims, links to the
ping matrix and discovery) into one ``Diagnosis``.
"""

from .classify import classify, classify_all, classify_text, parse_log_time
from .combine import diagnose
from .model import Cause, Diagnosis, EvidenceLine, Link, LogSource, RankPlace
from .rules import RULES, Rule

__all__ = [
    "RULES",
    "Cause",
    "Diagnosis",
    "EvidenceLine",
    "Link",
    "LogSource",
    "RankPlace",
    "Rule",
    "classify",
    "classify_all",
    "classify_text",
    "diagnose",
    "parse_log_time",
]
