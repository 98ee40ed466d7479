"""The deterministic synthetic Shisper sample, written in the source products' own formats.

Modality wings plug their generators into :mod:`stactools_glofnet.sample.framework`; the shared
time line of planted signals is :mod:`stactools_glofnet.sample.timeline`.
"""
