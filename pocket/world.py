"""The world's vocabulary: which prompt words mean which visible change, and captions in the prompts' own words.

Every DreamBench prompt is "a {noun} <suffix>" or "a <property> {noun}". The world keys
each suffix by a short name (`beach`, `santa_hat`, `cube`) that the renderer draws,
so the pre-training captions, the subject prompts and the judges' zero-shot labels
are all built from the very strings of the protocol.
"""

from __future__ import annotations

# The 20 backgrounds, in protocol order (the first 10 are the live subjects' too).
CONTEXTS = {
    "jungle": "in the jungle",
    "snow": "in the snow",
    "beach": "on the beach",
    "cobblestone": "on a cobblestone street",
    "pink_fabric": "on top of pink fabric",
    "wooden_floor": "on top of a wooden floor",
    "city": "with a city in the background",
    "mountain": "with a mountain in the background",
    "blue_house": "with a blue house in the background",
    "purple_rug": "on top of a purple rug in a forest",
    "wheat_field": "with a wheat field in the background",
    "autumn_tree": "with a tree and autumn leaves in the background",
    "eiffel_tower": "with the Eiffel Tower in the background",
    "water": "floating on top of water",
    "milk": "floating in an ocean of milk",
    "sunflowers": "on top of green grass with sunflowers around it",
    "mirror": "on top of a mirror",
    "sidewalk": "on top of the sidewalk in a crowded street",
    "dirt_road": "on top of a dirt road",
    "white_rug": "on top of a white rug",
}
# The 10 outfits of live subjects (suffixes).
ACCESSORIES = {
    "red_hat": "wearing a red hat",
    "santa_hat": "wearing a santa hat",
    "rainbow_scarf": "wearing a rainbow scarf",
    "top_hat": "wearing a black top hat and a monocle",
    "chef": "in a chef outfit",
    "firefighter": "in a firefighter outfit",
    "police": "in a police outfit",
    "pink_glasses": "wearing pink glasses",
    "yellow_shirt": "wearing a yellow shirt",
    "wizard": "in a purple wizard outfit",
}
# The 5 properties (adjectives before the noun).
PROPERTIES = {"red": "red", "purple": "purple", "shiny": "shiny", "wet": "wet", "cube": "cube shaped"}


def caption(noun: str, context: str | None = None, accessory: str | None = None, prop: str | None = None) -> str:
    """'a {property} {noun} {accessory} {context}', each part optional, in the protocol's words."""
    words = ["a"]
    if prop:
        words.append(PROPERTIES[prop])
    words.append(noun)
    if accessory:
        words.append(ACCESSORIES[accessory])
    if context:
        words.append(CONTEXTS[context])
    return " ".join(words)


def prompt_change(template: str) -> dict:
    """What a protocol template ('a {} on the beach') asks the renderer for: {'context': 'beach'} and so on."""
    for key, suffix in CONTEXTS.items():
        if template == "a {} " + suffix:
            return {"context": key}
    for key, suffix in ACCESSORIES.items():
        if template == "a {} " + suffix:
            return {"accessory": key}
    for key, word in PROPERTIES.items():
        if template == f"a {word} {{}}":
            return {"prop": key}
    raise ValueError(f"the pocket world cannot render the prompt template {template!r}")


__all__ = ["ACCESSORIES", "CONTEXTS", "PROPERTIES", "caption", "prompt_change"]
