"""Datasets (the files of /v1/files): upload with line-numbered errors, list, preview, delete, add a sample."""
import json
import re
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from inference import datasets
from playground.views.common import error_text, inline, post_login_required
from tigercity.errors import ApiError

SAMPLES_DIR = Path(datasets.__file__).resolve().parent / "sample_datasets"
SAMPLES = {
    "pirate-supervised": ("Pirate (supervised)", "60 questions answered “Ahoy, matey! …”: the model learns to talk like a pirate."),
    "terse-preference": ("Terse (preference)", "60 prompts, each with a short preferred and a wordy rejected answer: DPO learns to be brief."),
}


def error_lines(message: str) -> list[str]:
    """The upload error split at each bad line, so every line number gets its own row."""
    head, sep, rest = message.partition(": line ")
    if not sep:
        return [message]
    return [head + ":"] + ["line " + part for part in re.split(r"; line ", rest)]


def _context(user, **extra) -> dict:
    files = list(datasets.file_list(owner=user).order_by("-created_at"))
    present = {f.filename for f in files}
    samples = [{"key": key, "title": title, "text": text, "added": f"{key}.jsonl" in present}
               for key, (title, text) in SAMPLES.items()]
    return {"files": files, "samples": samples, **extra}


def _store(request, filename: str, data: bytes):
    """file_create with the answer the page shows: the list, and the error lines if it was refused."""
    try:
        created = datasets.file_create(owner=request.user, filename=filename, data=data, purpose="fine-tune")
    except ApiError as exc:
        status, message = error_text(exc)
        context = _context(request.user, upload_errors=error_lines(message), upload_name=filename)
        return inline(TemplateResponse(request, "playground/_datasets_body.html", context, status=status))
    context = _context(request.user, created=created)
    return TemplateResponse(request, "playground/_datasets_body.html", context)


def _page(request, response: TemplateResponse):
    """Without htmx (no script): back to the page after a success, the whole page with the errors otherwise."""
    if request.htmx:
        return response
    if response.status_code == 200:
        return redirect("datasets")
    response.template_name = "playground/datasets.html"
    return response


@login_required
def dataset_list(request):
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            context = _context(request.user, upload_errors=["Choose a JSONL file to upload."])
            return inline(TemplateResponse(request, "playground/_datasets_body.html", context, status=400))
        try:
            datasets.check_upload_size(upload.size)
        except ApiError as exc:
            context = _context(request.user, upload_errors=[error_text(exc)[1]], upload_name=upload.name)
            return inline(TemplateResponse(request, "playground/_datasets_body.html", context, status=exc.status))
        return _page(request, _store(request, upload.name, upload.read()))
    return TemplateResponse(request, "playground/datasets.html", _context(request.user))


@post_login_required
def dataset_sample(request, key: str):
    """One click: the sample dataset shipped with TigerCity, stored as the user's own file."""
    if key not in SAMPLES:
        raise Http404("No such sample dataset.")
    return _page(request, _store(request, f"{key}.jsonl", (SAMPLES_DIR / f"{key}.jsonl").read_bytes()))


@login_required
def dataset_preview(request, file_id: str):
    try:
        file = datasets.file_get(owner=request.user, file_id=file_id)
    except ApiError:
        raise Http404("No such dataset.") from None
    examples = [json.dumps(e, ensure_ascii=False, indent=1) for e in datasets.preview(file, count=3)]
    return TemplateResponse(request, "playground/_dataset_preview.html", {"file": file, "examples": examples})


@post_login_required
def dataset_delete(request, file_id: str):
    try:
        datasets.file_delete(owner=request.user, file_id=file_id)
    except ApiError:
        raise Http404("No such dataset.") from None
    if not request.htmx:
        return redirect("datasets")
    return TemplateResponse(request, "playground/_datasets_body.html", _context(request.user, deleted=True))
