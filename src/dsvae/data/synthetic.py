"""The embedded default dataset: procedural pixel-art characters, drawn now, no files, no downloads.

A character is four static attributes with four values each (``skin``, ``top``, ``bottom``,
``hair``; the hair value fixes both its style and its colour): 4^4 = 256 characters. Every
character performs every one of eight motions (``walk-left``, ``walk-right``, ``jump``, ``squat``,
``wave``, ``jumping-jack``, ``spin``, ``kick``), each an 8-step cycle, giving 2048 sequences of
T = 8 RGB frames of 64 x 64 (uint8), in the Sprites layout, small enough to learn on a CPU.

What makes disentanglement mean something:
- the attributes are visible on every frame (the back of the head in ``spin`` still shows the hair,
  the hands the skin);
- the motions need several frames: a sequence starts at a random step of its cycle, so its first
  frame may be the neutral stance that most motions pass through; ``walk-left`` and ``walk-right``
  draw the same poses and differ only in the direction the character moves;
- each sequence has its own start step and horizontal position (``info["phase"]``,
  ``info["x_offset"]``); the labels stay exact.

The split is by character (test characters never appear in training), about ``test_fraction`` of
them, seeded, with every attribute value present in both the training and the test characters.
Generation takes about a second on one core and depends only on the seed (and numpy/Pillow).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from itertools import product

import numpy as np
from PIL import Image, ImageDraw

from .base import DatasetError, SequenceDataset

SIZE = 64  # frames are SIZE x SIZE RGB
T = 8  # frames per sequence; every motion is a cycle of T steps
GROUND = 55  # the row of the soles when standing
FLOOR = 57  # first row of the floor

RGB = tuple[int, int, int]

# Static attributes: (value name, colour). The order is the label order, the character id is
# skin * 64 + top * 16 + bottom * 4 + hair.
ATTRIBUTES: dict[str, tuple[tuple[str, RGB], ...]] = {
    "skin": (("pale", (250, 214, 182)), ("tan", (208, 148, 96)), ("brown", (128, 82, 50)),
             ("green", (116, 184, 80))),
    "top": (("red", (208, 44, 44)), ("blue", (48, 88, 216)), ("yellow", (240, 204, 40)),
            ("purple", (148, 64, 184))),
    "bottom": (("white", (240, 240, 240)), ("charcoal", (72, 72, 84)), ("teal", (24, 152, 140)),
               ("orange", (240, 128, 32))),
    "hair": (("short-black", (44, 36, 36)), ("long-blonde", (252, 226, 104)),
             ("spiky-blue", (56, 168, 240)), ("bun-ginger", (200, 88, 24))),
}
HAIR_STYLES = ("short", "long", "spiky", "bun")  # the shape of each "hair" value, same order
MOTIONS = ("walk-left", "walk-right", "jump", "squat", "wave", "jumping-jack", "spin", "kick")
WALK_SPEED = {"walk-left": -2, "walk-right": 2}  # pixels per frame
MAX_X_OFFSET = 8  # a sequence's horizontal position: uniform in [-8, 8] pixels from the centre
N_CHARACTERS = math.prod(len(v) for v in ATTRIBUTES.values())

# Part ids of the drawn frames; a palette per character turns them into colours.
BACKGROUND, FLOOR_TOP, FLOOR_BODY, OUTLINE, SHOES = 0, 1, 2, 3, 4
SKIN, HAIR, TOP, TOP_SHADE, BOTTOM, BOTTOM_SHADE = 5, 6, 7, 8, 9, 10
FIXED_COLOURS: dict[int, RGB] = {
    BACKGROUND: (196, 220, 240),
    FLOOR_TOP: (120, 100, 84),
    FLOOR_BODY: (164, 140, 112),
    OUTLINE: (24, 22, 32),
    SHOES: (92, 56, 36),
}
SHADE = 0.7  # sleeves and the far leg: the top and bottom colours, darker, to keep limbs apart


@dataclass(frozen=True)
class Pose:
    """One step of a motion, in pixels and radians; ``side`` -1 / +1 is the image's left / right.

    arms: (shoulder, elbow) angle per side; the upper arm points ``shoulder`` away from straight
      down, towards its side; the forearm bends ``elbow`` further (negative: towards the body).
    feet: (outward, up) displacement of each foot from where it stands under its hip.
    """

    lift: float = 0.0  # the whole body moves up (a jump)
    crouch: float = 0.0  # the pelvis moves down, the feet stay (knees bend outwards)
    arms: tuple[tuple[float, float], tuple[float, float]] = ((0.15, 0.0), (0.15, 0.0))
    feet: tuple[tuple[float, float], tuple[float, float]] = ((0.0, 0.0), (0.0, 0.0))
    turn: int = 0  # eighths of a turn about the vertical axis: 0 faces the viewer, 2 faces right


def motion_pose(motion: str, step: int) -> Pose:
    """The pose of ``motion`` at ``step`` (0..T-1) of its cycle."""
    theta = 2.0 * math.pi * step / T
    up = (1.0 - math.cos(theta)) / 2.0  # 0 -> 1 -> 0 over the cycle
    rest = (0.15, 0.0)
    if motion in WALK_SPEED:
        # front view: knees lift in turn, the opposite forearm swings in front of the belly
        left, right = max(0.0, math.sin(theta)), max(0.0, -math.sin(theta))
        return Pose(
            arms=((0.2, -1.6 * right), (0.2, -1.6 * left)),
            feet=((0.0, 5.0 * left), (0.0, 5.0 * right)),
        )
    if motion == "jump":
        lift, crouch, tuck, arm = (
            (0, 0, 0, 0.15),
            (0, 5, 0, 0.5),
            (3, 0, 0, 2.4),
            (7, 0, 3, 2.7),
            (8, 0, 3, 2.8),
            (5, 0, 1, 2.2),
            (0, 5, 0, 0.9),
            (0, 2, 0, 0.3),
        )[step]
        return Pose(lift=lift, crouch=crouch, arms=((arm, 0.0),) * 2, feet=((0.0, tuck),) * 2)
    if motion == "squat":
        return Pose(crouch=8.0 * up, arms=((0.15 + 1.4 * up, 0.0),) * 2)
    if motion == "wave":
        return Pose(arms=(rest, (2.3, 0.7 * math.sin(theta) - 0.2)))
    if motion == "jumping-jack":
        return Pose(arms=((0.15 + 2.6 * up, 0.0),) * 2, feet=((5.0 * up, 0.0),) * 2)
    if motion == "spin":
        return Pose(turn=step)
    if motion == "kick":
        raise_ = 1.25 * up  # the right leg swings out, straight; the arms balance
        reach = 14.0
        return Pose(
            arms=((0.15 + 0.9 * up, 0.0), (0.15 + 0.5 * up, 0.0)),
            feet=((0.0, 0.0), (reach * math.sin(raise_), reach * (1.0 - math.cos(raise_)))),
        )
    raise ValueError(f"unknown motion {motion!r}; the motions are {MOTIONS}")


def draw_figure(pose: Pose, hair_style: str) -> np.ndarray:
    """The character in ``pose``, centred, as part ids (SIZE, SIZE) uint8; 0 where empty."""
    img = Image.new("L", (SIZE, SIZE), 0)
    d = ImageDraw.Draw(img)
    cx = SIZE // 2
    yaw = 2.0 * math.pi * pose.turn / 8
    sx = max(abs(math.cos(yaw)), 0.45)  # lateral offsets shrink as the body turns side-on
    facing = 1 if math.sin(yaw) > 1e-6 else -1 if math.sin(yaw) < -1e-6 else 0
    pelvis = GROUND - 14 - pose.lift + pose.crouch
    shoulder_y = pelvis - 13

    def px(x: float, y: float) -> tuple[int, int]:
        return (round(cx + x), round(y))

    def limb(points: list[tuple[float, float]], parts: list[int], width: int) -> None:
        """A chain of segments, outlined as one piece, then filled segment by segment."""
        for a, b in zip(points, points[1:]):
            d.line([px(*a), px(*b)], fill=OUTLINE, width=width + 2)
        for p in points:
            _disk(d, px(*p), (width + 2) / 2, OUTLINE)
        for (a, b), part in zip(zip(points, points[1:]), parts):
            d.line([px(*a), px(*b)], fill=part, width=width)
            _disk(d, px(*a), width / 2, part)
            _disk(d, px(*b), width / 2, part)

    def arm(side: int) -> None:
        shoulder, elbow = pose.arms[(side + 1) // 2]
        s = (sx * 6.0 * side, shoulder_y + 1)
        e = (s[0] + 6.0 * math.sin(shoulder) * side, s[1] + 6.0 * math.cos(shoulder))
        h = (e[0] + 6.0 * math.sin(shoulder + elbow) * side, e[1] + 6.0 * math.cos(shoulder + elbow))
        limb([s, e, h], [TOP_SHADE, SKIN], 3)
        _disk(d, px(*h), 2.0, OUTLINE)
        _disk(d, px(*h), 1.0, SKIN)

    def leg(side: int) -> None:
        out, up = pose.feet[(side + 1) // 2]
        hip = (sx * 3.0 * side, pelvis)
        foot = (sx * (3.0 + out) * side, GROUND - 1 - pose.lift - up)
        knee = _knee(hip, foot, 7.0, side)
        part = BOTTOM if side < 0 else BOTTOM_SHADE
        limb([hip, knee, foot], [part, part], 4)
        fx, fy = px(*foot)
        d.rectangle([fx - 3, fy - 1, fx + 2, fy + 1], fill=SHOES, outline=OUTLINE)

    near_arms = [-1, 1]
    if 0 < abs(math.cos(yaw)) < 0.75 or facing and abs(math.cos(yaw)) < 1e-6:
        far = -facing  # side-on: the arm on the far side goes behind the body
        arm(far)
        near_arms = [facing]
    leg(-1)
    leg(1)
    d.rectangle(
        [*px(-sx * 5.5, pelvis - 3), *px(sx * 5.5, pelvis + 2)], fill=BOTTOM, outline=OUTLINE
    )
    d.polygon(
        [px(-sx * 6.5, shoulder_y), px(sx * 6.5, shoulder_y), px(sx * 5.5, pelvis - 2),
         px(-sx * 5.5, pelvis - 2)],
        fill=TOP,
        outline=OUTLINE,
    )
    for side in near_arms:
        arm(side)
    _head(d, px(0, pelvis - 21), yaw, facing, hair_style)
    return np.asarray(img, dtype=np.uint8)


def _disk(d: ImageDraw.ImageDraw, c: tuple[int, int], r: float, part: int) -> None:
    d.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], fill=part)


def _knee(hip: tuple[float, float], foot: tuple[float, float], length: float, side: int):
    """Two segments of ``length`` from hip to foot, the joint bent towards ``side``."""
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


def _head(d: ImageDraw.ImageDraw, centre: tuple[int, int], yaw: float, facing: int, style: str) -> None:
    """Head, face and hair; the hair covers more of the head as it turns away from the viewer."""
    hx, hy = centre
    r = 6
    cos = math.cos(yaw)

    def mirror(points: list[tuple[float, float]]) -> list[tuple[int, int]]:
        """Shapes are written facing right (or front); mirrored when the character faces left."""
        return [(round(hx + (x if facing >= 0 else -x)), round(hy + y)) for x, y in points]

    def arc(a0: float, a1: float, radius: float = r + 0.5) -> list[tuple[float, float]]:
        """Points on the head's rim from angle a0 to a1, degrees clockwise from 3 o'clock."""
        n = max(2, int(abs(a1 - a0) / 15))
        return [
            (radius * math.cos(math.radians(a)), radius * math.sin(math.radians(a)))
            for a in np.linspace(a0, a1, n + 1)
        ]

    if style == "long":  # behind the head: hair down to the shoulders
        back = [(-7, -2), (7, -2), (7, 8), (-7, 8)] if cos > -0.2 else [(-7, -2), (7, -2), (7, 10), (-7, 10)]
        if 1e-6 < abs(facing) and abs(cos) < 0.75:
            back = [(-7, -2), (1, -2), (1, 9), (-7, 9)]
        d.polygon(mirror(back), fill=HAIR, outline=OUTLINE)
    d.ellipse([hx - r, hy - r, hx + r, hy + r], fill=SKIN, outline=OUTLINE)
    if style == "bun":
        bx = -3 if abs(cos) < 0.75 else 0
        bun = [(bx + 3.5 * math.cos(a), -8 + 3.5 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 13)]
        d.polygon(mirror(bun), fill=HAIR, outline=OUTLINE)
    if style == "spiky":
        shift = -2 if abs(cos) < 0.75 else 0
        for tip in (-4.5, 0.0, 4.5):
            spike = [(shift + tip - 3, -4), (shift + tip * 1.2, -11), (shift + tip + 3, -4)]
            d.polygon(mirror(spike), fill=HAIR, outline=OUTLINE)
    if cos < -0.5:  # from behind: all hair
        cap = arc(0, 360)
    elif cos > 0.9:  # from the front: the top of the head
        cap = arc(195, 345)
    elif cos > 0.5:  # three quarters: the top and the back
        cap = arc(125, 345)
    else:  # side-on
        cap = arc(95, 345)
    d.polygon(mirror(cap), fill=HAIR, outline=OUTLINE)
    if style == "long" and cos > 0.5:  # strands over the shoulders, either side of the face
        for x0 in (-7, 4) if cos > 0.9 else (-7,):
            d.rectangle(
                [*mirror([(x0, -2)])[0], *mirror([(x0 + 3, 7)])[0]] if facing >= 0 else
                [*mirror([(x0 + 3, -2)])[0], *mirror([(x0, 7)])[0]],
                fill=HAIR,
                outline=OUTLINE,
            )
    if cos > 0.9:
        eyes = [(-3, 0), (2, 0)]
    elif cos > 0.5:
        eyes = [(0, 0), (4, 0)]
    elif cos > -0.5:
        eyes = [(4, 0)]
    else:
        eyes = []
    for x, y in mirror(eyes):
        d.rectangle([x, y, x, y + 1], fill=OUTLINE)


def render_figures() -> np.ndarray:
    """Every figure the dataset uses: part ids (hair style, motion, step, SIZE, SIZE) uint8."""
    return np.stack(
        [
            np.stack([np.stack([draw_figure(motion_pose(m, k), style) for k in range(T)]) for m in MOTIONS])
            for style in HAIR_STYLES
        ]
    )


def background() -> np.ndarray:
    """The scene behind every character: sky and floor, as part ids (SIZE, SIZE) uint8."""
    scene = np.full((SIZE, SIZE), BACKGROUND, dtype=np.uint8)
    scene[FLOOR:] = FLOOR_BODY
    scene[FLOOR] = FLOOR_TOP
    return scene


def character_attributes(character: np.ndarray | int) -> dict[str, np.ndarray]:
    """The attribute values of character ids (0..255): the digits of the id in base 4."""
    character = np.asarray(character, dtype=np.int64)
    out, rest = {}, character
    for name in reversed(list(ATTRIBUTES)):
        k = len(ATTRIBUTES[name])
        out[name] = rest % k
        rest = rest // k
    return {name: out[name] for name in ATTRIBUTES}


def palettes(characters: np.ndarray) -> np.ndarray:
    """Part id -> colour, per character: (len(characters), n_parts, 3) uint8."""
    attrs = character_attributes(characters)
    pal = np.zeros((len(characters), BOTTOM_SHADE + 1, 3), dtype=np.float64)
    for part, colour in FIXED_COLOURS.items():
        pal[:, part] = colour

    def colours(name: str) -> np.ndarray:
        return np.array([c for _, c in ATTRIBUTES[name]], dtype=np.float64)[attrs[name]]

    pal[:, SKIN] = colours("skin")
    pal[:, HAIR] = colours("hair")
    pal[:, TOP] = colours("top")
    pal[:, TOP_SHADE] = colours("top") * SHADE
    pal[:, BOTTOM] = colours("bottom")
    pal[:, BOTTOM_SHADE] = colours("bottom") * SHADE
    return np.round(pal).astype(np.uint8)


def split_characters(
    rng: np.random.Generator, n_characters: int, test_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test character ids (sorted), every attribute value present in both.

    Four test characters and four training characters are first drawn as Latin squares (each value
    of each attribute exactly once among the four); the rest are drawn at random."""
    sizes = [len(v) for v in ATTRIBUTES.values()]
    if len(set(sizes)) != 1:
        raise ValueError("the Latin-square split needs every attribute to have as many values")
    k = sizes[0]
    perms = [rng.permutation(k) for _ in sizes]
    weights = [math.prod(sizes[i + 1 :]) for i in range(len(sizes))]

    def ids(columns: list[np.ndarray]) -> np.ndarray:
        return sum(c * w for c, w in zip(columns, weights))

    # the train square rolls one attribute: no test character can be in it
    test_square = ids(perms)
    train_square = ids([perms[0], np.roll(perms[1], 1), *perms[2:]])
    rest = rng.permutation(np.setdiff1d(np.arange(N_CHARACTERS), np.concatenate([test_square, train_square])))
    n_test = max(k, round(test_fraction * n_characters))
    n_train = n_characters - n_test
    if n_train < k:
        raise ValueError(
            f"{n_characters} characters with test_fraction={test_fraction} leave {n_train} training "
            f"characters; at least {k} are needed to show every attribute value. Use more characters "
            "or a smaller test_fraction"
        )
    test = np.concatenate([test_square, rest[: n_test - k]])
    train = np.concatenate([train_square, rest[n_test - k : n_test - k + n_train - k]])
    return np.sort(train), np.sort(test)


