"""DICOM query/retrieve against a hospital's PACS (pynetdicom, as the SCU): C-FIND at study
level, then C-MOVE to our Orthanc or C-GET into this process.

Every failure comes back as ``QRError`` with a sentence a manager can act on (the PACS did not
answer, refused the association, does not know our AE title as a move destination...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, build_role, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

TIMEOUT = 30  # seconds for the association, each DIMSE message and the network
MOVE_TIMEOUT = 600  # a C-MOVE answers only when the PACS has sent everything


class QRError(RuntimeError):
    pass


@dataclass
class Peer:
    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


@dataclass
class FoundStudy:
    study_instance_uid: str
    study_date: str  # YYYYMMDD or ""
    study_description: str
    modalities: list[str]
    accession_number: str
    instances: int | None


def _ae(calling_aet: str, *contexts) -> AE:
    ae = AE(ae_title=calling_aet)
    for context in contexts:
        ae.add_requested_context(context)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    return ae


def _associate(ae: AE, peer: Peer, **kwargs):
    try:
        assoc = ae.associate(peer.host, peer.port, ae_title=peer.ae_title, **kwargs)
    except (OSError, ValueError) as exc:
        raise QRError(f"the PACS {peer} could not be reached: {exc}") from exc
    if assoc.is_established:
        return assoc
    if assoc.is_rejected:
        raise QRError(f"the PACS {peer} refused the association (is our AE title known there?)")
    raise QRError(f"the PACS {peer} did not answer (connection refused or timed out)")


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return str(value).strip() if value is not None else ""


def find_studies(peer: Peer, *, calling_aet: str, patient_id: str, issuer: str = "") -> list:
    """The patient's studies the PACS knows, newest first."""
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = patient_id
    if issuer:
        query.IssuerOfPatientID = issuer
    for keyword in ("StudyInstanceUID", "StudyDate", "StudyDescription", "ModalitiesInStudy",
                    "AccessionNumber", "NumberOfStudyRelatedInstances"):  # fmt: skip
        setattr(query, keyword, "")
    assoc = _associate(_ae(calling_aet, StudyRootQueryRetrieveInformationModelFind), peer)
    found: list[FoundStudy] = []
    try:
        for status, identifier in assoc.send_c_find(
            query, StudyRootQueryRetrieveInformationModelFind
        ):
            code = getattr(status, "Status", None)
            if code is None:
                raise QRError(f"the PACS {peer} stopped answering the query")
            if code in (0xFF00, 0xFF01) and identifier is not None:
                found.append(_found(identifier))
            elif code != 0x0000:
                raise QRError(f"the PACS {peer} failed the query (status 0x{code:04X})")
    finally:
        assoc.release()
    return sorted(found, key=lambda s: s.study_date, reverse=True)


def _found(identifier: Dataset) -> FoundStudy:
    modalities = identifier.get("ModalitiesInStudy", "") or ""
    if isinstance(modalities, str):
        modalities = [m for m in modalities.split("\\") if m]
    count = _text(identifier, "NumberOfStudyRelatedInstances")
    return FoundStudy(
        study_instance_uid=_text(identifier, "StudyInstanceUID"),
        study_date=_text(identifier, "StudyDate")[:8],
        study_description=_text(identifier, "StudyDescription"),
        modalities=[str(m) for m in modalities],
        accession_number=_text(identifier, "AccessionNumber"),
        instances=int(count) if count.isdigit() else None,
    )


def _study_key(study_uid: str) -> Dataset:
    key = Dataset()
    key.QueryRetrieveLevel = "STUDY"
    key.StudyInstanceUID = study_uid
    return key


def _final(peer: Peer, responses, what: str) -> int:
    """Walk a C-MOVE/C-GET's responses; returns how many sub-operations completed."""
    completed, last = 0, None
    for status, _identifier in responses:
        code = getattr(status, "Status", None)
        if code is None:
            raise QRError(f"the PACS {peer} stopped answering the {what}")
        last = code
        completed = int(getattr(status, "NumberOfCompletedSuboperations", completed) or 0)
        failed = int(getattr(status, "NumberOfFailedSuboperations", 0) or 0)
        if code == 0xA801:
            raise QRError(f"the PACS {peer} does not know our AE title as a move destination")
        if code not in (0x0000, 0xFF00, 0xB000):
            raise QRError(f"the PACS {peer} failed the {what} (status 0x{code:04X})")
        if code == 0xB000 and failed:
            raise QRError(f"the PACS {peer} sent the study with {failed} instance(s) failed")
    if last is None:
        raise QRError(f"the PACS {peer} gave no answer to the {what}")
    return completed


def move_study(peer: Peer, *, calling_aet: str, destination: str, study_uid: str) -> int:
    """C-MOVE: the PACS sends the study to ``destination`` (our Orthanc's AE title)."""
    ae = _ae(calling_aet, StudyRootQueryRetrieveInformationModelMove)
    ae.dimse_timeout = MOVE_TIMEOUT
    assoc = _associate(ae, peer)
    try:
        responses = assoc.send_c_move(
            _study_key(study_uid), destination, StudyRootQueryRetrieveInformationModelMove
        )
        return _final(peer, responses, "move")
    finally:
        assoc.release()


def get_study(peer: Peer, *, calling_aet: str, study_uid: str,
              keep: Callable[[Dataset], None]) -> int:  # fmt: skip
    """C-GET: the PACS sends the study back on our association; ``keep`` takes each instance."""

    def on_store(event) -> int:
        dataset = event.dataset
        dataset.file_meta = event.file_meta
        try:
            keep(dataset)
        except Exception:  # noqa: BLE001 - the PACS is told this instance failed (0xC211)
            return 0xC211
        return 0x0000

    ae = _ae(calling_aet, StudyRootQueryRetrieveInformationModelGet)
    ae.dimse_timeout = MOVE_TIMEOUT
    roles = []
    for context in StoragePresentationContexts[:120]:
        ae.add_requested_context(context.abstract_syntax)
        roles.append(build_role(context.abstract_syntax, scp_role=True))
    assoc = _associate(ae, peer, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        responses = assoc.send_c_get(
            _study_key(study_uid), StudyRootQueryRetrieveInformationModelGet
        )
        return _final(peer, responses, "retrieve (C-GET)")
    finally:
        assoc.release()


def store(peer: Peer, datasets: list[Dataset], *, calling_aet: str) -> None:
    """C-STORE ``datasets`` to ``peer`` (our Orthanc) as ``calling_aet``: what a C-GET brought
    goes in the way a hospital's C-STORE would, so ingest knows whose it is."""
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    contexts = {(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID) for ds in datasets}
    for sop_class, syntax in sorted(contexts)[:127]:
        ae.add_requested_context(sop_class, [syntax])
    assoc = _associate(ae, peer)
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            code = getattr(status, "Status", None)
            if code not in (0x0000, 0xB000, 0xB007, 0xB006):
                raise QRError(f"our Orthanc {peer} did not store {ds.SOPInstanceUID} "
                              f"(status {code})")  # fmt: skip
    finally:
        assoc.release()
