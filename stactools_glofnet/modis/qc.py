"""The MOD11A1 QC byte (QC_Day, QC_Night), decoded per the documented bit table (DOMAIN.md §3).

Bits are numbered 7..0 from most to least significant:
1-0 mandatory QA (0 good, 1 other quality, 2 not produced: cloud, 3 not produced: other);
3-2 data quality (0 good, 1 other); 5-4 emissivity error (0 <=0.01, 1 <=0.02, 2 <=0.04, 3 >0.04);
7-6 LST error (0 <=1 K, 1 <=2 K, 2 <=3 K, 3 >3 K).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from stactools_glofnet.core.config import ModisParams

FIELDS: Final = {
    "mandatory_qa": (0, 2),
    "data_quality": (2, 2),
    "emissivity_error": (4, 2),
    "lst_error": (6, 2),
}
MANDATORY_GOOD, MANDATORY_OTHER = 0, 1


@dataclass(frozen=True)
class QC:
    """The four QC fields of an array of QC bytes."""

    mandatory_qa: NDArray[np.uint8]
    data_quality: NDArray[np.uint8]
    emissivity_error: NDArray[np.uint8]
    lst_error: NDArray[np.uint8]


def decode(qc: NDArray[Any]) -> QC:
    """Split QC bytes into their fields."""
    byte = np.asarray(qc, dtype=np.uint8)
    fields = {
        name: ((byte >> offset) & ((1 << length) - 1)).astype(np.uint8)
        for name, (offset, length) in FIELDS.items()
    }
    return QC(**fields)


def accepted(qc: NDArray[Any], lst_dn: NDArray[Any], params: ModisParams) -> NDArray[np.bool_]:
    """Pixels whose LST is kept: produced (DN > 0), mandatory QA accepted, LST error bounded.

    A good mandatory QA is kept whatever its LST error; "other quality" is kept only when its LST
    error class is at most ``max_lst_error_class``.
    """
    fields = decode(qc)
    mandatory_ok = np.isin(fields.mandatory_qa, params.accepted_mandatory_qa)
    error_ok = (fields.mandatory_qa == MANDATORY_GOOD) | (fields.lst_error <= params.max_lst_error_class)
    result: NDArray[np.bool_] = (np.asarray(lst_dn) > 0) & mandatory_ok & error_ok
    return result
