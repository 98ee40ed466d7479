"""The ground floor every modality wing uses: configuration, grids, STAC helpers, errors."""
