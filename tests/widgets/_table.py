"""Read what the explorer displays: the cells of its HTML tables (stdlib parser only)."""

from __future__ import annotations

from html.parser import HTMLParser


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "td":
            a = dict(attrs)
            self._open = {"class": a.get("class", ""), "path": a.get("data-path"),
                          "value": a.get("data-value"), "id": a.get("id"), "text": ""}

    def handle_endtag(self, tag):
        if tag == "td" and self._open is not None:
            self._open["text"] = self._open["text"].strip()
            self.cells.append(self._open)
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data


def cells(html_text: str) -> list[dict]:
    """Every ``<td>`` with its class, data-path, data-value, id and visible text."""
    p = _Cells()
    p.feed(html_text)
    return p.cells


def displayed(html_text: str, cls: str) -> dict[str, tuple[float, str]]:
    """path -> (exact value from data-value, visible text) of the cells of class ``cls``."""
    out = {}
    for c in cells(html_text):
        if cls in c["class"].split() and c["path"] is not None and c["value"] is not None:
            out[c["path"]] = (float(c["value"]), c["text"])
    return out
