"""The velocity wing: ITS_LIVE v2 image-pair granules → filtered COGs, velocity cube, daily series."""
