"""The admin page's HTML: the fleet table, a GPU's page and the inventory import, rendered from the API's
documents. Pure functions; every value is escaped, and each form that writes carries the CSRF token."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from gpuhealth.analyzers.cycle import STATUSES
from gpuhealth.analyzers.economics.valuation import ACTIONS
from gpuhealth.analyzers.inventory import EDITABLE
from gpuhealth.analyzers.inventory import STATUSES as ASSET_STATUSES
from gpuhealth.analyzers.repairs import KINDS
from gpuhealth.analyzers.serve.api import DIMENSIONS, GpuFilter

STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}th a{color:inherit}
.error{background:#fdd;border:1px solid #c00;padding:.5em;white-space:pre-wrap}
.saved{background:#dfd;border:1px solid #080;padding:.5em}form.inline label{margin-right:1em}
nav a{margin-right:1em}"""
COLUMNS = (("uuid", "GPU"), ("host", "host"), ("model", "model"), ("status", "status"),
           ("health_score", "health"), ("failure_probability_7d", "p(fail 7d)"),
           ("failure_probability_30d", "p(fail 30d)"), ("recommended_action", "action"),
           ("market_value_dollars", "value ($)"), ("anomaly_score", "anomaly"))


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"
    return _e(value)


def _page(title: str, body: str, message: str = "", error: str = "") -> bytes:
    notes = (f"<p class='saved' id='message'>{_e(message)}</p>" if message else "") + (
        f"<p class='error' id='error'>{_e(error)}</p>" if error else "")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_e(title)} - gpuhealth</title>"
            f"<style>{STYLE}</style></head><body><nav><a href='/admin'>fleet</a><a href='/admin/import'>import "
            f"inventory</a><a href='/api/v1/openapi.json'>API</a><a href='/metrics'>metrics</a></nav>"
            f"<h1>{_e(title)}</h1>{notes}{body}</body></html>").encode()


def gpu_link(uuid: str) -> str:
    """The admin page of one GPU."""
    return "/admin/gpus/" + quote(uuid, safe="")


def _select(name: str, choices: Sequence[str], chosen: str | None, blank: str | None = "any") -> str:
    options = ([f"<option value=''>{_e(blank)}</option>"] if blank is not None else []) + [
        f"<option value='{_e(c)}'{' selected' if c == chosen else ''}>{_e(c)}</option>" for c in choices]
    return f"<select name='{_e(name)}' id='{_e(name)}'>{''.join(options)}</select>"


def fleet_page(listing: Mapping[str, Any], f: GpuFilter, state: str) -> bytes:
    """The fleet table: a filter form, column headers that sort, each GPU linked to its page."""
    def sort_link(field: str, label: str) -> str:
        order = "asc" if f.sort == field and f.order == "desc" else "desc"
        params = {k: v for k, v in (("host", f.host), ("model", f.model), ("status", f.status),
                                    ("action", f.action)) if v} | {"sort": field, "order": order}
        mark = (" ▼" if f.order == "desc" else " ▲") if f.sort == field else ""
        return f"<th><a href='/admin?{_e(urlencode(params))}' id='sort-{field}'>{_e(label)}{mark}</a></th>"

    rows = []
    for r in listing["gpus"]:
        cells = [f"<td><a href='{_e(gpu_link(r['uuid']))}'>{_e(r['uuid'])}</a></td>"]
        cells += [f"<td>{_fmt(r[k])}</td>" for k, _ in COLUMNS[1:]]
        rows.append(f"<tr class='gpu'>{''.join(cells)}</tr>")
    form = ("<form method='get' action='/admin' id='filter' class='inline'>"
            f"<label>host <input name='host' id='host' value='{_e(f.host)}'></label>"
            f"<label>model <input name='model' id='model' value='{_e(f.model)}'></label>"
            f"<label>status {_select('status', STATUSES, f.status)}</label>"
            f"<label>action {_select('action', ACTIONS, f.action)}</label>"
            f"<input type='hidden' name='sort' value='{_e(f.sort)}'><input type='hidden' name='order' "
            f"value='{_e(f.order)}'><button type='submit' id='apply'>filter</button></form>")
    shown = len(listing["gpus"])
    body = (f"<p>Analyzer: {_e(state)}. {shown} of <span id='total'>{listing['total']}</span> GPUs shown.</p>"
            f"{form}<table id='fleet'><tr>{''.join(sort_link(k, label) for k, label in COLUMNS)}</tr>"
            f"{''.join(rows)}</table>")
    return _page("gpuhealth fleet", body)


def _asset_form(uuid: str, asset: Mapping[str, Any] | None, csrf: str) -> str:
    fields = []
    for name in EDITABLE:
        value = "" if asset is None else asset.get(name, "")
        if name == "status":
            field = _select("status", ASSET_STATUSES, value or "active", blank=None).replace(
                "id='status'", "id='asset-status'")
        else:
            kind = "date" if name == "purchase_date" else "text"
            field = f"<input type='{kind}' name='{name}' id='asset-{name}' value='{_e(value)}'>"
        fields.append(f"<tr><th><label for='asset-{name}'>{_e(name)}</label></th><td>{field}</td></tr>")
    return (f"<h2>Asset</h2><form method='post' action='{_e(gpu_link(uuid))}/asset' id='asset-form'>"
            f"<input type='hidden' name='csrf' value='{_e(csrf)}'><table>{''.join(fields)}</table>"
            "<button type='submit' id='save-asset'>save asset</button></form>")


