"""A contact sheet of the pocket world, for the eye: what each subject is, and that every kind of prompt shows.

One row per subject: its photos, then the subject on the beach, cube shaped, red,
and (for live subjects) in a santa hat, rendered by the world itself (not by a model).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from pocket.render.canvas import SIZE
from pocket.render.compose import Pose, render
from pocket.subjects import pocket_subjects, subject_photos

CHANGES = ({"context": "beach"}, {"prop": "cube"}, {"prop": "red"}, {"accessory": "santa_hat"})
PHOTO_SLOTS = 6


def subject_row(name: str) -> np.ndarray:
    subject = pocket_subjects()[name]
    tiles = [np.asarray(p) for p in subject_photos(name)]
    tiles += [np.full((SIZE, SIZE, 3), 255, np.uint8)] * (PHOTO_SLOTS - len(tiles))
    pose = Pose(height=0.62, centre=0.5, bottom=0.9)
    for change in CHANGES:
        if "accessory" in change and not subject.live:
            tiles.append(np.full((SIZE, SIZE, 3), 255, np.uint8))
            continue
        tiles.append(np.asarray(render(subject.scene(pose=pose, seed=1, **change))))
    return np.concatenate(tiles, axis=1)


def contact_sheet(scale: int = 2) -> Image.Image:
    rows = [subject_row(name) for name in pocket_subjects()]
    half = (len(rows) + 1) // 2
    left, right = np.concatenate(rows[:half]), np.concatenate(rows[half:])
    gap = np.full((left.shape[0], SIZE // 4, 3), 255, np.uint8)
    sheet = np.concatenate([left, gap, right], axis=1)
    image = Image.fromarray(sheet)
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)
