"""Dataset files (`/v1/files`): upload with every line validated, per-user limits, reads, delete.

A file is validated whole before anything is stored: a bad one is refused with the first bad lines
named (training.examples), and every example must fit the default base model's context (its token
count, chat template included, comes from the engine's tokenizer). Files are private: every read
filters by owner, so another user's file is a 404 exactly like a missing one.
"""
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from inference.catalog import base_model, base_models
from inference.engine.training.examples import DatasetError, LineError, parse_jsonl
from inference.models import DatasetFile
from inference.runtime import get_runtime
from tigercity import quotas
from tigercity.errors import ApiError, InvalidRequest, NotFound

PURPOSES = ("fine-tune",)


class TooLarge(ApiError):
    status = 413
    code = "file_too_large"


def _limit():
    return settings.TIGER


def default_base() -> str:
    """The base whose tokenizer counts a file's tokens: the default model's."""
    found = base_model(settings.TIGER["DEFAULT_MODEL"])
    return (found or base_models()[0]).name


def check_upload_size(size: int) -> None:
    if size > _limit()["MAX_FILE_BYTES"]:
        raise TooLarge(f"The file is {size} bytes; the limit is {_limit()['MAX_FILE_BYTES']} bytes (TIGER_MAX_FILE_BYTES).",
                       param="file")


def dataset_error(error: DatasetError) -> InvalidRequest:
    return InvalidRequest(f"The file is not a valid fine-tuning dataset: {error}", param="file", code="invalid_file")


def line_numbers(text: str) -> list[int]:
    """The file's line number (1-based) of each example: blank lines hold none."""
    return [n for n, line in enumerate(text.split("\n"), start=1) if line.strip()]


def fit_to_context(*, base: str, examples, lines: list[int]) -> list[int]:
    """Token counts of the examples; 400 naming the lines that do not fit `base`'s context."""
    runtime = get_runtime()
    tokens = runtime.dataset_tokens(base, examples)
    context = runtime.context_length(base)
    too_long = [LineError(line, "", f"the example is {n} tokens long; {base}'s context is {context} tokens")
                for line, n in zip(lines, tokens) if n > context]
    if too_long:
        raise dataset_error(DatasetError(too_long[:5], len(too_long)))
    return tokens


def file_create(*, owner, filename: str, data: bytes, purpose: str) -> DatasetFile:
    if purpose not in PURPOSES:
        raise InvalidRequest(f"purpose must be one of {', '.join(PURPOSES)}.", param="purpose", code="invalid_value")
    if not filename or len(filename) > 255:
        raise InvalidRequest("The file needs a name of at most 255 characters.", param="file", code="invalid_value")
    check_upload_size(len(data))
    try:
        kind, examples = parse_jsonl(data, max_lines=_limit()["MAX_FILE_LINES"])
    except DatasetError as e:
        raise dataset_error(e) from None
    tokens = fit_to_context(base=default_base(), examples=examples, lines=line_numbers(data.decode("utf-8")))
    with transaction.atomic():
        quotas.lock_owner(owner)
        stored = DatasetFile.objects.filter(owner=owner)
        count = stored.count()
        used = stored.aggregate(total=Sum("bytes"))["total"] or 0
        quotas.DATASET_FILES.check(count)
        quotas.DATASET_BYTES.check(used, len(data))
        return DatasetFile.objects.create(
            id=f"file-{uuid.uuid4().hex[:24]}", owner=owner, filename=filename, purpose=purpose, kind=kind,
            bytes=len(data), lines=len(examples), tokens=sum(tokens), content=data.decode("utf-8-sig"))


def file_list(*, owner, purpose: str | None = None):
    files = DatasetFile.objects.filter(owner=owner).defer("content")
    return files.filter(purpose=purpose) if purpose else files


def file_get(*, owner, file_id: str, param: str = "file_id") -> DatasetFile:
    found = DatasetFile.objects.filter(owner=owner, id=file_id).first()
    if found is None:
        raise NotFound(f"No such file: {file_id!r}.", param=param, code="file_not_found")
    return found


def file_delete(*, owner, file_id: str) -> None:
    file_get(owner=owner, file_id=file_id).delete()


def file_examples(file: DatasetFile):
    """(kind, examples) of a stored file (validated at upload, so this cannot fail on its lines)."""
    return parse_jsonl(file.content.encode("utf-8"), max_lines=max(file.lines, 1))


def file_info(file: DatasetFile) -> dict:
    """OpenAI's file object plus TigerCity's counts."""
    return {"id": file.id, "object": "file", "bytes": file.bytes, "created_at": int(file.created_at.timestamp()),
            "filename": file.filename, "purpose": file.purpose, "status": "processed", "status_details": None,
            "kind": file.kind, "lines": file.lines, "tokens": file.tokens}


def preview(file: DatasetFile, count: int = 3) -> list[dict]:
    """The first examples as parsed JSON (the Playground's preview)."""
    import json

    out = []
    for line in file.content.split("\n"):
        if line.strip():
            out.append(json.loads(line))
            if len(out) == count:
                break
    return out
