"""The embedded default dataset: procedural pixel-art characters, drawn now, no files, no downloads.

A character is four static attributes with four values each (``skin``, ``top``, ``bottom``,
``hair``; a hair value fixes both the style and the colour): 4^4 = 256 characters. Every character
performs each of eight motions (``walk-left``, ``walk-right``, ``jump``, ``squat``, ``wave``,
``jumping-jack``, ``spin``, ``kick``), each a cycle of T = 8 steps: 2048 sequences of 8 RGB frames
of 64 x 64 (uint8, the Sprites layout), small enough to learn on a CPU in minutes.

What makes disentanglement mean something here:
- the attributes show on every frame (from behind, the hair still covers the head and the forearms
  show the skin);
- a motion needs several frames: a sequence starts at a random step of its cycle, so its first
  frame may be the neutral stance most motions pass through, and ``walk-left`` / ``walk-right``
  draw the same poses and differ only in the direction the character moves;
- each sequence starts at its own step of the cycle (``info["phase"]``); the walks move the
  character across the frame. By default every other motion happens in the centre, like the
  Sprites benchmark; ``make_synthetic(max_x_offset=8)`` also places each sequence at its own
  horizontal position (``info["x_offset"]``, uniform in [-8, 8] pixels), a harder variant that a
  5-minute CPU run does not learn (its reconstructions stay blurred). The labels stay exact.

The split is by character (test characters never appear in training): about ``test_fraction`` of
them, seeded, with every attribute value among both the training and the test characters. The
frames depend on nothing but the seed; generation takes about a second on one core.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .base import DatasetError, SequenceDataset

SIZE = 64  # frames are SIZE x SIZE RGB
T = 8  # frames per sequence; every motion is a cycle of T steps
GROUND = 55  # the row of the soles when standing
FLOOR = 57  # first row of the floor
K = 4  # values per attribute

RGB = tuple[int, int, int]
Point = tuple[float, float]

# Static attributes: (value name, colour), in label order. Character id = skin*64 + top*16 +
# bottom*4 + hair, the attribute values being its digits in base K.
ATTRIBUTES: dict[str, tuple[tuple[str, RGB], ...]] = {
    "skin": (
        ("pale", (250, 214, 182)),
        ("tan", (208, 148, 96)),
        ("brown", (128, 82, 50)),
        ("green", (116, 184, 80)),
    ),
    "top": (
        ("red", (208, 44, 44)),
        ("blue", (48, 88, 216)),
        ("yellow", (240, 204, 40)),
        ("purple", (148, 64, 184)),
    ),
    "bottom": (
        ("white", (240, 240, 240)),
        ("charcoal", (72, 72, 84)),
        ("teal", (24, 152, 140)),
        ("orange", (240, 128, 32)),
    ),
    "hair": (
        ("short-black", (44, 36, 36)),
        ("long-blonde", (252, 226, 104)),
        ("spiky-blue", (56, 168, 240)),
        ("bun-ginger", (200, 88, 24)),
    ),
}
HAIR_STYLES = ("short", "long", "spiky", "bun")  # the shape of each "hair" value, same order
MOTIONS = ("walk-left", "walk-right", "jump", "squat", "wave", "jumping-jack", "spin", "kick")
WALK_SPEED = {"walk-left": -2, "walk-right": 2}  # pixels per frame
MAX_X_OFFSET = 0  # default for make_synthetic(max_x_offset=...): the position range, +-pixels
N_CHARACTERS = K ** len(ATTRIBUTES)

# Part ids of a drawn frame; a palette per character turns them into colours.
BACKGROUND, FLOOR_EDGE, FLOOR_BODY, OUTLINE, SHOES = 0, 1, 2, 3, 4
SKIN, HAIR, TOP, TOP_SHADE, BOTTOM, BOTTOM_SHADE = 5, 6, 7, 8, 9, 10
N_PARTS = 11
FIXED_COLOURS: dict[int, RGB] = {
    BACKGROUND: (196, 220, 240),
    FLOOR_EDGE: (120, 100, 84),
    FLOOR_BODY: (164, 140, 112),
    OUTLINE: (24, 22, 32),
    SHOES: (92, 56, 36),
}
SHADE = 0.7  # sleeves and one leg: the top and bottom colours, darker, so that limbs stand apart


# --- poses --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pose:
    """One step of a motion, in pixels and radians; index 0 / 1 of a pair is the image's left / right.

    arms: (shoulder, elbow) angles; the upper arm points ``shoulder`` away from straight down,
      outwards; the forearm bends ``elbow`` further (negative: back towards the body).
    feet: (outwards, up) displacement of each foot from where it stands under its hip.
    """

    lift: float = 0.0  # the whole body moves up (a jump)
    crouch: float = 0.0  # the pelvis moves down, the feet stay: the knees bend outwards
    arms: tuple[tuple[float, float], tuple[float, float]] = ((0.15, 0.0), (0.15, 0.0))
    feet: tuple[Point, Point] = ((0.0, 0.0), (0.0, 0.0))
    turn: int = 0  # eighths of a turn about the vertical axis: 0 faces the viewer, 2 faces right


# jump steps: (lift, crouch, feet tucked up, shoulder angle)
_JUMP = (
    (0, 0, 0, 0.15),
    (0, 5, 0, 0.5),
    (3, 0, 0, 2.4),
    (7, 0, 3, 2.7),
    (8, 0, 3, 2.8),
    (5, 0, 1, 2.2),
    (0, 5, 0, 0.9),
    (0, 2, 0, 0.3),
)


def motion_pose(motion: str, step: int) -> Pose:
    """The pose of ``motion`` at ``step`` (0..T-1) of its cycle; step 0 is the neutral stance."""
    theta = 2.0 * math.pi * step / T
    out = (1.0 - math.cos(theta)) / 2.0  # 0 -> 1 -> 0 over the cycle
    if motion in WALK_SPEED:
        # seen from the front: the knees lift in turn, the opposite forearm swings across the belly
        left, right = max(0.0, math.sin(theta)), max(0.0, -math.sin(theta))
        return Pose(
            arms=((0.2, -1.6 * right), (0.2, -1.6 * left)), feet=((0.0, 5.0 * left), (0.0, 5.0 * right))
        )
    if motion == "jump":
        lift, crouch, tuck, shoulder = _JUMP[step]
        return Pose(lift=lift, crouch=crouch, arms=((shoulder, 0.0),) * 2, feet=((0.0, tuck),) * 2)
    if motion == "squat":
        return Pose(crouch=8.0 * out, arms=((0.15 + 1.4 * out, 0.0),) * 2)
    if motion == "wave":
        return Pose(arms=((0.15, 0.0), (2.3, 0.7 * math.sin(theta) - 0.2)))
    if motion == "jumping-jack":
        return Pose(arms=((0.15 + 2.6 * out, 0.0),) * 2, feet=((5.0 * out, 0.0),) * 2)
    if motion == "spin":
        return Pose(turn=step)
    if motion == "kick":  # the leg on the image's right swings out straight, the arms balance
        swing = 1.25 * out
        return Pose(
            arms=((0.15 + 0.9 * out, 0.0), (0.15 + 0.5 * out, 0.0)),
            feet=((0.0, 0.0), (14.0 * math.sin(swing), 14.0 * (1.0 - math.cos(swing)))),
        )
    raise ValueError(f"unknown motion {motion!r}; the motions are {MOTIONS}")


# --- drawing ------------------------------------------------------------------------------------------
def draw_figure(pose: Pose, hair_style: str) -> np.ndarray:
    """The character in ``pose``, centred, as part ids (SIZE, SIZE) uint8; 0 where empty."""
    img = Image.new("L", (SIZE, SIZE), 0)
    d = ImageDraw.Draw(img)
    cx = SIZE // 2
    yaw = 2.0 * math.pi * pose.turn / 8
    sx = max(abs(math.cos(yaw)), 0.45)  # offsets across the body shrink as it turns side-on
    turn = pose.turn % 8
    facing = (0 < turn < 4) - (turn > 4)  # side-on: +1 facing right, -1 left; 0 front or back
    pelvis = GROUND - 14 - pose.lift + pose.crouch
    shoulder_y = pelvis - 13

    def px(p: Point) -> tuple[int, int]:
        return (round(cx + p[0]), round(p[1]))

    def limb(points: list[Point], parts: list[int], width: int) -> None:
        """A chain of segments with round joints, outlined as one piece."""
        for w, fills in ((width + 2, [OUTLINE] * len(parts)), (width, parts)):
            for a, b, part in zip(points, points[1:], fills):
                d.line([px(a), px(b)], fill=part, width=w)
                _disk(d, px(a), w / 2, part)
                _disk(d, px(b), w / 2, part)

    def arm(side: int) -> None:
        shoulder, elbow = pose.arms[(side + 1) // 2]
        s = (sx * 6.0 * side, shoulder_y + 1)
        e = (s[0] + 6.0 * math.sin(shoulder) * side, s[1] + 6.0 * math.cos(shoulder))
        h = (e[0] + 6.0 * math.sin(shoulder + elbow) * side, e[1] + 6.0 * math.cos(shoulder + elbow))
        limb([s, e, h], [TOP_SHADE, SKIN], 3)
        _disk(d, px(h), 2.0, OUTLINE)
        _disk(d, px(h), 1.0, SKIN)

    def leg(side: int) -> None:
        out, up = pose.feet[(side + 1) // 2]
        hip = (sx * 3.0 * side, pelvis)
        foot = (sx * (3.0 + out) * side, GROUND - 1 - pose.lift - up)
        part = BOTTOM if side < 0 else BOTTOM_SHADE
        limb([hip, _knee(hip, foot, 7.0, side), foot], [part, part], 4)
        fx, fy = px(foot)
        d.rectangle([fx - 3, fy - 1, fx + 2, fy + 1], fill=SHOES, outline=OUTLINE)

    front_arms = [-1, 1]
    if facing:  # side-on, the far arm goes behind the body
        arm(-facing)
        front_arms = [facing]
    leg(-1)
    leg(1)
    d.rectangle([*px((-sx * 5.5, pelvis - 3)), *px((sx * 5.5, pelvis + 2))], fill=BOTTOM, outline=OUTLINE)
    torso = [(-sx * 6.5, shoulder_y), (sx * 6.5, shoulder_y), (sx * 5.5, pelvis - 2), (-sx * 5.5, pelvis - 2)]
    d.polygon([px(p) for p in torso], fill=TOP, outline=OUTLINE)
    for side in front_arms:
        arm(side)
    _head(d, px((0.0, pelvis - 21)), turn, facing, hair_style)
    return np.asarray(img, dtype=np.uint8)


def _disk(d: ImageDraw.ImageDraw, c: tuple[int, int], r: float, part: int) -> None:
    d.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], fill=part)


def _knee(hip: Point, foot: Point, length: float, side: int) -> Point:
    """The joint of two segments of ``length`` from hip to foot, bent towards ``side``."""
    (hx, hy), (fx, fy) = hip, foot
    dist = math.hypot(fx - hx, fy - hy)
    mx, my = (hx + fx) / 2, (hy + fy) / 2
    if dist >= 2 * length:
        return (mx, my)
    bend = math.sqrt(length**2 - (dist / 2) ** 2)
    nx, ny = (fy - hy) / dist, -(fx - hx) / dist
    if nx * side < 0:
        nx, ny = -nx, -ny
    return (mx + bend * nx, my + bend * ny)


def _rect(x0: float, y0: float, x1: float, y1: float) -> list[Point]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _arc(a0: float, a1: float, r: float) -> list[Point]:
    """Points on a circle from angle a0 to a1 (degrees, clockwise from 3 o'clock on screen)."""
    return [(r * math.cos(math.radians(a)), r * math.sin(math.radians(a))) for a in np.linspace(a0, a1, 12)]


# per view: the arc of the head the hair covers (None: all of it) and the eyes
_VIEWS = {
    "front": ((195, 345), [(-3, 0), (2, 0)]),
    "three-quarter": ((125, 345), [(0, 0), (4, 0)]),
    "side": ((95, 345), [(4, 0)]),
    "back": (None, []),
}


def _head(d: ImageDraw.ImageDraw, centre: tuple[int, int], turn: int, facing: int, style: str) -> None:
    """Head, face and hair of a character turned ``turn`` eighths (shapes are written facing right
    and mirrored when it faces left); from behind, the hair covers the whole head."""
    view = {0: "front", 1: "three-quarter", 2: "side"}.get(min(turn, 8 - turn), "back")
    cap, eyes = _VIEWS[view]
    hx, hy = centre
    r = 6

    def shape(points: list[Point], part: int = HAIR) -> None:
        sign = -1 if facing < 0 else 1
        xy = [(round(hx + sign * x), round(hy + y)) for x, y in points]
        if part == HAIR:
            d.polygon(xy, fill=part, outline=OUTLINE)
        else:
            d.polygon(xy, fill=part)

    if style == "long":  # hanging behind the head, down to the shoulders
        shape({"side": _rect(-7, -2, 1, 9), "back": _rect(-7, -2, 7, 10)}.get(view, _rect(-7, -2, 7, 8)))
    d.ellipse([hx - r, hy - r, hx + r, hy + r], fill=SKIN, outline=OUTLINE)
    back = -3 if facing else 0  # side-on, a bun or spikes sit towards the back of the head
    if style == "bun":
        shape([(back + 3.5 * math.cos(a), -8 + 3.5 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 13)])
    if style == "spiky":
        for tip in (-4.5, 0.0, 4.5):
            shape([(back + tip - 3, -4), (back + tip * 1.2, -11), (back + tip + 3, -4)])
    shape(_arc(*cap, r + 0.5) if cap else _arc(0, 360, r + 0.5))
    if style == "long" and view == "front":  # strands either side of the face
        shape(_rect(-7, -2, -4, 7))
        shape(_rect(4, -2, 7, 7))
    for x, y in eyes:
        shape(_rect(x, y, x, y + 1), OUTLINE)


def render_figures() -> np.ndarray:
    """Every figure the dataset draws: part ids (hair style, motion, step, SIZE, SIZE) uint8."""
    return np.array(
        [
            [[draw_figure(motion_pose(m, k), style) for k in range(T)] for m in MOTIONS]
            for style in HAIR_STYLES
        ],
        dtype=np.uint8,
    )


def background() -> np.ndarray:
    """The scene behind every character, sky and floor, as part ids (SIZE, SIZE) uint8."""
    scene = np.full((SIZE, SIZE), BACKGROUND, dtype=np.uint8)
    scene[FLOOR:] = FLOOR_BODY
    scene[FLOOR] = FLOOR_EDGE
    return scene


def character_attributes(character: np.ndarray | int) -> dict[str, np.ndarray]:
    """Attribute values of character ids (0..255): the id's digits in base K."""
    character = np.asarray(character, dtype=np.int64)
    n = len(ATTRIBUTES)
    return {name: character // K ** (n - 1 - i) % K for i, name in enumerate(ATTRIBUTES)}


def palettes(characters: np.ndarray) -> np.ndarray:
    """Part id -> colour, per character: (len(characters), N_PARTS, 3) uint8."""
    attrs = character_attributes(characters)
    pal = np.zeros((len(characters), N_PARTS, 3), dtype=np.float64)
    for part, colour in FIXED_COLOURS.items():
        pal[:, part] = colour
    for name, part, shade in (
        ("skin", SKIN, None),
        ("hair", HAIR, None),
        ("top", TOP, TOP_SHADE),
        ("bottom", BOTTOM, BOTTOM_SHADE),
    ):
        colours = np.array([c for _, c in ATTRIBUTES[name]], dtype=np.float64)[attrs[name]]
        pal[:, part] = colours
        if shade is not None:
            pal[:, shade] = colours * SHADE
    return np.round(pal).astype(np.uint8)


# --- the dataset --------------------------------------------------------------------------------------
def split_characters(rng: np.random.Generator, n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and test character ids (sorted, disjoint), every attribute value in both.

    K test and K training characters are Latin squares (each value of each attribute once among
    the K); the others are drawn at random from the remaining characters. Needs n_train, n_test >= K.
    """
    perms = [rng.permutation(K) for _ in ATTRIBUTES]
    weights = [K ** (len(ATTRIBUTES) - 1 - i) for i in range(len(ATTRIBUTES))]
    test_square = sum(p * w for p, w in zip(perms, weights))
    # the same square with one attribute rolled: it shares no character with the test square
    train_square = test_square + (np.roll(perms[1], 1) - perms[1]) * weights[1]
    rest = rng.permutation(np.setdiff1d(np.arange(N_CHARACTERS), np.concatenate([test_square, train_square])))
    test = np.concatenate([test_square, rest[: n_test - K]])
    train = np.concatenate([train_square, rest[n_test - K : n_test + n_train - 2 * K]])
    return np.sort(train), np.sort(test)


def make_synthetic(
    seed: int = 0,
    n_characters: int | None = None,
    test_fraction: float = 0.2,
    max_x_offset: int = MAX_X_OFFSET,
) -> SequenceDataset:
    """The embedded dataset: ``n_characters`` (default all 256) x 8 motions sequences of T = 8
    frames, 64 x 64 RGB uint8. Labels ``skin``, ``top``, ``bottom``, ``hair``, ``motion``; info
    ``character``, ``phase`` (the cycle step of the first frame), ``x_offset`` (pixels from the
    centre, uniform in [-max_x_offset, max_x_offset]; 0 by default); split by character. The same
    arguments give the same bytes, and the characters, split and phases do not depend on
    ``max_x_offset``."""
    n_characters = N_CHARACTERS if n_characters is None else int(n_characters)
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    if not 0 <= int(max_x_offset) <= 8:
        raise DatasetError(
            f"max_x_offset must lie in [0, 8] pixels (a walk needs the rest of the 64-pixel frame), "
            f"got {max_x_offset}"
        )
    max_x_offset = int(max_x_offset)
    n_test = max(K, round(test_fraction * n_characters))
    n_train = n_characters - n_test
    if n_characters > N_CHARACTERS or n_train < K:
        raise DatasetError(
            f"n_characters={n_characters} with test_fraction={test_fraction}: there are {N_CHARACTERS} "
            f"characters, and the training and the test characters need at least {K} each (to show "
            f"every attribute value); use between {2 * K} and {N_CHARACTERS} characters or a smaller "
            "test_fraction"
        )
    rng = np.random.default_rng(seed)
    train, test = split_characters(rng, n_train, n_test)
    characters = np.sort(np.concatenate([train, test]))

    # one sequence per (character, motion), characters in id order
    character = np.repeat(characters, len(MOTIONS))
    motion = np.tile(np.arange(len(MOTIONS)), len(characters))
    phase = rng.integers(0, T, len(character))
    x_offset = rng.integers(-max_x_offset, max_x_offset + 1, len(character))
    attrs = character_attributes(character)
    frames = draw_sequences(character, motion, phase, x_offset)

    labels = {**attrs, "motion": motion}
    label_values = {name: [v for v, _ in values] for name, values in ATTRIBUTES.items()}
    label_values["motion"] = list(MOTIONS)
    meta = {
        "name": "synthetic",
        "source": "dsvae procedural generator",
        "seed": int(seed),
        "n_characters": n_characters,
        "test_fraction": float(test_fraction),
        "max_x_offset": max_x_offset,
        "split_by": "character",
        "static_labels": list(ATTRIBUTES),
        "dynamic_labels": ["motion"],
        "checksums": {"frames_sha256": hashlib.sha256(frames).hexdigest()},
    }
    info = {"character": character, "phase": phase, "x_offset": x_offset}
    split = np.isin(character, test).astype(np.int8)
    return SequenceDataset(frames, labels, label_values, split, info, meta)


def draw_sequences(
    character: np.ndarray, motion: np.ndarray, phase: np.ndarray, x_offset: np.ndarray
) -> np.ndarray:
    """Frames (N, T, SIZE, SIZE, 3) uint8 of N sequences: character ids, motion indices, the cycle
    step of the first frame and the horizontal position, one entry per sequence."""
    character, motion, phase, x_offset = (
        np.asarray(a, dtype=np.int64) for a in (character, motion, phase, x_offset)
    )
    pad = int(np.abs(x_offset).max(initial=0)) + T * max(abs(v) for v in WALK_SPEED.values())
    figures = np.pad(render_figures(), [(0, 0)] * 4 + [(pad, pad)])  # room to move sideways
    scene = background()
    characters, palette_of = np.unique(character, return_inverse=True)
    pal = palettes(characters)
    hair = character_attributes(character)["hair"]
    speed = np.array([WALK_SPEED.get(m, 0) for m in MOTIONS])[motion]
    t = np.arange(T)
    rows, cols = np.arange(SIZE)[None, :, None], np.arange(SIZE)[None, None, :]
    frames = np.empty((len(character), T, SIZE, SIZE, 3), dtype=np.uint8)
    for i in range(len(character)):
        steps = (phase[i] + t) % T
        # a walk passes its sequence's x_offset half-way through
        dx = x_offset[i] + speed[i] * (2 * t - (T - 1)) // 2
        fig = figures[hair[i], motion[i]][steps[:, None, None], rows, pad - dx[:, None, None] + cols]
        parts = np.where(fig > 0, fig, scene)
        for c in range(3):
            frames[i, ..., c] = pal[palette_of[i], :, c].take(parts)
    return frames
