"""The ``glofnet-harmonized`` collection: every modality on one daily axis and one grid."""
