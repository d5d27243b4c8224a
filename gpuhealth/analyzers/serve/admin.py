"""The admin page's requests: the fleet table, a GPU's page, editing its asset, importing an inventory and
recording a repair.

Writes go to the database the analyzer was given (--db), need a basic-auth user from the web config, come
as POST with a CSRF token bound to that user, and reach SQL only as parameters. After a write the analyzer's
inventory is read back from the database, so verdicts and gauges use it from the next cycle.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, unquote, urlparse

from gpuhealth.analyzers.cycle import CycleResult
from gpuhealth.analyzers.inventory import (
    EDITABLE,
    InventoryError,
    asset_from_record,
    import_assets,
    load_inventory,
    parse_csv,
    parse_yaml,
    set_asset_fields,
)
from gpuhealth.analyzers.repairs import RepairError, list_repairs, parse_repair, record_repair
from gpuhealth.analyzers.serve import api, pages
from gpuhealth.catalog import Asset

log = logging.getLogger("gpuhealth.analyzers")
MAX_FORM_BYTES = 8 << 20  # an inventory of a few hundred thousand GPUs


@dataclass
class Reply:
    """What the handler sends: status, body, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] | None = None


class FormError(ValueError):
    """A form that cannot be read; the message says why."""


def basic_auth_user(header: str | None) -> str:
    """The user name of a Basic Authorization header ("" without one)."""
    if not header or not header.startswith("Basic "):
        return ""
    try:
        return base64.b64decode(header[6:]).decode().partition(":")[0]
    except (ValueError, UnicodeDecodeError):
        return ""


