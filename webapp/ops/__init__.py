"""Operations: health, metrics, structured logs, safe media serving and file retention."""
