"""User models resolved for generations, kept per web process: a generation of a user model then reads
no database (its model row and its current revision's weights come from here).

Stale at once in every web process through a per-owner generation, `models:<owner id>`
(tigercity/generations.py), bumped by every save or deletion of one of the owner's models (created,
new defaults, a new current revision, restored, deleted) and every save of one of their revisions
(revision 0's directory is written at its first training): inference/signals.py. Deleting an older
revision needs no bump: only current revisions are kept here, and pruning never removes the current
one. Follows TIGER_KEY_CACHE (and its TIGER_KEY_CACHE_SECONDS), for the same reason as the key cache:
without Redis the generation is one process's.
"""
import copy

from django.conf import settings

from tigercity import generations


def generation_name(owner_id: int) -> str:
    return f"models:{owner_id}"


def models_changed(owner_id: int) -> None:
    generations.changed(generation_name(owner_id))


def models_changing(owner_id: int) -> None:
    """Raises, before the write, if the shared cache cannot be bumped (inference/signals.py)."""
    generations.bump(generation_name(owner_id))


def _copy(resolved):
    model, adapter = resolved
    return copy.copy(model), adapter  # an AdapterRef is frozen


process_cache = generations.ProcessCache(max_age=lambda: settings.TIGER["KEY_CACHE_SECONDS"], copy=_copy)
