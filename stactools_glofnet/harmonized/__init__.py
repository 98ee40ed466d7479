"""The ``glofnet-harmonized`` collection: every modality on one daily axis and one grid."""

from stactools_glofnet.harmonized.collection import create_collection

__all__ = ["create_collection"]
