"""Validate untrusted PDFs in a worker process under a time and memory limit.

A hostile PDF can make a parser loop, recurse or allocate without end, and a thread
cannot be stopped from outside. So uploads are parsed in a separate, long-lived worker
process (`python -m signing.sandbox`, started once, pyHanko imported); a request that
runs over its time is answered with `PdfTooComplexError` and the worker is killed and
replaced. The worker also caps its own address space, so a decompression bomb fails
there, not here. Requests and answers are length-prefixed pickles over its stdin and
stdout (a plain subprocess, not multiprocessing, so the caller's `__main__` is never
re-imported).
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from signing.errors import MalformedPdfError, PdfTooComplexError, SigningError
from signing.report import ValidationReport
from signing.trust import TrustSettings

__all__ = ["ValidationSandbox", "validate_untrusted"]

_BOOT_TIMEOUT = 60.0
_HEADER = 8


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(_HEADER, "big") + data)
    stream.flush()


def _read_exactly(stream: IO[bytes], n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _recv(stream: IO[bytes]) -> Any:
    header = _read_exactly(stream, _HEADER)
    if header is None:
        raise EOFError
    body = _read_exactly(stream, int.from_bytes(header, "big"))
    if body is None:
        raise EOFError
    return pickle.loads(body)  # noqa: S301 - our own worker, over a private pipe


def _unreadable(e: BaseException) -> MalformedPdfError:
    return MalformedPdfError(
        "Không đọc được tệp PDF; tệp có thể bị hỏng hoặc được tạo có chủ đích xấu / "
        "The PDF cannot be read; it may be damaged or crafted",
        details=f"{type(e).__name__}: {e}",
    )


def _serve(memory_mb: int) -> None:
    """Worker main loop: answer ("ok", report) or ("error", SigningError) per request."""
    import logging
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    logging.basicConfig(level=logging.ERROR)
    channel_in, channel_out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints must not corrupt the channel
    from signing.validate import validate_pdf

    _send(channel_out, "ready")
    while True:
        try:
            pdf, trust, at = _recv(channel_in)
        except EOFError:
            return
        try:
            _send(channel_out, ("ok", validate_pdf(pdf, trust, at=at)))
        except SigningError as e:
            _send(channel_out, ("error", e))
        except Exception as e:  # noqa: BLE001 - anything a hostile file triggers
            _send(channel_out, ("error", _unreadable(e)))


class ValidationSandbox:
    """A worker process for `signing.validate.validate_pdf`; thread-safe, one at a time."""

    def __init__(self, *, timeout: float = 3.0, memory_mb: int = 1024) -> None:
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = False

    def _start(self) -> None:
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "signing.sandbox", str(self.memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
        )
        self._ready = False

    def _answer_within(self, seconds: float) -> Any:
        """The worker's next message, or None if it does not come in time."""
        assert self._proc is not None and self._proc.stdout is not None
        readable, _, _ = select.select([self._proc.stdout], [], [], seconds)
        return _recv(self._proc.stdout) if readable else None

    def _wait_ready(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        assert self._proc is not None
        if not self._ready:
            try:
                ready = self._answer_within(_BOOT_TIMEOUT) == "ready"
            except EOFError:
                ready = False
            if not ready:
                self._kill()
                raise SigningError(
                    "Không khởi động được tiến trình kiểm tra chữ ký / "
                    "The signature checking process did not start",
                    code="sandbox_unavailable",
                )
            self._ready = True
        return self._proc

    def _kill(self, *, restart: bool = False) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()
        self._proc = None
        if restart:
            self._start()  # boots while the caller handles the error

    def start(self) -> ValidationSandbox:
        """Start the worker now (otherwise the first request starts it)."""
        with self._lock:
            self._wait_ready()
        return self

    def validate(
        self,
        pdf: bytes,
        trust: TrustSettings,
        *,
        at: dt.datetime | None = None,
        timeout: float | None = None,
    ) -> ValidationReport:
        """`validate_pdf` in the worker, within `timeout` seconds (the sandbox's by default).

        Raises PdfTooComplexError when it takes too long, MalformedPdfError when the
        file cannot be read (or crashes the worker), like `validate_pdf` otherwise.
        """
        limit = timeout if timeout is not None else self.timeout
        with self._lock:
            proc = self._wait_ready()
            assert proc.stdin is not None
            try:
                _send(proc.stdin, (pdf, trust, at))
                reply = self._answer_within(limit)
            except (EOFError, OSError) as e:
                self._kill(restart=True)
                raise _unreadable(e) from e
            if reply is None:
                self._kill(restart=True)
                raise PdfTooComplexError(
                    f"Kiểm tra tệp PDF vượt quá {limit:g} giây; tệp quá phức tạp hoặc bị "
                    f"tạo có chủ đích xấu / Checking the PDF took over {limit:g} s; it is "
                    "too complex or crafted"
                )
        kind, value = reply
        if kind == "error":
            raise value
        result: ValidationReport = value
        return result

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.stdin is not None:
                self._proc.stdin.close()  # the worker exits on EOF
            self._kill()

    def __enter__(self) -> ValidationSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


_default: ValidationSandbox | None = None
_default_lock = threading.Lock()


def validate_untrusted(
    pdf: bytes, trust: TrustSettings, *, at: dt.datetime | None = None, timeout: float = 3.0
) -> ValidationReport:
    """Validate an uploaded PDF in the shared sandbox (see `ValidationSandbox.validate`)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ValidationSandbox(timeout=timeout)
        sandbox = _default
    return sandbox.validate(pdf, trust, at=at, timeout=timeout)


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else 1024)
