"""Page objects for the payer portals, driven entirely by the payer profile.

Each class wraps a signed-in :class:`~bots.core.browser.Lease`, builds its locators from
the profile's selectors in ``__init__``, offers intent methods (``sign_in``, ``verify``,
``search``, ``open_result``, ``read``) and returns the next page object when it navigates.
A layout change is therefore a change to ``[selectors]`` in ``config/payers/<id>.toml``.

Sign-in forms are filled in the tab with Playwright locators. The search, results and
detail pages are read with :class:`~bots.core.browser.Field` specs, one round trip per
page, which works the same on a live tab (``fetch_mode = "page"``) and on HTML fetched
through the signed-in context's request API (``fetch_mode = "request"``).

Every element a page object relies on is checked before use: an absent one raises
``SelectorMissing`` at once, naming the page and the selectors, instead of waiting for a
timeout. Playwright's own errors are translated by the lease (``bots.core.browser``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr, ValidationError

from bots.core.browser import Document, Field, Lease, translate_errors
from bots.core.claims import Claim
from bots.core.errors import LoginFailed, PortalError, SelectorMissing
from bots.core.pages import SignInForm, SiteLabel, require_fields, unrecognised
from bots.payer_portal.claim_status import PortalClaimStatus, parse_carc, parse_date, parse_money
from bots.payer_portal.profile import PayerProfile

__all__ = ["DetailPage", "LoginPage", "NoMatch", "OtpPage", "ResultRow", "ResultsPage", "SearchPage"]


def _site(profile: PayerProfile) -> SiteLabel:
    return SiteLabel(name=profile.id, display=profile.display_name, config_file=f"config/payers/{profile.id}.toml",
                     username_env=profile.env_name("username"), password_env=profile.env_name("password"))


def _require(doc: Document, fields: Mapping[str, Field], page: str, profile: PayerProfile) -> None:
    require_fields(doc, fields, page, _site(profile), "portal")


def _unrecognised(doc: Document, page: str, expected: Mapping[str, Field], profile: PayerProfile) -> SelectorMissing:
    return unrecognised(doc, page, expected, _site(profile), "portal")


class LoginPage:
    """The sign-in form; the one-time code step or the signed-in portal comes after it."""

    def __init__(self, lease: Lease, profile: PayerProfile):
        self.lease = lease
        self.profile = profile
        otp = {"otp": Field(profile.selectors.otp.code)} if profile.selectors.otp is not None else {}
        self.form = SignInForm(lease, profile.selectors.login, signed_in=profile.selectors.nav.user,
                               site=_site(profile), answers=otp, what="portal")

    async def open(self) -> LoginPage:
        await self.form.open(self.lease.site.url(self.profile.pages.login))
        return self

    async def sign_in(self, username: SecretStr, password: SecretStr) -> OtpPage | SearchPage:
        """Submit the credentials; the one-time code step or the signed-in portal comes next."""
        doc = await self.form.submit(username, password, unlock_hint=" with the payer")
        if doc.has("otp"):
            return OtpPage(self.lease, self.profile)
        if doc.has("signed_in"):
            return SearchPage(self.lease, self.profile)
        raise _unrecognised(doc, "page after sign-in", self.form.answers, self.profile)


class OtpPage:
    """The one-time code step (RFC 6238 TOTP, computed from the secret as unattended robots do)."""

    def __init__(self, lease: Lease, profile: PayerProfile):
        assert profile.selectors.otp is not None
        self.lease = lease
        self.profile = profile
        sel = profile.selectors.otp
        self.code = lease.tab.locator(sel.code)
        self.submit = lease.tab.locator(sel.submit)
        self._answer = {"error": Field(sel.error), "signed_in": Field(profile.selectors.nav.user)}

    async def verify(self, code: str) -> SearchPage:
        with translate_errors(f"{self.profile.id}: filling the one-time code"):
            await self.code.fill(code)
        doc = await self.lease.submit(self.submit.click, self._answer, signed_in=False)
        if doc.has("error"):
            raise LoginFailed(f"{self.profile.display_name} refused the one-time code (check "
                              f"{self.profile.env_name('totp_secret')} and this machine's clock)")
        if doc.has("signed_in"):
            return SearchPage(self.lease, self.profile)
        raise _unrecognised(doc, "page after the one-time code", self._answer, self.profile)


@dataclass
class NoMatch:
    """The portal's search found nothing."""

    doc: Document


