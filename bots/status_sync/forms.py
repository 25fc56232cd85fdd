"""An HTML form read from the page's HTML, as a browser would submit it.

Request-level saves post the claim form without a tab, so the bot must send what the browser
would have sent: every field the form holds, the hidden ones and the app's anti-forgery token
included, with the fields it means to change replaced. :func:`read_form` finds the form by the
configured CSS selector and collects its *successful controls* in tree order, following the
HTML standard's rules for building a form's entry list:

- a control counts only with a non-empty ``name`` and not ``disabled`` (itself, or a
  ``<fieldset disabled>`` around it);
- buttons and ``submit``/``image``/``reset``/``button``/``file`` inputs are left out (the one
  pressed, the *submitter*, is added by :meth:`HtmlForm.entries` when it has a name);
- checkboxes and radio buttons only when ``checked`` (value ``on`` without a ``value``);
- a ``<select>`` sends its selected options, or, not ``multiple`` and none selected, its first
  option that is not disabled; an option's value is its ``value``, else its text;
- a ``<textarea>`` sends its text.

Parsing is selectolax (lexbor, an HTML5 parser) in this process: the page was already read for
what the bot checks; this reads it once more for what it sends, with the same selectors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

__all__ = ["HtmlForm", "Option", "read_form"]

_NOT_SENT = frozenset({"submit", "image", "reset", "button", "file"})


@dataclass(frozen=True)
class Option:
    value: str   # what is posted
    label: str   # what the dropdown shows (whitespace collapsed), what the bot matches


@dataclass(frozen=True)
class HtmlForm:
    """One form: where it posts and the fields it would send as it stands."""

    action: str                                   # absolute URL
    method: str                                   # "get" or "post"
    enctype: str
    fields: tuple[tuple[str, str], ...]           # the successful controls, in tree order
    names: Mapping[str, str]                      # control selector → its name (those asked for)
    options: Mapping[str, tuple[Option, ...]]     # a <select>'s name → the options it offers
    submitter: tuple[str, str] | None = None      # the named save button, sent as if pressed

    def entries(self, values: Mapping[str, str]) -> list[tuple[str, str]]:
        """The fields to post, each name in ``values`` set to its value (in its place, once;
        appended when the form had no such field), then the submitter."""
        out: list[tuple[str, str]] = []
        done: set[str] = set()
        for name, value in self.fields:
            if name in values:
                if name not in done:
                    out.append((name, values[name]))
                    done.add(name)
                continue
            out.append((name, value))
        out.extend((name, value) for name, value in values.items() if name not in done)
        if self.submitter is not None:
            out.append(self.submitter)
        return out

    def option_value(self, select_name: str, label: str) -> str | None:
        """The value to post for the option of ``select_name`` whose label is ``label``."""
        return next((o.value for o in self.options.get(select_name, ()) if o.label == label), None)


def read_form(html: str, url: str, form: str, controls: Mapping[str, str], *,
              submitter: str | None = None) -> HtmlForm | None:
    """The form ``form`` (CSS) matches in ``html`` (loaded from ``url``), or ``None`` without one.

    ``controls`` maps a key to the CSS selector of a control inside the form whose ``name`` the
    caller needs (the status dropdown, the note); a key whose control is missing or has no name
    is left out of :attr:`HtmlForm.names`. ``submitter`` is the selector of the save button.
    """
    tree = LexborHTMLParser(html)
    node = tree.css_first(form)
    if node is None:
        return None
    base = _base_url(tree, url)
    attrs = node.attributes
    action = (attrs.get("action") or "").strip()
    method = (attrs.get("method") or "get").strip().lower()
    fields: list[tuple[str, str]] = []
    options: dict[str, tuple[Option, ...]] = {}
    for control in node.css("input, select, textarea"):
        name = (control.attributes.get("name") or "")
        if not name or _disabled(control):
            continue
        if control.tag == "select":
            offered = tuple(Option(_option_value(o), _text(o)) for o in control.css("option"))
            options[name] = offered
            fields.extend((name, v) for v in _selected(control))
        elif control.tag == "textarea":
            fields.append((name, _textarea_value(control)))
        else:
            kind = (control.attributes.get("type") or "text").strip().lower()
            if kind in _NOT_SENT:
                continue
            if kind in ("checkbox", "radio"):
                if "checked" in control.attributes:
                    fields.append((name, control.attributes.get("value") or "on"))
                continue
            fields.append((name, control.attributes.get("value") or ""))
    names = {}
    for key, selector in controls.items():
        found = node.css_first(selector)
        name = found.attributes.get("name") if found is not None else None
        if name:
            names[key] = name
    pressed = None
    if submitter is not None and (button := node.css_first(submitter)) is not None:
        button_name = button.attributes.get("name")
        if button_name and not _disabled(button):
            pressed = (button_name, button.attributes.get("value") or "")
        formaction = (button.attributes.get("formaction") or "").strip()
        action = formaction or action
    return HtmlForm(action=urljoin(base, action) if action else url, method=method,
                    enctype=(attrs.get("enctype") or "application/x-www-form-urlencoded").strip().lower(),
                    fields=tuple(fields), names=names, options=options, submitter=pressed)


def _base_url(tree: LexborHTMLParser, url: str) -> str:
    base = tree.css_first("base[href]")
    return urljoin(url, base.attributes.get("href") or "") if base is not None else url


def _disabled(control: LexborNode) -> bool:
    """Disabled itself, or inside a ``<fieldset disabled>`` within the form (forms do not nest).
    (The standard spares a disabled fieldset's first ``<legend>``; a save form has no use for it.)"""
    if "disabled" in control.attributes:
        return True
    parent = control.parent
    while parent is not None and parent.tag != "form":
        if parent.tag == "fieldset" and "disabled" in parent.attributes:
            return True
        parent = parent.parent
    return False


def _text(node: LexborNode) -> str:
    return " ".join((node.text(deep=True) or "").split())


def _option_value(option: LexborNode) -> str:
    value = option.attributes.get("value")
    return value if value is not None else _text(option)


def _selected(select: LexborNode) -> list[str]:
    opts = select.css("option")
    chosen = [_option_value(o) for o in opts if "selected" in o.attributes and "disabled" not in o.attributes]
    if "multiple" in select.attributes:
        return chosen
    if chosen:
        return chosen[-1:]  # one choice: the last option marked selected wins, as in a browser
    first = next((o for o in opts if "disabled" not in o.attributes), None)
    return [_option_value(first)] if first is not None else []


def _textarea_value(textarea: LexborNode) -> str:
    text = textarea.text(deep=True) or ""
    return text.replace("\r\n", "\n").replace("\r", "\n")
