"""Data: ERA5 acquisition and conversion, the synthetic offline world, dataset layouts."""
