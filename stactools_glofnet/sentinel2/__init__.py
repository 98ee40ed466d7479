"""The optical wing: Sentinel-2 L2A scenes → cloud-masked COGs, indices, lake area, ML patches."""

from stactools_glofnet.sentinel2.collection import create_collection, create_item
from stactools_glofnet.sentinel2.sample import generate as generate_sample

__all__ = ["create_collection", "create_item", "generate_sample"]
