"""The thermal wing: MODIS MOD11A1 v061 daily land-surface temperature."""

from stactools_glofnet.modis.collection import create_collection
from stactools_glofnet.modis.sample import generate as generate_sample

__all__ = ["create_collection", "generate_sample"]
