"""Blind comparisons: a user's prompt sets, the picks between two revisions of one model, win rates, and the
picks sent as preference training (a DPO fine-tuning job) in one step.

The page (static/playground/compare.js) samples each prompt from both revisions over the websocket (the
`revision` field pins one) and shows the answers in random order; the pick is posted here with which revision
wrote which side, and only then shown. Everything is filtered by owner: another user's set, model or pick is
a 404. Fine-tuning goes through inference's own services (datasets.file_create, finetune_jobs.job_create).
"""
import json
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from inference import datasets
from inference.finetune_jobs import job_create
from inference.models import FineTuneJob, TunedModel
from inference.selectors import revision_get
from inference.validation import MessageSerializer
from playground.charts import LineChart, line_chart
from playground.models import BlindPick, PromptSet
from tigercity import quotas
from tigercity.errors import Conflict, InvalidRequest

MAX_PROMPT_SETS = 50  # per user
MAX_PROMPTS = 20  # per set
MAX_PROMPT_CHARS = 2000
MAX_NAME_CHARS = 80
MAX_PICKS = 2000  # per model: a comparison loop, not an archive


def _prompt_lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.replace("\r\n", "\n").split("\n") if line.strip()]


def prompt_set_create(*, owner, name: str, prompts_text: str) -> PromptSet:
    """A set of prompts, one per non-blank line (InvalidRequest naming the field otherwise)."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidRequest(f"Give the set a name of 1 to {MAX_NAME_CHARS} characters.", param="name")
    prompts = _prompt_lines(prompts_text)
    if not prompts:
        raise InvalidRequest("Write at least one prompt, one per line.", param="prompts")
    if len(prompts) > MAX_PROMPTS:
        raise InvalidRequest(f"A set holds at most {MAX_PROMPTS} prompts; this has {len(prompts)}.", param="prompts")
    long = next((i for i, p in enumerate(prompts, start=1) if len(p) > MAX_PROMPT_CHARS), None)
    if long:
        raise InvalidRequest(f"Prompt {long} is longer than {MAX_PROMPT_CHARS} characters.", param="prompts")
    with transaction.atomic():
        quotas.lock_owner(owner)
        count = PromptSet.objects.filter(owner=owner).count()
        if count >= MAX_PROMPT_SETS:
            raise Conflict(f"You have {count} prompt sets, the most you can keep. Delete one first.",
                           param="name", code="too_many_prompt_sets")
        try:
            with transaction.atomic():
                return PromptSet.objects.create(owner=owner, name=name, prompts=prompts)
        except IntegrityError:
            raise Conflict(f"You already have a prompt set named “{name}”.", param="name",
                           code="duplicate_name") from None


def prompt_set_delete(*, prompt_set: PromptSet) -> None:
    prompt_set.delete()  # its picks stay (they belong to the model's comparisons)


def _text(raw: str, param: str) -> str:
    serializer = MessageSerializer(data={"role": "assistant", "content": raw})
    if not serializer.is_valid():
        raise InvalidRequest(f"{param}: {serializer.errors['content'][0]}", param=param)
    return serializer.validated_data["content"]


def _revision(model: TunedModel, raw: str, param: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise InvalidRequest(f"{param} must be a revision number.", param=param)
    return revision_get(model=model, number=int(raw)).number


def pick_record(*, owner, model: TunedModel, prompt_set: PromptSet | None, data) -> BlindPick:
    """Store one pick from the posted form: prompt, left/right revision and text, picked = left | right."""
    picked = data.get("picked", "")
    if picked not in (BlindPick.LEFT, BlindPick.RIGHT):
        raise InvalidRequest("picked must be left or right.", param="picked")
    prompt = data.get("prompt", "").strip()
    if not prompt or len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"prompt must be 1 to {MAX_PROMPT_CHARS} characters.", param="prompt")
    left, right = _revision(model, data.get("left_revision", ""), "left_revision"), \
        _revision(model, data.get("right_revision", ""), "right_revision")
    if left == right:
        raise InvalidRequest("A comparison needs two different revisions.", param="right_revision")
    left_text, right_text = _text(data.get("left_text", ""), "left_text"), _text(data.get("right_text", ""), "right_text")
    with transaction.atomic():
        quotas.lock_row(TunedModel, model.pk)
        count = BlindPick.objects.filter(model=model).count()
        if count >= MAX_PICKS:
            raise Conflict(f"{model.name} has {count} picks, the most kept for one model.", code="too_many_picks")
        return BlindPick.objects.create(owner=owner, model=model, prompt_set=prompt_set, prompt=prompt,
                                        left_revision=left, right_revision=right, left_text=left_text,
                                        right_text=right_text, picked=picked)


@dataclass(frozen=True)
class Standing:
    revision: int
    wins: int
    comparisons: int

    @property
    def rate(self) -> float:
        return 100.0 * self.wins / self.comparisons


def standings(*, model: TunedModel) -> list[Standing]:
    """Each revision's wins out of the blind picks it took part in, by revision."""
    wins: dict[int, int] = {}
    seen: dict[int, int] = {}
    for pick in BlindPick.objects.filter(model=model).only("left_revision", "right_revision", "picked"):
        for revision in (pick.left_revision, pick.right_revision):
            seen[revision] = seen.get(revision, 0) + 1
        winner = pick.winner[0]
        wins[winner] = wins.get(winner, 0) + 1
    return [Standing(r, wins.get(r, 0), seen[r]) for r in sorted(seen)]


def win_rate_chart(table: list[Standing]) -> LineChart | None:
    """The existing line chart (playground/charts.py) of the win rate, in %, by revision."""
    return line_chart("Win rate in blind picks (%)", [(s.revision, s.rate) for s in table], y_range=(0.0, 100.0))


def trainable_picks(*, model: TunedModel) -> list[BlindPick]:
    """Picks not yet sent to a job whose two answers differ (identical answers prefer nothing)."""
    picks = BlindPick.objects.filter(model=model, finetune_job__isnull=True)
    return [p for p in picks if p.left_text != p.right_text]


def preference_lines(picks: list[BlindPick]) -> bytes:
    """The picks as a preference dataset (OpenAI's DPO JSONL: the prompt, the answer picked, the other)."""
    rows = [{"input": {"messages": [{"role": "user", "content": p.prompt}]},
             "preferred_output": [{"role": "assistant", "content": p.winner[1]}],
             "non_preferred_output": [{"role": "assistant", "content": p.loser[1]}]} for p in picks]
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def picks_train(*, owner, model: TunedModel) -> tuple[FineTuneJob, int]:
    """Send the model's unsent picks as preference training: a dataset file, then a DPO job (job, picks)."""
    picks = trainable_picks(model=model)
    if not picks:
        raise InvalidRequest("No picks to train on yet: compare some answers first (picks between two identical "
                             "answers are left out, and each pick is sent once).", code="no_picks")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    with transaction.atomic():  # a job refused (too many running, ...) leaves no file behind
        file = datasets.file_create(owner=owner, filename=f"blind-picks-{model.slug}-{stamp}.jsonl",
                                    data=preference_lines(picks), purpose="fine-tune")
        job = job_create(owner=owner, data={"model": model.slug, "training_file": file.id,
                                            "method": {"type": "dpo", "dpo": {"hyperparameters": {}}}})
        BlindPick.objects.filter(pk__in=[p.pk for p in picks]).update(finetune_job=job)
    return job, len(picks)
