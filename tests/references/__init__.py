"""Independent plain-torch stand-ins for the source models fcn_mm converts
or reproduces, written from their published layouts; tests import them as
``references.<module>``."""
