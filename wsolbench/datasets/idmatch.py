"""Saying why two lists of image ids do not match (maps vs ground truth), in one line.

When *no* id of the maps is in the ground truth, listing the missing ids does not help: the ids
follow another convention. :func:`no_match_message` says so ("0 of N ids match"), shows one id of
each side, and names a difference it can see (a leading folder one side has and the other has
not, or ids that match by file name only).

Example:
    >>> no_match_message(["test/001.A/a_1.jpg", "test/001.A/a_2.jpg"], ["001.A/a_1.jpg", "001.A/a_2.jpg"])
    "0 of 2 image ids match the ground truth's 2: the maps have e.g. 'test/001.A/a_1.jpg', the ground truth '001.A/a_1.jpg' (the maps' ids carry a leading 'test/' that the ground truth's do not)"
"""

from __future__ import annotations


def _strip_first(image_id: str) -> str:
    return image_id.split("/", 1)[1] if "/" in image_id else image_id


def _hint(map_ids: list[str], gt_ids: list[str]) -> str:
    gt, maps = set(gt_ids), set(map_ids)
    if any(_strip_first(i) in gt for i in map_ids[:1000]):
        prefix = map_ids[0].split("/", 1)[0] + "/"
        return f" (the maps' ids carry a leading '{prefix}' that the ground truth's do not)"
    if any(_strip_first(i) in maps for i in gt_ids[:1000]):
        prefix = gt_ids[0].split("/", 1)[0] + "/"
        return f" (the ground truth's ids carry a leading '{prefix}' that the maps' do not)"
    names = {i.rsplit("/", 1)[-1] for i in gt_ids}
    if any(i.rsplit("/", 1)[-1] in names for i in map_ids[:1000]):
        return " (the file names match but the folders differ)"
    return ""


def no_match_message(map_ids: list[str], gt_ids: list[str]) -> str:
    """``"0 of N image ids match ..."`` with one id of each side and a hint; for maps that share no id
    with the ground truth."""
    shown_map = map_ids[0] if map_ids else "(none)"
    shown_gt = gt_ids[0] if gt_ids else "(none)"
    return (f"0 of {len(map_ids)} image ids match the ground truth's {len(gt_ids)}: the maps have e.g. "
            f"'{shown_map}', the ground truth '{shown_gt}'{_hint(list(map_ids), list(gt_ids))}")
