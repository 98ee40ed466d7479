"""S3 request failures as one line: botocore's errors and obstore's, without URLs or tracebacks."""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from stactools_glofnet.core.errors import GlofnetError

_XML_CODE = re.compile(r"<Code>(.*?)</Code>", re.S)
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)
_CAUSE = re.compile(r'message: "([^"]*)"')
_UNTRUSTED = re.compile(r"InvalidCertificate\(\s*(\w+)")


def store_error_message(error: Exception) -> str:
    """What went wrong in an obstore request, in one line without URLs: the S3 error code and
    message when the server answered with one, else obstore's summary and its root cause (for a
    certificate refused, why, and where a private CA is named)."""
    text = str(error)
    summary, _, debug = text.partition("\n\nDebug source:")
    code, message = _XML_CODE.search(summary), _XML_MESSAGE.search(summary)
    if code:
        return html.unescape(f"{code[1]} {message[1] if message else ''}".strip())
    detail = summary.split(" - ", 1)[1] if " - " in summary else summary
    causes = _CAUSE.findall(debug)
    if causes and causes[-1] not in detail:
        detail = f"{detail} ({causes[-1]})"
    if untrusted := _UNTRUSTED.search(debug):
        detail = (
            f"{detail} (the server's TLS certificate is refused: {untrusted[1]}; "
            "a private CA's bundle is named by AWS_CA_BUNDLE)"
        )
    return re.sub(r"[a-z][a-z0-9+.-]*://\S+", "", " ".join(detail.split())).strip()


@contextmanager
def s3_errors(where: str) -> Iterator[None]:
    """Turn botocore errors into a one-line :class:`GlofnetError` about ``where``.

    botocore is not imported for this: an error can only be one of its own once it has been
    imported (publishing a catalog that did not change never imports it).
    """
    try:
        yield
    except Exception as error:
        exceptions = sys.modules.get("botocore.exceptions")
        if exceptions is None:
            raise
        if isinstance(error, exceptions.ClientError):
            details = error.response.get("Error", {})
            code = details.get("Code", "error")
            message = details.get("Message", "")
            raise GlofnetError(where, f"{error.operation_name} failed: {code} {message}".strip()) from None
        if isinstance(error, exceptions.BotoCoreError):
            raise GlofnetError(where, str(error)) from None
        raise
