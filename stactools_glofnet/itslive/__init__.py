"""The velocity wing: ITS_LIVE v2 image-pair granules → filtered COGs, velocity cube, daily series."""

from stactools_glofnet.itslive.collection import create_collection
from stactools_glofnet.itslive.sample import generate as generate_sample

__all__ = ["create_collection", "generate_sample"]
