"""Reading and writing forecast files: formats and atomic writes."""
