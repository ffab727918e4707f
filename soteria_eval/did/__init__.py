"""Difference-in-differences estimators."""

from soteria_eval.did.bacon import bacon_decomposition
from soteria_eval.did.callaway_santanna import (
    AggregatedResults,
    CallawaySantAnnaResults,
    callaway_santanna,
)
from soteria_eval.did.event_study import event_study, pretrend_test
from soteria_eval.did.imputation import imputation_did
from soteria_eval.did.ppml import ppml, ppml_score_bootstrap
from soteria_eval.did.sun_abraham import sun_abraham
from soteria_eval.did.twfe import did_2x2, did_means, twfe

__all__ = [
    "AggregatedResults",
    "CallawaySantAnnaResults",
    "bacon_decomposition",
    "callaway_santanna",
    "did_2x2",
    "did_means",
    "event_study",
    "imputation_did",
    "ppml",
    "ppml_score_bootstrap",
    "pretrend_test",
    "sun_abraham",
    "twfe",
]
