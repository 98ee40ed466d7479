"""The optical wing: Sentinel-2 L2A scenes → cloud-masked COGs, indices, lake area, ML patches."""
