# stactools finds plugins only as modules of the `stactools` namespace package (it iterates
# stactools.__path__ and calls each module's `register_plugin`); entry points are ignored. This
# shim makes `stac glofnet` appear. There must be no stactools/__init__.py beside it.
from stactools_glofnet import register_plugin as register_plugin
