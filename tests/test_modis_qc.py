"""The QC byte decoded value by value against the documented bit table, for all 256 values."""

from __future__ import annotations

import numpy as np

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.modis.qc import accepted, decode

MANDATORY = ["good", "other quality", "not produced: cloud", "not produced: other"]
LST_ERROR = ["<=1 K", "<=2 K", "<=3 K", ">3 K"]


def _bits(value: int) -> str:
    return format(value, "08b")  # bit 7 first


def test_every_qc_byte_decodes_per_the_bit_table() -> None:
    values = np.arange(256, dtype=np.uint8)
    fields = decode(values)
    for value in range(256):
        bits = _bits(value)
        assert fields.mandatory_qa[value] == int(bits[6:8], 2)  # bits 1-0
        assert fields.data_quality[value] == int(bits[4:6], 2)  # bits 3-2
        assert fields.emissivity_error[value] == int(bits[2:4], 2)  # bits 5-4
        assert fields.lst_error[value] == int(bits[0:2], 2)  # bits 7-6


def test_acceptance_rule_for_every_byte(content: CatalogContent) -> None:
    params = content.processing.modis
    values = np.arange(256, dtype=np.uint8)
    kept = accepted(values, np.full(256, 14000), params)
    for value in range(256):
        bits = _bits(value)
        mandatory, lst_error = MANDATORY[int(bits[6:8], 2)], LST_ERROR[int(bits[0:2], 2)]
        expected = mandatory == "good" or (mandatory == "other quality" and lst_error in ("<=1 K", "<=2 K"))
        assert kept[value] == expected, (value, mandatory, lst_error)
    assert not accepted(np.zeros(1, np.uint8), np.zeros(1), params).any()  # QC 0 is good only where LST != 0
