"""How the S3 backend sweeps: unreferenced objects of the versioned main bucket, removed
without racing an upload, and the unfinished multipart uploads killed uploads leave.

An upload of content already stored marks the object wanted with a tag (a tag changes no
version); the sweep checks that tag, hides the object behind a delete marker, checks again
and only then deletes the versions it listed. That order needs versioning on the main
bucket, which the start-up check (`storage.s3_checks.require_versioning`) insists on.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime

from minio.commonconfig import Tags
from minio.error import S3Error

from storage.objects import Leftover
from storage.s3_client import S3_ERRORS, S3Connection
from storage.s3_uploads import abort, unfinished_uploads

__all__ = ["S3Sweep"]

_TOUCHED = "lienthong-touched"  # object tag: when an upload last wanted the object


class S3Sweep(S3Connection):
    """The sweep's side of the S3 store: touch tags, stale deletes, multipart leftovers."""

    def _touch(self, key: str) -> bool:
        """Tag the object with the time it was last wanted, so the sweeper spares it; False if
        it is gone. A tag changes no version: a self-copy made a full new version per upload
        of the same content on a versioned bucket."""
        tags = Tags.new_object_tags()
        tags[_TOUCHED] = datetime.now(UTC).isoformat()
        try:
            self.client.set_object_tags(self.bucket, key, tags)
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchObject", "NoSuchVersion", "MethodNotAllowed"):
                return False
            raise self._fail(e, f"touch {key}") from e
        except S3_ERRORS as e:
            raise self._fail(e, f"touch {key}") from e
        return True

    def _touched_since(self, key: str, version: str | None, horizon: datetime) -> bool:
        try:
            tags = self.client.get_object_tags(self.bucket, key, version_id=version)
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchObject", "NoSuchVersion", "MethodNotAllowed"):
                return False
            raise
        touched = tags.get(_TOUCHED) if tags else None
        return touched is not None and datetime.fromisoformat(touched) >= horizon

    def delete_if_stale(self, key: str, cutoff: datetime) -> bool:
        """Delete every version of an object when none was written or touched since `cutoff`.

        An upload touches (tags) the object before its row commits. The sweeper checks the
        tag, hides the object behind a delete marker, then checks again: an upload that
        touched it meanwhile gets it back (the marker is removed), a later one finds it gone
        and writes it again, a version the final delete of the listed versions leaves alone.
        Last-Modified has whole seconds: a version in the cutoff's own second counts as new.
        """
        horizon = cutoff.replace(microsecond=0)
        try:
            versions = [
                v
                for v in self.client.list_objects(self.bucket, prefix=key, include_version=True)
                if v.object_name == key
            ]
            if (
                not versions
                or any(v.last_modified is None or v.last_modified >= horizon for v in versions)
                or self._touched_since(key, None, horizon)
            ):
                return False
            latest = next((v.version_id for v in versions if v.is_latest in (True, "true")), None)
            marker = self._send("DELETE", self.bucket, key).headers.get("x-amz-version-id")
            if marker not in (None, "null") and self._touched_since(key, latest, horizon):
                self.client.remove_object(self.bucket, key, version_id=marker)  # give it back
                return False
            for version in [v.version_id for v in versions] + [marker]:
                if version not in (None, "null"):
                    self.client.remove_object(self.bucket, key, version_id=version)
        except S3_ERRORS as e:
            raise self._fail(e, f"sweep {key}") from e
        return True

    def clear_leftovers(self, cutoff: datetime, *, dry_run: bool = False) -> Iterator[Leftover]:
        """Abort the multipart uploads (of both buckets) a killed upload left unfinished, with
        no part written since `cutoff`, yielding each once aborted; Initiated and part times
        have whole seconds, so one in the cutoff's own second counts as young. Raises
        ObjectStoreError."""
        horizon = cutoff.replace(microsecond=0)
        for bucket in filter(None, (self.bucket, self.archive_bucket)):
            try:
                for upload in unfinished_uploads(self._send, bucket):
                    if upload.modified >= horizon:
                        continue  # maybe an upload still sending parts
                    if not dry_run:
                        abort(self._send, upload)
                    name = f"s3://{bucket}/{upload.key} (unfinished multipart upload)"
                    yield Leftover(
                        name, upload.size, upload.modified, "unfinished_multipart_upload"
                    )
            except (*S3_ERRORS, ET.ParseError) as e:
                raise self._fail(e, f"clear unfinished uploads of {bucket}") from e
