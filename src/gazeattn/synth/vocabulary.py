"""The synthetic kitchen's vocabulary: nouns (each its own shape and colour), verbs (each its own motion), the
(verb, noun, relative frequency) actions that occur, and the second noun some actions carry in their label.

``"small"`` (4 nouns, 5 verbs, 11 actions) is the original world's; ``"large"`` adds 4 nouns of distinct shape
and colour and 2 verbs (20 actions). How each verb moves an object: :func:`gazeattn.synth.scene.verb_motion`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NounSpec:
    name: str
    shape: str  # circle | diamond | square | bottle
    colour: tuple[int, int, int]
    size: float  # radius multiplier


NOUNS: tuple[NounSpec, ...] = (
    NounSpec("bowl", "circle", (40, 85, 215), 1.1),
    NounSpec("tomato", "diamond", (210, 35, 40), 0.95),
    NounSpec("cutting board", "square", (45, 160, 65), 1.1),
    NounSpec("salt/pepper", "bottle", (140, 55, 175), 1.0),
)
VERBS: tuple[str, ...] = ("Take", "Put", "Cut", "Mix/Stir", "Wash")
# (verb, noun, relative frequency): not every combination occurs, as in the real release.
ACTIONS: tuple[tuple[str, str, float], ...] = (
    ("Take", "bowl", 1.0),
    ("Cut", "tomato", 0.9),
    ("Put", "bowl", 0.8),
    ("Take", "tomato", 0.7),
    ("Mix/Stir", "bowl", 0.6),
    ("Put", "tomato", 0.5),
    ("Wash", "cutting board", 0.45),
    ("Take", "cutting board", 0.4),
    ("Wash", "bowl", 0.35),
    ("Take", "salt/pepper", 0.3),
    ("Put", "salt/pepper", 0.25),
)
SECONDARY_NOUNS: dict[tuple[str, str], str] = {("Cut", "tomato"): "cutting board", ("Put", "tomato"): "bowl",
                                               ("Take", "salt/pepper"): "bowl"}


@dataclass(frozen=True)
class Vocabulary:
    """Nouns (shape + colour), verbs (motions), the (verb, noun, relative frequency) actions that occur, and the
    second noun some actions may carry in their label (placed in the scene as a distractor)."""

    nouns: tuple[NounSpec, ...]
    verbs: tuple[str, ...]
    actions: tuple[tuple[str, str, float], ...]
    secondary: dict[tuple[str, str], str]

    def noun(self, name: str) -> NounSpec:
        return next(n for n in self.nouns if n.name == name)


# the large vocabulary adds 4 nouns (each a new shape and colour, far from skin, sleeve and counter colours) and
# two verbs; its first 15 actions already use every noun and verb
LARGE_NOUNS: tuple[NounSpec, ...] = NOUNS + (
    NounSpec("cheese", "triangle", (235, 200, 30), 1.05),
    NounSpec("cucumber", "bar", (25, 180, 190), 1.05),
    NounSpec("egg", "oval", (245, 240, 225), 0.95),
    NounSpec("sponge", "cross", (230, 70, 170), 1.0),
)
LARGE_VERBS: tuple[str, ...] = VERBS + ("Move Around", "Compress")
LARGE_ACTIONS: tuple[tuple[str, str, float], ...] = ACTIONS + (
    ("Cut", "cucumber", 0.5),
    ("Take", "egg", 0.45),
    ("Compress", "sponge", 0.4),
    ("Move Around", "cheese", 0.35),
    ("Take", "cheese", 0.3),
    ("Wash", "sponge", 0.3),
    ("Move Around", "cutting board", 0.25),
    ("Put", "cheese", 0.25),
    ("Mix/Stir", "egg", 0.2),
)
VOCABULARIES: dict[str, Vocabulary] = {
    "small": Vocabulary(NOUNS, VERBS, ACTIONS, SECONDARY_NOUNS),
    "large": Vocabulary(LARGE_NOUNS, LARGE_VERBS, LARGE_ACTIONS,
                        {**SECONDARY_NOUNS, ("Cut", "cucumber"): "cutting board", ("Put", "cheese"): "bowl",
                         ("Mix/Stir", "egg"): "bowl"}),
}
NOUN_BY_NAME = {n.name: n for n in LARGE_NOUNS}
