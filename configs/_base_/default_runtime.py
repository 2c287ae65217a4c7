# mmseg's runtime (logging, visualiser, default_scope='mmseg') plus the plugin.
_base_ = 'mmseg::_base_/default_runtime.py'
# Every leaf inherits this, so fcn_mm's models are registered before building.
custom_imports = dict(imports=['fcn_mm'], allow_failed_imports=False)
