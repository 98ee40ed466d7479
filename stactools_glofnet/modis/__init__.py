"""The thermal wing: MODIS MOD11A1 v061 daily land-surface temperature."""
