"""Reporting and figures: the typed published numbers, cells and claim verdicts, the item pages and plots,
``REPORT.md``'s answer page and the README's generated blocks."""
