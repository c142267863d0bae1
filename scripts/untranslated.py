"""Text in the templates that a reader would see and that is not marked for translation.

Usage: python scripts/untranslated.py [template ...]   (default: every template under templates/)

Prints ``path:line: text`` per finding and exits 1 when there is any. Visible text is what a
browser shows: text between tags (outside <script> and <style>) and the attributes people read
(title, placeholder, alt, aria-label, a button's value, the data-*-label attributes our scripts
show). Text inside {% translate %} and {% blocktranslate %} is marked; template variables are
data, not text. Words that read the same in every language (DICOM, HL7, PDF, AUC, p95, a unit)
are allowed: all letters upper case or digits, or one of ALLOWED.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"

# Read the same in English, Korean and Chinese user interfaces of radiology software.
ALLOWED = {"p50", "p90", "p95", "p99", "ms", "mL", "kVp", "mAs", "s", "min", "h", "d", "vs"}
ALLOWED |= {"Esc", "Ctrl", "Alt", "Shift", "Enter", "Tab"}  # key caps
SHOWN_ATTRIBUTES = {"title", "placeholder", "alt", "aria-label", "label"}
BLOCK = re.compile(r"{%.*?%}|{{.*?}}|{#.*?#}", re.S)
MARK = "\ue000"  # stands for translated text or a variable in the skeleton


def _skeleton(source: str) -> str:
    """The template with its tags resolved for this purpose: translated text and variables
    become MARK, comments and other tags vanish, newlines are kept for line numbers."""
    out: list[str] = []
    pos = 0
    skip_until: str | None = None
    for match in BLOCK.finditer(source):
        text = source[pos : match.start()]
        pos = match.end()
        tag = match.group()
        if skip_until:
            out.append("\n" * text.count("\n") + "\n" * tag.count("\n"))
            if re.match(r"{%\s*" + skip_until + r"\b", tag):
                skip_until = None
                out.append(MARK)
            continue
        out.append(text)
        newlines = "\n" * tag.count("\n")
        if tag.startswith("{{") or re.match(r"{%\s*(translate|trans)\b", tag):
            out.append(MARK + newlines)
        elif re.match(r"{%\s*(blocktranslate|blocktrans)\b", tag):
            skip_until = "endblocktrans(?:late)?"
            out.append(newlines)
        elif re.match(r"{%\s*comment\b", tag):
            skip_until = "endcomment"
            out.append(newlines)
        else:
            out.append(newlines)
    out.append(source[pos:])
    return "".join(out)


def _is_text(value: str) -> bool:
    value = value.replace(MARK, " ")
    for word in re.findall(r"[^\W\d_][\w'\u2019-]*", value):
        if word in ALLOWED or word.isupper() or re.fullmatch(r"[A-Z]+\d*[a-z]?", word):
            continue
        return True
    return False


class _Finder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._raw = 0  # inside <script> or <style>

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style"}:
            self._raw += 1
        is_button = tag == "input" and dict(attrs).get("type") in {"submit", "button"}
        for name, value in attrs:
            shown = name in SHOWN_ATTRIBUTES or (
                name.startswith("data-") and name.endswith("label")
            )
            if value and (shown or (is_button and name == "value")) and _is_text(value):
                self.found.append((self.getpos()[0], f'{name}="{value.strip()}"'))

    def handle_endtag(self, tag):
        if tag in {"script", "style"} and self._raw:
            self._raw -= 1

    def handle_data(self, data):
        if not self._raw and _is_text(data):
            leading = data[: len(data) - len(data.lstrip())]
            line = self.getpos()[0] + leading.count("\n")
            self.found.append((line, " ".join(data.replace(MARK, "…").split())))


def findings(path: Path) -> list[tuple[int, str]]:
    finder = _Finder()
    finder.feed(_skeleton(path.read_text(encoding="utf-8")))
    finder.close()
    return finder.found


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(TEMPLATES.rglob("*.html"))
    total = 0
    for path in paths:
        for line, text in findings(path):
            total += 1
            print(f"{path.relative_to(ROOT) if path.is_absolute() else path}:{line}: {text}")
    if total:
        print(
            f"{total} untranslated text(s): wrap them in {{% translate %}} or "
            "{% blocktranslate trimmed %}",
            file=sys.stderr,
        )
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main([str(Path(a).resolve()) for a in sys.argv[1:]]))
