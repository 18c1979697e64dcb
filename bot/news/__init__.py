"""The news pipeline: fetch → parse → clean → relevance → cluster → summarise → rank → render."""
