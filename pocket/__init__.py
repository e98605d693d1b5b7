"""The pocket world: a synthetic DreamBench whose models the project pre-trains itself.

No pretrained weight reaches our machines, so the real profile cannot run here and
the `tiny` profile's random weights draw noise. The pocket world is small enough to
pre-train on two CPU cores and rich enough for DreamBooth's findings to show: the
same 30 subjects, 15 classes and 25 prompts as DreamBench, rendered procedurally
(`pocket.render`), each subject a class member plus a signature that no caption
names and no generator pre-training image shows, so only personalization can draw it.

- `pocket.world`: the world's vocabulary (contexts, outfits, properties) and captions;
- `pocket.render`: the deterministic renderer (64 x 64 RGB);
- `pocket.subjects`: the 30 subjects (a class member plus a signature) and their photos;
- `pocket.corpus`: the pre-training streams and what each may never show;
- `pocket.photos`: the photos on disk with their manifest ("pocketbench-v1", `pocket/dataset/`);
- `pocket.sheet`: a contact sheet of the world (`bench pocket sheet`);
- `pocket.pretrain`: the resumable pre-training of every model (`bench pocket build`).

Status and measurements: docs/pocket.md.
"""
