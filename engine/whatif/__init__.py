"""The what-if engine: a model of a desk's agents calibrated on a log (`kefu calibrate`, docs/whatif.md)."""