def _repair_section(uuid: str, repairs: Sequence[Mapping[str, Any]], csrf: str, today: str) -> str:
    rows = "".join("<tr class='repair'>" + "".join(f"<td>{_fmt(r[k])}</td>" for k in (
        "repaired_at", "kind", "mode", "cost_dollars", "success", "notes", "recorded_by")) + "</tr>" for r in repairs)
    table = ("<table id='repairs'><tr><th>when</th><th>kind</th><th>mode</th><th>cost ($)</th><th>success</th>"
             f"<th>notes</th><th>recorded by</th></tr>{rows}</table>") if repairs else "<p>No repair recorded.</p>"
    form = (f"<form method='post' action='{_e(gpu_link(uuid))}/repairs' id='repair-form' class='inline'>"
            f"<input type='hidden' name='csrf' value='{_e(csrf)}'>"
            f"<label>date <input name='date' id='repair-date' value='{_e(today)}'></label>"
            f"<label>kind {_select('kind', KINDS, 'repair', blank=None)}</label>"
            "<label>mode <input name='mode' id='repair-mode'></label>"
            "<label>cost ($) <input name='cost' id='repair-cost'></label>"
            f"<label>success {_select('success', ('yes', 'no'), 'yes', blank=None)}</label>"
            "<label>notes <input name='notes' id='repair-notes'></label>"
            "<button type='submit' id='record-repair'>record</button></form>"
            "<p>A successful repair puts the asset back in service and resets its prediction baseline: from then "
            "on it is judged from its new life's telemetry only, and training counts it as a new GPU.</p>")
    return f"<h2>Repairs and RMAs</h2>{table}<h3>Record a repair or RMA outcome</h3>{form}"


def gpu_page(detail: Mapping[str, Any] | None, uuid: str, asset: Mapping[str, Any] | None,
             repairs: Sequence[Mapping[str, Any]], csrf: str, today: str, message: str = "",
             error: str = "") -> bytes:
    """One GPU: its verdict (from the API's document; None before the analyzer judged it), its asset form,
    its repairs and the form that records one."""
    parts = []
    if detail is not None:
        facts = [("status", detail["status"]), ("model", detail["model"]), ("host", detail["host"]),
                 ("recommended action", detail["recommended_action"]),
                 ("p(fail 7d)", detail["failure_probability_7d"]), ("p(fail 30d)", detail["failure_probability_30d"]),
                 ("health score", detail["health_score"]), ("market value ($)", detail["market_value_dollars"]),
                 ("history (days)", detail["history_days"]), ("judged since a repair at", detail["life_since"]),
                 ("not reporting since", detail["down_since"])]
        scores = detail.get("health_scores") or {}
        facts += [(f"{d} score", scores.get(d)) for d in DIMENSIONS if scores]
        parts.append("<table id='verdict'>" + "".join(
            f"<tr><th>{_e(k)}</th><td id='v-{_e(k.replace(' ', '-'))}'>{_fmt(v)}</td></tr>" for k, v in facts
            if v is not None) + "</table>")
        if detail["drivers"]:
            parts.append("<h2>Why</h2><ul>" + "".join(f"<li>{_e(d)}</li>" for d in detail["drivers"]) + "</ul>")
        if detail["factors"]:
            parts.append("<h2>Factors</h2><ul>" + "".join(
                f"<li>{_e(x['factor'])} ({_fmt(x['weight'])})</li>" for x in detail["factors"]) + "</ul>")
    else:
        parts.append("<p>The analyzer has not judged this GPU yet.</p>")
    parts.append(_asset_form(uuid, asset, csrf))
    parts.append(_repair_section(uuid, repairs, csrf, today))
    return _page(f"GPU {uuid}", "".join(parts), message, error)


def import_page(csrf: str, message: str = "", error: str = "") -> bytes:
    """The inventory import form: a CSV or YAML file, imported all or nothing."""
    body = ("<p>A CSV file with a header line, or a YAML list of assets (fields: uuid, serial, model, node, "
            "datacenter, rack, purchase_date, purchase_price_dollars, status, owner). Every row is checked first; "
            "a bad row imports nothing and its line and field are named.</p>"
            "<form method='post' action='/admin/import' enctype='multipart/form-data' id='import-form'>"
            f"<input type='hidden' name='csrf' value='{_e(csrf)}'>"
            "<input type='file' name='file' id='import-file' accept='.csv,.yaml,.yml'> "
            "<button type='submit' id='import'>import</button></form>")
    return _page("Import inventory", body, message, error)


def message_page(title: str, text: str, status_error: bool = True) -> bytes:
    """A page that only says something (a refused write, a missing GPU)."""
    return _page(title, "", "" if status_error else text, text if status_error else "")