class SearchPage:
    """The claim search. The search form submits by GET, so the bot goes straight to the URL it
    would produce (``pages.search``) and recognises where that lands. A portal with a detail page
    per claim number (``pages.detail``) is asked for that page first (``open_detail``)."""

    def __init__(self, lease: Lease, profile: PayerProfile):
        self.lease = lease
        self.profile = profile
        sel = profile.selectors
        # The answer is read in one round trip whatever it is: a claim (acme lands on the detail
        # page), a results table (beacon), a "nothing found" message or an input error.
        self._kinds: dict[str, Field] = {"detail": Field(sel.detail.container)}
        if sel.results is not None:
            self._kinds["results"] = Field(sel.results.table)
        for name in ("not_found", "no_results", "error"):
            selector = getattr(sel.search, name)
            if selector:
                self._kinds[name] = Field(selector)
        self._answer = {**self._kinds, **DetailPage.fields(profile)}
        if sel.results is not None:
            self._answer.update(ResultsPage.fields(profile))
        self._direct = {"detail": self._kinds["detail"], "page_not_found": Field(sel.system.not_found),
                        **DetailPage.fields(profile)}

    async def open_detail(self, claim: Claim) -> DetailPage | None:
        """The claim's own detail page (``pages.detail``) in one request; ``None`` when the portal
        has no page there (HTTP 404 or its "page not found"): the search then gives its answer."""
        path = self.profile.detail_path(claim.claim_id, claim.member_id, claim.date_of_service)
        assert path is not None, "open_detail needs pages.detail"
        doc = await self.lease.open(self.lease.site.url(path), self._direct)
        _require(doc, {}, "claim detail", self.profile)
        if doc.has("detail"):
            return DetailPage(self.lease, self.profile, doc)
        if doc.status == 404 or doc.has("page_not_found"):
            return None
        raise _unrecognised(doc, "claim detail (pages.detail)", {"detail": self._kinds["detail"]}, self.profile)

    async def search(self, claim: Claim) -> DetailPage | ResultsPage | NoMatch:
        path = self.profile.search_path(claim.claim_id, claim.member_id, claim.date_of_service)
        doc = await self.lease.open(self.lease.site.url(path), self._answer)
        _require(doc, {}, "search", self.profile)
        if doc.has("detail"):
            return DetailPage(self.lease, self.profile, doc)
        if doc.has("results"):
            return ResultsPage(self.lease, self.profile, doc)
        if doc.has("not_found") or doc.has("no_results"):
            return NoMatch(doc)
        if doc.has("error"):
            # The portal refused the search input: X12 E0, "error in the submitted request data".
            raise PortalError(f"{self.profile.id}: the portal rejected the search for {claim.claim_id} (X12 E0)")
        raise _unrecognised(doc, "search answer", self._kinds, self.profile)


@dataclass(frozen=True)
class ResultRow:
    claim_id: str
    status: str
    href: str