def parse_form(content_type: str, body: bytes) -> dict[str, str | tuple[str, bytes]]:
    """Fields of a urlencoded or multipart form; a file field is (file name, bytes). FormError when unreadable."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise FormError("the form is not UTF-8") from None
        repeated = [k for k, v in pairs.items() if len(v) > 1]
        if repeated:
            raise FormError(f"field {repeated[0]!r} given {len(pairs[repeated[0]])} times")
        return {k: v[0] for k, v in pairs.items()}
    if kind == "multipart/form-data":
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
        if not msg.is_multipart():
            raise FormError("a multipart form without parts")
        out: dict[str, str | tuple[str, bytes]] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            data = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                out[str(name)] = (filename, data)
            else:
                try:
                    out[str(name)] = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise FormError(f"field {name!r} is not UTF-8") from None
        return out
    raise FormError(f"Content-Type {kind or '(none)'}: expected a form (urlencoded or multipart)")


class AdminPages:
    """The admin page over the analyzer's last result and its database (``dsn``; read-only without one).

    ``result`` gives the last cycle's result and its health scores; ``inventory_changed`` takes the inventory
    read back after a write; ``writers_configured``: the web config has basic-auth users."""

    def __init__(self, dsn: str | None, result: Callable[[], tuple[CycleResult | None, api.HealthScores]],
                 inventory: Callable[[], Mapping[str, Asset]], inventory_changed: Callable[[dict[str, Asset]], None],
                 writers_configured: bool, secret: bytes | None = None) -> None:
        self.dsn = dsn
        self.result = result
        self.inventory = inventory
        self.inventory_changed = inventory_changed
        self.writers_configured = writers_configured
        self._secret = secret or secrets.token_bytes(32)

    def csrf_token(self, user: str) -> str:
        """The token a form of this user carries (the same for the process's life)."""
        return hmac.new(self._secret, b"csrf:" + user.encode(), hashlib.sha256).hexdigest()

    # reads ------------------------------------------------------------------------------------------------

    def get(self, path: str, query: dict[str, list[str]], user: str) -> Reply:
        """A GET under /admin."""
        if path in ("/admin", "/admin/"):
            return self._fleet(query)
        if path == "/admin/import":
            return Reply(200, pages.import_page(self.csrf_token(user)))
        if path.startswith("/admin/gpus/") and path.count("/") == 3:
            uuid = unquote(path.removeprefix("/admin/gpus/"))
            saved = (query.get("saved") or [""])[0]
            return self._gpu(uuid, user, message={"asset": "Asset saved.", "repair": "Repair recorded."}.get(saved, ""))
        return Reply(404, pages.message_page("Not found", f"{path}: no such page"))

    def _fleet(self, query: dict[str, list[str]]) -> Reply:
        result, scores = self.result()
        if result is None:
            return Reply(503, pages.message_page("gpuhealth fleet", "no verdicts yet: the analyzer's first cycle "
                                                 "has not finished"))
        wanted = {k: v for k, v in query.items() if any(x.strip() for x in v)}  # a blank filter field: any
        try:
            f = api.parse_gpu_filter(wanted)
        except api.ApiError as exc:
            return Reply(exc.status, pages.message_page("gpuhealth fleet", exc.message))
        listing = api.list_gpus(api.gpu_rows(result, self.inventory(), scores), f)
        state = "judged at " + datetime.fromtimestamp(result.at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return Reply(200, pages.fleet_page(listing, f, state))

    def _gpu(self, uuid: str, user: str, message: str = "", error: str = "", status: int = 200,
             asset_form: Mapping[str, str] | None = None) -> Reply:
        result, scores = self.result()
        inventory = self.inventory()
        detail = None
        if result is not None:
            try:
                detail = api.gpu_detail(result, uuid, inventory, scores, {})
            except api.ApiError:
                detail = None
        if detail is None and uuid not in inventory and result is not None:
            return Reply(404, pages.message_page("Not found", f"GPU {uuid!r}: neither reporting nor in the inventory"))
        asset = dict(asset_form) if asset_form is not None else (
            asdict(inventory[uuid]) if uuid in inventory else None)
        try:
            repairs = [api.repair_json(r) for r in list_repairs(self.dsn, uuid)] if self.dsn else []
        except InventoryError as exc:
            repairs, error = [], "; ".join(e for e in (error, f"cannot read gpu_repairs: {exc}") if e)
        today = datetime.now(UTC).date().isoformat()
        return Reply(status, pages.gpu_page(detail, uuid, asset, repairs, self.csrf_token(user), today, message, error))

    # writes -----------------------------------------------------------------------------------------------

    def post(self, path: str, content_type: str, body: bytes, user: str, origin: str | None, host: str | None) -> Reply:
        """A POST under /admin: checked (writers, database, CSRF, origin), then applied."""
        if not self.writers_configured:
            return Reply(403, pages.message_page("Refused", "writes need basic auth: give the analyzer a "
                                                 "--web.config.file with basic_auth_users"))
        if not self.dsn:
            return Reply(409, pages.message_page("Refused", "the analyzer has no --db: the inventory is a file, "
                                                 "edit that file instead"))
        if origin and host and urlparse(origin).netloc != host:
            return Reply(403, pages.message_page("Refused", f"cross-site request from {origin}"))
        if len(body) > MAX_FORM_BYTES:
            return Reply(413, pages.message_page("Refused", f"the form is over {MAX_FORM_BYTES} bytes"))
        try:
            form = parse_form(content_type, body)
        except FormError as exc:
            return Reply(400, pages.message_page("Bad form", str(exc)))
        token = form.pop("csrf", "")
        if not isinstance(token, str) or not hmac.compare_digest(token, self.csrf_token(user)):
            return Reply(403, pages.message_page("Refused", "missing or wrong CSRF token: reload the page and "
                                                 "submit again"))
        if path == "/admin/import":
            return self._import(form, user)
        if path.startswith("/admin/gpus/") and path.count("/") == 4:
            uuid = unquote(path.split("/")[3])
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            if path.endswith("/asset"):
                return self._edit_asset(uuid, fields, user)
            if path.endswith("/repairs"):
                return self._record_repair(uuid, fields, user)
        return Reply(404, pages.message_page("Not found", f"{path}: nothing to post to"))

    def _reload(self) -> None:
        self.inventory_changed(load_inventory(dsn=self.dsn))

    def _saved(self, uuid: str, what: str) -> Reply:
        return Reply(303, b"", headers={"Location": f"/admin/gpus/{quote(uuid, safe='')}?saved={what}"})

    def _known(self, uuid: str) -> bool:
        result, _ = self.result()
        return uuid in self.inventory() or (result is not None and any(v.uuid == uuid for v in result.verdicts))

    def _edit_asset(self, uuid: str, form: dict[str, str], user: str) -> Reply:
        if not self._known(uuid):
            return Reply(404, pages.message_page("Not found", f"GPU {uuid!r}: neither reporting nor in the inventory"))
        unknown = sorted(set(form) - set(EDITABLE))
        try:
            if unknown:
                raise InventoryError(f"unknown field {unknown[0]!r}; fields are {', '.join(EDITABLE)}")
            if uuid in self.inventory():
                set_asset_fields(self.dsn, uuid, [f"{k}={v}" for k, v in form.items()])
            else:  # a GPU seen but not yet in the inventory: the form makes its asset
                import_assets(self.dsn, [asset_from_record({"uuid": uuid, **form}, "the asset form")])
        except InventoryError as exc:
            return self._gpu(uuid, user, error=str(exc), status=400, asset_form=form)
        log.info("asset %s edited by %s", uuid, user or "(no user)")
        self._reload()
        return self._saved(uuid, "asset")

    def _record_repair(self, uuid: str, form: dict[str, str], user: str) -> Reply:
        if not self._known(uuid):
            return Reply(404, pages.message_page("Not found", f"GPU {uuid!r}: neither reporting nor in the inventory"))
        try:
            record_repair(self.dsn, parse_repair(uuid, form, datetime.now(UTC), user))
        except RepairError as exc:
            return self._gpu(uuid, user, error=f"repair not recorded: {exc}", status=400)
        log.info("repair of %s recorded by %s", uuid, user or "(no user)")
        self._reload()
        return self._saved(uuid, "repair")

    def _import(self, form: dict[str, str | tuple[str, bytes]], user: str) -> Reply:
        upload = form.get("file")
        csrf = self.csrf_token(user)
        if not isinstance(upload, tuple) or not upload[0]:
            return Reply(400, pages.import_page(csrf, error="no file chosen"))
        name, data = upload
        try:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise InventoryError(f"{name}: not UTF-8 text") from None
            parse = parse_yaml if name.lower().endswith((".yaml", ".yml")) else parse_csv
            assets = parse(text, name)
            if not assets:
                raise InventoryError(f"{name}: no assets in the file")
            n = import_assets(self.dsn, assets.values())
        except InventoryError as exc:
            return Reply(400, pages.import_page(csrf, error=f"nothing imported: {exc}"))
        log.info("%d assets imported from %s by %s", n, name, user or "(no user)")
        self._reload()
        return Reply(200, pages.import_page(csrf, message=f"{n} assets imported from {name}."))
