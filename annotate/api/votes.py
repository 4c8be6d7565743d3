"""Curator endpoint: importing crowd votes from other tools (CSV)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, parser_classes
from rest_framework.parsers import FileUploadParser, FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.services.votes_import import VotesImportError, votes_import


@extend_schema(
    tags=["quality"],
    request={
        "multipart/form-data": {
            "type": "object",
            "properties": {
                "file": {"type": "string", "format": "binary"},
                "synset": {"type": "string"},
            },
        }
    },
    responses={
        200: OpenApiResponse(description="import report"),
        400: OpenApiResponse(description="the file as a whole was refused"),
    },
)
@api_view(["POST"])
@parser_classes([MultiPartParser, FormParser, FileUploadParser])
def votes_import_view(request: Request) -> Response:
    """Import crowd votes from another tool (CSV: image,worker,label[,wnid]); per-row problems
    are reported, the rest imported; re-importing adds nothing."""
    upload = request.data.get("file")
    if upload is None:
        return Response({"detail": "send the CSV as a 'file' form field"}, status=400)
    synset = request.data.get("synset") or request.query_params.get("synset")
    try:
        with upload.open("rb") as stream:
            report = votes_import(stream=stream, synset=synset)
    except VotesImportError as exc:
        return Response({"detail": f"{exc}; nothing was imported"}, status=400)
    return Response(report.as_dict())