def make_synthetic(seed: int = 0, n_characters: int | None = None, test_fraction: float = 0.2) -> SequenceDataset:
    """The embedded dataset: ``n_characters`` (default all 256) x 8 motions sequences of
    T = 8 frames, 64 x 64 RGB uint8; labels ``skin``, ``top``, ``bottom``, ``hair``, ``motion``;
    info ``character``, ``phase``, ``x_offset``; split by character. Same seed, same bytes."""
    n_characters = N_CHARACTERS if n_characters is None else int(n_characters)
    k = len(next(iter(ATTRIBUTES.values())))
    if not 2 * k <= n_characters <= N_CHARACTERS:
        raise DatasetError(
            f"n_characters must lie in [{2 * k}, {N_CHARACTERS}] (enough for every attribute value in "
            f"train and test, at most every combination), got {n_characters}"
        )
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    try:
        train, test = split_characters(rng, n_characters, test_fraction)
    except ValueError as err:
        raise DatasetError(str(err)) from err
    characters = np.sort(np.concatenate([train, test]))

    # one sequence per (character, motion), characters in id order
    n_motions = len(MOTIONS)
    character = np.repeat(characters, n_motions)
    motion = np.tile(np.arange(n_motions), len(characters))
    n = len(character)
    phase = rng.integers(0, T, n)
    x_offset = rng.integers(-MAX_X_OFFSET, MAX_X_OFFSET + 1, n)
    attrs = character_attributes(character)
    speed = np.array([WALK_SPEED.get(m, 0) for m in MOTIONS])[motion]

    figures = render_figures()
    scene = background()
    parts = np.empty((n, T, SIZE, SIZE), dtype=np.uint8)
    t = np.arange(T)
    for i in range(n):
        steps = (phase[i] + t) % T
        # a walk is centred on the sequence's position: it passes x_offset half-way
        shifts = x_offset[i] + speed[i] * (2 * t - (T - 1)) // 2
        for j in range(T):
            fig = _shift_columns(figures[attrs["hair"][i], motion[i], steps[j]], int(shifts[j]))
            parts[i, j] = np.where(fig > 0, fig, scene)
    pal = palettes(characters)
    row = np.searchsorted(characters, character)
    frames = pal[row[:, None, None, None], parts]  # (N, T, H, W, 3)

    labels = {name: attrs[name] for name in ATTRIBUTES}
    labels["motion"] = motion
    label_values = {name: [v for v, _ in values] for name, values in ATTRIBUTES.items()}
    label_values["motion"] = list(MOTIONS)
    split = np.isin(character, test).astype(np.int8)
    meta = {
        "name": "synthetic",
        "source": "dsvae procedural generator",
        "seed": int(seed),
        "n_characters": int(n_characters),
        "test_fraction": float(test_fraction),
        "static_labels": list(ATTRIBUTES),
        "dynamic_labels": ["motion"],
        "split_by": "character",
        "checksums": {"frames_sha256": hashlib.sha256(frames).hexdigest()},
    }
    info = {"character": character, "phase": phase, "x_offset": x_offset}
    return SequenceDataset(frames, labels, label_values, split, info, meta)


def _shift_columns(img: np.ndarray, dx: int) -> np.ndarray:
    """``img`` moved ``dx`` pixels to the right, 0 where it comes from outside."""
    out = np.zeros_like(img)
    if dx >= 0:
        out[:, dx:] = img[:, : img.shape[1] - dx]
    else:
        out[:, :dx] = img[:, -dx:]
    return out