class ResultsPage:
    """The search results table (member id + date of service searches can match several claims)."""

    def __init__(self, lease: Lease, profile: PayerProfile, doc: Document):
        assert profile.selectors.results is not None
        self.lease = lease
        self.profile = profile
        self.doc = doc
        self._cells = ResultsPage.fields(profile)["rows"].rows or {}

    @staticmethod
    def fields(profile: PayerProfile) -> dict[str, Field]:
        sel = profile.selectors.results
        assert sel is not None
        return {"rows": Field(sel.row, rows={"claim_id": Field(sel.claim_id), "status": Field(sel.status),
                                             "link": Field(sel.link, attr="href")})}

    def rows(self) -> list[ResultRow]:
        found = []
        for n, row in enumerate(self.doc.rows("rows"), start=1):
            missing = [f"{k} ({f.selector})" for k, f in self._cells.items() if not row.get(k)]
            if missing:
                raise SelectorMissing(f"{self.profile.id} results row {n} ({self.doc.path}): not found: "
                                      f"{', '.join(missing)}; update [selectors.results] in "
                                      f"config/payers/{self.profile.id}.toml")
            found.append(ResultRow(row["claim_id"][0], row["status"][0], row["link"][0]))
        if not found:
            raise SelectorMissing(f"{self.profile.id} results table ({self.doc.path}) has no rows matching "
                                  f"{self.profile.selectors.results.row!r}; update [selectors.results]")  # type: ignore[union-attr]
        return found

    async def open_result(self, row: ResultRow) -> DetailPage:
        spec = {"detail": Field(self.profile.selectors.detail.container), **DetailPage.fields(self.profile)}
        doc = await self.lease.open(self.doc.absolute(row.href), spec)
        _require(doc, {"detail": spec["detail"]}, "claim detail", self.profile)
        return DetailPage(self.lease, self.profile, doc)


class DetailPage:
    """The claim detail page: status word, dates, amounts, adjustment reason codes."""

    # Read from the page; the patient's name is not read at all (it stays in the HTML evidence).
    VALUES = ("claim_id", "member_id", "date_of_service", "status", "status_date", "billed", "paid",
              "paid_date", "check_number", "payer_claim_number", "remarks")

    def __init__(self, lease: Lease, profile: PayerProfile, doc: Document):
        self.lease = lease
        self.profile = profile
        self.doc = doc
        self._fields = DetailPage.fields(profile)

    @staticmethod
    def fields(profile: PayerProfile) -> dict[str, Field]:
        sel = profile.selectors.detail
        spec = {f"d_{name}": Field(getattr(sel, name)) for name in DetailPage.VALUES}
        spec.update({"d_carc_row": Field(sel.carc_row), "d_carc_code": Field(sel.carc_code),
                     "d_carc_text": Field(sel.carc_text)})
        return spec

    def read(self) -> PortalClaimStatus:
        """The page's values, typed; ``SelectorMissing`` when an element or a format is not as configured."""
        doc, profile = self.doc, self.profile
        _require(doc, {k: f for k, f in self._fields.items() if k[2:] in self.VALUES}, "claim detail", profile)
        v = {name: doc.text(f"d_{name}") or "" for name in self.VALUES}
        rows, codes, texts = (doc.texts(f"d_carc_{k}") for k in ("row", "code", "text"))
        if not len(rows) == len(codes) == len(texts):
            raise SelectorMissing(f"{profile.id} claim detail ({doc.path}): {len(rows)} adjustment rows but "
                                  f"{len(codes)} codes and {len(texts)} texts; check selectors.detail.carc_*")
        fmt = profile.date_format
        try:
            return PortalClaimStatus(
                claim_id=v["claim_id"], status_word=v["status"], status_date=parse_date(v["status_date"], fmt),
                billed=parse_money(v["billed"]), paid=parse_money(v["paid"]), paid_date=parse_date(v["paid_date"], fmt),
                check_number=v["check_number"], payer_claim_number=v["payer_claim_number"], remarks=v["remarks"],
                carc=[parse_carc(c, t, profile.carc.pattern) for c, t in zip(codes, texts)],
                member_id=v["member_id"], date_of_service=parse_date(v["date_of_service"], fmt))
        except (ValueError, ValidationError) as exc:
            # A value in an unexpected format means the page is not what the profile describes.
            raise SelectorMissing(f"{profile.id} claim detail ({doc.path}): {exc}; check date_format and "
                                  f"[selectors.detail] in config/payers/{profile.id}.toml") from None
