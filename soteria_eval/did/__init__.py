"""Difference-in-differences estimators.

Names are imported from their modules on first use, so ``from soteria_eval.did import
twfe`` does not import the staggered-adoption estimators (and SciPy's statistics) too.
"""

from typing import TYPE_CHECKING

from soteria_eval._lazy import lazy_package

_EXPORTS = {
    "AggregatedResults": "callaway_santanna",
    "CallawaySantAnnaResults": "callaway_santanna",
    "bacon_decomposition": "bacon",
    "callaway_santanna": "callaway_santanna",
    "did_2x2": "twfe",
    "did_means": "twfe",
    "dose_blocks": "dose",
    "event_study": "event_study",
    "imputation_did": "imputation",
    "ppml": "ppml",
    "ppml_score_bootstrap": "ppml",
    "pretrend_test": "event_study",
    "stacked_dose_did": "dose",
    "sun_abraham": "sun_abraham",
    "twfe": "twfe",
}
__all__ = [
    "AggregatedResults",
    "CallawaySantAnnaResults",
    "bacon_decomposition",
    "callaway_santanna",
    "did_2x2",
    "did_means",
    "dose_blocks",
    "event_study",
    "imputation_did",
    "ppml",
    "ppml_score_bootstrap",
    "pretrend_test",
    "stacked_dose_did",
    "sun_abraham",
    "twfe",
]
lazy_package(__name__, _EXPORTS)

if TYPE_CHECKING:
    from soteria_eval.did.bacon import bacon_decomposition
    from soteria_eval.did.callaway_santanna import (
        AggregatedResults,
        CallawaySantAnnaResults,
        callaway_santanna,
    )
    from soteria_eval.did.dose import dose_blocks, stacked_dose_did
    from soteria_eval.did.event_study import event_study, pretrend_test
    from soteria_eval.did.imputation import imputation_did
    from soteria_eval.did.ppml import ppml, ppml_score_bootstrap
    from soteria_eval.did.sun_abraham import sun_abraham
    from soteria_eval.did.twfe import did_2x2, did_means, twfe
