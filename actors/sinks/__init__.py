"""The bus's consumers that write somewhere: the DbWriter (store) and the CacheWriter (cache)."""
