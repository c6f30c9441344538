"""Every text a person reads comes from a jinja2 template under `templates/`."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, TemplateNotFound

HTML_FOLDERS = ("web/", "console/")


def is_html(name: str | None) -> bool:
    """Web pages escape every value (a stored reply is text, never markup); SMS and bot texts
    are plain text and must not show &lt; for <."""
    return bool(name) and name.startswith(HTML_FOLDERS)


class Renderer:
    """Renders a message kind for a channel; board-specific templates win when present."""

    def __init__(self, sms_signature: str = "") -> None:
        # Templates are part of the release: loaded once, never checked for changes per message.
        self.env = Environment(loader=PackageLoader("templates", ""), undefined=StrictUndefined,
                               autoescape=is_html, keep_trailing_newline=False, auto_reload=False)
        self.chosen: dict[tuple[Any, str], Template] = {}  # (board, kind) -> its template
        self.sms_signature = sms_signature

    def render(self, kind: str, context: dict[str, Any]) -> str:
        template = self.template(context.get("board"), kind)
        text = " ".join(template.render(**context).split())
        if context.get("channel") == "sms" and not text.startswith(self.sms_signature):
            text = self.sms_signature + text
        return text

    def template(self, board: Any, kind: str) -> Template:
        """The board's own template for `kind` if it has one, else the common one."""
        if (board, kind) not in self.chosen:
            names = [f"messages/{board}/{kind}.j2", f"messages/{kind}.j2"]
            try:
                self.chosen[board, kind] = self.env.select_template(names)
            except TemplateNotFound as exc:
                raise LookupError(f"no template for message kind {kind!r}") from exc
        return self.chosen[board, kind]

    def page(self, name: str, **context: Any) -> str:
        """Any other template (bot texts, web pages) by its path under templates/."""
        return self.env.get_template(name).render(**context)
